"""Chaos soak benchmark: many personas on one account while the API fails, loses answers and lags.

Starts the local stack (localstripe, simulator, Temporal dev server, one worker), onboards one account,
then runs `--personas` auto-approved personas plus one manual persona (decided through `control.ops.decide`)
with `--posts` posts each while the simulator injects 429, 502 and 503 answers and lost responses at
`--rate` each, plus latency. Prints what happened: calls, faults injected per kind, activity retries,
the time taken, and the exactly-once checks against the simulator's ledger; `--plot` also draws them.
Exits 1 when a check fails. Run: `.venv/bin/python -m bench.chaos_soak --personas 5 --posts 3`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.fault_tail import CallTail, tails
from bench.histories import POLL_ACTIVITIES
from bench.output import save_figure, write_json
from bench.soak import SoakConfig, SoakResult, run_soak
from control.connection import connect
from devstack.stack import LocalStack
from simulator.admin import SimulatorAdmin

OUT_DIR = Path(__file__).resolve().parent / "out"
#: The longest an API call may take beyond the waits the server demanded (429 resets, 503 minutes).
MAX_BEYOND_SECONDS = 30.0
console = Console(width=None if sys.stdout.isatty() else 140)


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    return table


def scenario_table(result: SoakResult) -> Table:
    c = result.config
    table = _table("Scenario", "", "value")
    persona_count = c.personas + (1 if c.manual else 0)
    table.add_row("personas (auto + manual)", f"{c.personas} + {1 if c.manual else 0}")
    table.add_row("posts per persona", str(c.posts))
    table.add_row("fault rate (each of 429, 502, 503, lost)", f"{c.rate:.0%}")
    if c.malformed_rate:
        table.add_row("malformed answers (each of 5 kinds)", f"{c.malformed_rate:.0%}")
    table.add_row("latency", f"{c.latency_ms[0]}-{c.latency_ms[1]} ms")
    table.add_row("seed, time scale", f"{c.seed}, {c.time_scale:g}")
    table.add_row("posts finished", str(sum(_finished(s) for s in result.statuses.values())))
    table.add_row("posts expected", str(persona_count * c.posts))
    table.add_row("setup (onboarding, credit)", f"{result.setup_seconds:.1f} s")
    table.add_row("chaos run, all workflows finished", f"{result.seconds:.1f} s")
    return table


def calls_table(result: SoakResult) -> Table:
    stats = result.stats
    table = _table("Calls to the simulator during the chaos run", "status", "answers")
    for status, count in stats["by_status"].items():
        if count:
            table.add_row(status, str(count))
    table.add_row("[bold]requests", f"[bold]{stats['requests']}")
    return table


def faults_table(result: SoakResult) -> Table:
    stats = result.stats
    table = _table("Faults injected", "kind", "count", "share of requests")
    for kind, count in stats["faults"].items():
        if count or kind in ("429", "502", "503", "lost") or result.config.malformed_rate:
            share = count / stats["requests"] if stats["requests"] else 0.0
            table.add_row(kind, str(count), f"{share:.1%}")
    real_429 = stats["by_status"].get("429", 0) - stats["faults"].get("429", 0)
    table.add_row("429 from the real rate limit", str(max(real_429, 0)), "")
    return table


def retries_table(result: SoakResult) -> Table:
    h = result.histories
    table = _table("Activity retries (workflow histories)", "activity", "ran", "retries", "failure before final try")
    by_activity: dict[str, Counter[str]] = {}
    for (name, error), count in h.failure_before_final_by_activity.items():
        by_activity.setdefault(name, Counter())[error] += count
    for name in sorted(h.activities):
        kind = " (poll)" if name in POLL_ACTIVITIES else ""
        errors = ", ".join(f"{e} {n}" for e, n in by_activity.get(name, Counter()).most_common())
        table.add_row(name + kind, str(h.activities[name]), str(h.retries[name]), errors)
    table.add_row("[bold]API calls", "", f"[bold]{h.api_retries}", "")
    table.add_row("[bold]polls (mostly 'not ready yet')", "", f"[bold]{h.poll_retries}", "")
    return table


def slowest_table(result: SoakResult, count: int = 8) -> Table:
    """Where the time went: the API calls that took longest from scheduling to success (their retries)."""
    table = _table("Slowest API calls (scheduled to completed)", "workflow", "activity", "attempts", "seconds")
    calls = [run for run in result.histories.runs if run.activity not in POLL_ACTIVITIES]
    for run in sorted(calls, key=lambda r: r.seconds, reverse=True)[:count]:
        table.add_row(run.workflow_id[:48], run.activity, str(run.attempts), f"{run.seconds:.1f}")
    return table


def retry_types_table(result: SoakResult) -> Table:
    table = _table("Retried attempts by error type (worker logs)", "error type", "attempts")
    for error, count in result.retry_types.most_common():
        table.add_row(error, str(count))
    table.add_row("[bold]total", f"[bold]{sum(result.retry_types.values())}")
    return table


def personas_table(result: SoakResult) -> Table:
    table = _table("Personas", "persona", "generated", "published", "rejected", "failed", "deliveries", "last error")
    for workflow_id, s in sorted(result.statuses.items()):
        c = s.counters
        table.add_row(
            workflow_id,
            str(c.generated + c.adopted),
            str(c.published_posts),
            str(c.rejected),
            str(c.failed_posts),
            str(c.published_deliveries),
            (s.last_error or "")[:60],
        )
    return table


def checks_table(result: SoakResult) -> Table:
    ledger, h = result.ledger, result.histories
    table = _table("Checks", "check", "value")
    table.add_row("workflows by status", ", ".join(f"{k} {v}" for k, v in sorted(h.by_status.items())))
    table.add_row("workflow task failures", str(len(h.workflow_task_failures)))
    table.add_row("activities that gave up", ", ".join(f"{k} {v}" for k, v in h.activity_failures.items()) or "0")
    table.add_row("personas created (ledger)", str(ledger.personas))
    table.add_row("generates / charges (ledger)", f"{ledger.generates} / {ledger.charges}")
    table.add_row("credits charged", f"{ledger.charged_cents} cents")
    table.add_row("approves / rejects / deliveries", f"{ledger.approves} / {ledger.rejects} / {ledger.deliveries}")
    table.add_row("exactly-once problems", "; ".join(ledger.problems) or "none")
    return table


def problems(result: SoakResult) -> list[str]:
    """What makes the run a failure (the test asserts the same, and more)."""
    found = list(result.ledger.problems)
    h = result.histories
    found += [
        f"workflow task failed in {wid}: {cause}: {message} (events {' '.join(around)})"
        for wid, cause, message, around in h.workflow_task_failures
    ]
    found += [f"{run.workflow_id} is {run.status}" for run in h.workflows if run.status != "COMPLETED"]
    expected = result.config.posts
    if result.ledger.personas != len(result.statuses):
        found.append(f"{result.ledger.personas} personas created for {len(result.statuses)} persona workflows")
    for workflow_id, s in result.statuses.items():
        if _finished(s) != expected:
            found.append(f"{workflow_id} finished {_finished(s)} posts, expected {expected}")
    return found


def _finished(status: object) -> int:
    c = status.counters  # type: ignore[attr-defined]
    return int(c.published_posts + c.rejected + c.composed + c.failed_posts)


def plot(result: SoakResult, path: Path) -> None:
    """Three panels: faults injected per kind, retries per activity, and how long API calls took to succeed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    faults = {k: v for k, v in result.stats["faults"].items() if v and k != "latency"}
    retries = {name: n for name, n in sorted(result.histories.retries.items()) if n}
    seconds = [run.seconds for run in result.histories.runs if run.activity not in POLL_ACTIVITIES]
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(14, 4.2))
    left.bar(list(faults), list(faults.values()), color="tab:red")
    left.set_title(f"Faults injected ({result.stats['requests']} requests, all with latency)")
    left.tick_params(axis="x", labelrotation=30)
    left.set_ylabel("count")
    colors = ["tab:gray" if name in POLL_ACTIVITIES else "tab:blue" for name in retries]
    middle.barh(list(retries), list(retries.values()), color=colors)
    middle.set_title("Activity retries (gray: polls, mostly 'not ready')")
    middle.invert_yaxis()
    right.hist(seconds, bins=30, color="tab:blue")
    right.set_yscale("log")
    right.set_title("API calls: seconds from scheduled to success")
    right.set_xlabel("seconds (retries and their backoff included)")
    c = result.config
    malformed = f" + {c.malformed_rate:.0%} per malformed kind" if c.malformed_rate else ""
    fig.suptitle(
        f"Chaos soak: {c.personas}+{int(c.manual)} personas x {c.posts} posts, {c.rate:.0%} per fault kind"
        f"{malformed}, all done in {result.seconds:.0f} s"
    )
    save_figure(fig, path, dpi=70)


