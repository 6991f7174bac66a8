"""All in-memory state of one simulator run, with the lookups the services need.

One container, so a reset is one assignment and ``GET /_sim/state`` is one serialisation. Lookups
that would otherwise scan (a user by e-mail, an API key by hash, a creator by platform/username) are
kept as indexes next to the records they point to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulator.clock import iso
from simulator.models import (
    ApiKey,
    CheckoutSession,
    ConnectedAccount,
    Creator,
    GeneratedPost,
    MailMessage,
    OutgoingPost,
    Persona,
    PublishingTarget,
    RefreshToken,
    Source,
    SourcePost,
    SyncJob,
    User,
    VerifyToken,
)


@dataclass
class SimState:
    users: dict[str, User] = field(default_factory=dict)
    users_by_email: dict[str, str] = field(default_factory=dict)
    signups_by_ip: dict[str, list[float]] = field(default_factory=dict)
    api_keys: dict[str, ApiKey] = field(default_factory=dict)
    api_keys_by_hash: dict[str, str] = field(default_factory=dict)
    verify_tokens: dict[str, VerifyToken] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    mailbox: dict[str, list[MailMessage]] = field(default_factory=dict)
    personas: dict[str, Persona] = field(default_factory=dict)
    creators: dict[str, Creator] = field(default_factory=dict)
    creators_by_handle: dict[tuple[str, str], str] = field(default_factory=dict)
    source_posts: dict[str, SourcePost] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)
    sync_jobs: dict[str, SyncJob] = field(default_factory=dict)
    generated_posts: dict[str, GeneratedPost] = field(default_factory=dict)
    outgoing_posts: dict[str, OutgoingPost] = field(default_factory=dict)
    connected_accounts: dict[str, ConnectedAccount] = field(default_factory=dict)
    targets: dict[str, PublishingTarget] = field(default_factory=dict)
    checkout_sessions: dict[str, CheckoutSession] = field(default_factory=dict)
    setup_intent_owner: dict[str, str] = field(default_factory=dict)
    media_owner: dict[str, str] = field(default_factory=dict)
    delivery_owner: dict[str, str] = field(default_factory=dict)

    # -- lookups ---------------------------------------------------------------------------------
    def user_by_email(self, email: str) -> User | None:
        user_id = self.users_by_email.get(email.strip().lower())
        return self.users.get(user_id) if user_id else None

    def personas_of(self, user_id: str) -> list[Persona]:
        return [p for p in self.personas.values() if p.user_id == user_id]

    def sources_of(self, persona_id: str) -> list[Source]:
        return [s for s in self.sources.values() if s.persona_id == persona_id]

    def targets_of(self, persona_id: str) -> list[PublishingTarget]:
        return [t for t in self.targets.values() if t.persona_id == persona_id]

    def accounts_of(self, user_id: str) -> list[ConnectedAccount]:
        return [a for a in self.connected_accounts.values() if a.user_id == user_id]

    def visible_post_ids(self, persona_id: str) -> set[str]:
        """Source posts a persona has seen through completed syncs of its sources."""
        visible: set[str] = set()
        for source in self.sources_of(persona_id):
            visible.update(source.synced_post_ids)
        return visible

    def generated_posts_of(self, persona_id: str) -> list[GeneratedPost]:
        return [g for g in self.generated_posts.values() if g.persona_id == persona_id]

    # -- serialisation ---------------------------------------------------------------------------
    def to_wire(self, now: float) -> dict[str, Any]:
        """The whole state for ``GET /_sim/state`` (no password or key hashes, no tokens)."""
        return {
            "sim_now": iso(now),
            "users": [u.admin_wire() for u in self.users.values()],
            "api_keys": [k.admin_wire() for k in self.api_keys.values()],
            "mailbox": {to: [m.to_wire() for m in msgs] for to, msgs in self.mailbox.items()},
            "personas": [{**p.to_wire(), "user_id": p.user_id} for p in self.personas.values()],
            "creators": [c.to_wire() for c in self.creators.values()],
            "source_posts": [p.to_wire() for p in self.source_posts.values()],
            "sources": [{**s.to_wire(), "synced_post_ids": list(s.synced_post_ids)} for s in self.sources.values()],
            "sync_jobs": [j.to_wire(now) for j in self.sync_jobs.values()],
            "generated_posts": [g.to_wire(now) for g in self.generated_posts.values()],
            "outgoing_posts": [o.to_wire(now) for o in self.outgoing_posts.values()],
            "connected_accounts": [{**a.to_wire(), "user_id": a.user_id} for a in self.connected_accounts.values()],
            "publishing_targets": [t.to_wire() for t in self.targets.values()],
            "checkout_sessions": [c.to_wire() for c in self.checkout_sessions.values()],
        }
