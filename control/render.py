"""Tables an operator reads: the fleet with what needs a human, personas at a glance, pending decisions."""

from __future__ import annotations

from datetime import datetime

from rich.table import Table

from control.account import OnboardingView
from control.decisions import Outcome
from control.fleet import FleetStatus, PersonaLine, Problem
from control.lifecycle import PersonaEntry
from control.posts import PostView
from workflows.models import AccountReply, PersonaStatus


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "-"
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return f"in {_span(-seconds)}"
    return f"{_span(seconds)} ago"


def _span(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def _money(cents: int | None) -> str:
    return "-" if cents is None else f"${cents / 100:.2f}"


def personas_table(statuses: list[PersonaStatus], now: datetime) -> Table:
    table = Table(title="Personas", title_justify="left")
    for column in ("persona", "stage", "parked / error", "active", "generated", "approved", "rejected",
                   "published", "failed", "spent today", "next sync"):  # fmt: skip
        table.add_column(column)
    for s in statuses:
        c = s.counters
        stage = "paused" if s.paused else s.stage
        problem = (
            s.parked_reason
            or s.last_error
            or ("missing targets: " + ", ".join(s.targets_missing) if s.targets_missing else "")
        )
        budget = f" / {_money(s.daily_credit_budget_cents)}" if s.daily_credit_budget_cents is not None else ""
        table.add_row(
            s.workflow_id, stage, problem, str(s.active_posts), str(c.generated + c.adopted), str(c.approved),
            str(c.rejected), f"{c.published_deliveries} deliveries", str(c.failed_posts + c.failed_deliveries),
            _money(s.credits_spent_today_cents) + budget, "paused" if s.paused else _ago(s.next_sync_at, now),
        )  # fmt: skip
    return table


def approvals_table(statuses: list[PersonaStatus], now: datetime) -> Table:
    table = Table(title="Waiting for approval (starter.py approve POST_ID / reject POST_ID --reason ...)",
                  title_justify="left")  # fmt: skip
    for column in ("post id", "persona", "caption", "media", "waiting", "decide by"):
        table.add_column(column, overflow="fold")
    for s in statuses:
        for p in s.pending_approvals:
            table.add_row(
                p.generated_post_id, s.persona, (p.caption or "")[:60], "\n".join(p.media_urls) or "-",
                _ago(p.waiting_since, now), _ago(p.decide_by, now) if p.decide_by else "no timeout",
            )  # fmt: skip
    return table


# --- the fleet (`status`, `watch`) ------------------------------------------------------------------------

_MARK = {"decision": "decide", "parked": "parked", "retrying": "retrying", "failed": "failed"}
_STYLE = {"decision": "yellow", "parked": "magenta", "retrying": "cyan", "failed": "red"}


def _when(moment: datetime | None, now: datetime) -> str:
    return f"{moment:%H:%M} UTC ({_ago(moment, now)})" if moment else "-"


def _persona_state(p: PersonaLine, now: datetime) -> str:
    if not p.running:
        return "not running"
    stage = p.stage or "?"
    if p.stopping:
        return f"{stage}, stopping"
    if p.paused:
        return "paused"
    if stage == "waiting" and p.next_sync_at:
        return f"waiting, next sync {_ago(p.next_sync_at, now)}"
    return stage


def _persona_details(p: PersonaLine) -> str:
    parts = []
    if p.account_ref:
        parts.append(f"account {p.account_ref}")
    if p.spent_today_cents is not None:
        budget = f" of {_money(p.daily_budget_cents)}" if p.daily_budget_cents is not None else ""
        parts.append(f"spent today {_money(p.spent_today_cents)}{budget}")
    if p.active_posts is not None:
        parts.append(f"{p.active_posts} in flight")
    if p.counters is not None:
        c = p.counters
        parts.append(f"{c.published_posts} published, {c.rejected} rejected, {c.failed_posts} failed")
    if p.pending_changes:
        parts.append("next cycle applies: " + "; ".join(p.pending_changes))
    if p.last_error:
        parts.append(f"last error: {p.last_error}")
    return ", ".join(parts)


def _problem_details(problem: Problem, now: datetime) -> str:
    if problem.kind == "decision":
        waited = f"waiting {_ago(problem.since, now).removesuffix(' ago')}" if problem.since else "waiting"
        deadline = f", default action {_ago(problem.deadline, now)}" if problem.deadline else ""
        caption = f": {problem.reason}" if problem.reason else ""
        return f"{waited}{deadline}{caption}"
    if problem.kind == "retrying":
        return f"{problem.attempts} failed attempts, last {problem.reason}"
    return problem.reason or ""


def fleet_table(fleet: FleetStatus, *, problems_only: bool = False) -> Table:
    """One row per persona and, under it, one per thing that needs a human, with the command that does it."""
    now = fleet.at
    table = Table(title="Personas and what needs you", title_justify="left", show_lines=False)
    for column in ("persona / post", "state", "since", "details", "what to do"):
        table.add_column(column, overflow="fold")
    for p in fleet.personas:
        if problems_only and not p.problems:
            continue
        table.add_row(f"[bold]{p.workflow_id}[/]", _persona_state(p, now), "", _persona_details(p), "")
        for problem in p.problems:
            style = _STYLE[problem.kind]
            label = problem.post_id or ("(persona)" if problem.workflow_id == p.workflow_id else problem.workflow_id)
            table.add_row(
                f"  └ {label}",
                f"[{style}]{_MARK[problem.kind]}[/]",
                _when(problem.since, now),
                _problem_details(problem, now),
                problem.command or "",
            )
    return table


def fleet_header(fleet: FleetStatus) -> list[str]:
    """The lines above the table: workers, accounts and their balances, anything the status could not tell."""
    lines = []
    if fleet.workers:
        lines.append(f"{fleet.workers} worker(s) polling task queue '{fleet.task_queue}'")
    else:
        lines.append(f"[red]no worker is polling task queue '{fleet.task_queue}'[/]: start worker.py")
    for a in fleet.accounts:
        if a.error:
            lines.append(f"account {a.account_ref}: balance unknown ({a.error})")
            continue
        reload = (
            f", auto-reload {_money(a.reload_amount_cents)} below {_money(a.reload_threshold_cents)}"
            if a.auto_reload
            else ", auto-reload off"
        )
        warning = f"  [red]warning:[/] {a.warning}" if a.warning else ""
        lines.append(f"account {a.account_ref}: balance {_money(a.balance_cents)}{reload}{warning}")
    lines += [f"[yellow]note:[/] {note}" for note in fleet.notes]
    return lines


# --- decisions, posts, personas, accounts, onboardings ---------------------------------------------------


def decision_lines(outcomes: list[Outcome], *, approve: bool) -> tuple[list[str], str]:
    """One line per post (what happened to it) and the summary line."""
    verb = "approved" if approve else "rejected"
    lines = []
    for o in outcomes:
        if o.reply is not None:
            lines.append(f"{o.post_id}  {verb} ({o.reply.workflow_id})")
        else:
            kind = getattr(o.error, "kind", None)
            lines.append(f"{o.post_id}  not {verb}: {o.error}" + (f" [{kind}]" if kind else ""))
    taken = sum(1 for o in outcomes if o.accepted)
    summary = f"{len(outcomes)} post(s): {taken} {verb}, {len(outcomes) - taken} not"
    return lines, summary


def post_view_text(view: PostView) -> list[str]:
    """`show`: the post's content, its persona, cost, every stage with its time, decision and deliveries."""
    d, inp, result = view.details, view.input, view.result
    generated = (d.generated_post_id if d else None) or (result.generated_post_id if result else None)
    lines = [f"[bold]{view.workflow_id}[/] ({view.status})" + (f", generated post {generated}" if generated else "")]
    if inp is not None:
        p = inp.post
        lines.append(f"persona      {inp.persona_slug} (account {inp.account_ref})")
        source = p.source_post_id or "unknown (the server's post, adopted by its generated id)"
        lines.append(f"source post  {source} ({p.media_type}, {p.automation_mode})")
        if p.caption:
            lines.append(f"source       {p.caption}")
    if d is not None:
        lines.append(f"caption      {d.caption or '-'}")
        lines += [f"media        {url}" for url in d.media_urls] or ["media        -"]
    cost = d.cost_cents if d else (result.cost_cents if result else None)
    lines.append(f"cost         {_money(cost)}")
    lines.append("stages")
    for entry, after in zip(view.stages, [*view.stages[1:], None], strict=True):
        end = after.at if after else view.closed_at
        took = f" ({_span(int((end - entry.at).total_seconds()))})" if end else " (now)"
        lines.append(f"  {entry.at:%Y-%m-%d %H:%M:%S} UTC  {entry.stage}{took}")
    if d is not None:
        if d.pending_approval is not None:
            deadline = d.pending_approval.decide_by
            by = f", default action at {deadline:%Y-%m-%d %H:%M} UTC" if deadline else ""
            lines.append(f"decision     waiting{by}")
        elif d.decision:
            lines.append(f"decision     {d.decision}")
        if d.parked_reason:
            lines.append(f"parked       since {d.parked_since:%Y-%m-%d %H:%M} UTC: {d.parked_reason}" if d.parked_since
                         else f"parked       {d.parked_reason}")  # fmt: skip
    outcome = (d.outcome if d else None) or (result.outcome if result else None)
    if outcome:
        reason = (d.reason if d else None) or (result.failure_reason if result else None)
        lines.append(f"outcome      {outcome}" + (f": {reason}" if reason else ""))
    if d is not None and d.deliveries:
        lines += [f"delivery     {line}" for line in d.deliveries]
    elif result is not None and (result.published_deliveries or result.failed_deliveries):
        lines.append(f"deliveries   {result.published_deliveries} published, {result.failed_deliveries} failed")
    if view.note:
        lines.append(f"[yellow]note:[/] {view.note}")
    return lines


def persona_list_table(entries: list[PersonaEntry]) -> Table:
    table = Table(title="Personas", title_justify="left")
    for column in ("persona", "state", "stage", "started", "ended"):
        table.add_column(column)
    for e in entries:
        table.add_row(
            e.workflow_id, e.state, e.stage or "-", f"{e.started_at:%Y-%m-%d %H:%M}",
            f"{e.closed_at:%Y-%m-%d %H:%M}" if e.closed_at else "-",
        )  # fmt: skip
    return table


def account_lines(reply: AccountReply, personas: list[PersonaStatus]) -> list[str]:
    """`account status`: balance and billing settings, the stored key, and today's spending per persona."""
    b = reply.balance
    lines = [f"account      {reply.account_ref}"]
    if b is not None:
        lines.append(f"balance      {_money(b.balance_cents)}")
        below = f"on: {_money(b.reload_amount_cents)} when below {_money(b.reload_threshold_cents)}"
        reload = below if b.auto_reload else "off"
        lines.append(f"auto-reload  {reload}")
        lines.append(f"card on file {'yes' if b.has_payment_method else 'no'}")
    key = f"{reply.key_id or 'id unknown'} ({reply.key_fingerprint})" if reply.key_fingerprint else "none stored"
    lines.append(f"API key      {key}")
    if reply.missing_scopes:
        lines.append(f"missing scopes {' '.join(reply.missing_scopes)}")
    mine = [p for p in personas if p.account_ref == reply.account_ref]
    # a persona counts posts in flight against today's budget before they are charged: show both
    spent = {p.workflow_id: p.credits_spent_today_cents - p.uncharged_cents for p in mine}
    lines.append(f"spent today  {_money(sum(spent.values()))}" + ("" if mine else " (no running persona)"))
    for p in mine:
        more = f", {_money(p.uncharged_cents)} more for posts in flight" if p.uncharged_cents else ""
        lines.append(f"  {p.workflow_id}: {_money(spent[p.workflow_id])}{more}")
    return lines


def onboarding_lines(view: OnboardingView) -> list[str]:
    lines = [f"{view.workflow_id}: {view.status}"]
    d = view.detail
    if d is not None:
        lines.append(f"  e-mail   {d.email} (account {d.account_ref or '?'})")
        lines.append(f"  stage    {d.stage}")
        if d.parked_reason:
            lines.append(f"  parked   {d.parked_reason}")
        lines += [f"  note     {note}" for note in d.notes]
        if d.last_error and d.last_error not in d.notes:
            lines.append(f"  last error {d.last_error}")
    elif view.status == "running":
        lines.append("  (no worker answered: the stage is not known)")
    if view.failure:
        lines.append(f"  failure  {view.failure}")
    return lines
