"""The worker's ReelMirror-side configuration, read once from the environment at start-up.

Why one validated object: a typo in a URL or a timeout found while the worker starts costs one line
of output; found inside the first activity it costs a stuck workflow. `from_env` names the variable
that is wrong, so the operator knows what to fix without reading a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

__all__ = ["ENV_VARS", "ActivitySettings", "SettingsError"]


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
    # Origin of the simulator whose admin mailbox (/_sim/mailbox/{email}) holds confirmation mails;
    # None: this worker reads no mailbox and the link must arrive by the confirm_email signal.
    mailbox_url: str | None = None
    stripe_api_base: str | None = None
    stripe_publishable_key: str | None = None
    http_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    service_unavailable_retry_seconds: float = Field(default=60.0, gt=0, le=3600)
    # The operator's Stripe payment method (pm_...); an account's own `payment_method` secret wins.
    payment_method: SecretStr | None = None
    # Where alerts link to: the Temporal Web UI as operators reach it.
    web_ui_url: str = "http://localhost:8233"

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _http_url(value, optional=False) or value

    @field_validator("web_ui_url")
    @classmethod
    def _web_ui_url(cls, value: str) -> str:
        return _http_url(value, optional=False) or value

    @field_validator("mailbox_url", "stripe_api_base")
    @classmethod
    def _optional_url(cls, value: str | None) -> str | None:
        return _http_url(value, optional=True)

    @field_validator("stripe_publishable_key")
    @classmethod
    def _publishable(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("pk_"):
            raise ValueError("must be a Stripe publishable key (pk_test_... or pk_live_...)")
        return value

    @field_validator("payment_method")
    @classmethod
    def _payment_method(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("pm_"):
            raise ValueError("must be a Stripe payment method id (pm_...)")
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
    "REELMIRROR_MAILBOX_URL": "mailbox_url",
    "STRIPE_API_BASE": "stripe_api_base",
    "STRIPE_PUBLISHABLE_KEY": "stripe_publishable_key",
    "REELMIRROR_HTTP_TIMEOUT_SECONDS": "http_timeout_seconds",
    "REELMIRROR_503_RETRY_SECONDS": "service_unavailable_retry_seconds",
    "REELMIRROR_PAYMENT_METHOD": "payment_method",
    "REELMIRROR_WEB_UI_URL": "web_ui_url",
}
_VAR_OF_FIELD = {field: var for var, field in ENV_VARS.items()}
