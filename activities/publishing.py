"""Generated-post and publishing activities: wait for media, approve or reject once, follow deliveries.

Approve publishes to every target: a second approve would publish twice, so `approve_post` reads the
post before acting and treats "already publishing" as success. When the persona has no publishing
target the post goes to the dashboard's composer for a human, rather than failing. A status value this
bot does not know (a vendor release ahead of it, a garbled answer) is never read as an outcome: after a
409 it makes the attempt fail retryably, so the next attempt reads the post again.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.base import ActivityBase, heartbeat
from activities.error_types import ErrorType
from activities.errors import not_ready, translated
from activities.models import (
    ApproveOutcome,
    DeliveriesView,
    GeneratedPostInput,
    GeneratedPostView,
    OutgoingPostInput,
    RejectInput,
)
from activities.poll_plan import SoonerThanTheServer, next_check
from reelmirror.client import ReelMirrorClient
from reelmirror.errors import ConflictError, ValidationFailedError
from reelmirror.models import DELIVERY_TERMINAL, GENERATED_POST_STATUSES, GeneratedPost

__all__ = ["PublishingActivities"]

ALREADY_APPROVED = frozenset({"publishing", "published"})
#: Generated-post statuses after which media will not change any more (besides "ready").
POST_SETTLED = frozenset({"failed", "publishing", "published", "rejected", "composing"})


class PublishingActivities(ActivityBase):
    @activity.defn
    @translated
    async def poll_generated_post(self, input: GeneratedPostInput) -> GeneratedPostView:
        """Poll: NotReady while media renders. Failed media is a result (`failed=True`), not an error:
        the workflow reports the post, it does not retry it."""
        client, soon = await self._account_client(input.account_ref), SoonerThanTheServer(input.plan)
        while True:
            post = await client.get_generated_post(input.generated_post_id)
            view = GeneratedPostView.model_validate(post)
            if view.failed or post.status in POST_SETTLED or post.all_media_completed:
                return view
            if not await soon.wait():
                done = sum(1 for m in post.media_items if m.status == "completed")
                raise not_ready(
                    f"generated post {post.id} is {post.status}: {done}/{len(post.media_items)} media completed",
                    next_check(input.plan),
                )

    @activity.defn
    @translated
    async def get_generated_post(self, input: GeneratedPostInput) -> GeneratedPostView:
        client = await self._account_client(input.account_ref)
        post = await client.get_generated_post(input.generated_post_id)
        return GeneratedPostView.model_validate(post)

    @activity.defn
    @translated
    async def await_outgoing_post(self, input: GeneratedPostInput) -> GeneratedPostView:
        """Poll (auto_publish): NotReady until the server approved the post itself (outgoing id set), or the
        post can no longer be published (failed, rejected, sent to compose)."""
        client = await self._account_client(input.account_ref)
        post = await client.get_generated_post(input.generated_post_id)
        view = GeneratedPostView.model_validate(post)
        if post.outgoing_post_id or view.failed or post.status in {"rejected", "composing"}:
            return view
        raise not_ready(f"generated post {post.id} is {post.status}: not published by the server yet")

    @activity.defn
    @translated
    async def approve_post(self, input: GeneratedPostInput) -> ApproveOutcome:
        """Approve once. Already publishing/published -> `already_approved` with its outgoing id; no
        publishing target (400) -> send to compose; rejected -> VALIDATION_ERROR (nothing to publish)."""
        client = await self._account_client(input.account_ref)
        post = await client.get_generated_post(input.generated_post_id)
        settled = _settled_outcome(post)
        if settled is not None:
            return settled
        heartbeat("approving")
        try:
            result = await client.approve(post.id)
        except ConflictError:
            # Approved meanwhile (our own earlier attempt, or a human): report what it became.
            heartbeat("re-reading")
            current = await client.get_generated_post(post.id)
            settled = _settled_outcome(current)
            if settled is None:
                _raise_if_unknown(current, "approve")
                raise
            return settled
        except ValidationFailedError as exc:
            heartbeat("checking publishing targets")
            if not await _lacks_targets(client, post, exc):
                raise
            heartbeat("sending to compose")
            await client.send_to_compose(post.id)
            reason = f"persona has no publishing target: sent to compose ({exc.message})"
            activity.logger.info("generated post %s sent to compose: no publishing target", post.id)
            return ApproveOutcome(outgoing_post_id=None, sent_to_compose=True, reason=reason)
        activity.logger.info("approved generated post %s -> outgoing post %s", post.id, result.outgoing_post_id)
        return ApproveOutcome(outgoing_post_id=result.outgoing_post_id)

    @activity.defn
    @translated
    async def reject_post(self, input: RejectInput) -> GeneratedPostView:
        """Reject once; an already rejected post is success."""
        client = await self._account_client(input.account_ref)
        post = await client.get_generated_post(input.generated_post_id)
        if post.status == "rejected":
            return GeneratedPostView.model_validate(post)
        heartbeat("rejecting")
        try:
            rejected = await client.reject(post.id, input.reason)
        except (ConflictError, ValidationFailedError):
            again = await client.get_generated_post(post.id)
            if again.status != "rejected":
                _raise_if_unknown(again, "reject")
                raise
            rejected = again
        activity.logger.info("rejected generated post %s", post.id)
        return GeneratedPostView.model_validate(rejected)

    @activity.defn
    @translated
    async def poll_deliveries(self, input: OutgoingPostInput) -> DeliveriesView:
        """Poll: NotReady until every delivery is published or failed."""
        client, soon = await self._account_client(input.account_ref), SoonerThanTheServer(input.plan)
        while not (outgoing := await client.get_publishing_post(input.outgoing_post_id)).all_terminal:
            if not await soon.wait():
                done = sum(1 for d in outgoing.deliveries if d.status in DELIVERY_TERMINAL)
                raise not_ready(
                    f"outgoing post {outgoing.id}: {done}/{len(outgoing.deliveries)} deliveries finished",
                    next_check(input.plan),
                )
        return DeliveriesView.model_validate(outgoing)


def _raise_if_unknown(post: GeneratedPost, action: str) -> None:
    """After a refused `action`, a status we do not know says nothing about what the post became: retry
    (policy backoff) and read it again, rather than report the refusal as final."""
    if post.status not in GENERATED_POST_STATUSES:
        raise ApplicationError(
            f"{action} of generated post {post.id} was refused and the post now shows status {post.status!r}, "
            "which this bot does not know: reading it again on the next attempt",
            type=ErrorType.MALFORMED_RESPONSE,
        )


def _settled_outcome(post: GeneratedPost) -> ApproveOutcome | None:
    """The approve outcome a post already has, or None when it still awaits a decision."""
    if post.status in ALREADY_APPROVED:
        return ApproveOutcome(outgoing_post_id=post.outgoing_post_id, already_approved=True)
    if post.status == "composing":
        return ApproveOutcome(outgoing_post_id=None, sent_to_compose=True, reason="already sent to compose")
    if post.status == "rejected":
        raise ApplicationError(
            f"generated post {post.id} was rejected: it cannot be approved",
            type=ErrorType.VALIDATION_ERROR,
            non_retryable=True,
        )
    return None


async def _lacks_targets(client: ReelMirrorClient, post: GeneratedPost, exc: ValidationFailedError) -> bool:
    """Whether a 400 on approve means "no publishing targets": the message says so, or the list is empty."""
    if "target" in exc.message.lower():
        return True
    if post.status != "ready" or post.persona_id is None:
        return False  # the 400 is about the post (still generating, failed), not about targets
    return not await client.list_publishing_targets(post.persona_id)
