"""What an operator configures: a persona (its TOML file) and an onboarding.

Strict on purpose: unknown keys are refused so a typo is reported, and every value is checked here, so
the starter refuses a bad file before anything starts and the workflows can trust their input. These
models travel in workflow inputs, so they hold names and settings, never a secret.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workflows.policies import Timing

PLATFORMS = ("instagram", "tiktok", "youtube", "x", "facebook", "threads")
AUTOMATION_MODES = ("sync_only", "auto_clone", "auto_publish")
MIN_SYNC_INTERVAL_MINUTES = 15  # the server's sync cooldown: syncing more often only returns skipped jobs
# Bounds that catch a slipped digit before it costs money or waits for ever.
MAX_WAIT_MINUTES = 90 * 24 * 60  # 90 days
MAX_PRICE_CENTS = 100_000  # $1,000 for one media item
MAX_BUDGET_CENTS = 10_000_000  # $100,000
MAX_BACKLOG = 200  # new posts a persona keeps waiting at most (activities.planning.MAX_PENDING)


def slugify(text: str) -> str:
    """Lower-case, dash-separated id fragment: `My Creator!` -> `my-creator`."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:48] or "persona"


class _Strict(BaseModel):
    """Operator-facing config: unknown keys are refused so a typo is reported, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# --- persona (the operator's TOML file) ----------------------------------------------------------------


class SourceConfig(_Strict):
    platform: str
    username: str = Field(min_length=1, max_length=100)
    automation_mode: str = "sync_only"

    @field_validator("platform")
    @classmethod
    def _known_platform(cls, v: str) -> str:
        if v not in PLATFORMS:
            raise ValueError(f"unknown platform {v!r}; use one of: {', '.join(PLATFORMS)}")
        return v

    @field_validator("automation_mode")
    @classmethod
    def _known_mode(cls, v: str) -> str:
        if v not in AUTOMATION_MODES:
            raise ValueError(f"unknown automation_mode {v!r}; use one of: {', '.join(AUTOMATION_MODES)}")
        return v


class PublishingAccountConfig(_Strict):
    """A connected account to link as a publishing target: by id, or by platform and username."""

    connected_account_id: str | None = None
    platform: str | None = None
    username: str | None = None

    @model_validator(mode="after")
    def _one_way_to_name_it(self) -> PublishingAccountConfig:
        if not self.connected_account_id and not (self.platform and self.username):
            raise ValueError("give connected_account_id, or platform and username")
        if self.platform is not None and self.platform not in PLATFORMS:
            raise ValueError(f"unknown platform {self.platform!r}; use one of: {', '.join(PLATFORMS)}")
        return self


class ApprovalPolicy(_Strict):
    mode: Literal["manual", "auto"] = "manual"
    # manual only: after this long without a decision, take `default_action`; None waits forever
    timeout_minutes: float | None = Field(default=None, gt=0, le=MAX_WAIT_MINUTES)
    default_action: Literal["approve", "reject"] = "reject"


class CostTable(_Strict):
    """Credits one generated media item costs, used for the daily budget (the API does not return costs)."""

    image_cents: int = Field(default=25, ge=0, le=MAX_PRICE_CENTS)
    video_cents: int = Field(default=100, ge=0, le=MAX_PRICE_CENTS)
    carousel_cents: int = Field(default=75, ge=0, le=MAX_PRICE_CENTS)

    def for_media_type(self, media_type: str) -> int:
        """The price of a media type; a type the answers did not name (or one this table does not know)
        counts at the highest price, so a daily budget is never overspent on a guess."""
        prices = {"image": self.image_cents, "video": self.video_cents, "carousel": self.carousel_cents}
        return prices.get(media_type, max(prices.values()))


ALERT_EVENTS = ("decision_needed", "parked", "failed", "budget_reached")
AlertEventKind = Literal["decision_needed", "parked", "failed", "budget_reached"]


class AlertWebhook(_Strict):
    """A receiver of the persona's alerts: a JSON POST whose `text` field also suits a Slack webhook.

    The URL travels in the persona's workflow input, like the rest of this file (encrypted in history
    by the payload codec).
    """

    url: str
    events: list[AlertEventKind] = Field(default_factory=lambda: list(ALERT_EVENTS), min_length=1)

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v


class PersonaConfig(_Strict):
    name: str = Field(min_length=1, max_length=100)
    writing_style: str = Field(default="", max_length=2000)
    slug: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,47}$")
    sources: list[SourceConfig] = Field(min_length=1)
    publishing_accounts: list[PublishingAccountConfig] = Field(default_factory=list)
    sync_interval_minutes: float = Field(default=60, le=MAX_WAIT_MINUTES)
    posts_per_cycle: int = Field(default=3, ge=0, le=100)
    max_concurrent_posts: int = Field(default=3, ge=1, le=50)
    daily_credit_budget_cents: int | None = Field(default=None, ge=0, le=MAX_BUDGET_CENTS)
    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    costs: CostTable = Field(default_factory=CostTable)
    # cycles to run before the workflow completes; None runs forever (tests and the demo set a number)
    max_cycles: int | None = Field(default=None, ge=1, le=1_000_000)
    alerts: list[AlertWebhook] = Field(default_factory=list)
    # what the first listing counts as new: "none" (only posts that appear after the start) or its newest N
    backlog: Literal["none"] | int = Field(default=20)

    @field_validator("backlog", mode="before")
    @classmethod
    def _backlog(cls, v: object) -> object:
        if v == "none" or (isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_BACKLOG):
            return v
        raise ValueError(f'must be "none" or a number of posts from 0 to {MAX_BACKLOG}; got {v!r}')

    @property
    def backlog_posts(self) -> int:
        return 0 if self.backlog == "none" else self.backlog

    @field_validator("sync_interval_minutes")
    @classmethod
    def _respect_cooldown(cls, v: float) -> float:
        if v < MIN_SYNC_INTERVAL_MINUTES:
            raise ValueError(
                f"must be at least {MIN_SYNC_INTERVAL_MINUTES} minutes (the server skips syncs inside its "
                f"15-minute cooldown); got {v}"
            )
        return v

    @model_validator(mode="after")
    def _unique_sources(self) -> PersonaConfig:
        seen = set()
        for s in self.sources:
            key = (s.platform, s.username.lower())
            if key in seen:
                raise ValueError(f"source {s.platform}/{s.username} is listed twice")
            seen.add(key)
        return self

    @property
    def persona_slug(self) -> str:
        return self.slug or slugify(self.name)

    @property
    def workflow_id(self) -> str:
        return f"persona-{self.persona_slug}"


# --- onboarding ---------------------------------------------------------------------------------------


class AutoReloadConfig(_Strict):
    threshold_cents: int = Field(default=500, ge=0, le=MAX_BUDGET_CENTS)
    amount_cents: int = Field(default=2500, gt=0, le=MAX_BUDGET_CENTS)


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ACCOUNT_REF = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def check_account_ref(value: str) -> str:
    """Account refs name files in the secret store, so they are restricted to a safe alphabet."""
    if not _ACCOUNT_REF.match(value):
        raise ValueError(f"{value!r} is not a valid account name; use 1-64 lower-case letters, digits, '.', '_', '-'")
    return value


class OnboardingInput(_Strict):
    email: str
    account_ref: str
    key_name: str = "reelmirror-temporal"
    scopes: list[str] | None = None  # None: every scope the full loop needs, billing:write included
    attach_card: bool = False
    auto_reload: AutoReloadConfig | None = None
    # "mailbox": the worker's configured mailbox reader finds the link; "signal": wait for `confirm_email`
    confirmation: Literal["mailbox", "signal"] = "mailbox"
    timing: Timing = Field(default_factory=Timing)

    @field_validator("email")
    @classmethod
    def _looks_like_email(cls, v: str) -> str:
        if not _EMAIL.match(v):
            raise ValueError(f"{v!r} is not an e-mail address")
        return v

    @field_validator("account_ref")
    @classmethod
    def _safe_account_ref(cls, v: str) -> str:
        return check_account_ref(v)


def onboarding_workflow_id(account_ref: str) -> str:
    """Idempotent start: one onboarding per account name. Not per e-mail: workflow ids are stored and
    shown in clear text (only payloads are encrypted), so an address must never be part of one."""
    return f"onboarding-{check_account_ref(account_ref)}"
