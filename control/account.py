"""Account commands: billing through the worker (`AccountOpsWorkflow`), and where an onboarding stands.

The CLI holds no API key, so every billing call is a short workflow the worker runs with the account's
stored key; the CLI checks that a worker polls first, then waits a bounded time for the answer. Reads
share one workflow id per account (two `status` calls at once attach to the same run); a top-up gets its
own id, since each one is a new Checkout session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from control.errors import OperatorError, WorkFailed, explain
from control.workers import require_worker
from workflows.account_ops import AccountOpsWorkflow, account_ops_workflow_id
from workflows.config import OnboardingInput, check_account_ref, onboarding_workflow_id
from workflows.models import AccountReply, AccountRequest, AccountSummary, OnboardingStatus
from workflows.onboarding import OnboardingWorkflow
from workflows.stages import OnboardingStage

__all__ = [
    "ACCOUNT_TIMEOUT",
    "MAX_TOPUP_CENTS",
    "OnboardingView",
    "account_name",
    "find_onboarding",
    "follow_onboarding",
    "onboarding_view",
    "parse_amount",
    "run_account_request",
]

ACCOUNT_TIMEOUT = timedelta(seconds=30)
QUERY_TIMEOUT = timedelta(seconds=3)
STAGE_POLL = timedelta(seconds=0.25)
MAX_TOPUP_CENTS = 1_000_000  # $10,000: a typo guard, not the service's limit


def account_name(account: str, label: str = "--account") -> str:
    try:
        return check_account_ref(account)
    except ValueError as exc:
        raise OperatorError(f"{label}: {exc}") from None


def parse_amount(text: str, label: str = "AMOUNT") -> int:
    """Dollars as an operator types them (`25`, `25.50`, `$25`) -> cents."""
    cleaned = text.strip().removeprefix("$")
    try:
        whole, _, frac = cleaned.partition(".")
        if not whole.isdigit() or (frac and (not frac.isdigit() or len(frac) > 2)):
            raise ValueError
        cents = int(whole) * 100 + int(frac.ljust(2, "0") or 0)
    except ValueError:
        raise OperatorError(f"{label}: {text!r} is not an amount in dollars (e.g. 25 or 25.50)") from None
    if not 0 < cents <= MAX_TOPUP_CENTS:
        raise OperatorError(f"{label}: must be more than $0 and at most ${MAX_TOPUP_CENTS // 100:,}")
    return cents


async def run_account_request(
    client: Client, request: AccountRequest, task_queue: str, wait: timedelta = ACCOUNT_TIMEOUT
) -> AccountReply:
    """Run one account command on a worker; `WorkFailed` when the worker could not do it (no key, 401, ...)."""
    await require_worker(client, task_queue)
    reads = request.action == "status"
    suffix = None if reads else datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    try:
        async with asyncio.timeout(wait.total_seconds()):
            reply = await client.execute_workflow(
                AccountOpsWorkflow.run,
                request,
                id=account_ops_workflow_id(request, suffix),
                task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                execution_timeout=timedelta(minutes=5),
                static_summary=f"{request.action.replace('_', '-')} for account '{request.account_ref}'",
            )
    except Exception as exc:
        explained = explain(exc, f"account {request.action.replace('_', '-')} of '{request.account_ref}'")
        if explained is None:
            raise
        raise explained from None
    if reply.error:
        raise WorkFailed(f"account '{request.account_ref}': {reply.error_type}: {reply.error}")
    return reply


# --- onboarding -----------------------------------------------------------------------------------------


class OnboardingView(BaseModel):
    """Where an onboarding stands: its workflow's state, and its stage when a worker could answer."""

    workflow_id: str
    status: str  # running | completed | failed | ...
    detail: OnboardingStatus | None = None
    failure: str | None = None


async def follow_onboarding(
    client: Client, handle: WorkflowHandle[OnboardingWorkflow, AccountSummary], task_queue: str,
    emit: Callable[[str], None],
) -> AccountSummary:  # fmt: skip
    """Wait for the onboarding's summary, emitting each new stage, park, error and note as it appears."""
    await require_worker(client, task_queue)
    result = asyncio.ensure_future(handle.result())
    shown: set[str] = set()
    while not result.done():
        try:
            status = await handle.query(OnboardingWorkflow.status, rpc_timeout=QUERY_TIMEOUT)
        except Exception as exc:
            if explain(exc) is None:
                raise
        else:
            lines = [f"stage {status.stage}"]
            lines += [f"parked: {status.parked_reason}"] if status.parked_reason else []
            lines += [f"last error: {status.last_error}"] if status.last_error else []
            lines += [f"note: {note}" for note in status.notes]
            for line in lines:
                if line not in shown:
                    shown.add(line)
                    emit(line)
        await asyncio.wait({result}, timeout=STAGE_POLL.total_seconds())
    try:
        summary = result.result()
    except Exception as exc:
        explained = explain(exc, f"onboarding {handle.id}")
        if explained is None:
            raise
        raise explained from None
    if f"stage {OnboardingStage.DONE}" not in shown:  # it finished between two looks
        emit(f"stage {OnboardingStage.DONE}")
    return summary


async def find_onboarding(client: Client, email_or_account: str) -> str:
    """The onboarding workflow id of an account name, or of an e-mail address: ids never hold an address,
    so it is found in the onboardings' (encrypted) inputs, read from their histories without a worker."""
    if "@" not in email_or_account:
        return onboarding_workflow_id(account_name(email_or_account, "EMAIL|ACCOUNT"))
    seen: set[str] = set()
    async for execution in client.list_workflows(f"WorkflowType = '{OnboardingWorkflow.__name__}'"):
        if execution.id in seen:
            continue
        seen.add(execution.id)
        inp = await _started_with(client, execution.id, execution.run_id)
        if inp is not None and inp.email.lower() == email_or_account.lower():
            return execution.id
    raise OperatorError(f"no onboarding is known for {email_or_account}")


async def _started_with(client: Client, workflow_id: str, run_id: str) -> OnboardingInput | None:
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    async for event in handle.fetch_history_events():
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        [inp] = await client.data_converter.decode(payloads, [OnboardingInput])
        return inp if isinstance(inp, OnboardingInput) else None
    return None


async def onboarding_view(client: Client, workflow_id: str, query_timeout: timedelta) -> OnboardingView:
    handle = client.get_workflow_handle_for(OnboardingWorkflow.run, workflow_id)
    try:
        description = await handle.describe()
    except Exception as exc:
        explained = explain(exc, f"onboarding {workflow_id}")
        if explained is None:
            raise
        raise explained from None
    state = description.status.name.lower() if description.status else "unknown"
    detail: OnboardingStatus | None = None
    try:
        async with asyncio.timeout(query_timeout.total_seconds()):
            detail = await handle.query(OnboardingWorkflow.status, rpc_timeout=query_timeout)
    except Exception as exc:
        if explain(exc) is None:
            raise
    failure = None
    if description.status == WorkflowExecutionStatus.FAILED:
        try:
            await handle.result()
        except Exception as exc:
            explained = explain(exc, "onboarding")
            failure = str(explained) if explained else str(exc)
    return OnboardingView(workflow_id=workflow_id, status=state, detail=detail, failure=failure)
