"""Supabase Auth sessions for a headless bot: the confirmation link, refresh, password login.

**Confirmation link.** A browser would follow the link's 303 to the app's callback and let
JavaScript read the session out of the URL fragment. A bot has no JavaScript and no callback page
worth loading, so it does what the browser's script does: GET the link *without* following
redirects, read ``Location`` and parse its fragment (``#access_token=...&refresh_token=...``).
Following the redirect would lose the fragment, which is never sent to a server. Before any of
that, :func:`link_origin_matches` lets the caller refuse a link that does not point at its own auth
server: a mailbox holds whatever a stranger sends to it.

PKCE projects redirect with ``?code=`` instead. That code is exchanged at
``/auth/v1/token?grant_type=pkce`` on the link's origin with the JSON body ``{"auth_code": code}``
(plus ``code_verifier`` when the caller has one). **Assumed** shape, after supabase-js's
``exchangeCodeForSession``; a real PKCE project also wants the verifier of the client that started
the flow and the project's anon key as ``apikey``, both accepted here as options.

**Sessions that last.** The access token expires (an hour by default); the session also carries a
refresh token. :func:`refresh_session` trades it for a new session (Supabase rotates refresh
tokens: keep the new one), :func:`password_login` starts over from the stored password when the
refresh token is gone, and :func:`session_needs_refresh` says when to do either. Supabase's refusals
become distinct exceptions (:class:`~reelmirror.errors.InvalidCredentialsError`,
:class:`~reelmirror.errors.EmailNotConfirmedError`, :class:`~reelmirror.errors.InvalidRefreshTokenError`)
whose messages never hold the password or a token.

The JWT's claims (user id, e-mail, expiry) are decoded *without* verifying the signature: the bot
does not hold the project's secret, and it only reads its own session's claims; the server verifies
the token on every use.
"""

from __future__ import annotations

import json
import logging
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import jwt
from pydantic import BaseModel, ConfigDict, SecretStr

from reelmirror.errors import (
    ConfirmationLinkError,
    EmailNotConfirmedError,
    InvalidCredentialsError,
    InvalidRefreshTokenError,
    MalformedResponseError,
    SupabaseAuthError,
    UntrustedLinkError,
)
from reelmirror.ratelimit import parse_retry_after
from reelmirror.redaction import secret_value
from reelmirror.transport import send

__all__ = [
    "DEFAULT_REFRESH_MARGIN",
    "DEFAULT_TIMEOUT",
    "AuthSession",
    "decode_jwt_claims",
    "follow_confirmation_link",
    "link_origin_matches",
    "password_login",
    "refresh_session",
    "session_from_redirect",
    "session_needs_refresh",
]

logger = logging.getLogger("reelmirror.supabase")

#: Seconds one request to Supabase may take in total.
DEFAULT_TIMEOUT = 30.0

#: Refresh this long before the access token expires, so a call made right after the check does not
#: carry a token that dies in flight (or on a server whose clock runs a little ahead).
DEFAULT_REFRESH_MARGIN = timedelta(seconds=60)

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_TOKEN_PATH = "/auth/v1/token"


class AuthSession(BaseModel):
    """A Supabase session; the tokens are secrets (``SecretStr``: masked in repr, str and dumps).

    ``expires_at`` comes from the answer's ``expires_at``, else the JWT's ``exp``, else now plus
    ``expires_in``; ``expires_in`` is kept as sent (seconds of validity at issue time).
    """

    model_config = ConfigDict(extra="ignore")

    access_token: SecretStr
    refresh_token: SecretStr | None = None
    expires_at: datetime | None = None
    expires_in: int | None = None
    user_id: str | None = None
    email: str | None = None
    token_type: str | None = None


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """The JWT's claims, unverified (see the module docstring for why that is enough here).

    Raises :class:`ConfirmationLinkError` when the token is not a JWT at all.
    """
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise ConfirmationLinkError(
            f"access token is not a readable JWT ({type(exc).__name__})",
            error_code="invalid_jwt",
            secrets=[token],
        ) from None
    return dict(claims)


