"""Reads an activity already made in an earlier attempt: kept in its heartbeat details, not made again.

Why: an activity that reads three lists fails whenever any one read meets a fault, and a retry that
starts over must win all three again; at one fault in ten per call, that is one attempt in four lost and
a long tail for the unlucky. With each successful read carried into the next attempt, a retry makes only
the reads still missing. Only reads (never an existence check before a paid call: that one must be fresh
on every attempt), and only small ones: a list too large for the heartbeat details is read again.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from activities.liveness import progress

__all__ = ["MAX_CARRIED_BYTES", "carried_ids", "carried_list", "forget_carried"]

#: The largest read carried across attempts (its JSON), well under the server's payload limits.
MAX_CARRIED_BYTES = 256 * 1024

M = TypeVar("M", bound=BaseModel)

_KEY = "reads"


async def carried_list(name: str, model: type[M], read: Callable[[], Awaitable[list[M]]]) -> list[M]:
    """The list an earlier attempt read under `name`, or `read()` now (then kept for later attempts)."""
    current = progress()
    reads: dict[str, Any] = dict(current.get(_KEY) or {})
    if isinstance(reads.get(name), list):
        return [model.model_validate(item) for item in reads[name]]
    items = await read()
    dumped = [item.model_dump(mode="json") for item in items]
    if len(json.dumps(dumped)) <= MAX_CARRIED_BYTES:
        reads[name] = dumped
        current.record(**{_KEY: reads})
    return items


async def carried_ids(name: str, read: Callable[[], Awaitable[list[str]]]) -> list[str]:
    """Ids an earlier attempt got back under `name` (what it started, say), or `read()` now."""
    current = progress()
    reads: dict[str, Any] = dict(current.get(_KEY) or {})
    if isinstance(reads.get(name), list):
        return [str(item) for item in reads[name]]
    ids = await read()
    reads[name] = list(ids)
    current.record(**{_KEY: reads})
    return ids


def forget_carried(name: str) -> None:
    """Drop what the attempts carried under `name`: the next attempt reads (or starts) it anew."""
    current = progress()
    reads: dict[str, Any] = dict(current.get(_KEY) or {})
    if reads.pop(name, None) is not None:
        current.record(**{_KEY: reads})
