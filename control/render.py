"""Tables an operator reads: personas at a glance and the posts waiting for a decision."""

from __future__ import annotations

from datetime import datetime

from rich.table import Table

from workflows.models import PersonaStatus


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
        problem = s.parked_reason or s.last_error or ("missing targets: " + ", ".join(s.targets_missing)
                                                      if s.targets_missing else "")
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
