"""An activity that makes several reads does not redo, on its next attempt, the reads that succeeded."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from temporalio.testing import ActivityEnvironment

from activities.carried import MAX_CARRIED_BYTES, carried_list
from reelmirror import errors as rm
from reelmirror.models import GeneratedPost, Source, SourcePost

SOURCES = [Source.model_validate({"id": "s1", "platform": "instagram", "username": "chef", "creator_id": "c1"})]
POSTS = [
    SourcePost.model_validate({"id": f"sp{i}", "creator_id": "c1", "posted_at": "2026-01-01T10:00:00Z"})
    for i in range(3)
]
GENERATED = [
    GeneratedPost.model_validate(
        {"id": "g1", "source_post_id": "sp0", "status": "ready", "media_items": [{"id": "m1", "status": "completed"}]}
    )
]


class ThreeReads:
    """plan_cycle's shape: three lists; `failing` names the read that raises a 502 this attempt."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.failing: str | None = None

    async def _read(self, name: str, value: list) -> list:
        self.calls.append(name)
        if name == self.failing:
            raise rm.UpstreamError("platform down")
        return value

    async def attempt(self) -> tuple[list, list, list]:
        sources = await carried_list("sources", Source, lambda: self._read("sources", SOURCES))
        posts = await carried_list("source_posts", SourcePost, lambda: self._read("source_posts", POSTS))
        generated = await carried_list("generated_posts", GeneratedPost, lambda: self._read("generated", GENERATED))
        return sources, posts, generated


async def test_a_retry_makes_only_the_reads_still_missing() -> None:
    reads = ThreeReads()
    details: list[object] = []
    results = []
    for attempt, failing in enumerate(["source_posts", "generated", None], start=1):
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, attempt=attempt, heartbeat_details=list(details[-1:]))
        env.on_heartbeat = lambda *d: details.extend(d)
        reads.failing = failing
        try:
            results.append(await env.run(reads.attempt))
        except rm.UpstreamError:
            pass
    assert reads.calls == ["sources", "source_posts", "source_posts", "generated", "generated"]
    sources, posts, generated = results[-1]
    assert sources == SOURCES and posts == POSTS and generated == GENERATED
    assert generated[0].all_media_completed and posts[0].posted_at == datetime(2026, 1, 1, 10, tzinfo=UTC)


async def test_a_read_too_large_for_the_heartbeat_is_made_again() -> None:
    big = [SourcePost.model_validate({"id": "x" * 1000 + str(i)}) for i in range(MAX_CARRIED_BYTES // 900)]
    calls = 0

    async def read() -> list[SourcePost]:
        nonlocal calls
        calls += 1
        return big

    details: list[object] = []
    for _ in range(2):
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, heartbeat_details=list(details[-1:]))
        env.on_heartbeat = lambda *d: details.extend(d)
        assert await env.run(carried_list, "source_posts", SourcePost, read) == big
    assert calls == 2


@pytest.mark.parametrize("details", [[], ["an old plain-text step"], [{"step": "listing"}]])
async def test_attempts_without_carried_reads_read_everything(details: list[object]) -> None:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, heartbeat_details=details)
    reads = ThreeReads()
    await env.run(reads.attempt)
    assert reads.calls == ["sources", "source_posts", "generated"]
