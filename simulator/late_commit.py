"""Held requests that commit after their client has given up (the late-commit fault).

A held request must still run when its client disconnects, and aiohttp may cancel a handler whose
client went away. So the hold and the work run in a task of their own that the handler only awaits
through :func:`asyncio.shield`: cancelling the handler leaves the task running. The tasks are tracked
so that a reset or the server's shutdown can cancel them instead of leaving them behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class HeldRequestCancelled(Exception):
    """The held work was cancelled (reset or shutdown) while its client was still waiting."""


class LateCommits:
    """Runs held requests in tracked tasks that outlive the request handler awaiting them."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def pending(self) -> int:
        """Held requests not finished yet (still held, or running their handler)."""
        return len(self._tasks)

    async def hold(self, delay: float, work: Callable[[], Awaitable[T]]) -> T:
        """Wait ``delay`` real seconds, then run ``work``; cancelling the caller does not stop either.

        Raises :class:`HeldRequestCancelled` when the work itself was cancelled (reset or shutdown)
        while the caller was still waiting for it.
        """

        async def held() -> T:
            await asyncio.sleep(delay)
            return await work()

        task = asyncio.get_running_loop().create_task(held(), name="simulator-late-commit")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and (current is None or not current.cancelling()):
                raise HeldRequestCancelled from None
            raise

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a held request failed after its hold", exc_info=task.exception())

    def cancel_all(self) -> None:
        """Cancel every held request (a reset: nothing of the old run may commit into the new one)."""
        for task in list(self._tasks):
            task.cancel()

    async def aclose(self) -> None:
        """Cancel every held request and wait until they are gone (server shutdown)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
