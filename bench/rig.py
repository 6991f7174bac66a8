"""What the benches share: the local stack with the simulator in the bench's own process, an onboarded
account, persona configs, and reading a process's CPU time and memory.

Why the simulator runs in-process here: a bench that measures when a job finished needs the simulator's
own record (a media item's due time is not in any answer), and reading its state directly is exact and
costs no requests. Temporal and the workers stay real processes (`devstack.stack.LocalStack`), started off
the event loop so the simulator keeps answering while they come up.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from temporalio.client import Client

from activities.secrets import FileSecretStore
from control import ops
from control.connection import DEFAULT_TASK_QUEUE, connect
from devstack.stack import LocalStack, StackConfig
from reelmirror.client import ReelMirrorClient
from simulator.admin import SimulatorAdmin
from simulator.config import SimulatorConfig
from simulator.runtime import Simulator
from simulator.server import SimulatorServer
from simulator.web.app import build_app
from workflows.config import OnboardingInput, PersonaConfig
from workflows.policies import Timing

__all__ = [
    "SCRIPT_AGENT",
    "CountingSimulatorServer",
    "Rig",
    "account_key",
    "all_closed",
    "onboard_account",
    "persona_config",
    "process_cpu_seconds",
    "process_rss_mb",
    "rig",
    "wait_until",
]

PUBLISHING_ACCOUNT = ("instagram", "bench_official")
#: The User-Agent of the benches' plain scripts, so the simulator's records tell them from the workers.
SCRIPT_AGENT = "reelmirror-bench-script"


_POLLED = re.compile(r"^/api/v1/(?:sync-jobs|generated-posts|publishing/posts)/([^/]+)$")


class CountingSimulatorServer(SimulatorServer):
    """The simulator with a record of every status read of a job: (simulated time, User-Agent) per id.

    Polls are counted as the service saw them: an attempt of a poll activity may check more than once,
    and a workflow's other reads of the same resource are told apart by time."""

    def __init__(self, config: SimulatorConfig) -> None:
        super().__init__(config)
        self.reads: dict[str, list[tuple[float, str]]] = defaultdict(list)

    @web.middleware
    async def _count(self, request: web.Request, handler: Any) -> web.StreamResponse:
        match = _POLLED.match(request.path) if request.method == "GET" else None
        if match and self.sim is not None:
            self.reads[match.group(1)].append((self.sim.core.clock.now(), request.headers.get("User-Agent", "")))
        return await handler(request)

    async def start(self) -> None:
        """`SimulatorServer.start`, with the counting middleware in front of the simulator's own."""
        sim = Simulator(self.config)
        app = build_app(sim)
        app.middlewares.insert(0, self._count)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, self.config.host, self.config.port).start()
        self._runner, self.sim = runner, sim
        self.port = int(runner.addresses[0][1])
        sim.core.origin = self.origin
        sim.start()


class InProcessSimulatorStack(LocalStack):
    """A `LocalStack` whose simulator is served by the caller's event loop on `simulator_port`."""

    def start_simulator(self) -> None:
        """Nothing to start: the bench serves the simulator itself."""


@dataclass
class Rig:
    """A running stack: Temporal, workers, the in-process simulator, a client and the admin API."""

    stack: InProcessSimulatorStack
    server: CountingSimulatorServer
    client: Client
    admin: SimulatorAdmin
    timing: Timing

    @property
    def sim(self) -> Simulator:
        return self.server.simulator

    def sim_now(self) -> float:
        """The simulated clock, now (Unix seconds)."""
        return self.sim.core.clock.now()

    def to_sim(self, wall: float) -> float:
        """A wall-clock time (Unix seconds) on the simulated clock (which is never advanced here)."""
        return self.sim.core.clock.now() - (time.time() - wall) / self.timing.time_scale

    async def api_client(self, account: str, user_agent: str = SCRIPT_AGENT) -> ReelMirrorClient:
        """A plain client on the account's key, as a script would hold it (its own User-Agent)."""
        return ReelMirrorClient(
            self.server.base_url, token=await account_key(self.stack, account), user_agent=user_agent
        )


async def account_key(stack: LocalStack, account: str) -> str:
    """The account's `rm_` key from the stack's secret store (where onboarding put it)."""
    return (await FileSecretStore(stack.secrets_dir).require(account, "api_key")).get_secret_value()


@asynccontextmanager
async def rig(
    state_dir: Path,
    *,
    time_scale: float,
    seed: int,
    runtime: dict[str, Any] | None = None,
    workers: int = 1,
    worker_env: dict[str, str] | None = None,
) -> AsyncIterator[Rig]:
    """Start Temporal, `workers` worker processes and the simulator (in this loop); stop them all after."""
    stack = InProcessSimulatorStack(
        StackConfig(time_scale=time_scale, seed=seed, ui_port=None, state_dir=state_dir, worker_env=worker_env or {})
    )
    config = SimulatorConfig(port=stack.simulator_port, time_scale=time_scale, seed=seed, reconcile_interval_seconds=5)
    if runtime:
        config = config.model_copy(update={"runtime": config.runtime.merged(runtime)})
    server = CountingSimulatorServer(config)
    await server.start()
    try:
        await asyncio.to_thread(stack.start, workers)
        try:
            client = await connect(env=stack.client_env(), tracing=False)
            async with SimulatorAdmin(server.origin) as admin:
                yield Rig(stack, server, client, admin, Timing(time_scale=time_scale))
        finally:
            await asyncio.to_thread(stack.stop)
    finally:
        await server.stop()


async def onboard_account(rig: Rig, email: str, account: str, credits_cents: int) -> None:
    """Sign up through the OnboardingWorkflow (no card), then credit and one connected publishing account."""
    handle = await ops.start_onboarding(
        rig.client,
        OnboardingInput(email=email, account_ref=account, attach_card=False, timing=rig.timing),
        DEFAULT_TASK_QUEUE,
    )
    await asyncio.wait_for(handle.result(), timeout=120)
    await rig.admin.topup(email, credits_cents)
    await rig.admin.connect_account(email, *PUBLISHING_ACCOUNT)


def persona_config(slug: str, *, posts: int, cycles: int | None, approval: str = "auto") -> PersonaConfig:
    """One sync_only source (a creator of its own), one publishing target, `posts` posts per cycle."""
    return PersonaConfig.model_validate(
        {
            "name": f"Bench {slug}",
            "slug": slug,
            "writing_style": "Plain",
            "sources": [{"platform": "instagram", "username": f"{slug}-creator", "automation_mode": "sync_only"}],
            "publishing_accounts": [{"platform": PUBLISHING_ACCOUNT[0], "username": PUBLISHING_ACCOUNT[1]}],
            "sync_interval_minutes": 15,
            "posts_per_cycle": posts,
            "max_concurrent_posts": posts,
            "max_cycles": cycles,
            "approval": {"mode": approval},
        }
    )


async def wait_until(check: Callable[[], Awaitable[bool]], every: float = 0.1) -> None:
    """Until `check()` holds (callers bound it with `asyncio.timeout`)."""
    while True:
        if await check():
            return
        await asyncio.sleep(every)


async def all_closed(client: Client) -> bool:
    """No workflow runs (a post reports its end to its persona a moment before it closes)."""
    return not [w async for w in client.list_workflows("ExecutionStatus = 'Running'")]


_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int, *, children: bool = True) -> float:
    """User plus system CPU seconds of a process (and of its reaped children) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    total = utime + stime + ((cutime + cstime) if children else 0)
    return total / _TICKS


def process_rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
