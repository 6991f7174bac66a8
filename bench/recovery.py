"""Recovery bench: how long the work stands still after the only worker is killed with `kill -9`.

For each stage of the product (onboarding, a sync poll, a generate, a media poll, the wait for approval,
the deliveries) it brings one workflow to that stage with an API call in flight (the simulator holds that
one request a few seconds, so the kill finds the activity mid-call), kills the worker process group,
starts a fresh worker at once, and measures the seconds from the kill to the next progress: the
interrupted call completed by the fresh worker (for the approval wait, which has no call in flight: the
approve that the operator's decision, sent right after the kill, sets off).

Goal: at most 15 s at every stage. Run: `.venv/bin/python -m bench.recovery --plot --json bench/results/recovery.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import Client, WorkflowHandle

from bench.output import save_figure, write_json
from bench.rig import persona_config
from control import ops
from control.connection import DEFAULT_TASK_QUEUE, connect
from devstack.stack import LocalStack, StackConfig
from simulator.admin import SimulatorAdmin
from simulator.chaos import ChaosConfig
from workflows.config import OnboardingInput
from workflows.content_post import ContentPostWorkflow
from workflows.models import PendingApproval, PostRef
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.policies import Timing
from workflows.search_attributes import PERSONA

GOAL_SECONDS = 15.0
HOLD_MS = 4000  # how long the simulator holds the request the kill interrupts
STAGES = ("onboarding", "sync poll", "generate", "media poll", "approval wait", "deliveries")
TIMING = Timing(time_scale=0.01)
OUT_DIR = Path(__file__).resolve().parent / "out"
console = Console(width=None if sys.stdout.isatty() else 140)
T = TypeVar("T")


@dataclass
class Case:
    stage: str
    workflow_id: str
    activity: str  # the activity whose completion is the progress
    seconds: float | None = None
    worker_ready_s: float | None = None


async def until(check: Callable[[], Awaitable[T | None]], what: str, within: float = 120) -> T:
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {within:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


async def in_flight(client: Client, workflow_id: str, activity: str) -> bool:
    """The activity has an attempt running on a worker right now."""
    description = await client.get_workflow_handle(workflow_id).describe()
    return any(
        p.activity_type.name == activity and p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        for p in description.raw_description.pending_activities
    )


async def completed_after(client: Client, workflow_id: str, activity: str, after_wall: float) -> float | None:
    """Wall time of the first completion of `activity` in the workflow after `after_wall`, if any."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled = {
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity
    }
    for e in history.events:
        if (
            e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
            and e.activity_task_completed_event_attributes.scheduled_event_id in scheduled
        ):
            at = e.event_time.ToDatetime().timestamp()
            if at > after_wall:
                return at
    return None


async def activity_done(client: Client, workflow_id: str, activity: str) -> bool:
    return await completed_after(client, workflow_id, activity, 0) is not None


