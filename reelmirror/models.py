"""Pydantic models of the ReelMirror API's answers, and the contract's vocabularies.

Why these rules (the contract's table "what the guide promises, and what we only assume"):

* **Required = promised.** A field is required only when the vendor's guide promises it (its
  examples print it or its jq paths read it), or when it is the id of something just created or
  listed. A body without one fails loudly as :class:`~reelmirror.errors.MalformedResponseError`
  instead of a ``None`` surfacing three calls later.
* **Everything assumed is optional** (``None`` or an empty list) and used when present. An assumed
  field that comes back in a shape nobody expected (a string where a number was assumed, an object
  for an error text) is dropped to its default rather than failing the call: the vendor never
  promised it, so its shape cannot be a reason to stop. Required fields get no such mercy.
* **Unknown fields are ignored** (``extra="ignore"``): the vendor may add fields at any time.
* **Statuses, modes, media types and origins are plain ``str``**: a value nobody has seen yet is
  kept as sent; the vocabularies below and the ``is_*`` properties say what the known values mean,
  and anything else means "not known", never an exception.
* **Secrets** (API keys, client secrets) are ``SecretStr``: their repr, str and JSON dump show
  ``'**********'``; reading one takes an explicit ``.get_secret_value()``.

Ids the caller already knows (``get_sync_job(id)``, ``get_generated_post(id)``,
``get_publishing_post(id)``) are assumed in the answer; the client fills them in from the request
when the answer leaves them out, so ``.id`` of those results is never ``None``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)

__all__ = [
    "ALL_SCOPES",
    "AUTOMATION_MODES",
    "DELIVERY_STATUSES",
    "DELIVERY_TERMINAL",
    "GENERATED_POST_STATUSES",
    "MEDIA_STATUSES",
    "MEDIA_TERMINAL",
    "MEDIA_TYPES",
    "ORIGINS",
    "PLATFORMS",
    "SYNC_STATUSES",
    "SYNC_TERMINAL",
    "ApiKey",
    "ApiModel",
    "ApproveResult",
    "Balance",
    "ConnectedAccount",
    "Delivery",
    "GenerateResult",
    "GeneratedPost",
    "MediaItem",
    "OutgoingPost",
    "Persona",
    "PublishingTarget",
    "SetupIntentSecret",
    "SignupResult",
    "Source",
    "SourcePost",
    "SyncJob",
    "SyncStarted",
    "TopupSession",
]

logger = logging.getLogger("reelmirror.models")

#: Platforms a source or a connected account can be on.
PLATFORMS: tuple[str, ...] = ("instagram", "tiktok", "youtube", "x", "facebook", "threads")

#: A source's automation mode; ``sync_only`` is the server's default.
AUTOMATION_MODES: tuple[str, ...] = ("sync_only", "auto_clone", "auto_publish")

#: The twelve scopes of the guide: a key with all of them can run the whole loop and manage billing.
ALL_SCOPES: tuple[str, ...] = (
    "personas:read",
    "personas:write",
    "sources:read",
    "sources:write",
    "content:read",
    "content:write",
    "sync:write",
    "uploads:write",
    "publishing:read",
    "publishing:write",
    "billing:read",
    "billing:write",
)

#: Sync-job statuses that end a poll (the guide's loop breaks on these three).
SYNC_TERMINAL: frozenset[str] = frozenset({"completed", "failed", "skipped"})

#: Every sync-job status known: the terminal ones plus the contract's assumed ``pending``/``running``.
SYNC_STATUSES: frozenset[str] = SYNC_TERMINAL | {"pending", "running"}

#: Media-item statuses that end a poll. ``failed`` is the contract's assumption: without it the
#: guide's loop would spin forever on a failed render.
MEDIA_TERMINAL: frozenset[str] = frozenset({"completed", "failed"})

#: Every media-item status known (``pending``/``processing`` as the simulator serves them).
MEDIA_STATUSES: frozenset[str] = MEDIA_TERMINAL | {"pending", "processing"}

#: Delivery statuses that end a poll.
DELIVERY_TERMINAL: frozenset[str] = frozenset({"published", "failed"})

#: Every delivery status known.
DELIVERY_STATUSES: frozenset[str] = DELIVERY_TERMINAL | {"pending", "publishing"}

#: Generated-post statuses the simulator serves (documentation for callers; the model accepts any).
GENERATED_POST_STATUSES: frozenset[str] = frozenset(
    {"generating", "ready", "failed", "publishing", "published", "rejected", "composing"}
)

#: Media types of source posts and media items.
MEDIA_TYPES: frozenset[str] = frozenset({"image", "video", "carousel"})

#: Who made a generated post: a ``generate`` call, or the server's own automation.
ORIGINS: frozenset[str] = frozenset({"api", "auto_clone", "auto_publish"})


class ApiModel(BaseModel):
    """Base of every answer model: unknown fields ignored, assumed fields never fatal.

    The wrap validator runs for every field: a required (promised) field that does not validate
    fails as usual; an optional (assumed) one falls back to its default, with a DEBUG line naming
    the field (never its value, which may be anything the server sent).
    """

    model_config = ConfigDict(extra="ignore")

    @field_validator("*", mode="wrap")
    @classmethod
    def _assumed_fields_never_fail(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        try:
            return handler(value)
        except ValidationError:
            field = cls.model_fields.get(info.field_name or "")
            if field is None or field.is_required():
                raise
            logger.debug("%s.%s: unexpected shape, ignored", cls.__name__, info.field_name)
            return field.get_default(call_default_factory=True)


class SignupResult(ApiModel):
    """``POST /v1/auth/signup``: the account exists but waits for the e-mail confirmation."""

    status: str
    user_id: str

    @property
    def is_pending_confirmation(self) -> bool:
        """The guide's answer: the confirmation e-mail is on its way."""
        return self.status == "pending_confirmation"


