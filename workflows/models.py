"""Workflow inputs, outputs, signal payloads and query results.

Everything here is recorded in workflow history and shown in the Web UI, so it holds ids, counters and
references, never a secret. The persona configuration is validated here too, so the starter refuses a bad
file before anything starts and the workflow can trust its input.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PLATFORMS = ("instagram", "tiktok", "youtube", "x", "facebook", "threads")
AUTOMATION_MODES = ("sync_only", "auto_clone", "auto_publish")
MIN_SYNC_INTERVAL_MINUTES = 15  # the server's sync cooldown: syncing more often only returns skipped jobs


def slugify(text: str) -> str:
    """Lower-case, dash-separated id fragment: `My Creator!` -> `my-creator`."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:48] or "persona"


class _Strict(BaseModel):
    """Operator-facing config: unknown keys are refused so a typo is reported, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


# --- timing --------------------------------------------------------------------------------------


class PollSchedule(_Strict):
    """One kind of job's poll schedule, used as the polling activity's retry policy.

    The first check comes near the lower bound of the documented duration; later checks back off up to
    `max_interval_seconds`, which bounds how late a finished job is noticed.
    """

    first_check_seconds: float = Field(gt=0)
    backoff: float = Field(default=1.5, ge=1.0)
    max_interval_seconds: float = Field(gt=0)
    give_up_after_seconds: float = Field(gt=0)


def _default_schedules() -> dict[str, PollSchedule]:
    return {
        "sync": PollSchedule(first_check_seconds=30, max_interval_seconds=30, give_up_after_seconds=3600),
        "image": PollSchedule(first_check_seconds=20, max_interval_seconds=15, give_up_after_seconds=3600),
        "video": PollSchedule(first_check_seconds=60, max_interval_seconds=30, give_up_after_seconds=3 * 3600),
        "delivery": PollSchedule(first_check_seconds=10, max_interval_seconds=15, give_up_after_seconds=3600),
        "email": PollSchedule(first_check_seconds=5, max_interval_seconds=30, give_up_after_seconds=24 * 3600),
        "bonus": PollSchedule(first_check_seconds=2, max_interval_seconds=30, give_up_after_seconds=3600),
        "server_post": PollSchedule(first_check_seconds=20, max_interval_seconds=30, give_up_after_seconds=3 * 3600),
    }


class Timing(_Strict):
    """Durations the workflows wait on. `time_scale` shrinks every one of them for rehearsals against the
    simulator (which runs its clock at the same scale); production leaves it at 1."""

    time_scale: float = Field(default=1.0, gt=0, le=1.0)
    poll: dict[str, PollSchedule] = Field(default_factory=_default_schedules)
    balance_recheck_minutes: float = Field(default=30, gt=0)
    credentials_recheck_minutes: float = Field(default=60, gt=0)

    def scaled(self, seconds: float) -> timedelta:
        return timedelta(seconds=max(seconds * self.time_scale, 0.01))

    def schedule(self, kind: str) -> PollSchedule:
        return self.poll.get(kind) or _default_schedules()[kind]


# --- persona configuration (the operator's TOML file) ------------------------------------------------


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
    timeout_minutes: float | None = Field(default=None, gt=0)
    default_action: Literal["approve", "reject"] = "reject"


class CostTable(_Strict):
    """Credits one generated media item costs, used for the daily budget (the API does not return costs)."""

    image_cents: int = Field(default=25, ge=0)
    video_cents: int = Field(default=100, ge=0)
    carousel_cents: int = Field(default=75, ge=0)

    def for_media_type(self, media_type: str) -> int:
        return {"image": self.image_cents, "video": self.video_cents, "carousel": self.carousel_cents}.get(
            media_type, self.image_cents
        )


class PersonaConfig(_Strict):
    name: str = Field(min_length=1, max_length=100)
    writing_style: str = Field(default="", max_length=2000)
    slug: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,47}$")
    sources: list[SourceConfig] = Field(min_length=1)
    publishing_accounts: list[PublishingAccountConfig] = Field(default_factory=list)
    sync_interval_minutes: float = Field(default=60)
    posts_per_cycle: int = Field(default=3, ge=0, le=100)
    max_concurrent_posts: int = Field(default=3, ge=1, le=50)
    daily_credit_budget_cents: int | None = Field(default=None, ge=0)
    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    costs: CostTable = Field(default_factory=CostTable)
    # cycles to run before the workflow completes; None runs forever (tests and the demo set a number)
    max_cycles: int | None = Field(default=None, ge=1)

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
    threshold_cents: int = Field(default=500, ge=0)
    amount_cents: int = Field(default=2500, gt=0)


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


def onboarding_workflow_id(email: str) -> str:
    """Idempotent start: one onboarding per e-mail address."""
    return "onboarding-" + re.sub(r"[^a-z0-9]+", "-", email.lower()).strip("-")


class AccountSummary(_Record):
    account_ref: str
    email: str
    user_id: str | None
    key_id: str
    key_fingerprint: str
    scopes: list[str]
    balance_cents: int
    bonus_granted: bool
    auto_reload: bool
    # what did not go as asked but left a working account (a declined card, a refused auto-reload)
    notes: list[str] = Field(default_factory=list)


class ConfirmEmailSignal(_Record):
    link: str


class OnboardingStatus(_Record):
    stage: str
    email: str
    last_error: str | None = None


# --- persona loop and posts ----------------------------------------------------------------------------


class PostRef(_Record):
    """Identifies a post for approve/reject routing: the generated post id, or the source post id."""

    post_id: str


class RejectSignal(PostRef):
    reason: str | None = None


class PendingApproval(_Record):
    generated_post_id: str
    source_post_id: str
    workflow_id: str
    caption: str | None = None
    media_urls: list[str] = Field(default_factory=list)
    waiting_since: datetime
    decide_by: datetime | None = None


class PostProgress(_Record):
    """What a ContentPostWorkflow tells its persona: sent on every stage change, and once at the end."""

    workflow_id: str
    source_post_id: str
    generated_post_id: str | None = None
    stage: str
    parked_reason: str | None = None
    pending_approval: PendingApproval | None = None
    finished: bool = False
    # published | partially_published | delivery_failed | rejected | composed | media_failed | failed
    outcome: str | None = None
    cost_cents: int = 0
    generated_by_us: bool = False
    published_deliveries: int = 0
    failed_deliveries: int = 0


class ContentPostInput(_Record):
    account_ref: str
    persona_id: str
    persona_workflow_id: str | None = None
    persona_slug: str
    post: PlannedPostRef
    approval: ApprovalPolicy
    costs: CostTable
    timing: Timing


class PlannedPostRef(_Record):
    source_post_id: str
    source_id: str | None = None
    automation_mode: str
    media_type: str
    caption: str | None = None
    existing_generated_post_id: str | None = None


class PostResult(_Record):
    source_post_id: str
    generated_post_id: str | None
    outcome: str
    cost_cents: int = 0
    outgoing_post_id: str | None = None
    published_deliveries: int = 0
    failed_deliveries: int = 0
    failure_reason: str | None = None


class Counters(_Record):
    cycles: int = 0
    generated: int = 0
    adopted: int = 0
    approved: int = 0
    rejected: int = 0
    composed: int = 0
    published_posts: int = 0
    published_deliveries: int = 0
    failed_deliveries: int = 0
    failed_posts: int = 0


class PersonaState(_Record):
    """Carried across continue-as-new."""

    persona_id: str | None = None
    source_modes: dict[str, str] = Field(default_factory=dict)
    handled_source_post_ids: list[str] = Field(default_factory=list)
    active_posts: dict[str, PostProgress] = Field(default_factory=dict)  # child workflow id -> latest progress
    counters: Counters = Field(default_factory=Counters)
    spent_day: str | None = None  # UTC date the spent counter belongs to
    spent_today_cents: int = 0
    paused: bool = False
    last_error: str | None = None
    cycles_done: int = 0
    # child workflow id -> estimated cost of a post in flight that has not reported its cost yet; counted
    # against today's budget so posts started together cannot overspend it
    reserved_cents: dict[str, int] = Field(default_factory=dict)


class PersonaLoopInput(_Record):
    account_ref: str
    config: PersonaConfig
    timing: Timing = Field(default_factory=Timing)
    state: PersonaState | None = None
    # continue-as-new after this many cycles in one run (tests force it); None: only when Temporal suggests it
    continue_as_new_after_cycles: int | None = Field(default=None, ge=1)


class PersonaStatus(_Record):
    workflow_id: str
    persona: str
    persona_id: str | None
    stage: str
    paused: bool
    parked_reason: str | None
    pending_approvals: list[PendingApproval]
    active_posts: int
    counters: Counters
    credits_spent_today_cents: int
    daily_credit_budget_cents: int | None
    last_error: str | None
    next_sync_at: datetime | None
    targets_missing: list[str] = Field(default_factory=list)


ContentPostInput.model_rebuild()
