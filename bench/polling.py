"""Polling bench: how many checks each job costs and how late its completion is noticed.

Per job kind (sync, image, video, delivery) it measures mean polls per job and mean detection lag
(simulated seconds from the job's completion, read from the simulator's own state, to the moment the
product knew: the poll activity's completion in workflow history, or the loop's answer), for

* `guide_fixed`, `guide_backoff`: the guide's two loops as plain asyncio over `reelmirror`
  (`bench.guide_loops`), started on every job the workflows create, so all strategies meet the very same
  jobs of the same simulator run and seed;
* `workflows`: the product's persona and post workflows, on the documented duration ranges, each persona
  fresh (its polls know only the documented ranges);
* `workflows_narrow`: a second run where every kind's real durations sit in a narrow band; personas warm
  up for a few cycles and the last cycle is measured.

Goals: `workflows` polls at least 30% less than `guide_fixed` at no greater mean lag, for every kind;
`workflows_narrow` at most 2.5 polls per job at a lag of at most 10% of the job's duration.

Run: `.venv/bin/python -m bench.polling --quick --plot --json bench/results/polling.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any

from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.guide_loops import GUIDE_STRATEGIES, Detection, JobRef
from bench.output import save_figure, write_json
from bench.rig import SCRIPT_AGENT, Rig, onboard_account, persona_config, rig
from control import ops
from control.connection import DEFAULT_TASK_QUEUE
from reelmirror.client import ReelMirrorClient

KINDS = ("sync", "image", "video", "delivery")
STRATEGIES = ("guide_fixed", "guide_backoff", "workflows")
NARROW = {"sync": (120, 140), "image": (60, 68), "video": (200, 225), "delivery": (40, 45)}
POLL_ACTIVITIES = {
    "poll_sync_job": "job_id",
    "poll_generated_post": "generated_post_id",
    "poll_deliveries": "outgoing_post_id",
}
EMAIL, ACCOUNT = "polling-bench@reelmirror.test", "polling"
OUT_DIR = Path(__file__).resolve().parent / "out"
console = Console(width=None if sys.stdout.isatty() else 150)


@dataclass(frozen=True)
class Phase:
    name: str
    personas: int
    posts: int
    cycles: int  # the last one is measured
    time_scale: float
    durations: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass
class Job:
    ref: JobRef
    persona_id: str
    created_at: float  # simulated
    finished_at: float | None = None
    duration: float | None = None


@dataclass
class Figures:
    polls: float
    lag_s: float
    jobs: int
    duration_s: float

    def as_json(self) -> dict[str, float]:
        return {"polls": round(self.polls, 2), "lag_s": round(self.lag_s, 2), "jobs": self.jobs}


# --- the simulator's truth ------------------------------------------------------------------------------


def known_jobs(rig: Rig) -> list[Job]:
    """Every sync job, generated post and outgoing post in the simulator, with its completion time."""
    state = rig.sim.core.state
    jobs: list[Job] = []
    for job in list(state.sync_jobs.values()):
        jobs.append(Job(JobRef("sync", job.id), job.persona_id, job.created_at, job.finished_at))
    for post in list(state.generated_posts.values()):
        kind = _media_kind(post)
        done = post.media_terminal()
        finished = max(item.due_at for item in post.media_items) if done else None
        jobs.append(Job(JobRef(kind, post.id), post.persona_id, post.created_at, finished))
    for outgoing in list(state.outgoing_posts.values()):
        ends = [d.finished_at for d in outgoing.deliveries]
        finished = max(ends) if ends and all(e is not None for e in ends) else None  # type: ignore[type-var]
        jobs.append(Job(JobRef("delivery", outgoing.id), outgoing.persona_id, outgoing.created_at, finished))
    for job in jobs:
        if job.finished_at is not None:
            job.duration = job.finished_at - job.created_at
    return jobs


def _media_kind(post: Any) -> str:
    return "video" if any(item.type == "video" for item in post.media_items) else "image"


class GuideWatcher:
    """Starts both guide loops on every job the moment it appears in the simulator."""

    def __init__(self, rig: Rig, client: ReelMirrorClient) -> None:
        self.rig = rig
        self.client = client
        self.results: dict[tuple[str, str], Detection] = {}
        self._seen: dict[str, list[str]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def run(self) -> None:
        state = self.rig.sim.core.state
        while True:
            for jobs, kind in (
                (state.sync_jobs, "sync"),
                (state.generated_posts, None),
                (state.outgoing_posts, "delivery"),
            ):
                for job_id in list(jobs)[len(self._seen.get(kind or "media", ())) :]:
                    self._seen.setdefault(kind or "media", []).append(job_id)
                    ref = JobRef(kind or _media_kind(jobs[job_id]), job_id)
                    for name in GUIDE_STRATEGIES:
                        self._tasks.append(asyncio.create_task(self._follow(name, ref)))
            await asyncio.sleep(0.02)

    async def _follow(self, strategy: str, ref: JobRef) -> None:
        loop = GUIDE_STRATEGIES[strategy]
        self.results[(strategy, ref.id)] = await loop(self.client, ref, self.rig.sim_now, self.rig.timing.time_scale)

    async def finish(self) -> None:
        await asyncio.gather(*self._tasks)
        await self.client.aclose()


# --- what the workflows knew, from their histories ---------------------------------------------------------


async def workflow_polls(client: Client) -> dict[str, tuple[int, float]]:
    """Polled id -> (attempts of its poll activity, wall time its completion reached the server)."""
    found: dict[str, tuple[int, float]] = {}
    async for execution in client.list_workflows(
        "WorkflowType = 'PersonaLoopWorkflow' OR WorkflowType = 'ContentPostWorkflow'"
    ):
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        scheduled: dict[int, str] = {}
        attempts: dict[int, int] = {}
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attrs = event.activity_task_scheduled_event_attributes
                field_name = POLL_ACTIVITIES.get(attrs.activity_type.name)
                if field_name:
                    [arg] = await client.data_converter.decode(attrs.input.payloads[:1])  # encrypted at rest
                    scheduled[event.event_id] = arg[field_name]
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                attrs = event.activity_task_started_event_attributes
                attempts[attrs.scheduled_event_id] = attrs.attempt
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                scheduled_id = event.activity_task_completed_event_attributes.scheduled_event_id
                if scheduled_id in scheduled:
                    found[scheduled[scheduled_id]] = (attempts[scheduled_id], event.event_time.ToDatetime().timestamp())
    return found


# --- one run ------------------------------------------------------------------------------------------------


async def run_phase(phase: Phase, seed: int, state_dir: Path) -> dict[str, dict[str, Figures]]:
    runtime: dict[str, Any] = {"rate_limit": {"limit": 1_000_000}, "backlog_posts": 0}
    if phase.durations:
        runtime["durations_seconds"] = {k: {"min": lo, "max": hi} for k, (lo, hi) in phase.durations.items()}
    async with rig(state_dir, time_scale=phase.time_scale, seed=seed, runtime=runtime) as r:
        await onboard_account(r, EMAIL, ACCOUNT, credits_cents=phase.personas * phase.posts * phase.cycles * 300)
        watcher = GuideWatcher(r, await r.api_client(ACCOUNT))
        watching = asyncio.create_task(watcher.run())
        started = time.monotonic()
        handles = []
        for i in range(phase.personas):
            config = persona_config(f"{phase.name}-{i}", posts=phase.posts, cycles=phase.cycles)
            # at least the persona's first-listing backlog (20): `read_listing` slices `ids[len - backlog:]`
            await add_backlog(r, config.sources[0].username, max(20, phase.posts * phase.cycles))
            handle, _ = await ops.start_persona(r.client, ACCOUNT, config, r.timing, DEFAULT_TASK_QUEUE)
            handles.append(handle)
        console.print(
            f"  {phase.name}: {phase.personas} personas x {phase.cycles} cycle(s) x {phase.posts} posts started"
        )
        await asyncio.gather(*(h.result() for h in handles))
        await wait_closed(r.client)
        watching.cancel()
        await watcher.finish()
        console.print(f"  {phase.name}: every workflow and loop done in {time.monotonic() - started:.0f} s")
        polls = await workflow_polls(r.client)
        jobs = measured(known_jobs(r), phase)
        return figures(jobs, watcher.results, polls, r)


async def add_backlog(r: Rig, username: str, count: int) -> None:
    """Single images and videos by turns, so every cycle meets both kinds (no carousel: its three images
    end at the slowest of three durations, another distribution)."""
    posts = [{"media_type": "video" if i % 2 else "image"} for i in range(count)]
    await r.admin.add_creator_posts("instagram", username, posts=posts)  # type: ignore[arg-type]


async def wait_closed(client: Client) -> None:
    """Until no workflow runs (a post reports its end to its persona a moment before it closes)."""
    while True:
        if not [w async for w in client.list_workflows("ExecutionStatus = 'Running'")]:
            return
        await asyncio.sleep(0.2)


def measured(jobs: list[Job], phase: Phase) -> list[Job]:
    """The jobs of each persona's last cycle (all of them when there is one cycle)."""
    if phase.cycles == 1:
        return jobs
    last_sync: dict[str, float] = {}
    for job in jobs:
        if job.ref.kind == "sync":
            last_sync[job.persona_id] = max(last_sync.get(job.persona_id, 0.0), job.created_at)
    return [j for j in jobs if j.created_at >= last_sync.get(j.persona_id, float("inf")) - 1e-6]