async def soak(stack: LocalStack, config: SoakConfig) -> SoakResult:
    client = await connect(env=stack.client_env(), tracing=False)
    async with SimulatorAdmin(stack.sim_origin) as admin:
        return await run_soak(stack, client, admin, config, progress=lambda m: console.print(f"  {m}"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--personas", type=int, default=5, help="auto-approved personas (default 5; +1 manual)")
    parser.add_argument("--posts", type=int, default=3, help="posts per persona, 1-6 (default 3)")
    parser.add_argument("--rate", type=float, default=0.1, help="rate of each fault kind (default 0.1)")
    parser.add_argument(
        "--malformed", type=float, default=0.0, help="rate of each malformed answer kind too (default 0)"
    )
    parser.add_argument("--seed", type=int, default=7, help="simulator seed (default 7)")
    parser.add_argument("--time-scale", type=float, default=0.01, help="real seconds per simulated second")
    parser.add_argument("--no-manual", action="store_true", help="leave out the manually approved persona")
    parser.add_argument("--rate-limit-window", type=int, default=5, help="rate-limit window, real seconds (5)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the same scenario at --rate 0 first")
    parser.add_argument("--json", type=Path, help="write the side-by-side figures as JSON")
    parser.add_argument("--plot", action="store_true", help="write a PNG to bench/out/")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="directory for the plot (default bench/out)")
    args = parser.parse_args(argv)
    if args.personas < 1:
        parser.error("--personas must be at least 1")
    if not 1 <= args.posts <= 6:
        parser.error("--posts must be between 1 and 6")
    if not 0 <= args.rate <= 0.25:
        parser.error("--rate must be between 0 and 0.25 (three error kinds share one draw)")
    if not 0 <= args.malformed <= 0.2:
        parser.error("--malformed must be between 0 and 0.2 (five kinds share one draw)")
    if not 0 < args.time_scale <= 1:
        parser.error("--time-scale must be in (0, 1]")
    return args


def run_once(config: SoakConfig, label: str) -> tuple[SoakResult, list[CallTail]]:
    """One scenario on a fresh stack: its result and its API calls' tails beyond the server's waits."""
    state_dir = Path(tempfile.mkdtemp(prefix="reelmirror-soak-"))
    console.print(f"[bold]Chaos soak, {label}[/]: starting the local stack (logs in {state_dir / 'logs'})")
    stack = LocalStack(config.stack_config(state_dir))
    try:
        stack.start()
        result = asyncio.run(soak(stack, config))
    finally:
        stack.stop()
    return result, tails(result.histories.runs, stack.logs)


def side_by_side_table(runs: list[tuple[str, SoakResult, list[CallTail]]]) -> Table:
    table = _table(
        "Side by side (same scenario and seed)", "run", "requests", "API retries", "all done", "slowest call",
        "most beyond the server's waits",
    )  # fmt: skip
    for label, result, tail in runs:
        slowest = max((t.seconds for t in tail), default=0.0)
        worst = tail[0] if tail else None
        table.add_row(
            label,
            str(result.stats["requests"]),
            str(result.histories.api_retries),
            f"{result.seconds:.1f} s",
            f"{slowest:.1f} s",
            f"{worst.beyond:.1f} s ({worst.activity}, {worst.attempts} attempts)" if worst else "-",
        )
    return table


def tail_table(tail: list[CallTail], count: int = 6) -> Table:
    table = _table("Slowest API calls beyond the server's waits", "workflow", "activity", "attempts", "took",
                   "server's waits", "beyond")  # fmt: skip
    for t in tail[:count]:
        table.add_row(t.workflow_id[:44], t.activity, str(t.attempts), f"{t.seconds:.1f} s", f"{t.demanded:.1f} s",
                      f"{t.beyond:.1f} s")  # fmt: skip
    return table


def goals(baseline: SoakResult | None, chaos: SoakResult, tail: list[CallTail]) -> dict[str, object]:
    worst = tail[0].beyond if tail else 0.0
    figures: dict[str, object] = {"chaos_s": round(chaos.seconds, 1), "max_beyond_server_waits_s": round(worst, 1),
                                  "tail_goal_met": worst <= MAX_BEYOND_SECONDS}  # fmt: skip
    if baseline is not None:
        ratio = chaos.seconds / baseline.seconds
        figures |= {"baseline_s": round(baseline.seconds, 1), "ratio": round(ratio, 2), "ratio_goal_met": ratio <= 2}
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = SoakConfig(
        personas=args.personas,
        posts=args.posts,
        rate=args.rate,
        malformed_rate=args.malformed,
        seed=args.seed,
        time_scale=args.time_scale,
        manual=not args.no_manual,
        rate_limit_window_seconds=args.rate_limit_window,
    )
    started = time.monotonic()
    runs: list[tuple[str, SoakResult, list[CallTail]]] = []
    try:
        if not args.no_baseline and (config.rate or config.malformed_rate):
            baseline = dataclasses.replace(config, rate=0.0, malformed_rate=0.0)
            runs.append(("--rate 0", *run_once(baseline, "baseline --rate 0")))
        label = f"--rate {config.rate:g}" + (f" --malformed {config.malformed_rate:g}" if config.malformed_rate else "")
        runs.append((label, *run_once(config, label)))
    except Exception as exc:
        console.print(f"[red]soak failed:[/] {type(exc).__name__}: {exc}")
        return 1
    _, result, tail = runs[-1]
    for table in (
        scenario_table(result),
        calls_table(result),
        faults_table(result),
        retries_table(result),
        slowest_table(result),
        tail_table(tail),
        retry_types_table(result),
        personas_table(result),
        checks_table(result),
        side_by_side_table(runs),
    ):
        console.print(table)
    figures = goals(runs[0][1] if len(runs) > 1 else None, result, tail)
    console.print(f"goals: {figures}")
    if args.json:
        write_json(args.json, figures)
    if args.plot:
        c = config
        path = args.out / f"chaos_soak_p{c.personas}_n{c.posts}_r{c.rate:g}_m{c.malformed_rate:g}_s{c.seed}.png"
        plot(result, path)
        console.print(f"plot: {path}")
    found = [problem for _, r, _ in runs for problem in problems(r)]
    for problem in found:
        console.print(f"[red]problem:[/] {problem}")
    console.print(f"total {time.monotonic() - started:.0f} s (stack start and stop included)")
    return 1 if found else 0


if __name__ == "__main__":
    exit_code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)  # skip interpreter teardown: the SDK can abort there (sdk-python #300)
