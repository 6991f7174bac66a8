"""The persona loop's pure rules: what a cycle may start, what it costs, how finished posts are counted.

No workflow context here, so every rule is a plain function a unit test can call; the workflow class
(`workflows.persona_loop`) does the waiting and the talking.
"""

from __future__ import annotations

from collections.abc import Sequence

from activities.models import PlanBook, PlannedPost
from workflows.config import CostTable, PersonaConfig, PublishingAccountConfig
from workflows.models import PersonaState, PostProgress, PostResult
from workflows.stages import PostStage

__all__ = [
    "MAX_OWN_IDS",
    "SERVER_PUBLISHED",
    "adopted_workflow_id",
    "apply_outcome",
    "budget_left",
    "child_workflow_id",
    "committed_today",
    "count_generation",
    "estimated_cost",
    "fit_budget",
    "plan_limit",
    "planned_workflow_id",
    "planning_notes",
    "progress_from_result",
    "record_progress",
    "roll_day",
    "target_label",
]

#: The outcome of an adopted auto_publish post the server published without the answers naming its outgoing post.
SERVER_PUBLISHED = "server_published"
#: Own generated ids the persona keeps beyond its generate records' retention.
MAX_OWN_IDS = 200


def estimated_cost(item: PlannedPost, costs: CostTable) -> int:
    """What starting this post will cost us: nothing when a generated post exists already (the server's
    automation, or an earlier generate of ours that was charged before), else the table's price."""
    if item.existing_generated_post_id is not None:
        return 0
    return costs.for_media_type(item.media_type)


def fit_budget(items: list[PlannedPost], costs: CostTable, remaining_cents: int | None) -> list[PlannedPost]:
    """The planned posts, in plan order, whose estimated costs fit what is left of today's budget.

    Posts left out are not marked handled, so a later cycle (the next UTC day at the latest) plans them again.
    """
    if remaining_cents is None:
        return list(items)
    chosen = []
    for item in items:
        cost = estimated_cost(item, costs)
        if cost <= remaining_cents:
            chosen.append(item)
            remaining_cents -= cost
    return chosen


def plan_limit(config: PersonaConfig, active_posts: int) -> int:
    """How many posts this cycle may start: the per-cycle cap and the free concurrency slots."""
    return max(0, min(config.posts_per_cycle, config.max_concurrent_posts - active_posts))


def child_workflow_id(slug: str, source_post_id: str) -> str:
    """The post's workflow id: unique per source post, so a second pipeline for it cannot start."""
    return f"post-{slug}-{source_post_id}"


def adopted_workflow_id(slug: str, generated_post_id: str) -> str:
    """The workflow id of a server's post adopted by its generated id: unique per generated post, so a repeat
    start is refused, and marked so that it cannot be the id of a post started for a source post."""
    return f"post-{slug}-adopted:{generated_post_id}"


def planned_workflow_id(slug: str, item: PlannedPost) -> str:
    """The workflow id of a planned post: by generated id for the server's posts adopted that way."""
    if item.adopted_by_id and item.existing_generated_post_id:
        return adopted_workflow_id(slug, item.existing_generated_post_id)
    return child_workflow_id(slug, item.source_post_id)


def target_label(account: PublishingAccountConfig) -> str:
    if account.platform and account.username:
        return f"{account.platform}/{account.username}"
    return account.connected_account_id or "?"


def apply_outcome(state: PersonaState, progress: PostProgress) -> None:
    """Fold one finished post into the counters (generation is counted earlier, when its id appears)."""
    c = state.counters
    outcome = progress.outcome or "failed"
    if outcome in ("published", "partially_published", "delivery_failed"):
        c.approved += 1
    if outcome in ("published", "partially_published"):
        c.published_posts += 1
    elif outcome == "rejected":
        c.rejected += 1
    elif outcome == "composed":
        c.composed += 1
    elif outcome == "cancelled":  # `persona stop --now`: the operator's choice, not a failure
        c.cancelled += 1
    elif outcome == SERVER_PUBLISHED:  # the server published it; the answers did not say where
        c.server_published += 1
    else:  # delivery_failed, media_failed, failed
        c.failed_posts += 1
    c.published_deliveries += progress.published_deliveries
    c.failed_deliveries += progress.failed_deliveries


