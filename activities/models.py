"""Inputs and outputs of every activity.

These models cross the workflow/activity boundary, so they are recorded in workflow history: they carry
ids, references and fingerprints, never a password, JWT, API key, client secret or payment method id.
They import nothing but pydantic so the workflow sandbox can load them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, computed_field

from activities.poll_plan import PollPlan


class _Model(BaseModel):
    """Views are read straight off the client's response models (`View.model_validate(response)`), so
    the mapping from an API answer to what history records is declared once, on the view."""

    model_config = ConfigDict(extra="ignore", frozen=True, from_attributes=True)


class AccountRef(_Model):
    """Names the credentials an activity should use; the secrets stay in the worker's secret store."""

    account_ref: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")


# --- onboarding -------------------------------------------------------------------------------


class SignupInput(AccountRef):
    email: str


class SignupOutcome(_Model):
    user_id: str | None = None
    already_exists: bool = False
    # our own earlier signup request whose answer was lost did create the account (a login or its mail says so)
    recovered: bool = False


class VerifyEmailInput(AccountRef):
    email: str
    # A confirmation link delivered by the `confirm_email` signal; None means: read the configured mailbox.
    # Supabase links are single-use and expire, and this activity consumes the link at once.
    link: str | None = None
    # When the signup was sent: a mailbox reader ignores confirmation mail received before it.
    since: datetime | None = None


class VerifyEmailOutcome(_Model):
    user_id: str
    email: str
    jwt_fingerprint: str


class CreateApiKeyInput(AccountRef):
    name: str
    scopes: list[str]


class ApiKeyOutcome(_Model):
    key_id: str
    fingerprint: str
    scopes: list[str]
    reused: bool = False
    name: str | None = None
    # names of keys an earlier attempt may have created without this bot ever seeing them (the answer was
    # lost): they may work, nobody holds them, and only the dashboard can revoke them
    possibly_orphaned: list[str] = Field(default_factory=list)


class CardOutcome(_Model):
    setup_intent_id: str | None
    status: str
    already_attached: bool = False


class BalanceView(_Model):
    """Every field is the server's word when it gave one; None: the answer did not say (the guide promises
    no field of the balance)."""

    balance_cents: int | None = None
    auto_reload: bool | None = None
    reload_threshold_cents: int | None = None
    reload_amount_cents: int | None = None
    has_payment_method: bool | None = None


class AwaitBalanceInput(AccountRef):
    """Poll until the balance reaches `at_least_cents` with a payment method saved (the welcome bonus)."""

    at_least_cents: int


class AutoReloadInput(AccountRef):
    enabled: bool = True
    threshold_cents: int = 500
    amount_cents: int = 2500


# --- persona setup ------------------------------------------------------------------------------


class EnsurePersonaInput(AccountRef):
    name: str
    writing_style: str
    known_persona_id: str | None = None


class PersonaView(_Model):
    id: str
    name: str
    created: bool = False


class EnsureSourceInput(AccountRef):
    persona_id: str
    platform: str
    username: str
    automation_mode: str


class SourceView(_Model):
    """A source as the server knows it; fields the answer left out are filled from what we asked for."""

    id: str
    platform: str | None = None
    username: str | None = None
    automation_mode: str | None = None
    created: bool = False
    mode_changed: bool = False


class EnsureTargetInput(AccountRef):
    persona_id: str
    connected_account_id: str | None = None
    platform: str | None = None
    username: str | None = None


class TargetView(_Model):
    """`linked` is False when no connected account matches: a human must connect it in the dashboard.
    `reason` says why it is not linked, or which fallback linked it."""

    linked: bool
    connected_account_id: str | None = None
    platform: str | None = None
    username: str | None = None
    created: bool = False
    reason: str | None = None


# --- content cycle --------------------------------------------------------------------------------


class PersonaInput(AccountRef):
    persona_id: str


class SyncStartedView(_Model):
    job_ids: list[str]
    # job id -> the status start_sync saw (a skipped job is final at once: nothing to wait for)
    statuses: dict[str, str] = Field(default_factory=dict)


class JobInput(AccountRef):
    job_id: str
    # when to check again while the job runs; None: the activity's retry policy decides
    plan: PollPlan | None = None


class SyncJobView(_Model):
    id: str
    status: str
    source_id: str | None = None
    new_posts: int | None = None
    error: str | None = None


class PlanBook(_Model):
    """A persona's own record of its source posts (see `activities.planning`): small, carried for years."""

    known: int = 0  # how many posts of the listing's stable order were seen
    digest: str = ""  # digest of that block of ids, to recognise it in the next listing
    order: str | None = None  # posted_at | oldest_first | newest_first | None (not learned yet)
    pending: list[str] = Field(default_factory=list)  # new posts waiting for room, newest first
    recent: list[str] = Field(default_factory=list)  # handed on lately (guards the fallback only)
    dropped: int = 0  # new posts dropped because too many waited
    changed: bool = False  # the last listing's known block had changed: new posts found by the record