class ApiKey(ApiModel):
    """``POST /v1/api-keys``: the ``rm_`` key is a secret and stays wrapped until it is used."""

    id: str
    key: SecretStr
    scopes: list[str]


class SetupIntentSecret(ApiModel):
    """``POST /v1/billing/setup-intent``: the client secret a bot confirms with Stripe."""

    client_secret: SecretStr

    @property
    def intent_id(self) -> str:
        """The SetupIntent id (``seti_...``): the part of the client secret before ``_secret_``.

        Not a secret on its own (it cannot confirm anything), so it may be logged and stored.
        """
        return self.client_secret.get_secret_value().split("_secret_", 1)[0]


class Balance(ApiModel):
    """``GET``/``PATCH /v1/billing/balance``: credits in cents and the auto-reload settings.

    Every field is **assumed**, ``balance_cents`` too: the guide names none of them, so an answer
    with no known field still parses, to a balance whose fields are all ``None`` ("not reported",
    which is not the same as zero or false). A caller that needs one must say what it does without
    it (for ``has_payment_method``: ask Stripe whether the SetupIntent succeeded).
    """

    balance_cents: int | None = None
    auto_reload: bool | None = None
    reload_threshold_cents: int | None = None
    reload_amount_cents: int | None = None
    has_payment_method: bool | None = None


class TopupSession(ApiModel):
    """``POST /v1/billing/topup``: a Stripe Checkout URL that a human must complete (assumed shape)."""

    url: str | None = None


class Persona(ApiModel):
    """A persona: the identity generated posts are written as. Names are not unique server-side."""

    id: str
    name: str | None = None
    writing_style: str | None = None
    created_at: datetime | None = None


class Source(ApiModel):
    """A source account a persona mirrors, with its automation mode."""

    id: str
    persona_id: str | None = None
    platform: str | None = None
    username: str | None = None
    automation_mode: str | None = None
    creator_id: str | None = None
    last_synced_at: datetime | None = None
    created_at: datetime | None = None

    @property
    def has_known_automation_mode(self) -> bool:
        """The mode is reported and is one of :data:`AUTOMATION_MODES`."""
        return self.automation_mode in AUTOMATION_MODES


class ConnectedAccount(ApiModel):
    """A publishing account a human connected through OAuth in the dashboard."""

    id: str
    platform: str | None = None
    username: str | None = None
    status: str | None = None


class PublishingTarget(ApiModel):
    """A connected account linked to a persona: approve publishes to each of them."""

    id: str
    persona_id: str | None = None
    connected_account_id: str | None = None
    platform: str | None = None
    username: str | None = None


class SyncStarted(ApiModel):
    """``POST /v1/personas/{id}/sync``: one job per source (``.job_ids``); ``jobs``, when the answer carries
    them (assumed), are the jobs as they started, which spares a read of each."""

    job_ids: list[str]
    jobs: list[SyncJob] | None = None


class SyncJob(ApiModel):
    """``GET /v1/sync-jobs/{id}``: poll until :attr:`is_terminal`. Only ``status`` is promised."""

    status: str
    id: str | None = None
    persona_id: str | None = None
    source_id: str | None = None
    new_posts: int | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None

    @property
    def is_terminal(self) -> bool:
        """``completed``, ``failed`` or ``skipped``: the poll is over (not necessarily successfully)."""
        return self.status in SYNC_TERMINAL

    @property
    def is_completed(self) -> bool:
        return self.status == "completed"

    @property
    def is_failed(self) -> bool:
        return self.status == "failed"

    @property
    def is_skipped(self) -> bool:
        """Skipped inside the 15-minute cooldown after the last sync of its source."""
        return self.status == "skipped"

    @property
    def has_known_status(self) -> bool:
        return self.status in SYNC_STATUSES


