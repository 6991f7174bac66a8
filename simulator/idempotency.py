"""Idempotency keys: the first answer to a key, kept and given again instead of acting twice.

An optional world (off by default, since the guide promises no such thing). Stripe-style: a request
carrying a key is remembered per caller scope and key; the same key again gets the stored answer
without the handler running, and a duplicate arriving while the first is still running waits for
it. The same key with a different request is refused: that is a client bug that would otherwise
hand back the answer to another request. This module knows nothing of HTTP; the web layer decides
what a scope, a fingerprint and an answer are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class StoredAnswer:
    """An answer exactly as first sent: status, body bytes, content type and its own headers."""

    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


class KeyReused(Exception):
    """The key was first used with a different request."""


@dataclass
class _Entry:
    fingerprint: str
    answer: asyncio.Future[StoredAnswer]


class IdempotencyStore:
    """Answers by (scope, key), kept for the run (a reset empties them)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def run(
        self, scope: str, key: str, fingerprint: str, act: Callable[[], Awaitable[StoredAnswer]]
    ) -> tuple[StoredAnswer, bool]:
        """The answer for ``key`` and whether it was replayed; ``act`` runs only for the first request.

        Raises :class:`KeyReused` when ``fingerprint`` differs from the first request's. If the first
        request never finished (cancelled), a waiting duplicate acts itself.
        """
        slot = (scope, key)
        while (entry := self._entries.get(slot)) is not None:
            if entry.fingerprint != fingerprint:
                raise KeyReused(key)
            try:
                return await asyncio.shield(entry.answer), True
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if not entry.answer.cancelled() or (current is not None and current.cancelling()):
                    raise
        entry = _Entry(fingerprint, asyncio.get_running_loop().create_future())
        self._entries[slot] = entry
        try:
            answer = await act()
        except BaseException:
            if self._entries.get(slot) is entry:
                del self._entries[slot]
            entry.answer.cancel()
            raise
        entry.answer.set_result(answer)
        return answer, False

    def clear(self) -> None:
        self._entries.clear()
