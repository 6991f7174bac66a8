"""Crash modules run on the shared stack (tests/conftest.py), one per module because their tests kill its
processes (workers, or the Temporal server); the shared fixture also proves nothing outlives a module.
Modules override `stack_config` (the Temporal-restart module asks for a persistent server) or
`worker_count` (the two-worker module asks for two).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from crash_helpers import RecoveryClock


@pytest.fixture(scope="module")
def recovery(request: pytest.FixtureRequest) -> Iterator[RecoveryClock]:
    """Kill-to-done seconds of the module's cases, printed as one table when the module ends."""
    clock = RecoveryClock()
    yield clock
    if clock.times:
        print("\n" + clock.table(f"recovery times ({request.module.__name__})"), flush=True)
