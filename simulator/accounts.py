"""Accounts: signup with its per-IP limit, the confirmation e-mail and verify link, Supabase-style
sessions (HS256 JWTs on the simulated clock), API keys with scopes, and authentication of calls.

The real flow is human-shaped (an inbox, a browser redirect); the simulator keeps each step real on
the wire so the client exercises exactly what it would against Supabase: it reads the link from the
mailbox (the admin API, or a real Maildir with ``--maildir``), GETs it without following the
redirect, parses the session from the URL fragment, and trades the JWT for an ``rm_`` key. Secrets
are stored only as hashes and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import string
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

import jwt

from simulator.core import SimCore
from simulator.errors import ApiError, conflict, invalid
from simulator.maildir import MaildirDelivery
from simulator.models import ALL_SCOPES, ApiKey, MailMessage, RefreshToken, User, VerifyToken

log = logging.getLogger(__name__)

KEY_PREFIX = "rm_"
_KEY_ALPHABET = string.ascii_letters + string.digits
_PBKDF2_ROUNDS = 20_000
_EXPIRED_FRAGMENT = urlencode(
    {
        "error": "access_denied",
        "error_code": "otp_expired",
        "error_description": "Email link is invalid or has expired",
    }
)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_key() -> str:
    """``rm_`` followed by 32 random alphanumerics (cryptographically random, not seeded)."""
    return KEY_PREFIX + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(32))


@dataclass(frozen=True)
class SignupLimited(Exception):
    """The client IP has used its signups for the window; ``retry_after`` in simulated seconds."""

    limit: int
    retry_after: float


class EmailNotConfirmed(Exception):
    """A password login with the right password for an account whose e-mail is not confirmed yet."""


@dataclass(frozen=True)
class Session:
    """A Supabase-style session: access token (JWT), refresh token, expiry (simulated Unix time)."""

    access_token: str
    refresh_token: str
    expires_at: int
    expires_in: int
    user: User

    def fragment(self) -> str:
        return urlencode(
            {
                "access_token": self.access_token,
                "expires_at": self.expires_at,
                "expires_in": self.expires_in,
                "refresh_token": self.refresh_token,
                "token_type": "bearer",
                "type": "signup",
            }
        )

    def token_body(self) -> dict[str, object]:
        """The JSON body of ``/auth/v1/token`` (what supabase-js receives)."""
        return {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "expires_at": self.expires_at,
            "refresh_token": self.refresh_token,
            "user": {"id": self.user.id, "email": self.user.email, "role": "authenticated"},
        }


class AccountService:
    """Signup, e-mail confirmation, sessions, API keys and per-call authentication."""

    def __init__(self, core: SimCore, maildir: MaildirDelivery | None = None) -> None:
        self._core = core
        self._maildir = maildir

    @property
    def _secret(self) -> str:
        return self._core.config.jwt_secret.get_secret_value()

    # -- signup ----------------------------------------------------------------------------------
    def signup(self, email: str, password: str, ip: str) -> User:
        """Create an unconfirmed user and mail the verify link.

        A known e-mail is 409 CONFLICT (checked before the limit) in full mode; in guide mode it is
        answered as Supabase does with confirmation on: the limit is spent, the account is left as it
        is (password unchanged) and a new confirmation mail replaces the old link.
        """
        core, state = self._core, self._core.state
        now = core.now()
        email = email.strip().lower()
        guide = core.runtime.answers == "guide"
        known = state.user_by_email(email)
        if known is not None and not guide:
            raise conflict("a user with this e-mail already exists")
        window = core.runtime.signup_window_seconds
        recent = [t for t in state.signups_by_ip.get(ip, []) if t > now - window]
        state.signups_by_ip[ip] = recent
        if len(recent) >= core.runtime.signup_limit:
            core.ledger.record(
                "signup_refused", at=now, by="client", email=email, details={"ip": ip, "limit": len(recent)}
            )
            retry = (min(recent) + window - now) if recent else window
            raise SignupLimited(limit=core.runtime.signup_limit, retry_after=max(retry, 0.0))
        if known is not None:
            recent.append(now)
            self._forget_verify_links(known)
            core.ledger.record(
                "signup_repeated",
                at=now,
                by="client",
                user_id=known.id,
                email=email,
                details={"ip": ip, "confirmed": known.email_confirmed_at is not None},
            )
            self._send_confirmation(known, now)
            return known
        salt = secrets.token_bytes(16)
        user = User(
            id=core.new_id(),
            email=email,
            password_hash=hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _PBKDF2_ROUNDS),
            password_salt=salt,
            signup_ip=ip,
            created_at=now,
        )
        state.users[user.id] = user
        state.users_by_email[email] = user.id
        recent.append(now)
        core.ledger.record("signup", at=now, by="client", user_id=user.id, email=email, details={"ip": ip})
        self._send_confirmation(user, now)
        return user

    def _forget_verify_links(self, user: User) -> None:
        """Supabase keeps one confirmation token per user: a new mail makes the older links invalid."""
        for record in self._core.state.verify_tokens.values():
            if record.user_id == user.id and record.used_at is None:
                record.revoked = True

    def _send_confirmation(self, user: User, now: float) -> None:
        core = self._core
        token = secrets.token_hex(28)
        callback = f"{core.origin}/auth/callback"
        core.state.verify_tokens[_digest(token)] = VerifyToken(
            token_hash=_digest(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + core.runtime.verify_link_ttl_seconds,
            redirect_to=callback,
        )
        link = f"{core.origin}/auth/v1/verify?token={token}&type=signup&redirect_to={quote(callback, safe='')}"
        message = MailMessage(
            id=core.new_id(),
            to=user.email,
            subject="Confirm Your Signup",
            body=f"Follow this link to confirm your user:\n\n{link}\n",
            links=[link],
            sent_at=now,
        )
        core.state.mailbox.setdefault(user.email, []).append(message)
        if self._maildir is not None:
            try:
                self._maildir.deliver(message)
            except OSError:
                log.exception("could not deliver the confirmation mail to the Maildir %s", self._maildir.path)

    # -- verify link and sessions ----------------------------------------------------------------
    def verify(self, token: str, link_type: str, redirect_to: str | None) -> str:
        """Consume a verify token; returns the ``Location`` of the 303 (session or error fragment)."""
        core = self._core
        now = core.now()
        record = core.state.verify_tokens.get(_digest(token)) if token else None
        target = redirect_to if redirect_to and _is_http_url(redirect_to) else None
        if (
            record is None
            or record.used_at is not None
            or record.revoked
            or now >= record.expires_at
            or link_type
            not in (
                "signup",
                "email",
            )
        ):
            fallback = record.redirect_to if record else f"{core.origin}/auth/callback"
            return f"{target or fallback}#{_EXPIRED_FRAGMENT}"
        record.used_at = now
        user = core.state.users[record.user_id]
        if user.email_confirmed_at is None:
            user.email_confirmed_at = now
            core.ledger.record("email_confirmed", at=now, by="client", user_id=user.id, email=user.email)
        session = self._new_session(user, now)
        return f"{target or record.redirect_to}#{session.fragment()}"

    def refresh(self, refresh_token: str) -> Session | None:
        """Rotate a refresh token into a new session (single use, like Supabase); None if invalid."""
        core = self._core
        record = core.state.refresh_tokens.get(_digest(refresh_token)) if refresh_token else None
        if record is None or record.used_at is not None:
            return None
        now = core.now()
        record.used_at = now
        return self._new_session(core.state.users[record.user_id], now)

    def _new_session(self, user: User, now: float) -> Session:
        ttl = int(self._core.runtime.session_ttl_seconds)
        claims = {
            "sub": user.id,
            "email": user.email,
            "role": "authenticated",
            "aud": "authenticated",
            "iss": f"{self._core.origin}/auth/v1",
            "iat": int(now),
            "exp": int(now) + ttl,
            "session_id": self._core.new_id(),
        }
        access = jwt.encode(claims, self._secret, algorithm="HS256")
        refresh = secrets.token_urlsafe(24)
        self._core.state.refresh_tokens[_digest(refresh)] = RefreshToken(
            token_hash=_digest(refresh), user_id=user.id, created_at=now
        )
        return Session(access, refresh, int(now) + ttl, ttl, user)

    def user_from_jwt(self, token: str | None) -> User:
        """The confirmed user a valid, unexpired Supabase JWT names (401 otherwise)."""
        if not token:
            raise ApiError("UNAUTHORIZED", "missing bearer token")
        if token.startswith(KEY_PREFIX):
            raise ApiError("UNAUTHORIZED", "this endpoint needs the Supabase session JWT, not an API key")
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                audience="authenticated",
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError as exc:
            raise ApiError("UNAUTHORIZED", "invalid session token") from exc
        if int(claims.get("exp", 0)) <= self._core.now():
            raise ApiError("UNAUTHORIZED", "session token expired")
        user = self._core.state.users.get(str(claims.get("sub")))
        if user is None or user.email_confirmed_at is None:
            raise ApiError("UNAUTHORIZED", "unknown or unconfirmed user")
        return user

    # -- API keys --------------------------------------------------------------------------------
    def create_api_key(self, user: User, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
        """Store a new key (hash only) and return it with its plaintext, shown once."""
        unknown = sorted(set(scopes) - set(ALL_SCOPES))
        if unknown:
            raise invalid(f"unknown scopes: {', '.join(unknown)}")
        if not scopes:
            raise invalid("scopes must name at least one scope")
        core = self._core
        now = core.now()
        plaintext = new_api_key()
        key = ApiKey(
            id=core.new_id(),
            user_id=user.id,
            name=name,
            scopes=tuple(dict.fromkeys(scopes)),
            key_hash=_digest(plaintext),
            created_at=now,
        )
        core.state.api_keys[key.id] = key
        core.state.api_keys_by_hash[key.key_hash] = key.id
        core.ledger.record(
            "api_key",
            at=now,
            by="client",
            user_id=user.id,
            email=user.email,
            details={"key_id": key.id, "name": name, "scopes": list(key.scopes)},
        )
        return key, plaintext

    def key_for(self, token: str | None) -> ApiKey | None:
        """The stored key a bearer token is, if any (used for rate-limit buckets too)."""
        if not token or not token.startswith(KEY_PREFIX):
            return None
        key_id = self._core.state.api_keys_by_hash.get(_digest(token))
        return self._core.state.api_keys.get(key_id) if key_id else None

    def authenticate(self, token: str | None, scopes: tuple[str, ...]) -> tuple[User, ApiKey]:
        """401 without a valid ``rm_`` key, 403 when the key lacks one of ``scopes``."""
        if not token:
            raise ApiError("UNAUTHORIZED", "missing bearer token")
        if not token.startswith(KEY_PREFIX):
            raise ApiError("UNAUTHORIZED", "an API key (rm_...) is required")
        key = self.key_for(token)
        if key is None:
            raise ApiError("UNAUTHORIZED", "invalid API key")
        missing = [scope for scope in scopes if scope not in key.scopes]
        if missing:
            raise ApiError("FORBIDDEN", f"API key lacks scope: {', '.join(missing)}")
        return self._core.state.users[key.user_id], key

    def login(self, email: str, password: str) -> Session | None:
        """Password grant: a new session for a confirmed user with the right password, else None.

        Lets a bot whose session expired (or whose link was already used) get a fresh JWT the way
        supabase-js ``signInWithPassword`` does. The right password of an account whose e-mail is not
        confirmed raises :class:`EmailNotConfirmed`, as Supabase answers it (``email_not_confirmed``):
        that is how a client learns that a signup whose answer it lost did create the account.
        """
        user = self._core.state.user_by_email(email)
        if user is None:
            return None
        candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), user.password_salt, _PBKDF2_ROUNDS)
        if not hmac.compare_digest(candidate, user.password_hash):
            return None
        if user.email_confirmed_at is None:
            raise EmailNotConfirmed()
        return self._new_session(user, self._core.now())


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
