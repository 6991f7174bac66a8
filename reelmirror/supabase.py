"""Follow a Supabase e-mail confirmation link headlessly and keep the session it yields.

A browser would follow the link's 303 to the app's callback and let JavaScript read the session out
of the URL fragment. A bot has no JavaScript and no callback page worth loading, so it does what the
browser's script does: GET the link *without* following redirects, read ``Location`` and parse its
fragment (``#access_token=...&refresh_token=...``). Following the redirect would lose the fragment,
which is never sent to a server.

PKCE projects redirect with ``?code=`` instead. That code is exchanged at
``/auth/v1/token?grant_type=pkce`` on the link's origin with the JSON body ``{"auth_code": code}``
(plus ``code_verifier`` when the caller has one). **Assumed** shape, after supabase-js's
``exchangeCodeForSession``; a real PKCE project also wants the verifier of the client that started
the flow and the project's anon key as ``apikey``, both accepted here as options.

The JWT's claims (user id, e-mail, expiry) are decoded *without* verifying the signature: the bot
does not hold the project's secret, and it only reads its own session's claims; the server verifies
the token on every use.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import jwt
from pydantic import BaseModel, ConfigDict, SecretStr

from reelmirror.errors import ConfirmationLinkError, TransportError

__all__ = ["AuthSession", "decode_jwt_claims", "follow_confirmation_link", "session_from_redirect"]

logger = logging.getLogger("reelmirror.supabase")

DEFAULT_TIMEOUT = 30.0
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class AuthSession(BaseModel):
    """The Supabase session a confirmation link yields; the tokens are secrets."""

    model_config = ConfigDict(extra="ignore")

    access_token: SecretStr
    refresh_token: SecretStr | None = None
    expires_at: datetime | None = None
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


def _first(params: dict[str, list[str]], key: str) -> str | None:
    values = params.get(key)
    return values[0] if values else None


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _session(fields: dict[str, Any]) -> AuthSession:
    """Build the session from the token fields (fragment or token-endpoint JSON) plus the JWT claims."""
    access_token = fields.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise ConfirmationLinkError("no access_token in the confirmation response", error_code="no_session")
    claims = decode_jwt_claims(access_token)
    expires_at = _timestamp(fields.get("expires_at"))
    if expires_at is None:
        # The JWT's own exp is authoritative; expires_in (relative to now) is the last resort.
        expires_at = _timestamp(claims.get("exp"))
    if expires_at is None:
        try:
            expires_at = _timestamp(time.time() + float(fields.get("expires_in")))
        except (TypeError, ValueError):
            expires_at = None
    user = fields.get("user") if isinstance(fields.get("user"), dict) else {}
    refresh = fields.get("refresh_token")
    return AuthSession(
        access_token=SecretStr(access_token),
        refresh_token=SecretStr(refresh) if isinstance(refresh, str) and refresh else None,
        expires_at=expires_at,
        user_id=claims.get("sub") or user.get("id"),
        email=claims.get("email") or user.get("email"),
        token_type=fields.get("token_type"),
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


async def _exchange_pkce_code(
    http: httpx.AsyncClient,
    origin: str,
    code: str,
    *,
    code_verifier: str | None,
    api_key: str | None,
    request_timeout: float,
) -> AuthSession:
    body: dict[str, str] = {"auth_code": code}
    if code_verifier is not None:
        body["code_verifier"] = code_verifier
    headers = {"apikey": api_key} if api_key else {}
    secrets = [code, code_verifier, api_key]
    try:
        response = await http.post(
            f"{origin}/auth/v1/token",
            params={"grant_type": "pkce"},
            json=body,
            headers=headers,
            timeout=request_timeout,
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        raise TransportError(
            f"PKCE token exchange at {origin}: {type(exc).__name__}", kind="network", secrets=secrets
        ) from exc
    try:
        payload = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        payload = None
    if not response.is_success or not isinstance(payload, dict):
        error_code = None
        description = None
        if isinstance(payload, dict):
            error_code = payload.get("error_code") or payload.get("error") or payload.get("code")
            description = payload.get("error_description") or payload.get("msg") or payload.get("message")
        raise ConfirmationLinkError(
            f"PKCE code exchange failed with HTTP {response.status_code}",
            status=response.status_code,
            error_code=str(error_code) if error_code is not None else f"http_{response.status_code}",
            description=str(description) if description is not None else None,
            secrets=secrets,
        )
    return _session(payload)


async def follow_confirmation_link(
    link: str,
    *,
    http: httpx.AsyncClient | None = None,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - per-request httpx timeout, the SPEC's name
    code_verifier: str | None = None,
    api_key: str | None = None,
) -> AuthSession:
    """GET the confirmation ``link`` without following its redirect and return the session.

    The link's own token is single use: a second call (or a mail scanner that clicked first) gets
    Supabase's ``otp_expired`` error fragment, raised as :class:`ConfirmationLinkError`. Transport
    failures raise :class:`TransportError`. ``code_verifier`` and ``api_key`` (the project's anon
    key) are only used for PKCE projects.
    """
    parts = urlsplit(link)
    origin = f"{parts.scheme}://{parts.netloc}"
    where = f"{origin}{parts.path}"  # Never the query: it holds the one-time token.
    owned = http is None
    client = http if http is not None else httpx.AsyncClient(timeout=timeout)
    try:
        started = time.perf_counter()
        try:
            response = await client.get(link, timeout=timeout, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise TransportError(
                f"GET {where}: {type(exc).__name__}",
                kind="connect" if isinstance(exc, httpx.ConnectError) else "network",
                may_have_committed=not isinstance(exc, httpx.ConnectError),
                secrets=[link],
            ) from exc
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
        return await _exchange_pkce_code(
            client, origin, result, code_verifier=code_verifier, api_key=api_key, request_timeout=timeout
        )
    finally:
        if owned:
            await client.aclose()