def figures(
    jobs: Iterable[Job], guide: dict[tuple[str, str], Detection], polls: dict[str, tuple[int, float]], r: Rig
) -> dict[str, dict[str, Figures]]:
    samples: dict[tuple[str, str], list[tuple[int, float, float]]] = defaultdict(list)
    for job in jobs:
        if job.finished_at is None or job.duration is None:
            continue
        for name in GUIDE_STRATEGIES:
            seen = guide.get((name, job.ref.id))
            if seen is not None and seen.seen_done_at is not None:
                samples[(job.ref.kind, name)].append((seen.polls, seen.seen_done_at - job.finished_at, job.duration))
        if job.ref.id in polls:
            # the product knew when its poll's last read answered "done" (the activity completes right
            # after; the history event comes later still, by the worker's and server's latency)
            completed = r.to_sim(polls[job.ref.id][1])
            reads = [t for t, agent in r.server.reads.get(job.ref.id, []) if agent != SCRIPT_AGENT and t <= completed]
            if reads:
                samples[(job.ref.kind, "workflows")].append((len(reads), reads[-1] - job.finished_at, job.duration))
    out: dict[str, dict[str, Figures]] = defaultdict(dict)
    for (kind, strategy), rows in samples.items():
        out[kind][strategy] = Figures(
            polls=mean(p for p, _, _ in rows),
            lag_s=mean(lag for _, lag, _ in rows),
            jobs=len(rows),
            duration_s=mean(d for _, _, d in rows),
        )
    return out


