"""One generated post per source post, whatever happens to the requests on the way.

A generate request can reach the vendor after the client gave up on it: a proxy holds it past the
client's deadline, the connection drops after it left, a 5xx hides a commit, the worker dies mid-request.
Listing the persona's posts a second later shows nothing yet, and posting again pays twice. So:

* every request is written down before it is sent (`activities.generate_journal`), and an attempt that
  finds an unfinished one does not post before the settle time (`REELMIRROR_AMBIGUOUS_SETTLE_SECONDS`,
  scaled in rehearsals) has passed since the client let go of it, and a fresh list still shows nothing;
* every request carries an `Idempotency-Key` that stays the same on every retry of the activity; when the
  operator declares that the vendor honours keys, a retry repeats the request at once instead of waiting;
* where the list does not say which source post each generated post is for (the guide promises only "a
  list"), our own records decide: the generated id stored for this source post, else a post that appeared
  since the unfinished request was sent and that no record of ours gives to another source post.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.ambiguity import may_have_committed
from activities.base import heartbeat
from activities.error_types import ErrorType
from activities.generate_journal import GenerateJournal, GenerateRecord
from activities.idempotency import idempotency_key
from activities.models import GenerateInput, GenerateOutcome
from activities.secrets import SecretStore
from activities.settings import ActivitySettings
from reelmirror.client import ReelMirrorClient
from reelmirror.models import GeneratedPost

__all__ = ["generate_once"]

_EPOCH = datetime.min.replace(tzinfo=UTC)


async def generate_once(
    client: ReelMirrorClient, store: SecretStore, settings: ActivitySettings, input: GenerateInput
) -> GenerateOutcome:
    """The source post's generated post: adopted when one exists or may exist, generated (once) otherwise."""
    journal = GenerateJournal(store, input.account_ref)
    record = await journal.read(input.persona_id, input.source_post_id)
    if record.generated_post_id is not None:
        return _adopted(record.generated_post_id, "api", "our own record")
    key = idempotency_key("generate")
    pending = record.pending
    repeat = pending is not None and settings.idempotency_keys and pending.idempotency_key == key
    if pending is not None and not repeat:
        _wait_for_settle(
            pending.settled_at(settings.ambiguous_settle_seconds * input.time_scale, settings.http_timeout_seconds),
            input,
        )
    heartbeat("listing generated posts")
    listed = await client.list_generated_posts(input.persona_id, source_post_id=input.source_post_id)
    attributable = all(post.id and post.source_post_id for post in listed)
    if attributable:
        mine = sorted(
            (p for p in listed if p.source_post_id == input.source_post_id),
            key=lambda p: (p.created_at or _EPOCH, p.id),
        )
        if mine:
            await journal.generated(record, str(mine[0].id))
            return _adopted(str(mine[0].id), mine[0].origin, "the persona's list")
    elif pending is not None and not repeat:
        appeared = await _appeared_since(journal, record, listed)
        if appeared is not None:
            await journal.generated(record, appeared)
            return _adopted(appeared, "api", "a post that appeared after our unanswered request")
    if repeat:
        record = await journal.repeated(record)
    else:
        if pending is not None:
            activity.logger.info(
                "source post %s: the unanswered generate left nothing after the settle time; generating",
                input.source_post_id,
            )
        known = None if attributable else sorted(str(p.id) for p in listed if p.id)
        record = await journal.started(record, key, known)
    return await _post(client, journal, record, input, key)


async def _post(
    client: ReelMirrorClient, journal: GenerateJournal, record: GenerateRecord, input: GenerateInput, key: str
) -> GenerateOutcome:
    heartbeat("generating")
    try:
        result = await client.generate(input.source_post_id, input.persona_id, idempotency_key=key)
    except Exception as exc:
        if may_have_committed(exc):
            await journal.abandoned(record)
        else:
            await journal.not_committed(record)
        raise
    await journal.generated(record, result.generated_post_id)
    activity.logger.info("generated post %s for source post %s", result.generated_post_id, input.source_post_id)
    return GenerateOutcome(generated_post_id=result.generated_post_id, adopted=False, origin="api")


async def _appeared_since(journal: GenerateJournal, record: GenerateRecord, listed: list[GeneratedPost]) -> str | None:
    """The post the unanswered request may have made, when the list names no source posts: one listed now,
    not before the request, and not given to another source post by our records (the smallest id, so two
    attempts that look at the same list pick alike)."""
    assert record.pending is not None
    before = set(record.pending.known_ids or [])
    claimed = await journal.claimed_ids(record.persona_id)
    fresh = sorted(str(p.id) for p in listed if p.id and p.id not in before and p.id not in claimed)
    return fresh[0] if fresh else None


def _wait_for_settle(settled_at: float, input: GenerateInput) -> None:
    """NotReady until `settled_at`: the retry policy brings the activity back then (a durable wait)."""
    wait = settled_at - time.time()
    if wait <= 0:
        return
    raise ApplicationError(
        f"an earlier generate of source post {input.source_post_id} got no answer and may still be committed: "
        f"checking again in {wait:.1f} s before generating",
        type=ErrorType.NOT_READY,
        category=ApplicationErrorCategory.BENIGN,
        next_retry_delay=timedelta(seconds=max(wait, 0.05)),
    )


def _adopted(generated_post_id: str, origin: str | None, source: str) -> GenerateOutcome:
    activity.logger.info("adopting generated post %s (from %s)", generated_post_id, source)
    return GenerateOutcome(generated_post_id=generated_post_id, adopted=True, origin=origin)
