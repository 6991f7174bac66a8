"""What became of workflows a persona believes active: the one activity that asks Temporal, not ReelMirror.

A post workflow reports its end to its persona by signal; a post terminated or failed by hand (or whose
last report was lost) never does, and across continue-as-new the persona holds no handle to await. So
each cycle the persona asks here for the real state of the posts it believes active, and frees their
slots. The worker hands its Temporal client to the activities (`WorkflowStateActivities.temporal`).
"""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowHistoryEventFilterType
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.error_types import ErrorType
from activities.models import PostStatesInput, PostStatesView, PostStateView

__all__ = ["WorkflowStateActivities", "describe_posts"]


async def describe_posts(client: Client, workflow_ids: list[str]) -> PostStatesView:
    """Each workflow's status (`running`, `completed`, `failed`, `terminated`, ... or `not_found`), with the
    result of a completed one as plain JSON data (the activity layer knows no workflow models)."""
    states: list[PostStateView] = []
    for workflow_id in workflow_ids:
        handle = client.get_workflow_handle(workflow_id)
        try:
            description = await handle.describe()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            states.append(PostStateView(workflow_id=workflow_id, status="not_found"))
            continue
        status = description.status or WorkflowExecutionStatus.RUNNING
        result: Any = None
        if status == WorkflowExecutionStatus.COMPLETED:
            result = await _result(client, handle)
        states.append(PostStateView(workflow_id=workflow_id, status=status.name.lower(), result=result))
        if activity.in_activity():
            activity.heartbeat(workflow_id)
    return PostStatesView(states=states)


async def _result(client: Client, handle: WorkflowHandle[Any, Any]) -> Any:
    """A completed workflow's result read off its close event (no result wait: the time-skipping test
    server ties such waits to its clock)."""
    async for event in handle.fetch_history_events(event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT):
        completed = event.workflow_execution_completed_event_attributes
        if completed.result.payloads:
            return (await client.data_converter.decode(completed.result.payloads))[0]
    return None


class WorkflowStateActivities:
    temporal: Client | None = None

    @activity.defn
    async def post_states(self, input: PostStatesInput) -> PostStatesView:
        """The real state of the post workflows a persona believes active (its reconciliation each cycle)."""
        if self.temporal is None:
            raise ApplicationError(
                "this worker has no Temporal client for its activities", type=ErrorType.UNEXPECTED_STATUS
            )
        return await describe_posts(self.temporal, input.workflow_ids)
