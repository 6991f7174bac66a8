"""The worker's ReelMirror-side configuration, read once from the environment at start-up.

Why one validated object: a typo in a URL or a timeout found while the worker starts costs one line
of output; found inside the first activity it costs a stuck workflow. `from_env` names the variable
that is wrong, so the operator knows what to fix without reading a traceback.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

__all__ = ["ENV_VARS", "ActivitySettings", "SettingsError"]

# A DNS name (or an IPv4 address): dot-separated labels of letters, digits and inner hyphens.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")


class SettingsError(ValueError):
    """An environment variable holds a value the worker cannot use (the message names the variable)."""


def _http_url(value: str | None, *, optional: bool) -> str | None:
    if value is None and optional:
        return None
    parts = urlsplit(value or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL with a host")
    return (value or "").rstrip("/")


class ActivitySettings(BaseModel):
    """Everything the activities need besides the per-account secrets (those live in the SecretStore)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = "https://reelmirror.com/api"
    secrets_dir: Path = Path("./.state/secrets")
    # postgresql://user@host:5432/db of the store every worker host shares; None: the file store above.
    secrets_url: SecretStr | None = None
    # Origin of the simulator whose admin mailbox (/_sim/mailbox/{email}) holds confirmation mails;
    # None: this worker reads no mailbox and the link must arrive by the confirm_email signal.
    mailbox_url: str | None = None
    stripe_api_base: str | None = None
    stripe_publishable_key: str | None = None
    http_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    service_unavailable_retry_seconds: float = Field(default=60.0, gt=0, le=3600)
    # How long an answer may stay unusable (malformed, an unexpected status such as 500, an unknown
    # status) before the work parks with the reason instead of retrying on.
    unusable_answer_budget_seconds: float = Field(default=900.0, gt=0, le=7 * 24 * 3600)
    # The operator's Stripe payment method (pm_...); an account's own `payment_method` secret wins.
    payment_method: SecretStr | None = None
    # A real inbox read over IMAP (activities.imap_mailbox); None: no IMAP. Exclusive with mailbox_url.
    imap_host: str | None = None
    # None: the usual port of `imap_security` (993 for tls, 143 for starttls and plain).
    imap_port: int | None = Field(default=None, ge=1, le=65535)
    imap_security: Literal["tls", "starttls", "plain"] = "tls"
    # `plain` sends the password in clear: allowed to a loopback host only, unless this says otherwise.
    imap_allow_plain: bool = False
    imap_user: str | None = None
    # A file holding only the IMAP password, readable by its owner alone (0600 or 0400); read at each use,
    # so a rotated password needs no restart, and the password itself never sits in the environment.
    imap_password_file: Path | None = None
    imap_folder: str = Field(default="INBOX", min_length=1)
    # PEM CA bundle to verify the server with (a private CA); None: the system's trusted CAs.
    imap_ca_file: Path | None = None
    # Bound on every single network operation (connect, login, search, fetch, store).
    imap_timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    # Mail received longer ago than this is never taken for a confirmation (links expire).
    imap_max_age_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    # After an answer to POST /v1/generate that leaves open whether it committed (a timeout, a dropped
    # connection, a 5xx, a worker killed mid-request), the next attempt waits this long before it lists
    # the persona's posts again and, finding none, posts again: a proxy may still be holding the request.
    # Rehearsals scale it by the workflow's time scale, like every other wait.
    ambiguous_settle_seconds: float = Field(default=120.0, gt=0, le=24 * 3600)
    # The operator's word that the vendor honours `Idempotency-Key` (the guide does not promise it):
    # then a retry repeats its key at once instead of waiting out the settle time.
    idempotency_keys: bool = False
    # The Supabase Auth origin (`https://<project>.supabase.co`): confirmation links are followed only when
    # they point there, and refresh and password login go there. None: only `https://*.supabase.co` links
    # are followed, and the link's own origin serves refresh and login afterwards.
    auth_origin: str | None = None
    # The project's public anon key, sent as `apikey` to Supabase's token endpoint (a real project asks
    # for it on refresh and password login; the simulator does not).
    supabase_anon_key: SecretStr | None = None

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _http_url(value, optional=False) or value

    @field_validator("mailbox_url", "stripe_api_base")
    @classmethod
    def _optional_url(cls, value: str | None) -> str | None:
        return _http_url(value, optional=True)

    @field_validator("auth_origin")
    @classmethod
    def _auth_origin(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = _http_url(value, optional=False) or value
        parts = urlsplit(url)
        if parts.path or parts.query or parts.fragment or parts.username is not None or parts.password is not None:
            raise ValueError("must be an origin only (scheme, host and port), e.g. https://abcd.supabase.co")
        return url

    @field_validator("stripe_publishable_key")
    @classmethod
    def _publishable(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("pk_"):
            raise ValueError("must be a Stripe publishable key (pk_test_... or pk_live_...)")
        return value

    @field_validator("secrets_url")
    @classmethod
    def _secrets_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("postgresql", "postgres"):
            # Never echo the value: it may carry a password.
            raise ValueError(
                "must be a postgresql:// URL (postgresql://user@host:5432/dbname; "
                "the password may come from PGPASSWORD or a passfile)"
            )
        return value

    @field_validator("payment_method")
    @classmethod
    def _payment_method(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("pm_"):
            raise ValueError("must be a Stripe payment method id (pm_...)")
        return value

    @field_validator("imap_host")
    @classmethod
    def _imap_host(cls, value: str | None) -> str | None:
        if value is None or _HOST_NAME.match(value):
            return value
        try:
            return str(ipaddress.IPv6Address(value))
        except ValueError:
            raise ValueError("must be a host name or IP address (no scheme, port or path)") from None

    @field_validator("imap_user", "imap_folder")
    @classmethod
    def _imap_word(cls, value: str | None) -> str | None:
        if value is not None and not value.isprintable():
            raise ValueError("must be printable text (no control characters)")
        return value

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ActivitySettings:
        """Read the variables of `ENV_VARS` (unset or empty: the default); raise SettingsError naming a bad one."""
        source = os.environ if env is None else env
        values = {field: source[var].strip() for var, field in ENV_VARS.items() if source.get(var, "").strip()}
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                field = str(error["loc"][0]) if error["loc"] else ""
                var = _VAR_OF_FIELD.get(field, field)
                # error["msg"] only: pydantic's full text would echo the input, which may be a secret.
                problems.append(f"{var}: {error['msg']}")
            raise SettingsError("invalid worker settings: " + "; ".join(problems)) from None


#: Environment variable -> ActivitySettings field.
ENV_VARS: dict[str, str] = {
    "REELMIRROR_BASE_URL": "base_url",
    "REELMIRROR_SECRETS_DIR": "secrets_dir",
    "REELMIRROR_SECRETS_URL": "secrets_url",
    "REELMIRROR_MAILBOX_URL": "mailbox_url",
    "STRIPE_API_BASE": "stripe_api_base",
    "STRIPE_PUBLISHABLE_KEY": "stripe_publishable_key",
    "REELMIRROR_HTTP_TIMEOUT_SECONDS": "http_timeout_seconds",
    "REELMIRROR_503_RETRY_SECONDS": "service_unavailable_retry_seconds",
    "REELMIRROR_UNUSABLE_ANSWER_BUDGET_SECONDS": "unusable_answer_budget_seconds",
    "REELMIRROR_PAYMENT_METHOD": "payment_method",
    "REELMIRROR_IMAP_HOST": "imap_host",
    "REELMIRROR_IMAP_PORT": "imap_port",
    "REELMIRROR_IMAP_SECURITY": "imap_security",
    "REELMIRROR_IMAP_ALLOW_PLAIN": "imap_allow_plain",
    "REELMIRROR_IMAP_USER": "imap_user",
    "REELMIRROR_IMAP_PASSWORD_FILE": "imap_password_file",
    "REELMIRROR_IMAP_FOLDER": "imap_folder",
    "REELMIRROR_IMAP_CA_FILE": "imap_ca_file",
    "REELMIRROR_IMAP_TIMEOUT_SECONDS": "imap_timeout_seconds",
    "REELMIRROR_IMAP_MAX_AGE_HOURS": "imap_max_age_hours",
    "REELMIRROR_AMBIGUOUS_SETTLE_SECONDS": "ambiguous_settle_seconds",
    "REELMIRROR_IDEMPOTENCY_KEYS": "idempotency_keys",
    "REELMIRROR_AUTH_ORIGIN": "auth_origin",
    "REELMIRROR_SUPABASE_ANON_KEY": "supabase_anon_key",
}
_VAR_OF_FIELD = {field: var for var, field in ENV_VARS.items()}
