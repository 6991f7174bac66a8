"""The worker: runs every workflow and activity of the product on one task queue.

Configuration comes from the environment (see the README, "Operating in production"): Temporal
connection through temporalio's envconfig (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_PROFILE, ...),
the payload key (REELMIRROR_CODEC_KEYS or REELMIRROR_CODEC_KEY_FILE, required unless REELMIRROR_CODEC=off),
the ReelMirror side through `activities.settings.ActivitySettings`, the secret store by
`activities.secret_store_select` (REELMIRROR_SECRETS_URL: the shared PostgreSQL store), telemetry through
`observability.settings.ObservabilitySettings`. Invalid settings, an unusable secret store, or a metrics or
health port that cannot be bound, stop it with one line and exit 2 before it connects; a Temporal that is not
up yet is waited for (REELMIRROR_CONNECT_TIMEOUT_SECONDS). SIGINT/SIGTERM finish in-flight activities'
current attempt and exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.budget_rules import BudgetConfig
from activities.fleet_budget import FleetBudget
from activities.imap_mailbox import mailbox_from_settings
from activities.liveness import LivenessInterceptor
from activities.reelmirror import ReelMirrorActivities
from activities.secret_store_select import open_secret_store
from activities.secrets import SecretStore
from activities.settings import ActivitySettings
from control.connection import TemporalUnreachableError, connect_with_retry, converter_from_env, task_queue
from control.telemetry import configure_tracing
from observability.health import HealthServer, WorkerReadiness
from observability.runtime import BindError, bind_message, temporal_runtime
from observability.settings import HEALTH_PORT_ENV, ObservabilitySettings
from workflows.content_post import ContentPostWorkflow
from workflows.onboarding import OnboardingWorkflow
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.rate_budget import RateBudgetWorkflow

WORKFLOWS = [OnboardingWorkflow, PersonaLoopWorkflow, ContentPostWorkflow, RateBudgetWorkflow]


def build_activities(settings: ActivitySettings, store: SecretStore) -> ReelMirrorActivities:
    return ReelMirrorActivities(settings, store, mailbox_from_settings(settings))


#: A workflow task waiting for a killed worker's sticky queue goes to any worker after this.
STICKY_TIMEOUT = timedelta(seconds=5)
#: Workflows kept in memory between their tasks. A persona idles for hours between syncs and replays
#: its short history in milliseconds when it wakes; each cached one costs about half a megabyte.
CACHE_ENV, DEFAULT_CACHE = "REELMIRROR_WORKFLOW_CACHE", 500


def workflow_cache_size(env: Mapping[str, str] | None = None) -> int:
    """`REELMIRROR_WORKFLOW_CACHE`: workflows cached per worker (0 caches none)."""
    raw = (os.environ if env is None else env).get(CACHE_ENV, "").strip()
    if not raw:
        return DEFAULT_CACHE
    if not raw.isdigit():
        raise ValueError(f"{CACHE_ENV} must be a whole number of workflows")
    return int(raw)


BUDGET_ENV = "REELMIRROR_RATE_BUDGET"


def rate_budget(env: Mapping[str, str] | None = None) -> BudgetConfig | None:
    """`REELMIRROR_RATE_BUDGET=LIMIT/WINDOW_SECONDS` (e.g. `120/60`): every worker of the fleet keeps each
    key under that limit together (`activities.fleet_budget`); unset: no shared budget."""
    raw = (os.environ if env is None else env).get(BUDGET_ENV, "").strip()
    if not raw:
        return None
    limit, _, window = raw.partition("/")
    try:
        return BudgetConfig(limit=int(limit), window_seconds=float(window))
    except ValueError:
        raise ValueError(f"{BUDGET_ENV} must be LIMIT/WINDOW_SECONDS, e.g. 120/60") from None


def build_worker(
    client: Client, queue: str, activities: ReelMirrorActivities, cache_size: int = DEFAULT_CACHE
) -> Worker:
    activities.temporal = client  # the personas' reconciliation asks Temporal about their posts
    return Worker(
        client,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=activities.all(),
        interceptors=[LivenessInterceptor()],
        sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
        max_cached_workflows=cache_size,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def start_health(telemetry: ObservabilitySettings, readiness: WorkerReadiness) -> HealthServer | None:
    if telemetry.health_address is None:
        return None
    server = HealthServer(telemetry.health_address, readiness)
    try:
        await server.start()
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise BindError(bind_message(HEALTH_PORT_ENV, telemetry.health_address, reason)) from None
    return server


async def run() -> None:
    settings = ActivitySettings.from_env()
    telemetry = ObservabilitySettings.from_env()
    cache_size = workflow_cache_size()
    budget = rate_budget()
    converter = converter_from_env()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # before connecting: a bad mailbox configuration or an unusable secret store stops it here
    store = await open_secret_store(settings)
    logging.debug("secret store: %r", store)
    activities = build_activities(settings, store)
    readiness = WorkerReadiness()
    provider = None
    health = None
    try:
        health = await start_health(telemetry, readiness)
        runtime = temporal_runtime(telemetry.metrics_address)
        if telemetry.metrics_address is not None:
            logging.info("Prometheus metrics on http://%s/metrics", telemetry.metrics_address)
        provider = configure_tracing(telemetry.exporter, "reelmirror-worker", telemetry.otlp_endpoint)
        connecting = asyncio.ensure_future(
            connect_with_retry(telemetry.connect_timeout_seconds, runtime=runtime, converter=converter)
        )
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not connecting.done():
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connecting
            logging.info("stopped before Temporal answered")
            return
        stopping.cancel()
        client = connecting.result()
        queue = task_queue()
        if budget is not None:
            activities.fleet_budget = FleetBudget(client, queue, budget)
        async with build_worker(client, queue, activities, cache_size):
            readiness.running(client)
            logging.info("worker polling task queue %r on %s", queue, client.service_client.config.target_host)
            print(f"worker ready on task queue {queue!r}", flush=True)
            await stop.wait()
            readiness.stopping()
            logging.info("shutting down")
    finally:
        await activities.aclose()
        await store.aclose()
        if provider is not None:
            provider.shutdown()
        if health is not None:
            await health.stop()


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request at INFO; the client logs method, path, status and latency at DEBUG already.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    code = 0
    try:
        asyncio.run(run())
    except ValueError as exc:  # invalid configuration or a port that cannot be bound: one line, no traceback
        print(f"worker: {exc}", file=sys.stderr)
        code = 2
    except TemporalUnreachableError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        code = 1
    # Skip interpreter teardown: the SDK's threads can abort it (sdk-python #300), turning a clean stop
    # into a crash report and a non-zero exit code for the orchestrator.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