class Bench:
    def __init__(self, stack: LocalStack, client: Client, admin: SimulatorAdmin) -> None:
        self.stack, self.client, self.admin = stack, client, admin
        self.email, self.account = "recovery-bot@reelmirror.test", "recovery"

    async def hold_next(self, path_pattern: str, method: str) -> None:
        """The next matching request waits HOLD_MS before the simulator handles it."""
        await self.admin.set_chaos(
            ChaosConfig(latency_ms=(HOLD_MS, HOLD_MS), path_pattern=path_pattern, methods=[method], max_faults=1)
        )

    async def kill_and_measure(self, case: Case, after_kill: Callable[[], Awaitable[None]] | None = None) -> Case:
        """Kill the live worker mid-call, start a fresh one at once, wait for `case.activity` to complete."""
        await until(lambda: in_flight(self.client, case.workflow_id, case.activity), f"{case.activity} in flight")
        await asyncio.sleep(0.5)  # well inside the held request
        [live] = [w for w in self.stack.workers if w.alive()]
        live.kill_hard()
        killed_wall, killed = time.time(), time.monotonic()
        if after_kill is not None:
            await after_kill()
        await asyncio.to_thread(self.stack.start_worker)
        case.worker_ready_s = time.monotonic() - killed
        done = await until(
            lambda: completed_after(self.client, case.workflow_id, case.activity, killed_wall),
            f"{case.activity} after the kill",
        )
        case.seconds = done - killed_wall
        await self.admin.set_chaos()
        console.print(f"  {case.stage}: progress {case.seconds:.1f} s after the kill (fresh worker ready at "
                      f"{case.worker_ready_s:.1f} s)")  # fmt: skip
        return case

    # --- the stages ---------------------------------------------------------------------------------

    async def onboarding(self) -> Case:
        await self.hold_next(r"/v1/auth/signup$", "POST")
        handle = await ops.start_onboarding(
            self.client, OnboardingInput(email=self.email, account_ref=self.account, timing=TIMING), DEFAULT_TASK_QUEUE
        )
        case = await self.kill_and_measure(Case("onboarding", handle.id, "signup"))
        await asyncio.wait_for(handle.result(), timeout=120)
        await self.admin.topup(self.email, 20_000)
        await self.admin.connect_account(self.email, "instagram", "bench_official")
        return case

    async def persona(self, slug: str, approval: str = "auto") -> WorkflowHandle[Any, Any]:
        config = persona_config(slug, posts=1, cycles=1, approval=approval)
        handle, _ = await ops.start_persona(self.client, self.account, config, TIMING, DEFAULT_TASK_QUEUE)
        return handle

    async def post_id(self, slug: str) -> str:
        """The workflow id of the persona's (one) post, once it started."""
        query = f"WorkflowType = 'ContentPostWorkflow' AND {PERSONA.name} = '{slug}'"

        async def child() -> str | None:
            return next(iter([w.id async for w in self.client.list_workflows(query)]), None)

        return await until(child, f"the post of {slug}")

    async def sync_poll(self) -> Case:
        persona = await self.persona("recovery-sync")
        await until(lambda: activity_done(self.client, persona.id, "start_sync"), "start_sync")
        await self.hold_next(r"/v1/sync-jobs/[^/]+$", "GET")
        return await self.kill_and_measure(Case("sync poll", persona.id, "poll_sync_job"))

    async def generate(self) -> Case:
        await self.hold_next(r"/v1/generate$", "POST")
        await self.persona("recovery-generate")
        return await self.kill_and_measure(Case("generate", await self.post_id("recovery-generate"), "generate_post"))

    async def media_poll(self) -> Case:
        await self.persona("recovery-media")
        post = await self.post_id("recovery-media")
        await until(lambda: activity_done(self.client, post, "generate_post"), "generate_post")
        await self.hold_next(r"/v1/generated-posts/[^/]+$", "GET")
        return await self.kill_and_measure(Case("media poll", post, "poll_generated_post"))

    async def approval_wait(self) -> Case:
        persona = await self.persona("recovery-approval", approval="manual")
        pending = await until(lambda: self._pending(persona), "a post waiting for approval", within=180)
        waiting = pending.workflow_id
        case = Case("approval wait", waiting, "approve_post")
        [live] = [w for w in self.stack.workers if w.alive()]
        live.kill_hard()
        killed_wall, killed = time.time(), time.monotonic()
        # the operator's approve (what `starter.py approve` sends), while no worker runs
        post = self.client.get_workflow_handle(waiting)
        await post.signal(ContentPostWorkflow.approve, PostRef(post_id=pending.generated_post_id))
        await asyncio.to_thread(self.stack.start_worker)
        case.worker_ready_s = time.monotonic() - killed
        done = await until(lambda: completed_after(self.client, waiting, "approve_post", killed_wall), "approve")
        case.seconds = done - killed_wall
        console.print(f"  {case.stage}: progress {case.seconds:.1f} s after the kill (fresh worker ready at "
                      f"{case.worker_ready_s:.1f} s)")  # fmt: skip
        return case

    async def _pending(self, persona: WorkflowHandle[Any, Any]) -> PendingApproval | None:
        status = await persona.query(PersonaLoopWorkflow.status)
        return status.pending_approvals[0] if status.pending_approvals else None

    async def deliveries(self) -> Case:
        await self.persona("recovery-deliveries")
        post = await self.post_id("recovery-deliveries")
        await until(lambda: activity_done(self.client, post, "approve_post"), "approve_post", within=180)
        await self.hold_next(r"/v1/publishing/posts/[^/]+$", "GET")
        return await self.kill_and_measure(Case("deliveries", post, "poll_deliveries"))


