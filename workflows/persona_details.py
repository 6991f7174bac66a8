"""The Web UI's current details of a persona loop: where it is and what, if anything, waits on a human.

Markdown, rebuilt whenever the loop's state changes; kept apart from the workflow class so the loop reads
as its steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from workflows.config import PersonaConfig
from workflows.models import PersonaState

__all__ = ["persona_details"]


def persona_details(
    config: PersonaConfig,
    state: PersonaState,
    *,
    stage: str,
    parked_reason: str | None,
    pending: int,
    next_sync_at: datetime | None,
    spent_today_cents: int,
    budget_note: str | None,
    last_sync: str | None,
    targets_missing: Sequence[str],
    notes: Sequence[str] = (),
) -> str:
    lines = [f"**Persona** {config.name} (`{state.persona_id or 'not created yet'}`)"]
    lines.append(f"**Stage** {stage}" + (" (paused: send resume)" if state.paused else ""))
    if parked_reason:
        lines.append(f"**Parked** {parked_reason}")
    lines.append(f"**Pending approvals** {pending}, **active posts** {len(state.active_posts)}")
    lines.append(f"**Next sync** {next_sync_at:%Y-%m-%d %H:%M} UTC" if next_sync_at else "")
    budget = config.daily_credit_budget_cents
    spent = f"**Spent today** {spent_today_cents} cents" + (f" of {budget}" if budget is not None else "")
    lines.append(spent + (f" ({budget_note})" if budget_note else ""))
    if last_sync:
        lines.append(f"**Last sync** {last_sync}")
    for missing in targets_missing:
        lines.append(f"**Publishing target missing** {missing}: a human must connect it in the dashboard")
    lines += [f"**Note** {note}" for note in notes]
    if state.last_error:
        lines.append(f"**Last error** {state.last_error}")
    return "  \n".join(line for line in lines if line)
