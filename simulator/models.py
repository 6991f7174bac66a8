"""The simulator's records and their wire shapes.

Records are plain dataclasses mutated only by the services (one event loop, no locks needed for
in-memory state). Anything that progresses with time (sync jobs, media items, deliveries) stores
when it starts and when it is due; its terminal status is written by the event queue when the due
time passes, and the intermediate status (pending/running/processing/publishing) is derived from
the simulated ``now`` at read time. ``to_wire`` methods produce exactly the shapes of the contract
and the coordinator's SPEC; nothing secret (password hashes, key hashes) is ever part of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from simulator.clock import iso

MediaType = Literal["image", "video", "carousel"]
Origin = Literal["api", "auto_clone", "auto_publish"]

PLATFORMS = ("instagram", "tiktok", "youtube", "x", "facebook", "threads")
AUTOMATION_MODES = ("sync_only", "auto_clone", "auto_publish")
ALL_SCOPES = (
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


@dataclass
class User:
    id: str
    email: str
    password_hash: bytes = field(repr=False)
    password_salt: bytes = field(repr=False)
    signup_ip: str
    created_at: float
    email_confirmed_at: float | None = None
    balance_cents: int = 0
    auto_reload: bool = False
    reload_threshold_cents: int = 500
    reload_amount_cents: int = 2500
    reload_blocked: bool = False
    stripe_customer_id: str | None = None
    payment_method_id: str | None = field(default=None, repr=False)
    bonus_granted: bool = False
    pending_setup_intents: list[str] = field(default_factory=list)

    def balance_wire(self) -> dict[str, Any]:
        return {
            "balance_cents": self.balance_cents,
            "auto_reload": self.auto_reload,
            "reload_threshold_cents": self.reload_threshold_cents,
            "reload_amount_cents": self.reload_amount_cents,
            "has_payment_method": self.payment_method_id is not None,
        }

    def admin_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "created_at": iso(self.created_at),
            "email_confirmed_at": iso(self.email_confirmed_at),
            "signup_ip": self.signup_ip,
            "stripe_customer_id": self.stripe_customer_id,
            "bonus_granted": self.bonus_granted,
            "pending_setup_intents": list(self.pending_setup_intents),
            **self.balance_wire(),
        }


@dataclass
class ApiKey:
    id: str
    user_id: str
    name: str
    scopes: tuple[str, ...]
    key_hash: str = field(repr=False)
    created_at: float

    def admin_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "name": self.name,
            "scopes": list(self.scopes),
            "created_at": iso(self.created_at),
        }


@dataclass
class VerifyToken:
    token_hash: str = field(repr=False)
    user_id: str
    created_at: float
    expires_at: float
    redirect_to: str
    used_at: float | None = None
    revoked: bool = False


@dataclass
class RefreshToken:
    token_hash: str = field(repr=False)
    user_id: str
    created_at: float
    used_at: float | None = None


@dataclass
class MailMessage:
    id: str
    to: str
    subject: str
    body: str
    links: list[str]
    sent_at: float

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "to": self.to,
            "subject": self.subject,
            "body": self.body,
            "links": list(self.links),
            "sent_at": iso(self.sent_at),
        }


@dataclass
class Persona:
    id: str
    user_id: str
    name: str
    writing_style: str
    created_at: float

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "writing_style": self.writing_style,
            "created_at": iso(self.created_at),
        }


@dataclass
class Creator:
    id: str
    platform: str
    username: str
    created_at: float
    post_ids: list[str] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "platform": self.platform,
            "username": self.username,
            "created_at": iso(self.created_at),
            "post_ids": list(self.post_ids),
        }


@dataclass
class SourcePost:
    id: str
    creator_id: str
    platform: str
    platform_post_id: str
    media_type: MediaType
    caption: str
    posted_at: float
    added_at: float

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "creator_id": self.creator_id,
            "platform": self.platform,
            "platform_post_id": self.platform_post_id,
            "media_type": self.media_type,
            "caption": self.caption,
            "posted_at": iso(self.posted_at),
        }


@dataclass
class Source:
    id: str
    persona_id: str
    platform: str
    username: str
    automation_mode: str
    creator_id: str
    created_at: float
    last_synced_at: float | None = None
    last_sync_started_at: float | None = None
    synced_post_ids: list[str] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "persona_id": self.persona_id,
            "platform": self.platform,
            "username": self.username,
            "automation_mode": self.automation_mode,
            "creator_id": self.creator_id,
            "last_synced_at": iso(self.last_synced_at),
            "created_at": iso(self.created_at),
        }


@dataclass
class SyncJob:
    id: str
    user_id: str
    persona_id: str
    source_id: str
    created_at: float
    started_at: float
    due_at: float
    will_fail: bool
    snapshot_post_ids: list[str]
    final_status: str | None = None
    finished_at: float | None = None
    new_posts: int = 0
    error: str | None = None

    def status_at(self, now: float) -> str:
        if self.final_status is not None:
            return self.final_status
        return "running" if now >= self.started_at else "pending"

    def to_wire(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "persona_id": self.persona_id,
            "source_id": self.source_id,
            "status": self.status_at(now),
            "new_posts": self.new_posts,
            "created_at": iso(self.created_at),
            "finished_at": iso(self.finished_at),
            "error": self.error,
        }


@dataclass
class MediaItem:
    id: str
    type: Literal["image", "video"]
    created_at: float
    started_at: float
    due_at: float
    will_fail: bool
    final_status: str | None = None
    url: str | None = None
    error: str | None = None

    def status_at(self, now: float) -> str:
        if self.final_status is not None:
            return self.final_status
        return "processing" if now >= self.started_at else "pending"

    def to_wire(self, now: float) -> dict[str, Any]:
        wire: dict[str, Any] = {"id": self.id, "type": self.type, "status": self.status_at(now)}
        if self.url is not None:
            wire["url"] = self.url
        if self.error is not None:
            wire["error"] = self.error
        return wire


@dataclass
class GeneratedPost:
    id: str
    user_id: str
    persona_id: str
    source_post_id: str
    caption: str
    origin: Origin
    media_items: list[MediaItem]
    cost_cents: int
    created_at: float
    stage: Literal["media", "publishing", "published", "rejected", "composing"] = "media"
    outgoing_post_id: str | None = None
    rejection_reason: str | None = None

    def media_terminal(self) -> bool:
        return all(item.final_status is not None for item in self.media_items)

    def status_at(self, now: float) -> str:
        if self.stage != "media":
            return self.stage
        if not self.media_terminal():
            return "generating"
        if any(item.final_status == "failed" for item in self.media_items):
            return "failed"
        return "ready"

    def to_wire(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "persona_id": self.persona_id,
            "source_post_id": self.source_post_id,
            "status": self.status_at(now),
            "caption": self.caption,
            "origin": self.origin,
            "media_items": [item.to_wire(now) for item in self.media_items],
            "outgoing_post_id": self.outgoing_post_id,
            "rejection_reason": self.rejection_reason,
            "created_at": iso(self.created_at),
        }


@dataclass
class Delivery:
    id: str
    connected_account_id: str
    platform: str
    created_at: float
    started_at: float
    due_at: float
    will_fail: bool
    final_status: str | None = None
    finished_at: float | None = None
    error: str | None = None

    def status_at(self, now: float) -> str:
        if self.final_status is not None:
            return self.final_status
        return "publishing" if now >= self.started_at else "pending"

    def to_wire(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "connected_account_id": self.connected_account_id,
            "platform": self.platform,
            "status": self.status_at(now),
            "error": self.error,
        }


@dataclass
class OutgoingPost:
    id: str
    user_id: str
    persona_id: str
    generated_post_id: str
    deliveries: list[Delivery]
    created_at: float

    def all_terminal(self) -> bool:
        return all(delivery.final_status is not None for delivery in self.deliveries)

    def to_wire(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "generated_post_id": self.generated_post_id,
            "status": "done" if self.all_terminal() else "publishing",
            "deliveries": [delivery.to_wire(now) for delivery in self.deliveries],
            "created_at": iso(self.created_at),
        }


@dataclass
class ConnectedAccount:
    id: str
    user_id: str
    platform: str
    username: str
    created_at: float

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "platform": self.platform, "username": self.username, "status": "connected"}


@dataclass
class PublishingTarget:
    id: str
    persona_id: str
    connected_account_id: str
    platform: str
    username: str
    created_at: float

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "persona_id": self.persona_id,
            "connected_account_id": self.connected_account_id,
            "platform": self.platform,
            "username": self.username,
        }


@dataclass
class CheckoutSession:
    id: str
    user_id: str
    amount_cents: int
    created_at: float
    completed_at: float | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "amount_cents": self.amount_cents,
            "created_at": iso(self.created_at),
            "completed_at": iso(self.completed_at),
        }