def progress_from_result(child_id: str, result: PostResult) -> PostProgress:
    """A finished progress built from a child's result, for a child whose last signal never arrived."""
    return PostProgress(
        workflow_id=child_id,
        source_post_id=result.source_post_id,
        generated_post_id=result.generated_post_id,
        stage=PostStage.DONE,
        finished=True,
        outcome=result.outcome,
        cost_cents=result.cost_cents,
        generated_by_us=result.cost_cents > 0,
        published_deliveries=result.published_deliveries,
        failed_deliveries=result.failed_deliveries,
    )


def roll_day(state: PersonaState, today: str) -> None:
    """Spending counts per UTC day (the workflow's clock): a new day starts from zero."""
    if state.spent_day != today:
        state.spent_day = today
        state.spent_today_cents = 0


def committed_today(state: PersonaState, today: str) -> int:
    """Spent today plus what posts in flight are expected to cost and have not reported yet.

    Read-only (queries use it too): spending of an earlier day counts as zero even before the next cycle
    rolls the day over."""
    spent = state.spent_today_cents if state.spent_day == today else 0
    return spent + sum(state.reserved_cents.values())


def budget_left(config: PersonaConfig, state: PersonaState, today: str) -> int | None:
    """What today's budget still allows, or None when the persona has no daily budget."""
    budget = config.daily_credit_budget_cents
    if budget is None:
        return None
    return max(0, budget - committed_today(state, today))


def planning_notes(
    book: PlanBook | None,
    unattributed: int,
    held: Sequence[str] = (),
    adoption: Sequence[str] = (),
    server_published: int = 0,
) -> list[str]:
    """What the status says about the fallbacks planning uses when the answers omit assumed fields."""
    notes: list[str] = []
    if unattributed:
        named = f" (held: {', '.join(held)}{', ...' if len(held) < unattributed else ''})" if held else ""
        notes.append(
            f"{unattributed} source posts name no source (the answers carry no creator or source id): they are "
            f"not generated while a source of this persona lets the server generate{named}; give sync_only "
            "sources a persona of their own"
        )
    notes.extend(adoption)
    if server_published:
        notes.append(
            f"{server_published} posts were published by the server with deliveries unknown (the answers name "
            "no outgoing post)"
        )
    if book is not None and book.order not in (None, "posted_at"):
        direction = "newest first" if book.order == "newest_first" else "oldest first"
        notes.append(f"new source posts are found by list position, {direction} (the answers carry no posted_at)")
    if book is not None and book.changed:
        notes.append("the source-post listing changed under the persona: new posts were found by its own record")
    if book is not None and book.dropped:
        notes.append(f"{book.dropped} new source posts were dropped: more were waiting than the persona keeps")
    return notes


def count_generation(state: PersonaState, previous: PostProgress | None, progress: PostProgress) -> None:
    """Count a post as generated (by our call) or adopted (the server's) once, when its id first shows."""
    if progress.generated_post_id is None or (previous is not None and previous.generated_post_id):
        return
    if progress.generated_by_us:
        state.counters.generated += 1
        state.own_generated_ids = [*state.own_generated_ids, progress.generated_post_id][-MAX_OWN_IDS:]
    else:
        state.counters.adopted += 1


def record_progress(state: PersonaState, progress: PostProgress, today: str) -> bool:
    """Keep the latest progress of an active post; fold a finished one into counters and spending.

    False (and nothing changes) for the end report of a post that is not active any more: a repeat."""
    child_id = progress.workflow_id
    previous = state.active_posts.get(child_id)
    if previous is None and progress.finished:
        return False
    count_generation(state, previous, progress)
    roll_day(state, today)
    cost_delta = progress.cost_cents - (previous.cost_cents if previous else 0)
    if cost_delta > 0:
        state.spent_today_cents += cost_delta
    if progress.cost_cents > 0 or progress.finished:
        state.reserved_cents.pop(child_id, None)
    if progress.finished:
        del state.active_posts[child_id]
        apply_outcome(state, progress)
    else:
        state.active_posts[child_id] = progress
    return True
