"""The worker: runs every workflow and activity of the product on one task queue.

Configuration comes from the environment (see README): Temporal connection through temporalio's envconfig
(TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_PROFILE, ...), the ReelMirror side through
`activities.settings.ActivitySettings` (REELMIRROR_BASE_URL, REELMIRROR_SECRETS_DIR, ...). Invalid settings
stop it before it connects. SIGINT/SIGTERM finish in-flight activities' current attempt and exit cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.imap_mailbox import mailbox_from_settings
from activities.liveness import LivenessInterceptor
from activities.reelmirror import ReelMirrorActivities
from activities.secrets import SecretStore
from activities.settings import ActivitySettings
from control.connection import connect, task_queue
from control.telemetry import configure_tracing
from workflows.content_post import ContentPostWorkflow
from workflows.onboarding import OnboardingWorkflow
from workflows.persona_loop import PersonaLoopWorkflow

WORKFLOWS = [OnboardingWorkflow, PersonaLoopWorkflow, ContentPostWorkflow]


def build_activities(settings: ActivitySettings) -> ReelMirrorActivities:
    return ReelMirrorActivities(settings, SecretStore(settings.secrets_dir), mailbox_from_settings(settings))


#: A workflow task waiting for a killed worker's sticky queue goes to any worker after this.
STICKY_TIMEOUT = timedelta(seconds=5)


def build_worker(client: Client, queue: str, activities: ReelMirrorActivities) -> Worker:
    return Worker(
        client,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=activities.all(),
        interceptors=[LivenessInterceptor()],
        sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def run() -> None:
    settings = ActivitySettings.from_env()
    provider = configure_tracing(os.environ.get("REELMIRROR_OTEL_EXPORTER", "none"), "reelmirror-worker")
    activities = build_activities(settings)  # before connecting: a bad mailbox configuration stops it here
    client = await connect()
    queue = task_queue()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with build_worker(client, queue, activities):
            logging.info("worker polling task queue %r on %s", queue, client.service_client.config.target_host)
            print(f"worker ready on task queue {queue!r}", flush=True)
            await stop.wait()
            logging.info("shutting down")
    finally:
        await activities.aclose()
        if provider is not None:
            provider.shutdown()


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request at INFO; the client logs method, path, status and latency at DEBUG already.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        asyncio.run(run())
    except ValueError as exc:  # invalid configuration: one line, no traceback
        print(f"worker: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