def table(cases: list[Case]) -> Table:
    t = Table(title="Recovery after kill -9 of the only worker", title_justify="left", title_style="bold")
    for column in ("stage", "interrupted activity", "fresh worker ready", "kill -> progress", "goal <= 15 s"):
        t.add_column(column, justify="left" if column in ("stage", "interrupted activity") else "right")
    for c in cases:
        ok = c.seconds is not None and c.seconds <= GOAL_SECONDS
        t.add_row(c.stage, c.activity, f"{c.worker_ready_s:.1f} s", f"{c.seconds:.1f} s", "met" if ok else "NOT met")
    return t


def plot(cases: list[Case], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.barh([c.stage for c in cases], [c.seconds or 0 for c in cases], color="tab:blue", label="kill -> progress")
    ax.barh(
        [c.stage for c in cases], [c.worker_ready_s or 0 for c in cases], color="tab:gray", label="fresh worker ready"
    )
    ax.axvline(GOAL_SECONDS, color="tab:red", linestyle="--", label="goal 15 s")
    ax.invert_yaxis()
    ax.set_xlabel("seconds after kill -9")
    ax.legend(fontsize=8, loc="lower right")
    save_figure(fig, path)


async def run(stack: LocalStack) -> list[Case]:
    client = await connect(env=stack.client_env(), tracing=False)
    async with SimulatorAdmin(stack.sim_origin) as admin:
        bench = Bench(stack, client, admin)
        cases = [await bench.onboarding()]
        for stage in (bench.sync_poll, bench.generate, bench.media_poll, bench.approval_wait, bench.deliveries):
            cases.append(await stage())
            await until(lambda: idle(client), "the stage's workflows to finish", within=300)
        return cases


async def idle(client: Client) -> bool:
    """No workflow runs: the next stage's held request cannot be taken by the previous stage's work."""
    return not [w async for w in client.list_workflows("ExecutionStatus = 'Running'")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--json", type=Path, help="write {'stages': {STAGE: seconds}}")
    args = parser.parse_args(argv)
    state_dir = Path(tempfile.mkdtemp(prefix="reelmirror-recovery-"))
    console.print(f"[bold]Recovery bench[/] (logs under {state_dir / 'logs'})")
    stack = LocalStack(StackConfig(time_scale=TIMING.time_scale, ui_port=None, state_dir=state_dir))
    try:
        stack.start()
        cases = asyncio.run(run(stack))
    finally:
        stack.stop()
    console.print(table(cases))
    if args.json:
        figures = {"stages": {c.stage: round(c.seconds or -1, 1) for c in cases}, "goal_seconds": GOAL_SECONDS,
                   "worker_ready_seconds": {c.stage: round(c.worker_ready_s or -1, 1) for c in cases}}  # fmt: skip
        write_json(args.json, figures)
    if args.plot:
        plot(cases, args.out / "recovery.png")
        console.print(f"plot: {args.out / 'recovery.png'}")
    return 0 if all(c.seconds is not None and c.seconds <= GOAL_SECONDS for c in cases) else 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip interpreter teardown: the SDK can abort there (sdk-python #300)
