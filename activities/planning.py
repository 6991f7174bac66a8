"""Which source posts a persona hands on next: the server's truth first, then a small record of our own.

A source post is handled when the persona already has a generated post for it (any status, when the
answers say which source post a generated post belongs to) or when our own record says so. The record
must stay small for years, so it is not a list of every id ever seen:

* the listing is read in a stable order: by `posted_at` when every post has one, else the list's own
  order (the guide shows none of those fields), whose direction is learned from where the known posts
  sit on the next listing (at the start: oldest first; at the end: newest first);
* the record keeps how many posts of that order it has seen and a digest of that block
  (`PlanBook.known`, `PlanBook.digest`): on the next listing, the posts outside the known block are new;
* new posts wait in `PlanBook.pending` (newest first) until a cycle has room for them;
* when the known block changed (a post deleted, an order that is not append-only), the new posts are
  those neither pending nor recently handed on; the post workflow's id (one per source post) still
  refuses a second pipeline for a post handed on before.

The backlog policy decides what the first listing counts as new: nothing (`backlog=0`: only posts that
appear after the persona starts) or its newest N posts (the list's end, until its direction is known).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from activities.models import PlanBook

__all__ = ["MAX_PENDING", "MAX_RECENT", "Listed", "handed_on", "read_listing"]

#: New posts waiting for room; beyond this the oldest are dropped (and counted), the newest kept.
MAX_PENDING = 200
#: Ids handed on lately, kept only to guard the fallback when the listing's known block changed.
MAX_RECENT = 200

_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Listed:
    """What planning needs of one listed source post."""

    id: str
    posted_at: datetime | None = None


def read_listing(posts: Sequence[Listed], book: PlanBook | None, backlog: int) -> PlanBook:
    """The record after this listing: every new post is pending (newest first), the known block moved on."""
    by_time = bool(posts) and all(p.posted_at is not None for p in posts)
    ids = (
        [p.id for p in sorted(posts, key=lambda p: (p.posted_at or _EPOCH, p.id))] if by_time else [p.id for p in posts]
    )
    if book is None:
        order = "posted_at" if by_time else None
        new = ids[max(0, len(ids) - backlog) :] if backlog > 0 else []
        return _next_book(ids, order, new, None)
    k = book.known
    at_start = k <= len(ids) and _digest(ids[:k]) == book.digest
    at_end = k <= len(ids) and _digest(ids[len(ids) - k :]) == book.digest
    grew = len(ids) > k
    if by_time:
        if at_start:
            return _next_book(ids, "posted_at", ids[k:], book)
    elif book.order == "oldest_first" or (book.order is None and at_start and (grew or not at_end)):
        if at_start:
            return _next_book(ids, "oldest_first" if grew else book.order, ids[k:], book)
    elif book.order == "newest_first" or (book.order is None and at_end):
        if at_end:
            return _next_book(ids, "newest_first" if grew else book.order, list(reversed(ids[: len(ids) - k])), book)
    recent, waiting = set(book.recent), set(book.pending)
    new = [i for i in ids if i not in recent and i not in waiting]
    if book.order == "newest_first":
        new.reverse()
    return _next_book(ids, "posted_at" if by_time else book.order, new, book, changed=True)


def handed_on(book: PlanBook, ids: Iterable[str]) -> PlanBook:
    """The record once `ids` were handed to their post workflows (or found handled already)."""
    done = set(ids)
    if not done:
        return book
    pending = [i for i in book.pending if i not in done]
    recent = [*[i for i in book.recent if i not in done], *sorted(done)][-MAX_RECENT:]
    return book.model_copy(update={"pending": pending, "recent": recent})


def _next_book(
    ids: list[str], order: str | None, new_oldest_first: list[str], book: PlanBook | None, *, changed: bool = False
) -> PlanBook:
    known_new = set(new_oldest_first)
    previous = [i for i in (book.pending if book else []) if i not in known_new]
    pending = [*reversed(new_oldest_first), *previous]
    dropped = max(0, len(pending) - MAX_PENDING)
    return PlanBook(
        known=len(ids),
        digest=_digest(ids),
        order=order,
        pending=pending[:MAX_PENDING],
        recent=list(book.recent) if book else [],
        dropped=(book.dropped if book else 0) + dropped,
        changed=changed,
    )


def _digest(ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32]
