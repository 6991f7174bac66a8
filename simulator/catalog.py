"""Creators and their posts: the content a persona's sources sync from.

A creator is global (``platform`` + ``username``), created the first time anyone adds it as a
source, with a seeded backlog of image, carousel and video posts. The backlog is drawn from a random
stream derived from the creator itself, so the same creator always has the same backlog whatever
happened before in the run. New posts arrive through the admin API and become visible to a persona
at its next completed sync.
"""

from __future__ import annotations

import random

from simulator.core import SimCore
from simulator.models import Creator, MediaType, SourcePost

MEDIA_TYPES: tuple[MediaType, ...] = ("image", "carousel", "video")
_SUBJECTS = (
    "sunrise run",
    "pasta night",
    "studio tour",
    "street market",
    "rainy commute",
    "new drop",
    "training day",
    "behind the scenes",
    "city lights",
    "weekend hike",
    "desk setup",
    "coffee ritual",
)
_MOODS = (
    "can't stop smiling",
    "this one took forever",
    "which one is your favourite?",
    "mood for the week",
    "saving this for later",
    "tag someone who needs this",
    "no filter needed",
    "part two soon",
)


class Catalog:
    """Creates creators (with backlogs) and adds posts to them."""

    def __init__(self, core: SimCore) -> None:
        self._core = core

    @staticmethod
    def handle(platform: str, username: str) -> tuple[str, str]:
        """Canonical key of a creator: platform plus username without ``@``, case-insensitive."""
        return platform, username.strip().lstrip("@").lower()

    def get_or_create(self, platform: str, username: str) -> Creator:
        """The creator for this handle, created with its seeded backlog on first use."""
        state = self._core.state
        key = self.handle(platform, username)
        creator_id = state.creators_by_handle.get(key)
        if creator_id is not None:
            return state.creators[creator_id]
        now = self._core.now()
        creator = Creator(id=self._core.new_id(), platform=key[0], username=key[1], created_at=now)
        state.creators[creator.id] = creator
        state.creators_by_handle[key] = creator.id
        rng = self._core.rng.stream(f"creator:{key[0]}:{key[1]}")
        count = self._core.runtime.backlog_posts
        kinds = [MEDIA_TYPES[i % len(MEDIA_TYPES)] for i in range(count)]
        rng.shuffle(kinds)
        posted = now
        backlog: list[tuple[MediaType, float]] = []
        for kind in kinds:
            posted -= rng.uniform(2, 36) * 3600
            backlog.append((kind, posted))
        for kind, posted_at in reversed(backlog):
            self._add_post(creator, kind, None, posted_at, rng)
        return creator

    def add_posts(self, creator: Creator, media_types: list[MediaType], captions: list[str | None]) -> list[SourcePost]:
        """New posts published "now" by the creator (visible to personas after their next sync)."""
        rng = self._core.rng.stream(f"creator:{creator.platform}:{creator.username}:{len(creator.post_ids)}")
        now = self._core.now()
        return [
            self._add_post(creator, kind, caption, now, rng)
            for kind, caption in zip(media_types, captions, strict=True)
        ]

    @staticmethod
    def media_type_for(index: int) -> MediaType:
        """Media type of the ``index``-th post of a request that names none: image, carousel, video, ..."""
        return MEDIA_TYPES[index % len(MEDIA_TYPES)]

    def _add_post(
        self, creator: Creator, media_type: MediaType, caption: str | None, posted_at: float, rng: random.Random
    ) -> SourcePost:
        core = self._core
        post = SourcePost(
            id=core.new_id(),
            creator_id=creator.id,
            platform=creator.platform,
            platform_post_id=str(rng.randrange(10**17, 10**19)),
            media_type=media_type,
            caption=caption if caption is not None else f"{rng.choice(_SUBJECTS)}: {rng.choice(_MOODS)}",
            posted_at=posted_at,
            added_at=core.now(),
        )
        core.state.source_posts[post.id] = post
        creator.post_ids.append(post.id)
        return post
