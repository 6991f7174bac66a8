"""The Web UI's current details of a post workflow: what the post is, where it is, what it waits on.

Markdown, rebuilt on every stage change; kept apart from the workflow so the pipeline reads as steps.
"""

from __future__ import annotations

from collections.abc import Sequence

from activities.models import PlannedPost
from workflows.models import PendingApproval
from workflows.steps import ParkState

__all__ = ["pending_details", "post_details"]


def post_details(
    post: PlannedPost,
    *,
    generated_post_id: str | None,
    stage: str,
    park: ParkState | None,
    pending: PendingApproval | None,
    outcome: str | None,
    reason: str | None,
    deliveries: Sequence[str],
) -> str:
    lines = [
        (f"**Post** source `{post.source_post_id}`" if post.source_post_id else "**Post** the server's, source unknown")
        + f" ({post.media_type}, {post.automation_mode})"
        + (f" → generated `{generated_post_id}`" if generated_post_id else ""),
        f"**Stage** {stage}",
    ]
    if park is not None:
        lines.append(f"**Parked** since {park.since:%Y-%m-%d %H:%M} UTC: {park.reason}")
    if pending is not None:
        lines.append(pending_details(pending))
    if outcome:
        lines.append(f"**Outcome** {outcome}" + (f": {reason}" if reason else ""))
    if deliveries:
        lines.append("**Deliveries** " + "; ".join(deliveries))
    return "  \n".join(lines)


def pending_details(pending: PendingApproval) -> str:
    deadline = f", default action at {pending.decide_by:%Y-%m-%d %H:%M} UTC" if pending.decide_by else ""
    media = "".join(f"  \n- {url}" for url in pending.media_urls)
    return (
        f"**Waiting for approval** since {pending.waiting_since:%Y-%m-%d %H:%M} UTC{deadline}: "
        f"`starter.py approve {pending.generated_post_id}` or "
        f"`starter.py reject {pending.generated_post_id} --reason ...`{media}"
    )
