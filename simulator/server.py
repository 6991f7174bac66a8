"""Run the simulator inside an event loop: ``async with SimulatorServer(config) as server``.

Used by the test fixtures, the demo, benchmarks and the CLI alike. ``port=0`` binds a free port;
the real one is known after start and reflected in ``base_url``, ``origin`` and ``admin_url`` (and in
the links the simulator itself hands out, such as the e-mail verify link and checkout URLs).
"""

from __future__ import annotations

import logging
from types import TracebackType

from aiohttp import web

from simulator.config import SimulatorConfig
from simulator.runtime import Simulator
from simulator.web.app import build_app


class SimulatorServer:
    """The simulator bound to a TCP port; an async context manager."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.sim: Simulator | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def origin(self) -> str:
        if self.port is None:
            raise RuntimeError("the simulator is not running")
        host = self.config.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What the ReelMirror client uses as its base URL (paths are ``/v1/...`` under it)."""
        return f"{self.origin}/api"

    @property
    def admin_url(self) -> str:
        return f"{self.origin}/_sim"

    @property
    def simulator(self) -> Simulator:
        if self.sim is None:
            raise RuntimeError("the simulator is not running")
        return self.sim

    async def start(self) -> None:
        sim = Simulator(self.config)
        app = build_app(sim)
        access_log = logging.getLogger("aiohttp.access") if self.config.access_log else None
        runner = web.AppRunner(app, access_log=access_log, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            await sim.aclose()
            raise
        self._runner = runner
        self.sim = sim
        self.port = int(runner.addresses[0][1])
        sim.core.origin = self.origin
        sim.start()

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        sim, self.sim = self.sim, None
        if sim is not None:
            await sim.aclose()
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> SimulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
