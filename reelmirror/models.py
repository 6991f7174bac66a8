"""Pydantic models of the ReelMirror API's payloads, and the contract's vocabularies.

Why these rules:

* ``extra="ignore"`` everywhere: the vendor may add fields at any time, and a new field must never
  break a running bot.
* Fields the contract promises (ids, the statuses the guide's jq paths read) are required, so a body
  without them fails loudly as :class:`~reelmirror.errors.MalformedResponseError` instead of a
  ``None`` surfacing three calls later. Fields the contract marks optional or nullable default to
  ``None``.
* Status fields are plain ``str``: an unknown status is tolerated by the model, and the caller decides
  what it means (the ``*_TERMINAL`` sets and the ``is_terminal``-style properties encode the guide).
* Secrets (API keys, client secrets) are ``SecretStr``: their repr, str and JSON dump show
  ``'**********'``; reading one takes an explicit ``.get_secret_value()``.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, SecretStr

__all__ = [
    "ALL_SCOPES",
    "AUTOMATION_MODES",
    "DELIVERY_TERMINAL",
    "GENERATED_POST_STATUSES",
    "MEDIA_TERMINAL",
    "PLATFORMS",
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

#: Media-item statuses that end a poll. ``failed`` is the contract's assumption: without it the
#: guide's loop would spin forever on a failed render.
MEDIA_TERMINAL: frozenset[str] = frozenset({"completed", "failed"})

#: Delivery statuses that end a poll.
DELIVERY_TERMINAL: frozenset[str] = frozenset({"published", "failed"})

#: Generated-post statuses the simulator serves (documentation for callers; the model accepts any).
GENERATED_POST_STATUSES: frozenset[str] = frozenset(
    {"generating", "ready", "failed", "publishing", "published", "rejected", "composing"}
)


class ApiModel(BaseModel):
    """Base of every payload model: unknown fields are ignored, never an error."""

    model_config = ConfigDict(extra="ignore")


class SignupResult(ApiModel):
    """``POST /v1/auth/signup``: the account exists but waits for the e-mail confirmation."""

    status: str
    user_id: str


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
    """``GET``/``PATCH /v1/billing/balance``: credits in cents and the auto-reload settings."""

    balance_cents: int
    auto_reload: bool
    reload_threshold_cents: int | None = None
    reload_amount_cents: int | None = None
    has_payment_method: bool


class TopupSession(ApiModel):
    """``POST /v1/billing/topup``: a Stripe Checkout URL that a human must complete."""

    url: str


class Persona(ApiModel):
    """A persona: the identity generated posts are written as. Names are not unique server-side."""

    id: str
    name: str
    writing_style: str | None = None
    created_at: datetime | None = None


class Source(ApiModel):
    """A source account a persona mirrors, with its automation mode."""

    id: str
    persona_id: str
    platform: str
    username: str
    automation_mode: str
    creator_id: str | None = None
    last_synced_at: datetime | None = None
    created_at: datetime | None = None


class ConnectedAccount(ApiModel):
    """A publishing account a human connected through OAuth in the dashboard."""

    id: str
    platform: str
    username: str
    status: str | None = None


class PublishingTarget(ApiModel):
    """A connected account linked to a persona: approve publishes to each of them."""

    id: str
    persona_id: str
    connected_account_id: str
    platform: str | None = None
    username: str | None = None


class SyncStarted(ApiModel):
    """``POST /v1/personas/{id}/sync``: one job per source (``.job_ids``)."""

    job_ids: list[str]


class SyncJob(ApiModel):
    """``GET /v1/sync-jobs/{id}``: poll until :attr:`is_terminal`."""

    id: str
    status: str
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


class SourcePost(ApiModel):
    """A synced post of a source creator; unique on ``(creator_id, platform, platform_post_id)``."""

    id: str
    creator_id: str
    platform: str
    platform_post_id: str
    media_type: str | None = None
    caption: str | None = None
    posted_at: datetime | None = None


class MediaItem(ApiModel):
    """One image or video of a generated post (``.data.media_items[]``)."""

    id: str
    type: str
    status: str
    url: str | None = None


class GeneratedPost(ApiModel):
    """``GET /v1/generated-posts/{id}``: a generated post and its media."""

    id: str
    persona_id: str
    source_post_id: str
    status: str
    media_items: list[MediaItem]
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
        return bool(self.media_items) and all(m.status == "completed" for m in self.media_items)

    @property
    def any_media_failed(self) -> bool:
        """Some media item ``failed``: the post will never become ready, stop polling it."""
        return any(m.status == "failed" for m in self.media_items)

    @property
    def media_terminal(self) -> bool:
        """Every media item is ``completed`` or ``failed``: a media poll can stop.

        Empty media is not terminal (a post that has not created its items yet is still starting).
        """
        return bool(self.media_items) and all(m.status in MEDIA_TERMINAL for m in self.media_items)


class GenerateResult(ApiModel):
    """``POST /v1/generate``: ``.generated_post_id``. The call is charged and not idempotent."""

    generated_post_id: str


class ApproveResult(ApiModel):
    """``POST /v1/generated-posts/{id}/approve``: ``.outgoing_post_id`` to poll deliveries on."""

    status: str
    outgoing_post_id: str


class Delivery(ApiModel):
    """One publication of an outgoing post to one connected account (``.post.deliveries[]``)."""

    id: str
    connected_account_id: str
    platform: str
    status: str
    error: str | None = None


class OutgoingPost(ApiModel):
    """``GET /v1/publishing/posts/{id}`` (the ``.post`` object): the deliveries of an approved post."""

    id: str
    deliveries: list[Delivery]
    generated_post_id: str | None = None
    status: str | None = None

    @property
    def all_terminal(self) -> bool:
        """Every delivery is ``published`` or ``failed`` (the guide's jq; true for no deliveries,
        since there is then nothing left to wait for)."""
        return all(d.status in DELIVERY_TERMINAL for d in self.deliveries)

    @property
    def failed_deliveries(self) -> list[Delivery]:
        """Deliveries that ended ``failed``, for reporting which platforms did not get the post."""
        return [d for d in self.deliveries if d.status == "failed"]