def _origin_key(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an http(s) URL without userinfo; ``None`` for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in _DEFAULT_PORTS or not host or parts.username is not None or parts.password is not None:
        return None
    return scheme, host, port or _DEFAULT_PORTS[scheme]


def link_origin_matches(link: str, auth_origin: str) -> bool:
    """Whether ``link`` points at ``auth_origin`` (same scheme, host and port; default ports filled in).

    Links with user info (``https://auth.example@evil.example/``) or other schemes never match.
    """
    link_key = _origin_key(link)
    return link_key is not None and link_key == _origin_key(auth_origin)


def session_needs_refresh(
    session: AuthSession, now: datetime | None = None, margin: timedelta = DEFAULT_REFRESH_MARGIN
) -> bool:
    """Whether the access token expires within ``margin`` of ``now`` (default: the current time).

    A session without a known expiry needs a refresh: it cannot be shown to be valid, and a refresh
    is cheap. A naive ``now`` is taken as UTC.
    """
    if session.expires_at is None:
        return True
    current = now or datetime.now(UTC)
    if current.tzinfo is None:
        current = current.replace(tzinfo=UTC)
    return session.expires_at - margin <= current


def _first(params: dict[str, list[str]], key: str) -> str | None:
    values = params.get(key)
    return values[0] if values else None


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _seconds(value: Any) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if math.isfinite(number) else None


def _session(fields: dict[str, Any]) -> AuthSession:
    """Build the session from token fields (fragment or token-endpoint JSON) plus the JWT claims.

    Raises :class:`ConfirmationLinkError` (``no_session``, ``invalid_jwt``) when there is no usable
    access token; the token-endpoint callers turn that into a malformed answer.
    """
    access_token = fields.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise ConfirmationLinkError("no access_token in the answer", error_code="no_session")
    claims = decode_jwt_claims(access_token)
    expires_in = _seconds(fields.get("expires_in"))
    # The answer's expires_at first, then the JWT's own exp; expires_in (relative to now) last.
    expires_at = _timestamp(fields.get("expires_at")) or _timestamp(claims.get("exp"))
    if expires_at is None and expires_in is not None:
        expires_at = _timestamp(time.time() + expires_in)
    user = fields.get("user") if isinstance(fields.get("user"), dict) else {}
    refresh = fields.get("refresh_token")
    token_type = fields.get("token_type")
    return AuthSession(
        access_token=SecretStr(access_token),
        refresh_token=SecretStr(refresh) if isinstance(refresh, str) and refresh else None,
        expires_at=expires_at,
        expires_in=expires_in,
        user_id=claims.get("sub") or user.get("id"),
        email=claims.get("email") or user.get("email"),
        token_type=token_type if isinstance(token_type, str) else None,
    )


def _raise_if_error(params: dict[str, list[str]]) -> None:
    error = _first(params, "error")
    error_code = _first(params, "error_code")
    if error is None and error_code is None:
        return
    description = _first(params, "error_description")
    raise ConfirmationLinkError(
        f"confirmation link refused: {error_code or error}" + (f" ({description})" if description else ""),
        error_code=error_code or error,
        description=description,
    )


def session_from_redirect(location: str) -> AuthSession | str:
    """Parse a redirect target: an :class:`AuthSession` from its fragment, or the PKCE ``code``.

    Raises :class:`ConfirmationLinkError` for an error fragment (or query) and for a target that
    carries neither a session nor a code.
    """
    parts = urlsplit(location)
    fragment = parse_qs(parts.fragment, keep_blank_values=True)
    query = parse_qs(parts.query, keep_blank_values=True)
    _raise_if_error(fragment)
    _raise_if_error(query)
    if "access_token" in fragment:
        return _session({key: values[0] for key, values in fragment.items() if values})
    code = _first(query, "code")
    if code:
        return code
    raise ConfirmationLinkError(
        f"redirect to {parts.scheme}://{parts.netloc}{parts.path} carries no session fragment and no code",
        error_code="no_session",
    )


# -- the token endpoint ------------------------------------------------------------------------

_EMAIL_NOT_CONFIRMED = "email_not_confirmed"
_BAD_CREDENTIALS = frozenset({"invalid_grant", "invalid_credentials"})
_BAD_REFRESH = frozenset(
    {"invalid_grant", "refresh_token_not_found", "refresh_token_already_used", "session_not_found", "session_expired"}
)


def _text(payload: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _token_error(grant: str, response: httpx.Response, payload: Any, secrets: list[str | None]) -> SupabaseAuthError:
    """The typed error of a refused token request (see the module docstring for the classes)."""
    body = payload if isinstance(payload, dict) else {}
    error = _text(body, "error")
    error_code = _text(body, "error_code") or error
    description = _text(body, "error_description", "msg", "message")
    codes = {c for c in (error, error_code) if c}
    said = (description or "").lower()
    cls: type[SupabaseAuthError]
    if grant == "pkce":
        cls = ConfirmationLinkError
    elif _EMAIL_NOT_CONFIRMED in codes or "email not confirmed" in said:
        cls = EmailNotConfirmedError
    elif grant == "password" and (codes & _BAD_CREDENTIALS or "invalid login credentials" in said):
        cls = InvalidCredentialsError
    elif grant == "refresh_token" and (codes & _BAD_REFRESH or "invalid refresh token" in said):
        cls = InvalidRefreshTokenError
    else:
        cls = SupabaseAuthError
    summary = error_code or ("response body was not JSON" if payload is None else "no error code")
    return cls(
        f"Supabase token request (grant_type={grant}) refused with HTTP {response.status_code}: {summary}"
        + (f" ({description})" if description else ""),
        status=response.status_code,
        error_code=error_code or f"http_{response.status_code}",
        description=description,
        retry_after_seconds=parse_retry_after(response.headers.get("retry-after")),
        secrets=secrets,
    )


async def _token_request(
    grant: str,
    body: dict[str, str],
    *,
    auth_origin: str,
    http: httpx.AsyncClient | None,
    deadline: float,
    api_key: str | None,
    secrets: list[str | None],
) -> AuthSession:
    """``POST {auth_origin}/auth/v1/token?grant_type=<grant>`` and the session it answers."""
    origin = auth_origin.rstrip("/")
    where = f"{origin}{_TOKEN_PATH} (grant_type={grant})"
    headers = {"Accept": "application/json"}
    if api_key:
        headers["apikey"] = api_key
    owned = http is None
    client = http if http is not None else httpx.AsyncClient(timeout=deadline)
    try:
        response = await send(
            client,
            "POST",
            f"{origin}{_TOKEN_PATH}",
            deadline=deadline,
            where=where,
            secrets=[*secrets, api_key],
            params={"grant_type": grant},
            json=body,
            headers=headers,
            timeout=deadline,
            follow_redirects=False,
        )
    finally:
        if owned:
            await client.aclose()
    logger.debug("POST %s -> %d", where, response.status_code)
    try:
        payload = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        payload = None
    if not response.is_success:
        raise _token_error(grant, response, payload, [*secrets, api_key])
    if not isinstance(payload, dict):
        raise MalformedResponseError(f"POST {where}: the answer is not a JSON object", status=response.status_code)
    try:
        return _session(payload)
    except ConfirmationLinkError as exc:
        if grant == "pkce":
            raise
        raise MalformedResponseError(
            f"POST {where}: the answer holds no usable session ({exc.error_code})", status=response.status_code
        ) from None


async def refresh_session(
    refresh_token: SecretStr | str,
    *,
    auth_origin: str,
    http: httpx.AsyncClient | None = None,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - the total deadline of the one request, applied inside
    api_key: str | None = None,
) -> AuthSession:
    """A new session for ``refresh_token`` (``grant_type=refresh_token``).

    Supabase rotates refresh tokens: store the new session's ``refresh_token``, the old one stops
    working. Raises :class:`InvalidRefreshTokenError` for an unknown, revoked or reused token
    (then :func:`password_login`), :class:`SupabaseAuthError` for other refusals,
    :class:`~reelmirror.errors.TransportError` without an answer.
    """
    token = secret_value(refresh_token) or ""
    return await _token_request(
        "refresh_token",
        {"refresh_token": token},
        auth_origin=auth_origin,
        http=http,
        deadline=timeout,
        api_key=api_key,
        secrets=[token],
    )


async def password_login(
    email: str,
    password: SecretStr | str,
    *,
    auth_origin: str,
    http: httpx.AsyncClient | None = None,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - the total deadline of the one request, applied inside
    api_key: str | None = None,
) -> AuthSession:
    """A new session from e-mail and password (``grant_type=password``).

    Raises :class:`InvalidCredentialsError` for a wrong password (or unknown e-mail: Supabase does
    not say which), :class:`EmailNotConfirmedError` before the confirmation link was followed,
    :class:`SupabaseAuthError` for other refusals, :class:`~reelmirror.errors.TransportError`
    without an answer. The password never appears in any of their messages.
    """
    secret = secret_value(password) or ""
    return await _token_request(
        "password",
        {"email": email, "password": secret},
        auth_origin=auth_origin,
        http=http,
        deadline=timeout,
        api_key=api_key,
        secrets=[secret],
    )


async def follow_confirmation_link(
    link: str,
    *,
    auth_origin: str | None = None,
    http: httpx.AsyncClient | None = None,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - the total deadline of each request, applied inside
    code_verifier: str | None = None,
    api_key: str | None = None,
) -> AuthSession:
    """GET the confirmation ``link`` without following its redirect and return the session.

    With ``auth_origin`` the link is checked first: one that points elsewhere raises
    :class:`UntrustedLinkError` and is never requested. The link's own token is single use: a second
    call (or a mail scanner that clicked first) gets Supabase's ``otp_expired`` error fragment,
    raised as :class:`ConfirmationLinkError`. Transport failures raise
    :class:`~reelmirror.errors.TransportError` (``may_have_committed`` is true once the GET may have
    reached the server, since it consumes the token). ``code_verifier`` and ``api_key`` (the
    project's anon key) are only used for PKCE projects.
    """
    parts = urlsplit(link)
    origin = f"{parts.scheme}://{parts.netloc}"
    where = f"{origin}{parts.path}"  # Never the query: it holds the one-time token.
    if auth_origin is not None and not link_origin_matches(link, auth_origin):
        raise UntrustedLinkError(
            f"confirmation link points at {parts.scheme}://{parts.hostname or '?'}, not at the configured auth origin",
            error_code="untrusted_origin",
            secrets=[link],
        )
    owned = http is None
    client = http if http is not None else httpx.AsyncClient(timeout=timeout)
    try:
        started = time.perf_counter()
        response = await send(
            client,
            "GET",
            link,
            deadline=timeout,
            where=where,
            has_side_effects=True,
            secrets=[link],
            timeout=timeout,
            follow_redirects=False,
        )
        logger.debug("GET %s -> %d in %.1f ms", parts.path, response.status_code, (time.perf_counter() - started) * 1e3)
        if response.status_code not in _REDIRECT_STATUSES:
            raise ConfirmationLinkError(
                f"GET {where} answered {response.status_code}, expected a redirect",
                status=response.status_code,
                error_code=f"http_{response.status_code}",
            )
        location = response.headers.get("location")
        if not location:
            raise ConfirmationLinkError(
                f"GET {where} redirected without a Location header",
                status=response.status_code,
                error_code="no_location",
            )
        result = session_from_redirect(urljoin(link, location))
        if isinstance(result, AuthSession):
            return result
        body = {"auth_code": result}
        if code_verifier is not None:
            body["code_verifier"] = code_verifier
        return await _token_request(
            "pkce",
            body,
            auth_origin=origin,
            http=client,
            deadline=timeout,
            api_key=api_key,
            secrets=[result, code_verifier],
        )
    finally:
        if owned:
            await client.aclose()
