"""A persona's posts in flight, checked against their workflows' real state once a cycle.

A post reports its end by signal. One terminated or failed by hand, or whose last report was lost, never
does, and after a continue-as-new the persona holds no handle to await: without this check its slot would
stay taken for good. Runs inside the persona loop's workflow, on its `Steps`.
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.models import PostStatesInput
    from activities.reelmirror import ReelMirrorActivities
    from workflows import policies
    from workflows.models import PersonaState, PostProgress, PostResult
    from workflows.persona_rules import progress_from_result
    from workflows.stages import PersonaStage
    from workflows.steps import StepFailed, Steps

__all__ = ["RECONCILE_PATCH", "reconcile_posts"]

#: Runs recorded before this check existed replay without it.
RECONCILE_PATCH = "reconcile-active-posts"


async def reconcile_posts(
    steps: Steps[PersonaStage],
    state: PersonaState,
    record_progress: Callable[[PostProgress], None],
    record_error: Callable[[str], None],
) -> None:
    """Fold every post that ended without telling the persona into its counters, and free its slot."""
    if not state.active_posts or not workflow.patched(RECONCILE_PATCH):
        return
    try:
        view = await steps.attempt(
            ReelMirrorActivities.post_states,
            PostStatesInput(workflow_ids=sorted(state.active_posts)),
            policies.api_call(f"check the {len(state.active_posts)} posts in flight"),
        )
    except StepFailed as exc:
        record_error(str(exc))
        return
    for post in view.states:
        current = state.active_posts.get(post.workflow_id)
        if current is None or post.status == "running":
            continue
        if post.status == "completed" and post.result is not None:
            record_progress(progress_from_result(post.workflow_id, PostResult.model_validate(post.result)))
            continue
        record_error(f"post workflow {post.workflow_id} is {post.status.replace('_', ' ')} without reporting its end")
        record_progress(current.model_copy(update={"finished": True, "outcome": "failed"}))
