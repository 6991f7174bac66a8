"""Bare Temporal for the capacity bench: a trivial workflow that waits for a signal, and its worker.

The worker is built with the product worker's settings (interceptors, sticky timeout, shutdown grace,
converter and connection from the same environment), so that the difference the bench shows between the
two is the product's workflows, not the worker's configuration.
Run: `python -m bench.idle_workflow` (prints `worker ready` like `worker.py`).
"""

from __future__ import annotations

import asyncio
import signal

from temporalio import workflow
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from workflows.search_attributes import STAGE

TASK_QUEUE = "bench-bare"


@workflow.defn
class IdleWorkflow:
    """Shows the same STAGE search attribute the persona shows when it waits, and waits."""

    def __init__(self) -> None:
        self._done = False

    @workflow.run
    async def run(self) -> None:
        workflow.upsert_search_attributes([STAGE.value_set("waiting")])
        await workflow.wait_condition(lambda: self._done)

    @workflow.signal
    def finish(self) -> None:
        self._done = True


async def main() -> None:
    from activities.liveness import LivenessInterceptor
    from control.connection import connect
    from worker import STICKY_TIMEOUT

    client = await connect()  # tracing interceptor and converter as the product worker has them
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[IdleWorkflow],
        interceptors=[LivenessInterceptor()],
        sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
    ):
        print(f"worker ready on task queue {TASK_QUEUE!r}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
