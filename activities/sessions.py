"""An account's Supabase session, kept usable for as long as the account needs a JWT.

The confirmation link works once and its JWT lives an hour, while the key step may run days later (an
onboarding parked over a weekend, a second key with other scopes) or after a worker died between
following the link and storing what it yielded. So the session is stored whole (access token, refresh
token, expiry, the auth origin it came from), refreshed before the JWT is used when it is expired or
about to be, and replaced by a password login with the stored password when the refresh token is gone.
A refusal that no retry changes (a wrong password, nothing left to sign in with) raises a parking error
whose message says what the operator must do; no secret appears in any message or log line.

Links are followed only when they point at the auth origin: `REELMIRROR_AUTH_ORIGIN` when set, else any
`https://<project>.supabase.co`, whose origin then serves refresh and login for that account.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.error_types import ErrorType
from activities.secrets import MissingSecretError, SecretStore
from activities.settings import ActivitySettings
from reelmirror.errors import (
    ConfirmationLinkError,
    EmailNotConfirmedError,
    InvalidCredentialsError,
    InvalidRefreshTokenError,
    UntrustedLinkError,
)
from reelmirror.supabase import (
    DEFAULT_REFRESH_MARGIN,
    AuthSession,
    decode_jwt_claims,
    link_origin_matches,
    password_login,
    refresh_session,
)

__all__ = [
    "AUTH_ORIGIN",
    "EMAIL",
    "JWT",
    "JWT_EXPIRES_AT",
    "PASSWORD",
    "REFRESH_TOKEN",
    "SUPABASE_HOST_SUFFIX",
    "AccountProbe",
    "Sessions",
]

# Secret names kept per account.
PASSWORD = "password"
EMAIL = "email"
JWT = "jwt"
REFRESH_TOKEN = "refresh_token"
JWT_EXPIRES_AT = "jwt_expires_at"  # Unix seconds, as text
AUTH_ORIGIN = "auth_origin"  # where the session came from, when no REELMIRROR_AUTH_ORIGIN is set

#: Hosts trusted without REELMIRROR_AUTH_ORIGIN: Supabase's own project domains, over https only.
SUPABASE_HOST_SUFFIX = ".supabase.co"

#: What a password login says about an account: it exists and is confirmed (a session was stored), it
#: exists but is not confirmed, Supabase refused the password (no such account with this password), or
#: no auth origin is known to ask.
AccountProbe = Literal["confirmed", "unconfirmed", "refused", "unknown"]


class Sessions:
    """The session rules of one account store; built per call on the activities' shared pool."""

    def __init__(self, settings: ActivitySettings, store: SecretStore, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.store = store
        self.http = http

    # --- links ------------------------------------------------------------------------------------

    def trusted_origin(self, link: str) -> str:
        """The auth origin `link` may be followed against; UntrustedLinkError (nothing requested) otherwise."""
        configured = self.settings.auth_origin
        if configured is not None:
            if link_origin_matches(link, configured):
                return configured
            where = f"the configured auth origin {configured} (REELMIRROR_AUTH_ORIGIN)"
        else:
            origin = _supabase_origin(link)
            if origin is not None:
                return origin
            where = f"https://*{SUPABASE_HOST_SUFFIX} (set REELMIRROR_AUTH_ORIGIN for another auth server)"
        parts = urlsplit(link)
        raise UntrustedLinkError(
            f"confirmation link points at {parts.scheme}://{parts.hostname or '?'}, not at {where}: not followed",
            error_code="untrusted_origin",
            secrets=[link],
        )

    # --- storing ------------------------------------------------------------------------------------

    async def keep(self, ref: str, session: AuthSession, origin: str, extra: dict[str, str | None]) -> None:
        """Keep the whole session (and `extra` names) in one atomic write."""
        expires_at = session.expires_at or _claims_expiry(session.access_token)
        values: dict[str, SecretStr | str | None] = {
            JWT: session.access_token,
            REFRESH_TOKEN: session.refresh_token,
            JWT_EXPIRES_AT: str(int(expires_at.timestamp())) if expires_at else None,
            AUTH_ORIGIN: origin,
            **extra,
        }
        await self.store.update(ref, values)

    # --- a usable JWT ---------------------------------------------------------------------------------

    async def fresh_jwt(self, ref: str, *, force: bool = False) -> SecretStr:
        """The stored JWT, refreshed first when it expires within the margin (or when `force`d, after a 401)."""
        jwt = await self.store.get(ref, JWT)
        if jwt is None and await self.store.get(ref, REFRESH_TOKEN) is None:
            raise MissingSecretError(ref, JWT, hint="confirm the e-mail first (verify_email)")
        if jwt is not None and not force and not _expiring(await self.store.get(ref, JWT_EXPIRES_AT), jwt):
            return jwt
        origin = await self.origin(ref)
        if origin is None:
            if jwt is None:
                raise MissingSecretError(ref, JWT, hint="confirm the e-mail first (verify_email)")
            return jwt  # nowhere to refresh: the server is the judge of the old token
        session = await self._renew(ref, origin)
        await self.keep(ref, session, origin, {})
        activity.logger.info("renewed the Supabase session of account %s", ref)
        return session.access_token

    async def origin(self, ref: str) -> str | None:
        """Where refresh and login go: the configured auth origin, else the one the account's link came from."""
        if self.settings.auth_origin is not None:
            return self.settings.auth_origin
        stored = await self.store.get(ref, AUTH_ORIGIN)
        return stored.get_secret_value() if stored is not None else None

    async def _renew(self, ref: str, origin: str) -> AuthSession:
        refresh = await self.store.get(ref, REFRESH_TOKEN)
        if refresh is not None:
            try:
                return await refresh_session(refresh, **self._call(origin))
            except InvalidRefreshTokenError:
                activity.logger.info("the refresh token of account %s is spent: signing in with the password", ref)
        password, email = await self.store.get(ref, PASSWORD), await self.store.get(ref, EMAIL)
        if password is None or email is None:
            raise ApplicationError(
                f"the Supabase session of account {ref} expired and cannot be renewed (no password stored): "
                "put the account's e-mail and password into the worker's secret store (names `email`, "
                "`password`), or import a working API key, then send retry",
                type=ErrorType.SESSION_EXPIRED,
                non_retryable=True,
            )
        try:
            return await password_login(email.get_secret_value(), password, **self._call(origin))
        except InvalidCredentialsError:
            raise _sign_in_refused(ref) from None

    # --- does the account exist? ------------------------------------------------------------------------

    async def probe(self, ref: str, email: str, password: SecretStr) -> AccountProbe:
        """Ask Supabase with a password login whether the account exists, without a signup.

        The right password of an unconfirmed address answers `email_not_confirmed`; a confirmed one
        yields a session, which is stored (the link step then has nothing left to do but find it).
        """
        origin = self.settings.auth_origin
        if origin is None:
            return "unknown"  # without a configured origin, only a confirmation link names the auth server
        try:
            session = await password_login(email, password, **self._call(origin))
        except EmailNotConfirmedError:
            return "unconfirmed"
        except InvalidCredentialsError:
            return "refused"
        await self.keep(ref, session, origin, {})
        return "confirmed"

    async def login_after_spent_link(
        self, ref: str, email: str, origin: str, spent: ConfirmationLinkError
    ) -> AuthSession:
        """The session a spent link no longer gives, from the stored password; else the link's own error.

        An attempt killed after it followed the link but before it stored the session leaves the account
        confirmed and the link spent: the password is the way back in.
        """
        password, stored_email = await self.store.get(ref, PASSWORD), await self.store.get(ref, EMAIL)
        if password is None or stored_email is None or stored_email.get_secret_value().lower() != email.lower():
            raise spent
        try:
            session = await password_login(email, password, **self._call(origin))
        except EmailNotConfirmedError:
            raise spent from None
        except InvalidCredentialsError:
            raise ConfirmationLinkError(
                f"{spent.message}; signing in with the stored password was refused too: send a fresh link",
                error_code=spent.error_code,
                description=spent.description,
            ) from None
        activity.logger.info("the link of account %s was spent: signed in with the stored password", ref)
        return session

    def _call(self, origin: str) -> dict[str, object]:
        anon = self.settings.supabase_anon_key
        return {
            "auth_origin": origin,
            "http": self.http,
            "timeout": self.settings.http_timeout_seconds,
            "api_key": anon.get_secret_value() if anon is not None else None,
        }


def _sign_in_refused(ref: str) -> ApplicationError:
    return ApplicationError(
        f"Supabase refused the stored password of account {ref}: put the account's current password into the "
        "worker's secret store (name `password`), or reset it in ReelMirror, then send retry",
        type=ErrorType.SIGN_IN_REFUSED,
        non_retryable=True,
    )


def _supabase_origin(link: str) -> str | None:
    """`https://<project>.supabase.co` for a link to it (default port, no user info), else None."""
    try:
        parts = urlsplit(link.strip())
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").rstrip(".").lower()
    if parts.scheme != "https" or port not in (None, 443) or parts.username is not None or parts.password is not None:
        return None
    label = host.removesuffix(SUPABASE_HOST_SUFFIX)
    if label == host or not label or "." in label:
        return None
    return f"https://{host}"


def _claims_expiry(token: SecretStr) -> datetime | None:
    try:
        exp = decode_jwt_claims(token.get_secret_value()).get("exp")
        return datetime.fromtimestamp(float(exp), tz=UTC) if exp is not None else None
    except (ConfirmationLinkError, TypeError, ValueError, OverflowError):
        return None


def _expiring(stored_expiry: SecretStr | None, jwt: SecretStr) -> bool:
    """Whether the JWT expires within the refresh margin (an unknown expiry counts as valid: the server judges)."""
    expires_at: float | None = None
    if stored_expiry is not None:
        try:
            expires_at = float(stored_expiry.get_secret_value())
        except ValueError:
            expires_at = None
    if expires_at is None:
        claimed = _claims_expiry(jwt)
        expires_at = claimed.timestamp() if claimed else None
    return expires_at is not None and expires_at - DEFAULT_REFRESH_MARGIN.total_seconds() <= time.time()
