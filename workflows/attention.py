"""What in a persona needs an operator: the parts of its status query that `starter.py status` lists.

Kept out of the loop so the loop reads as its steps: the status query adds these fields (every post in
flight with its latest report, the last posts that ended badly, a pending stop or configuration change,
what the next cycle may spend), and the progress handler records each post that ends badly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from workflows import config_changes, persona_rules
from workflows.config import PersonaConfig
from workflows.models import FailedPost, PersonaState, PostProgress
from workflows.steps import ParkState

__all__ = ["FAILURES_KEEP", "next_cycle_max_cents", "note_failure", "status_extras"]

FAILURES_KEEP = 20
_FAILED = frozenset({"failed", "media_failed", "delivery_failed", "partially_published"})


def note_failure(state: PersonaState, progress: PostProgress, now: datetime) -> None:
    """Keep a post's bad end (the last few) so `status` can show it after the post has left the active list."""
    if not progress.finished or progress.outcome not in _FAILED:
        return
    if any(f.workflow_id == progress.workflow_id for f in state.recent_failures):
        return
    state.recent_failures.append(
        FailedPost(
            workflow_id=progress.workflow_id,
            source_post_id=progress.source_post_id,
            generated_post_id=progress.generated_post_id,
            outcome=progress.outcome or "failed",
            reason=progress.reason,
            at=now,
        )
    )
    del state.recent_failures[:-FAILURES_KEEP]


def next_cycle_max_cents(config: PersonaConfig, state: PersonaState, today: str) -> int:
    """The most the next cycle can spend: the posts it may start, each at the dearest media type,
    within what is left of today's budget."""
    costs = config.costs
    dearest = max(costs.image_cents, costs.video_cents, costs.carousel_cents)
    most = persona_rules.plan_limit(config, len(state.active_posts)) * dearest
    left = persona_rules.budget_left(config, state, today)
    return most if left is None else min(most, left)


def status_extras(
    account_ref: str, config: PersonaConfig, state: PersonaState, park: ParkState | None, today: str
) -> dict[str, Any]:
    """The fields the status query adds to the loop's `PersonaStatus`."""
    pending = state.pending_config
    return {
        "account_ref": account_ref,
        "parked_since": park.since if park else None,
        "parked_kind": park.kind if park else None,
        "posts": [p.model_copy() for p in state.active_posts.values()],
        "recent_failures": [f.model_copy() for f in state.recent_failures],
        "stopping": state.stopping,
        "pending_changes": config_changes.describe_changes(config, pending) if pending is not None else [],
        "next_cycle_max_cents": 0 if state.stopping else next_cycle_max_cents(config, state, today),
        "uncharged_cents": sum(state.reserved_cents.values()),
    }
