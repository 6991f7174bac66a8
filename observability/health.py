"""The worker's health endpoints for an orchestrator's probes: `/live` and `/ready`.

`/live` answers 200 while the process runs its event loop (a hung loop stops answering, which is what a
liveness probe should catch). `/ready` answers 200 only while the worker polls its task queue and
Temporal answers a health check, so a load balancer or a rollout waits for a worker that can take work.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiohttp import web
from temporalio.client import Client

from observability.settings import BindAddress

__all__ = ["HEALTH_CHECK_TIMEOUT", "HealthServer", "Readiness", "WorkerReadiness"]

logger = logging.getLogger("observability.health")

#: Returns None when ready, else the reason it is not.
Readiness = Callable[[], Awaitable[str | None]]

HEALTH_CHECK_TIMEOUT = timedelta(seconds=2)


class WorkerReadiness:
    """Ready while the worker polls (between `running` and `stopping`) and Temporal answers a health check."""

    def __init__(self) -> None:
        self._client: Client | None = None
        self._reason = "connecting to Temporal"

    def running(self, client: Client) -> None:
        self._client = client
        self._reason = ""

    def stopping(self) -> None:
        self._reason = "shutting down"

    async def __call__(self) -> str | None:
        if self._client is None or self._reason:
            return self._reason or "connecting to Temporal"
        try:
            serving = await self._client.service_client.check_health(timeout=HEALTH_CHECK_TIMEOUT)
        except Exception as exc:
            return f"Temporal does not answer its health check ({type(exc).__name__})"
        return None if serving else "Temporal reports its workflow service as not serving"


class HealthServer:
    """Serves `/live` and `/ready` on `address`; `start` raises `OSError` when it cannot bind."""

    def __init__(self, address: BindAddress, readiness: Readiness) -> None:
        self.address = address
        self._readiness = readiness
        self._runner: web.AppRunner | None = None

    async def _live(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "live"})

    async def _ready(self, request: web.Request) -> web.Response:
        try:
            reason = await self._readiness()
        except Exception as exc:  # a probe must answer, whatever went wrong
            reason = f"readiness check failed: {type(exc).__name__}"
        if reason is None:
            return web.json_response({"status": "ready"})
        return web.Response(
            status=503, text=json.dumps({"status": "not ready", "reason": reason}), content_type="application/json"
        )

    async def start(self) -> None:
        app = web.Application()
        app.add_routes([web.get("/live", self._live), web.get("/ready", self._ready)])
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.address.host, self.address.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        logger.info("health endpoints on http://%s/live and /ready", self.address)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
