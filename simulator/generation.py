"""Generated posts: generation (charged up front), media completion, approve/reject/compose and
deliveries.

Not idempotent on purpose, like the real service: every ``generate`` makes a new post and a new
charge, so a client that retries blindly after a lost response pays twice and the ledger shows it.
Media items and deliveries finish after durations drawn from the configured ranges; whether one
fails is drawn when it is created, so a run is repeatable under its seed.
"""

from __future__ import annotations

from typing import Literal

from simulator.billing import BillingService
from simulator.core import SimCore
from simulator.errors import ApiError, conflict, invalid
from simulator.ledger import By
from simulator.models import (
    Delivery,
    GeneratedPost,
    MediaItem,
    Origin,
    OutgoingPost,
    Persona,
    SourcePost,
    User,
)

#: The guide's own words for the commonest cause of a 400 on approve (guide mode answers with them).
NO_TARGETS_GUIDE_MESSAGE = (
    "the persona has no connected publishing accounts. Use send-to-compose instead, "
    "or connect accounts via the dashboard."
)

_ITEMS_BY_MEDIA_TYPE: dict[str, tuple[Literal["image", "video"], ...]] = {
    "image": ("image",),
    "carousel": ("image", "image", "image"),
    "video": ("video",),
}


class GenerationService:
    """Creates and progresses generated posts and their outgoing posts."""

    def __init__(self, core: SimCore, billing: BillingService) -> None:
        self._core = core
        self._billing = billing

    def cost_of(self, media_type: str) -> int:
        costs = self._core.runtime.costs_cents
        return sum(costs.image if kind == "image" else costs.video for kind in _ITEMS_BY_MEDIA_TYPE[media_type])

    # -- generate --------------------------------------------------------------------------------
    def generate(
        self, user: User, persona: Persona, source_post: SourcePost, *, origin: Origin, at: float, by: By
    ) -> GeneratedPost:
        """Charge and create a generated post; 402 (nothing created) when the balance is short."""
        core = self._core
        cost = self.cost_of(source_post.media_type)
        if user.balance_cents < cost:
            raise ApiError(
                "INSUFFICIENT_BALANCE",
                f"generation costs {cost} cents, the balance is {user.balance_cents} cents",
            )
        runtime = core.runtime
        post_id = core.new_id()
        items: list[MediaItem] = []
        for kind in _ITEMS_BY_MEDIA_TYPE[source_post.media_type]:
            span = runtime.durations_seconds.image if kind == "image" else runtime.durations_seconds.video
            duration = core.rng.duration(span)
            item = MediaItem(
                id=core.new_id(),
                type=kind,
                created_at=at,
                started_at=at + 0.1 * duration,
                due_at=at + duration,
                will_fail=core.rng.fails(runtime.media_failure_rate),
            )
            items.append(item)
            core.state.media_owner[item.id] = post_id
            core.events.push(item.due_at, "media", item.id)
        post = GeneratedPost(
            id=post_id,
            user_id=user.id,
            persona_id=persona.id,
            source_post_id=source_post.id,
            caption=f"{source_post.caption} [{persona.writing_style or persona.name}]",
            origin=origin,
            media_items=items,
            cost_cents=cost,
            created_at=at,
        )
        core.state.generated_posts[post.id] = post
        refs: dict[str, str | None] = {
            "persona_id": persona.id,
            "source_post_id": source_post.id,
            "generated_post_id": post.id,
        }
        core.ledger.record(
            "generate",
            at=at,
            by=by,
            user_id=user.id,
            email=user.email,
            amount_cents=cost,
            details={"origin": origin, "media_type": source_post.media_type, "cost_cents": cost},
            **refs,
        )
        self._billing.charge(user, cost, at=at, by=by, refs=refs)
        return post

    def complete_media(self, item_id: str, at: float) -> GeneratedPost | None:
        """Event handler: finish one media item; returns its post when all items are now terminal."""
        core = self._core
        post = core.state.generated_posts.get(core.state.media_owner.get(item_id, ""))
        if post is None:
            return None
        item = next(i for i in post.media_items if i.id == item_id)
        if item.will_fail:
            item.final_status = "failed"
            item.error = "generation failed"
        else:
            item.final_status = "completed"
            extension = "png" if item.type == "image" else "mp4"
            item.url = f"{core.origin}/_sim/media/{item.id}.{extension}"
        return post if post.media_terminal() else None

    # -- approve / reject / compose --------------------------------------------------------------
    def approve(self, user: User, post: GeneratedPost, *, at: float, by: By) -> OutgoingPost:
        """Publish to every target of the persona: 409 if already approved, 400 if not ready or no
        targets."""
        core = self._core
        if post.stage in ("publishing", "published"):
            raise conflict("generated post already approved")
        status = post.status_at(at)
        if status != "ready":
            raise invalid(f"generated post is not ready to approve (status {status})")
        targets = core.state.targets_of(post.persona_id)
        if not targets:
            raise invalid(
                NO_TARGETS_GUIDE_MESSAGE
                if core.runtime.answers == "guide"
                else "the persona has no publishing targets; connect an account or use send-to-compose"
            )
        outgoing_id = core.new_id()
        deliveries: list[Delivery] = []
        span = core.runtime.durations_seconds.delivery
        for target in targets:
            duration = core.rng.duration(span)
            delivery = Delivery(
                id=core.new_id(),
                connected_account_id=target.connected_account_id,
                platform=target.platform,
                created_at=at,
                started_at=at + 0.1 * duration,
                due_at=at + duration,
                will_fail=core.rng.fails(core.runtime.delivery_failure_rate),
            )
            deliveries.append(delivery)
            core.state.delivery_owner[delivery.id] = outgoing_id
            core.events.push(delivery.due_at, "delivery", delivery.id)
        outgoing = OutgoingPost(
            id=outgoing_id,
            user_id=user.id,
            persona_id=post.persona_id,
            generated_post_id=post.id,
            deliveries=deliveries,
            created_at=at,
        )
        core.state.outgoing_posts[outgoing.id] = outgoing
        post.stage = "publishing"
        post.outgoing_post_id = outgoing.id
        core.ledger.record(
            "approve",
            at=at,
            by=by,
            user_id=user.id,
            email=user.email,
            persona_id=post.persona_id,
            source_post_id=post.source_post_id,
            generated_post_id=post.id,
            outgoing_post_id=outgoing.id,
            details={"targets": len(deliveries)},
        )
        return outgoing

    def reject(self, user: User, post: GeneratedPost, reason: str | None) -> GeneratedPost:
        """Reject a post that is not published nor parked (409 otherwise)."""
        if post.stage != "media":
            raise conflict(f"generated post is already {post.stage}")
        core = self._core
        now = core.now()
        post.stage = "rejected"
        post.rejection_reason = reason
        core.ledger.record(
            "reject",
            at=now,
            by="client",
            user_id=user.id,
            email=user.email,
            persona_id=post.persona_id,
            source_post_id=post.source_post_id,
            generated_post_id=post.id,
            details={"reason": reason},
        )
        return post

    def send_to_compose(self, user: User, post: GeneratedPost) -> GeneratedPost:
        """Park a ready post in the dashboard composer for a human (409 if already moved on)."""
        if post.stage != "media":
            raise conflict(f"generated post is already {post.stage}")
        core = self._core
        now = core.now()
        status = post.status_at(now)
        if status != "ready":
            raise invalid(f"generated post is not ready (status {status})")
        post.stage = "composing"
        core.ledger.record(
            "compose",
            at=now,
            by="client",
            user_id=user.id,
            email=user.email,
            persona_id=post.persona_id,
            source_post_id=post.source_post_id,
            generated_post_id=post.id,
        )
        return post

    # -- deliveries ------------------------------------------------------------------------------
    def complete_delivery(self, delivery_id: str, at: float) -> None:
        """Event handler: finish one delivery; the post is ``published`` when all are terminal."""
        core = self._core
        outgoing = core.state.outgoing_posts.get(core.state.delivery_owner.get(delivery_id, ""))
        if outgoing is None:
            return
        delivery = next(d for d in outgoing.deliveries if d.id == delivery_id)
        delivery.finished_at = at
        if delivery.will_fail:
            delivery.final_status = "failed"
            delivery.error = f"{delivery.platform} rejected the upload"
        else:
            delivery.final_status = "published"
        post = core.state.generated_posts[outgoing.generated_post_id]
        user = core.state.users.get(outgoing.user_id)
        core.ledger.record(
            "delivery",
            at=at,
            by="server",
            user_id=outgoing.user_id,
            email=user.email if user else None,
            persona_id=outgoing.persona_id,
            source_post_id=post.source_post_id,
            generated_post_id=post.id,
            outgoing_post_id=outgoing.id,
            details={
                "delivery_id": delivery.id,
                "status": delivery.final_status,
                "platform": delivery.platform,
                "connected_account_id": delivery.connected_account_id,
            },
        )
        if outgoing.all_terminal():
            post.stage = "published"