class SourcePost(ApiModel):
    """A synced post of a source creator; unique on ``(creator_id, platform, platform_post_id)``."""

    id: str
    creator_id: str | None = None
    platform: str | None = None
    platform_post_id: str | None = None
    media_type: str | None = None
    caption: str | None = None
    posted_at: datetime | None = None


class MediaItem(ApiModel):
    """One image or video of a generated post (``.data.media_items[]``); only ``status`` is promised."""

    status: str
    id: str | None = None
    type: str | None = None
    url: str | None = None
    error: str | None = None

    @property
    def is_completed(self) -> bool:
        return self.status == "completed"

    @property
    def is_failed(self) -> bool:
        """``failed`` (assumed by the contract): this item will never complete."""
        return self.status == "failed"

    @property
    def is_terminal(self) -> bool:
        return self.status in MEDIA_TERMINAL


class GeneratedPost(ApiModel):
    """A generated post and its media (``GET /v1/generated-posts/{id}``, and each item of the list).

    Nothing here is required: ``GET /v1/generated-posts/{id}`` promises ``.data.media_items[].status``
    and the client checks exactly that for that call; the list promises only "a list", so its items
    are taken as they come. ``media_items`` defaults to an empty list, which no property below reads
    as done.
    """

    id: str | None = None
    persona_id: str | None = None
    source_post_id: str | None = None
    status: str | None = None
    media_items: list[MediaItem] = Field(default_factory=list)
    caption: str | None = None
    origin: str | None = None
    outgoing_post_id: str | None = None
    rejection_reason: str | None = None
    created_at: datetime | None = None

    @property
    def all_media_completed(self) -> bool:
        """Every media item is ``completed``: the guide's condition for "ready to approve".

        An empty list is *not* completed, unlike jq's ``all`` on ``[]``: a post without media is
        not something to publish.
        """
        return bool(self.media_items) and all(m.is_completed for m in self.media_items)

    @property
    def any_media_failed(self) -> bool:
        """Some media item ``failed``: the post will never become ready, stop polling it."""
        return any(m.is_failed for m in self.media_items)

    @property
    def media_terminal(self) -> bool:
        """Every media item is ``completed`` or ``failed``: a media poll can stop.

        Empty media is not terminal (a post that has not created its items yet is still starting).
        """
        return bool(self.media_items) and all(m.is_terminal for m in self.media_items)

    @property
    def has_known_status(self) -> bool:
        """The post-level status is reported and is one of :data:`GENERATED_POST_STATUSES`."""
        return self.status in GENERATED_POST_STATUSES


class GenerateResult(ApiModel):
    """``POST /v1/generate``: ``.generated_post_id``. The call is charged and not idempotent."""

    generated_post_id: str


class ApproveResult(ApiModel):
    """``POST /v1/generated-posts/{id}/approve``: ``.outgoing_post_id`` to poll deliveries on."""

    status: str
    outgoing_post_id: str

    @property
    def is_publishing(self) -> bool:
        """The guide's answer: publication has started."""
        return self.status == "publishing"


class Delivery(ApiModel):
    """One publication of an outgoing post to one account (``.post.deliveries[]``); ``status`` is promised."""

    status: str
    id: str | None = None
    connected_account_id: str | None = None
    platform: str | None = None
    error: str | None = None

    @property
    def is_terminal(self) -> bool:
        """``published`` or ``failed``: this delivery will not change any more."""
        return self.status in DELIVERY_TERMINAL

    @property
    def is_published(self) -> bool:
        return self.status == "published"

    @property
    def is_failed(self) -> bool:
        return self.status == "failed"


class OutgoingPost(ApiModel):
    """``GET /v1/publishing/posts/{id}`` (the ``.post`` object): the deliveries of an approved post."""

    deliveries: list[Delivery]
    id: str | None = None
    generated_post_id: str | None = None
    status: str | None = None

    @property
    def all_terminal(self) -> bool:
        """Every delivery is ``published`` or ``failed`` (the guide's jq; true for no deliveries,
        since there is then nothing left to wait for)."""
        return all(d.is_terminal for d in self.deliveries)

    @property
    def failed_deliveries(self) -> list[Delivery]:
        """Deliveries that ended ``failed``, for reporting which platforms did not get the post."""
        return [d for d in self.deliveries if d.is_failed]
