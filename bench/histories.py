"""What the workflow histories say about a run: statuses, workflow task failures, activity retries.

Why read histories rather than logs: history is Temporal's own record, the same for every worker and
after any crash. Three facts matter under chaos:

* a ``WorkflowTaskFailed`` event means workflow code raised (a bug, or a payload it could not
  decode): Temporal retries such a task forever, so one is a loop, never a recoverable error;
* an activity's ``ActivityTaskStarted`` event is written once, for its final attempt, with
  ``attempt`` (so ``attempt - 1`` is the number of retries) and ``last_failure`` (what the attempt
  before it failed with: the error type the activities raised, e.g. ``MALFORMED_RESPONSE``);
* polling activities retry on purpose (``NotReady`` until a job finishes), so their attempts are
  polls, not faults: they are counted apart.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client, WorkflowHistory

__all__ = [
    "POLL_ACTIVITIES",
    "ActivityRun",
    "HistoryReport",
    "PendingAttempt",
    "WorkflowRun",
    "collect",
    "failure_message",
    "failure_type",
    "pending_attempts",
    "read_history",
]

#: Activities whose retry policy is a poll schedule: their extra attempts are mostly "not ready yet".
POLL_ACTIVITIES = frozenset(
    {
        "verify_email",
        "await_balance",
        "poll_sync_job",
        "find_generated_post",
        "poll_generated_post",
        "await_outgoing_post",
        "poll_deliveries",
    }
)


@dataclass(frozen=True)
class WorkflowRun:
    workflow_id: str
    run_id: str
    workflow_type: str
    status: str  # RUNNING, COMPLETED, FAILED, ...


@dataclass(frozen=True)
class PendingAttempt:
    """An activity that is being retried right now, with what its previous attempt failed with."""

    workflow_id: str
    activity: str
    attempt: int
    error_type: str
    message: str


@dataclass(frozen=True)
class ActivityRun:
    """One activity from its scheduling to its completion: how many attempts and how long it took."""

    workflow_id: str
    activity: str
    attempts: int
    seconds: float
    activity_id: str = ""


@dataclass
class HistoryReport:
    """Counts over many histories (``collect``) or one (``read_history``)."""

    workflows: list[WorkflowRun] = field(default_factory=list)
    runs: list[ActivityRun] = field(default_factory=list)  # every finished activity, for the slowest ones
    # (workflow id, cause, the failure's message, the event types that followed) per WorkflowTaskFailed event
    workflow_task_failures: list[tuple[str, str, str, list[str]]] = field(default_factory=list)
    activities: Counter[str] = field(default_factory=Counter)  # activity type -> activities that ran
    retries: Counter[str] = field(default_factory=Counter)  # activity type -> attempts beyond the first
    # error type the attempt before the final one failed with (one per retried activity)
    failure_before_final: Counter[str] = field(default_factory=Counter)
    # (activity type, error type) of the failure before the final attempt, for "which call saw which error"
    failure_before_final_by_activity: Counter[tuple[str, str]] = field(default_factory=Counter)
    activity_failures: Counter[str] = field(default_factory=Counter)  # error type of activities that gave up

    @property
    def by_status(self) -> Counter[str]:
        return Counter(run.status for run in self.workflows)

    @property
    def api_retries(self) -> int:
        """Retries of ordinary API calls: each one answered a fault (or hit a transport error)."""
        return sum(n for name, n in self.retries.items() if name not in POLL_ACTIVITIES)

    @property
    def poll_retries(self) -> int:
        """Extra attempts of polling activities: mostly "not ready yet", some after a fault."""
        return sum(n for name, n in self.retries.items() if name in POLL_ACTIVITIES)

    def merge(self, other: HistoryReport) -> None:
        self.workflows.extend(other.workflows)
        self.runs.extend(other.runs)
        self.workflow_task_failures.extend(other.workflow_task_failures)
        self.activities.update(other.activities)
        self.retries.update(other.retries)
        self.failure_before_final.update(other.failure_before_final)
        self.failure_before_final_by_activity.update(other.failure_before_final_by_activity)
        self.activity_failures.update(other.activity_failures)


def failure_type(failure: Failure) -> str:
    """The ``ApplicationError.type`` of a failure (its cause's, for an activity failure wrapper)."""
    current: Failure | None = failure
    while current is not None:
        if current.HasField("application_failure_info") and current.application_failure_info.type:
            return current.application_failure_info.type
        if current.HasField("timeout_failure_info"):
            return "TIMEOUT"
        current = current.cause if current.HasField("cause") else None
    return "UNKNOWN"


def read_history(history: WorkflowHistory) -> HistoryReport:
    """Count workflow task failures and activity attempts in one history."""
    report = HistoryReport()
    scheduled: dict[int, str] = {}
    scheduled_at: dict[int, float] = {}
    activity_ids: dict[int, str] = {}
    attempts: dict[int, int] = {}
    events = list(history.events)
    for index, event in enumerate(events):
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            attrs = event.workflow_task_failed_event_attributes
            cause = WorkflowTaskFailedCause.Name(attrs.cause).removeprefix("WORKFLOW_TASK_FAILED_CAUSE_")
            around = [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events[index - 4 : index + 4]]
            report.workflow_task_failures.append((history.workflow_id, cause, attrs.failure.message, around))
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled_at[event.event_id] = event.event_time.ToDatetime().timestamp()
            activity_ids[event.event_id] = event.activity_task_scheduled_event_attributes.activity_id
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = event.activity_task_started_event_attributes
            name = scheduled.get(attrs.scheduled_event_id, "?")
            attempts[attrs.scheduled_event_id] = attrs.attempt
            report.activities[name] += 1
            if attrs.attempt > 1:
                report.retries[name] += attrs.attempt - 1
            if attrs.HasField("last_failure"):
                error = failure_type(attrs.last_failure)
                report.failure_before_final[error] += 1
                report.failure_before_final_by_activity[(name, error)] += 1
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            scheduled_id = event.activity_task_completed_event_attributes.scheduled_event_id
            seconds = event.event_time.ToDatetime().timestamp() - scheduled_at.get(scheduled_id, 0.0)
            name = scheduled.get(scheduled_id, "?")
            attempt, activity_id = attempts.get(scheduled_id, 1), activity_ids.get(scheduled_id, "")
            report.runs.append(ActivityRun(history.workflow_id, name, attempt, seconds, activity_id))
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            report.activity_failures[failure_type(event.activity_task_failed_event_attributes.failure)] += 1
    return report


async def collect(client: Client, query: str = "") -> HistoryReport:
    """Read every workflow matching the visibility ``query`` (all of them by default)."""
    report = HistoryReport()
    async for execution in client.list_workflows(query or None):
        status = execution.status.name if execution.status is not None else "UNKNOWN"
        report.workflows.append(WorkflowRun(execution.id, execution.run_id, execution.workflow_type, status))
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        report.merge(read_history(history))
    return report


async def failure_message(client: Client, failure: Failure) -> str:
    """A failure's message as the activity wrote it: with failures encrypted, the stored one is a placeholder."""
    copy = Failure()
    copy.CopyFrom(failure)
    try:
        return str(await client.data_converter.decode_failure(copy))
    except Exception:  # a key this client lacks: the stored text is all there is
        return failure.message


async def pending_attempts(client: Client, query: str = "ExecutionStatus = 'Running'") -> list[PendingAttempt]:
    """Activities of running workflows that failed at least once and wait for (or run) another attempt."""
    found: list[PendingAttempt] = []
    async for execution in client.list_workflows(query):
        description = await client.get_workflow_handle(execution.id, run_id=execution.run_id).describe()
        for pending in description.raw_description.pending_activities:
            if not pending.HasField("last_failure"):
                continue
            found.append(
                PendingAttempt(
                    workflow_id=execution.id,
                    activity=pending.activity_type.name,
                    attempt=pending.attempt,
                    error_type=failure_type(pending.last_failure),
                    message=await failure_message(client, pending.last_failure),
                )
            )
    return found