class PlanCycleInput(AccountRef):
    persona_id: str
    # source id -> automation mode, as ensured by the persona workflow
    source_modes: dict[str, str]
    limit: int = Field(ge=0)
    # the persona's own record of its source posts (None: the first listing) and its backlog policy
    book: PlanBook | None = None
    backlog: int = Field(default=20, ge=0)
    # the persona's record of its generated-post listing, for adopting the server's posts by generated id
    # when the listing names no source posts (None: not listed that way yet)
    adopt_book: PlanBook | None = None
    # generated post ids the persona's own posts know (ours, or adopted already): never adopted again
    known_generated_ids: list[str] = Field(default_factory=list)


#: The media type of a source post whose answer names none (`media_type` is assumed, not promised).
UNKNOWN_MEDIA_TYPE = "unknown"


class PlannedPost(_Model):
    source_post_id: str
    source_id: str | None = None
    automation_mode: str
    media_type: str  # image, video, carousel, or UNKNOWN_MEDIA_TYPE
    caption: str | None = None
    # a generated post that already exists for this source post (server automation, or our own earlier
    # generate whose response was lost): the child adopts it instead of generating
    existing_generated_post_id: str | None = None
    # the server's post, found by its generated id in a listing that names no source post: its source post
    # is unknown (`source_post_id` is empty) and `existing_generated_post_id` is the post
    adopted_by_id: bool = False


class CyclePlan(_Model):
    items: list[PlannedPost]
    # source posts left for a later cycle (limit reached, or an auto_clone post the server has not generated yet)
    deferred: int = 0
    # deferred because no answer says which source they belong to, while a source lets the server generate
    unattributed: int = 0
    # the record after this listing; the items stay pending in it until the workflow hands them on
    book: PlanBook | None = None
    # the generated-post record after this listing (None: no adoption by generated id this cycle)
    adopt_book: PlanBook | None = None
    # some of the source posts held because their source is unknown (the status names them)
    held: list[str] = Field(default_factory=list)
    # what the status should say about adoption by generated id
    notes: list[str] = Field(default_factory=list)


class GenerateInput(AccountRef):
    persona_id: str
    source_post_id: str
    # the workflow's rehearsal time scale: the settle time after an unanswered generate shrinks with it
    time_scale: float = Field(default=1.0, gt=0, le=1.0)


class GenerateOutcome(_Model):
    generated_post_id: str
    adopted: bool
    # who made the post: "api" (a generate call: ours, possibly an earlier attempt whose answer was lost,
    # so it was charged to us) or the server's automation ("auto_clone", "auto_publish"); None if unknown
    origin: str | None = None


class FindGeneratedInput(AccountRef):
    persona_id: str
    source_post_id: str


class GeneratedPostInput(AccountRef):
    generated_post_id: str
    # polls only: when to check the media again; None: the activity's retry policy decides
    plan: PollPlan | None = None


class MediaView(_Model):
    id: str | None = None
    type: str | None = None
    status: str
    url: str | None = None


class GeneratedPostView(_Model):
    id: str
    status: str | None = None  # assumed by the contract: only the media items' statuses are promised
    source_post_id: str | None = None
    caption: str | None = None
    media: list[MediaView] = Field(default_factory=list, validation_alias=AliasChoices("media", "media_items"))
    outgoing_post_id: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def failed(self) -> bool:
        """The post can never become ready: a media item failed, or the server says so."""
        return self.status == "failed" or any(m.status == "failed" for m in self.media)


class ApproveOutcome(_Model):
    outgoing_post_id: str | None
    sent_to_compose: bool = False
    already_approved: bool = False
    reason: str | None = None


class RejectInput(GeneratedPostInput):
    reason: str | None = None


class OutgoingPostInput(AccountRef):
    outgoing_post_id: str
    # when to check the deliveries again; None: the activity's retry policy decides
    plan: PollPlan | None = None


class DeliveryView(_Model):
    id: str | None = None
    connected_account_id: str | None = None
    platform: str | None = None
    status: str
    error: str | None = None


class DeliveriesView(_Model):
    outgoing_post_id: str = Field(validation_alias=AliasChoices("outgoing_post_id", "id"))
    deliveries: list[DeliveryView]

    @property
    def published(self) -> int:
        return sum(1 for d in self.deliveries if d.status == "published")

    @property
    def failed(self) -> int:
        return sum(1 for d in self.deliveries if d.status == "failed")


# --- what Temporal says of a persona's posts ------------------------------------------------------------


class PostStatesInput(_Model):
    workflow_ids: list[str]


class PostStateView(_Model):
    workflow_id: str
    status: str  # running | completed | failed | canceled | terminated | timed_out | continued_as_new | not_found
    result: dict[str, Any] | None = None  # a completed post's result, as JSON data


class PostStatesView(_Model):
    states: list[PostStateView]
