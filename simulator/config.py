"""Every knob of the simulator, validated in one place.

``SimulatorConfig`` holds what is fixed for a run (address, time scale, seed, Stripe endpoint);
``RuntimeConfig`` holds what ``GET/PATCH /_sim/config`` may change while it runs (costs, failure
rates, durations, limits); ``ChaosConfig`` (in :mod:`simulator.chaos`) holds injected faults.
Validation happens here so the CLI, the admin API and programmatic callers refuse the same bad input
with the same message.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    field_validator,
    model_serializer,
    model_validator,
)

from simulator.chaos import ChaosConfig

NonNegativeInt = Annotated[int, Field(ge=0)]
Rate = Annotated[float, Field(ge=0.0, le=1.0)]

DURATION_KINDS = ("sync", "image", "video", "delivery")

#: ``full``: every field the contract promises or assumes; ``guide``: only what the vendor's guide promises.
Answers = Literal["full", "guide"]
ANSWERS: tuple[Answers, ...] = ("full", "guide")


class _Strict(BaseModel):
    """Unknown keys are mistakes (a typo in a knob must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DurationRange(_Strict):
    """A closed range of simulated seconds a job of one kind takes; drawn uniformly."""

    min: float = Field(ge=0.0)
    max: float = Field(ge=0.0)

    @model_validator(mode="after")
    def _ordered(self) -> DurationRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, value: object) -> object:
        """Accept the compact ``[min, max]`` form used on the wire and on the command line."""
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError("a duration range is [min, max]")
            return {"min": value[0], "max": value[1]}
        return value

    @model_serializer(mode="plain")
    def _as_pair(self) -> list[float]:
        return [self.min, self.max]


class Durations(_Strict):
    """The guide's documented ranges (simulated seconds); overridable per kind."""

    sync: DurationRange = DurationRange(min=30, max=300)
    image: DurationRange = DurationRange(min=20, max=90)
    video: DurationRange = DurationRange(min=60, max=300)
    delivery: DurationRange = DurationRange(min=10, max=60)


class Costs(_Strict):
    """Credits charged per generated media item; a carousel costs three images."""

    image: NonNegativeInt = 25
    video: NonNegativeInt = 100


class RateLimitConfig(_Strict):
    """Per-key request budget on the real clock, and how the reset is announced."""

    limit: int = Field(default=120, ge=1)
    window_seconds: float = Field(default=60.0, gt=0)
    reset_format: Literal["unix", "seconds"] = "unix"
    retry_after: bool = True


class RuntimeConfig(_Strict):
    """Knobs readable and changeable while the simulator runs (``/_sim/config``)."""

    costs_cents: Costs = Costs()
    media_failure_rate: Rate = 0.0
    delivery_failure_rate: Rate = 0.0
    sync_failure_rate: Rate = 0.0
    durations_seconds: Durations = Durations()
    sync_cooldown_seconds: float = Field(default=900.0, ge=0)
    signup_limit: int = Field(default=5, ge=0)
    signup_window_seconds: float = Field(default=86_400.0, gt=0)
    verify_link_ttl_seconds: float = Field(default=86_400.0, gt=0)
    session_ttl_seconds: float = Field(default=3_600.0, gt=0)
    bonus_cents: NonNegativeInt = 500
    rate_limit: RateLimitConfig = RateLimitConfig()
    backlog_posts: NonNegativeInt = 6
    # Guide-minimal world (simulator/README.md, "Guide-minimal answers"): only what the guide promises.
    answers: Answers = "full"
    # In guide mode the bonus comes only by the (simulated) Stripe webhook, this long after the event.
    webhook_delay_seconds: float = Field(default=30.0, ge=0, le=30 * 86_400)
    # Repeated Idempotency-Key on a POST returns the first answer; off because the guide promises nothing.
    idempotency_keys: StrictBool = False

    def merged(self, patch: dict[str, object]) -> RuntimeConfig:
        """A new config with ``patch`` deep-merged in, validated as a whole."""
        return RuntimeConfig.model_validate(_deep_merge(self.model_dump(), patch))


class SimulatorConfig(_Strict):
    """Everything a simulator run needs; the CLI and ``SimulatorServer`` both build one."""

    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=0, le=65535)
    time_scale: float = Field(default=1.0, gt=0, le=1000)
    seed: int | None = None
    stripe_api_base: str = "http://127.0.0.1:8420"
    stripe_secret_key: SecretStr = SecretStr("sk_test_simulator")
    stripe_webhook_secret: SecretStr | None = None
    jwt_secret: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))
    reconcile_interval_seconds: float = Field(default=1.0, gt=0)
    tick_max_seconds: float = Field(default=0.25, gt=0)
    access_log: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    # Also deliver every confirmation mail as an RFC 5322 message into this Maildir (created if missing).
    maildir: Path | None = None
    runtime: RuntimeConfig = RuntimeConfig()
    chaos: ChaosConfig = ChaosConfig()

    @field_validator("stripe_api_base")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("maildir")
    @classmethod
    def _maildir(cls, value: Path | None) -> Path | None:
        """A directory we can write, or a new one whose parent exists (a Maildir is created in it)."""
        if value is None:
            return None
        if value.exists():
            if not value.is_dir():
                raise ValueError("must be a directory (a Maildir)")
            writable = value
        elif value.parent.is_dir():
            writable = value.parent
        else:
            raise ValueError(f"the parent directory {value.parent} does not exist")
        if not os.access(writable, os.W_OK | os.X_OK):
            raise ValueError(f"{writable} is not writable")
        return value

    @field_validator("stripe_secret_key")
    @classmethod
    def _secret_key(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("sk_"):
            raise ValueError("must be a Stripe secret key (sk_...)")
        return value


def _deep_merge(base: dict[str, object], patch: dict[str, object]) -> dict[str, object]:
    """Merge nested dicts key by key; any other value (lists included) replaces the old one."""
    merged = dict(base)
    for key, value in patch.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = _deep_merge(current, value)
        else:
            merged[key] = value
    return merged