# --- report -------------------------------------------------------------------------------------------------


def verdicts(documented: dict[str, dict[str, Figures]], narrow: dict[str, dict[str, Figures]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for kind in KINDS:
        notes = []
        fixed, ours = documented.get(kind, {}).get("guide_fixed"), documented.get(kind, {}).get("workflows")
        if fixed and ours:
            fewer = 1 - ours.polls / fixed.polls
            ok = fewer >= 0.30 and ours.lag_s <= fixed.lag_s
            notes.append(
                f"{'met' if ok else 'NOT met'}: {fewer:.0%} fewer polls, lag {ours.lag_s:.1f} vs {fixed.lag_s:.1f} s"
            )
        learned = narrow.get(kind, {}).get("workflows")
        if learned:
            share = learned.lag_s / learned.duration_s
            ok = learned.polls <= 2.5 and share <= 0.10
            verdict = "met" if ok else "NOT met"
            notes.append(f"narrow {verdict}: {learned.polls:.2f} polls, lag {share:.1%} of {learned.duration_s:.0f} s")
        found[kind] = notes
    return found


def table(documented: dict[str, dict[str, Figures]], narrow: dict[str, dict[str, Figures]]) -> Table:
    t = Table(title="Polls per job / mean detection lag (simulated s)", title_justify="left", title_style="bold")
    t.add_column("kind")
    for name in (*STRATEGIES, "guide_fixed (narrow)", "workflows_narrow"):
        t.add_column(name, justify="right")
    t.add_column("goals")
    notes = verdicts(documented, narrow)
    for kind in KINDS:
        cells = []
        for source, name in [(documented, s) for s in STRATEGIES] + [(narrow, "guide_fixed"), (narrow, "workflows")]:
            f = source.get(kind, {}).get(name)
            cells.append(f"{f.polls:.2f} / {f.lag_s:.1f}" if f else "-")
        t.add_row(kind, *cells, "; ".join(notes[kind]))
    return t


def as_json(
    documented: dict[str, dict[str, Figures]], narrow: dict[str, dict[str, Figures]], meta: dict[str, Any]
) -> dict[str, Any]:
    kinds: dict[str, Any] = {}
    for kind in KINDS:
        entry = {name: f.as_json() for name, f in documented.get(kind, {}).items()}
        if "workflows" in narrow.get(kind, {}):
            entry["workflows_narrow"] = narrow[kind]["workflows"].as_json() | {
                "duration_s": round(narrow[kind]["workflows"].duration_s, 1)
            }
        if "guide_fixed" in narrow.get(kind, {}):
            entry["guide_fixed_narrow"] = narrow[kind]["guide_fixed"].as_json()
        kinds[kind] = entry
    return {"kinds": kinds, "verdicts": verdicts(documented, narrow), "run": meta}


def plot(documented: dict[str, dict[str, Figures]], narrow: dict[str, dict[str, Figures]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [(documented, "guide_fixed", "tab:gray"), (documented, "guide_backoff", "tab:olive"),
              (documented, "workflows", "tab:blue"), (narrow, "workflows", "tab:green")]  # fmt: skip
    labels = ["guide fixed", "guide backoff", "workflows", "workflows, narrow (learned)"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    width = 0.2
    for i, ((source, name, color), label) in enumerate(zip(series, labels, strict=True)):
        xs = [k + (i - 1.5) * width for k in range(len(KINDS))]
        left.bar(
            xs, [source.get(k, {}).get(name, Figures(0, 0, 0, 0)).polls for k in KINDS], width, color=color, label=label
        )
        right.bar(xs, [source.get(k, {}).get(name, Figures(0, 0, 0, 0)).lag_s for k in KINDS], width, color=color)
    for ax, title in ((left, "polls per job"), (right, "mean detection lag (simulated s)")):
        ax.set_xticks(range(len(KINDS)), KINDS)
        ax.set_title(title)
    left.legend(fontsize=8)
    save_figure(fig, path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer personas and cycles (under 3 minutes)")
    parser.add_argument("--personas", type=int, help="personas of the documented run (default 16, quick 6)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--time-scale", type=float, help="of the documented run (default 0.2, quick 0.1; narrow: half)")
    parser.add_argument("--plot", action="store_true", help="write a PNG")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--json", type=Path, help="write the figures as JSON")
    return parser.parse_args(argv)


async def main_async(args: argparse.Namespace) -> int:
    personas = args.personas or (6 if args.quick else 16)
    scale = args.time_scale or (0.1 if args.quick else 0.2)
    documented = Phase("documented", personas, posts=3, cycles=1, time_scale=scale)
    # two warm-up cycles (every kind seen at least twice), then the measured one
    narrow = Phase("narrow", 5 if args.quick else 10, posts=4, cycles=3, time_scale=scale / 2, durations=NARROW)
    root = Path(tempfile.mkdtemp(prefix="reelmirror-polling-"))
    console.print(f"[bold]Polling bench[/] (logs under {root}); both runs at once, each on its own stack")
    started = time.monotonic()
    doc, nar = await asyncio.gather(
        run_phase(documented, args.seed, root / "documented"), run_phase(narrow, args.seed, root / "narrow")
    )
    console.print(table(doc, nar))
    meta = {
        "seed": args.seed,
        "documented": {"personas": documented.personas, "posts": documented.posts, "time_scale": documented.time_scale},
        "narrow": {"personas": narrow.personas, "posts": narrow.posts, "cycles": narrow.cycles,
                   "time_scale": narrow.time_scale, "bands": NARROW},
        "seconds": round(time.monotonic() - started),
    }  # fmt: skip
    if args.json:
        write_json(args.json, as_json(doc, nar, meta))
        console.print(f"json: {args.json}")
    if args.plot:
        path = args.out / "polling.png"
        plot(doc, nar, path)
        console.print(f"plot: {path}")
    console.print(f"total {time.monotonic() - started:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip interpreter teardown: the SDK can abort there (sdk-python #300)
