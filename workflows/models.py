"""Workflow records: outputs, signal payloads, query results and the state carried across runs.

Everything here is recorded in workflow history and shown in the Web UI, so it holds ids, counters and
references, never a secret. What an operator configures lives in `workflows.config`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from activities.models import BalanceView, PlanBook, PlannedPost
from activities.operator_models import AlertMessage
from workflows.config import AlertWebhook, ApprovalPolicy, CostTable, PersonaConfig
from workflows.durations import DurationObservation, DurationSummary
from workflows.policies import Timing


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AccountSummary(_Record):
    account_ref: str
    email: str
    user_id: str | None
    key_id: str
    key_fingerprint: str
    scopes: list[str]
    balance_cents: int | None  # None: the server's balance answer carried no amount
    bonus_granted: bool
    auto_reload: bool | None
    # what did not go as asked but left a working account (a declined card, a refused auto-reload)
    notes: list[str] = Field(default_factory=list)
    # API keys an earlier attempt may have created unseen (their answer was lost): revoke them in the dashboard
    orphaned_key_names: list[str] = Field(default_factory=list)


class ConfirmEmailSignal(_Record):
    link: str


class OnboardingStatus(_Record):
    stage: str
    email: str
    last_error: str | None = None
    parked_reason: str | None = None
    # API keys that may exist without this bot holding them (see AccountSummary)
    orphaned_key_names: list[str] = Field(default_factory=list)
    account_ref: str | None = None
    notes: list[str] = Field(default_factory=list)


# --- persona loop and posts ----------------------------------------------------------------------------


class PostRef(_Record):
    """Identifies a post for approve/reject routing: the generated post id, or the source post id."""

    post_id: str


class RejectSignal(PostRef):
    reason: str | None = None


class DecisionRequest(_Record):
    """The input of approve and reject (update or signal), every field optional: the post workflow knows
    its post, so a decision sent from the Web UI with no input at all is a decision for that post."""

    post_id: str | None = None  # when given, it must be this workflow's post (a guard against a wrong id)
    reason: str | None = Field(default=None, max_length=500)


class DecisionReply(_Record):
    """What the approve/reject update answers once the decision is taken (refusals are update errors)."""

    workflow_id: str
    source_post_id: str
    generated_post_id: str | None
    approved: bool
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
    parked_since: datetime | None = None
    parked_kind: str | None = None  # balance | credentials | operator: what resumes it
    pending_approval: PendingApproval | None = None
    finished: bool = False
    # published | partially_published | delivery_failed | rejected | composed | media_failed | failed | cancelled
    outcome: str | None = None
    reason: str | None = None  # why it ended so (a failure, a rejection)
    cost_cents: int = 0
    generated_by_us: bool = False
    published_deliveries: int = 0
    failed_deliveries: int = 0
    # how long this post's media and deliveries took, for the persona's duration summary
    observations: list[DurationObservation] = Field(default_factory=list)


class PostDetails(_Record):
    """Everything `starter.py show` prints about one post that only its workflow knows (query `details`)."""

    workflow_id: str
    persona_slug: str
    persona_workflow_id: str | None = None
    account_ref: str
    post: PlannedPost
    generated_post_id: str | None = None
    caption: str | None = None
    media_urls: list[str] = Field(default_factory=list)
    stage: str
    parked_reason: str | None = None
    parked_since: datetime | None = None
    pending_approval: PendingApproval | None = None
    decision: str | None = None  # "approved by operator", "rejected by timeout: ..."
    outcome: str | None = None
    reason: str | None = None
    cost_cents: int = 0
    outgoing_post_id: str | None = None
    deliveries: list[str] = Field(default_factory=list)


class ContentPostInput(_Record):
    account_ref: str
    persona_id: str
    persona_workflow_id: str | None = None
    persona_slug: str
    post: PlannedPost
    approval: ApprovalPolicy
    costs: CostTable
    timing: Timing
    # the persona's job durations so far: the post plans its polls from them
    durations: DurationSummary | None = None


class PostResult(_Record):
    source_post_id: str
    generated_post_id: str | None
    outcome: str
    cost_cents: int = 0
    outgoing_post_id: str | None = None
    published_deliveries: int = 0
    failed_deliveries: int = 0
    failure_reason: str | None = None


class FailedPost(_Record):
    """A post of the persona that ended badly, kept for `status` (the last few only)."""

    workflow_id: str
    source_post_id: str
    generated_post_id: str | None = None
    outcome: str
    reason: str | None = None
    at: datetime


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
    cancelled: int = 0
    # auto_publish posts adopted by generated id whose answers named no outgoing post: deliveries unknown
    server_published: int = 0


class PersonaState(_Record):
    """Carried across continue-as-new."""

    persona_id: str | None = None
    source_modes: dict[str, str] = Field(default_factory=dict)
    plan_book: PlanBook | None = None  # the persona's small record of its source posts (activities.planning)
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
    # `persona stop`: no new cycle starts; the loop ends once the posts in flight have
    stopping: bool = False
    # `persona update`: the configuration the next cycle runs with (applied by continuing as new)
    pending_config: PersonaConfig | None = None
    recent_failures: list[FailedPost] = Field(default_factory=list)
    alerts_sent: list[str] = Field(default_factory=list)  # alert workflow ids started, newest last
    # how long this persona's syncs, media and deliveries took: its polls are planned from it
    durations: DurationSummary = Field(default_factory=DurationSummary)
    # the record of the generated-post listing, when the server's posts are adopted by generated id
    adopt_book: PlanBook | None = None
    # generated post ids our own generates made lately (newest last, bounded): never adopted as the server's
    own_generated_ids: list[str] = Field(default_factory=list)


class PersonaLoopInput(_Record):
    account_ref: str
    config: PersonaConfig
    timing: Timing = Field(default_factory=Timing)
    state: PersonaState | None = None
    # continue-as-new after this many cycles in one run (tests force it); None: only when Temporal suggests it
    continue_as_new_after_cycles: int | None = Field(default=None, ge=1)
    # a run continues as new by this many events, parked or not (well inside Temporal's limits)
    continue_as_new_after_events: int = Field(default=5_000, ge=100, le=40_000)


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
    # fallbacks in use because the vendor's answers omit fields we only assume
    notes: list[str] = Field(default_factory=list)
    # filled by the status query (the final result leaves them at their defaults)
    account_ref: str | None = None
    parked_since: datetime | None = None
    parked_kind: str | None = None
    posts: list[PostProgress] = Field(default_factory=list)  # every post in flight, latest report each
    recent_failures: list[FailedPost] = Field(default_factory=list)
    stopping: bool = False
    pending_changes: list[str] = Field(default_factory=list)  # what `persona update` changes at the next cycle
    next_cycle_max_cents: int = 0  # the most the next cycle can spend (posts it may start x dearest media)
    uncharged_cents: int = 0  # what posts in flight will still cost (not generated yet, e.g. parked on balance)


class StopRequest(_Record):
    """`persona stop`: `now` also cancels the posts in flight (each ends with outcome cancelled)."""

    now: bool = False


class StopReply(_Record):
    workflow_id: str
    already_stopping: bool
    posts_in_flight: int
    cancelled: list[str] = Field(default_factory=list)  # post workflows asked to cancel
    parked_reason: str | None = None  # a parked persona stops when the park ends


class ConfigChangeReply(_Record):
    """`persona update`: what the accepted configuration changes, applied at the next cycle."""

    workflow_id: str
    changes: list[str]


# --- alerts ----------------------------------------------------------------------------------------------


class AlertInput(_Record):
    alert: AlertMessage
    webhooks: list[AlertWebhook]


class AlertReport(_Record):
    delivered: list[str] = Field(default_factory=list)  # webhook URLs
    undelivered: dict[str, str] = Field(default_factory=dict)  # webhook URL -> last error


# --- account operations (the CLI holds no API key: the worker acts) -------------------------------------


class AccountRequest(_Record):
    account_ref: str
    action: Literal["status", "topup", "auto_reload"]
    amount_cents: int | None = Field(default=None, gt=0)  # topup
    auto_reload: bool | None = None
    reload_threshold_cents: int | None = Field(default=None, ge=0)
    reload_amount_cents: int | None = Field(default=None, gt=0)


class AccountReply(_Record):
    account_ref: str
    balance: BalanceView | None = None
    key_id: str | None = None
    key_fingerprint: str | None = None
    scopes: list[str] = Field(default_factory=list)
    missing_scopes: list[str] = Field(default_factory=list)
    # a link for a human: in history only as an (encrypted) payload, never in ids or search attributes
    checkout_url: str | None = None
    error: str | None = None
    error_type: str | None = None
