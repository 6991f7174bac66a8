"""Planning from the server's listing and a small record: every post once, newest first, nothing starved."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from activities.models import PlanBook
from activities.planning import MAX_PENDING, MAX_RECENT, Listed, handed_on, read_listing

START = datetime(2026, 1, 1, tzinfo=UTC)


def _cycle(listing: list[Listed], book: PlanBook | None, limit: int, backlog: int = 0) -> tuple[PlanBook, list[str]]:
    book = read_listing(listing, book, backlog)
    planned = book.pending[:limit]
    return handed_on(book, planned), planned


@pytest.mark.parametrize("shape", ["oldest_first", "newest_first", "posted_at_shuffled"])
def test_ten_thousand_posts_over_five_hundred_cycles_are_each_planned_once_newest_first(shape: str) -> None:
    rng = random.Random(7)
    posts: list[Listed] = [Listed(f"old-{n}", START - timedelta(days=1, minutes=n)) for n in range(300)]
    book: PlanBook | None = None
    planned_at: dict[str, int] = {}
    arrived_at: dict[str, int] = {}
    made = 0
    for cycle in range(500):
        for _ in range(rng.randint(0, 42) if cycle else 0):  # bursts, about 21 a cycle, after the first listing
            if made == 10_000:
                break
            post = Listed(f"sp-{made:05d}", START + timedelta(minutes=made))
            posts.append(post)
            arrived_at[post.id] = cycle
            made += 1
        if shape == "oldest_first":
            listing = [Listed(p.id) for p in posts]
        elif shape == "newest_first":
            listing = [Listed(p.id) for p in reversed(posts)]
        else:
            listing = rng.sample(posts, len(posts))
        book, planned = _cycle(listing, book, limit=30)
        assert planned == sorted(planned, reverse=True), "each cycle hands on its newest posts first"
        for post_id in planned:
            assert post_id not in planned_at, f"{post_id} planned twice"
            planned_at[post_id] = cycle
        assert len(book.pending) <= MAX_PENDING and len(book.recent) <= MAX_RECENT
    for _ in range(20):  # the last arrivals drain
        book, planned = _cycle(listing, book, limit=30)
        planned_at.update(dict.fromkeys(planned, 500))
    assert made == 10_000
    assert set(planned_at) == set(arrived_at), "every post that arrived after the start, none from before"
    waits = [planned_at[i] - arrived_at[i] for i in arrived_at]
    assert max(waits) <= 25, f"a post waited {max(waits)} cycles: starved"
    assert book is not None and book.dropped == 0 and len(book.model_dump_json()) < 60_000


def test_the_backlog_policy_takes_the_newest_posts_of_the_first_listing() -> None:
    listing = [Listed(f"sp-{n}") for n in range(10)]
    assert read_listing(listing, None, backlog=0).pending == []
    assert read_listing(listing, None, backlog=3).pending == ["sp-9", "sp-8", "sp-7"]
    # a backlog larger than the listing takes all of it (not a slice from a negative start)
    assert read_listing(listing, None, backlog=12).pending == [f"sp-{n}" for n in range(9, -1, -1)]


def test_a_changed_listing_falls_back_to_the_record_without_planning_twice() -> None:
    listing = [Listed(f"sp-{n}") for n in range(5)]
    book, first = _cycle(listing, None, limit=10, backlog=5)
    assert first == ["sp-4", "sp-3", "sp-2", "sp-1", "sp-0"]
    del listing[1]  # a post deleted: the known block is gone
    listing.append(Listed("sp-5"))
    book, second = _cycle(listing, book, limit=10)
    assert second == ["sp-5"] and book.changed
    listing.append(Listed("sp-6"))
    book, third = _cycle(listing, book, limit=10)
    assert third == ["sp-6"] and not book.changed


def test_too_many_waiting_posts_drop_the_oldest_and_say_so() -> None:
    listing = [Listed(f"sp-{n:04d}") for n in range(10)]
    book = read_listing(listing, None, backlog=0)
    listing += [Listed(f"sp-{n:04d}") for n in range(10, 10 + MAX_PENDING + 7)]
    book = read_listing(listing, book, backlog=0)
    assert len(book.pending) == MAX_PENDING and book.dropped == 7
    assert book.pending[0] == f"sp-{10 + MAX_PENDING + 6:04d}"
