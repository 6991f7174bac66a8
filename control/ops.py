"""What an operator does to running workflows: start, signal, find, ask.

Each function refuses bad input before it changes anything and raises `OperatorError` with a one-line
reason, so the CLI can print it and exit non-zero. Workflows are addressed by their meaningful ids
(`onboarding-<account>`, `persona-<slug>`, `post-<slug>-<source post id>`) or, for posts, by the generated
post id held in the `ReelMirrorPostId` search attribute.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from workflows.config import OnboardingInput, PersonaConfig, check_account_ref, onboarding_workflow_id
from workflows.content_post import ContentPostWorkflow
from workflows.models import (
    ConfirmEmailSignal,
    PersonaLoopInput,
    PersonaStatus,
    PostRef,
    PostResult,
    RejectSignal,
)
from workflows.onboarding import OnboardingWorkflow
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.policies import Timing
from workflows.search_attributes import POST_ID

#: The persona signals an operator sends with no payload.
PersonaSignal = Callable[[PersonaLoopWorkflow], Awaitable[None] | None]


class OperatorError(Exception):
    """A refusal with a one-line reason that names what to fix."""


async def start_onboarding(client: Client, inp: OnboardingInput, task_queue: str) -> WorkflowHandle:
    """Start (or attach to) the onboarding of account `inp.account_ref`: one workflow per account, never two
    signups. The e-mail goes only into the (encrypted) input and summary, never into the id."""
    return await client.start_workflow(
        OnboardingWorkflow.run,
        inp,
        id=onboarding_workflow_id(inp.account_ref),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Onboarding {inp.email} as account '{inp.account_ref}'",
    )


def check_link(link: str) -> str:
    if not link.startswith(("http://", "https://")):
        raise OperatorError("the confirmation link must be the http(s) URL from the e-mail")
    return link


def check_post_id(post_id: str) -> str:
    """Post ids go into a visibility query: refuse anything that is not a plain id before it gets there."""
    if not post_id or any(c in post_id for c in "'\"\\ "):
        raise OperatorError(f"{post_id!r} is not a post id; copy it from `starter.py status`")
    return post_id


def check_onboarding_account(account: str) -> str:
    """The account an onboarding runs as; an e-mail is refused with the fix, since ids never hold one."""
    if "@" in account:
        raise OperatorError("give the account name used with `starter.py onboard --account`, not the e-mail address")
    try:
        return check_account_ref(account)
    except ValueError as exc:
        raise OperatorError(f"ACCOUNT: {exc}") from None


async def confirm_email(client: Client, account: str, link: str) -> None:
    check_onboarding_account(account)
    check_link(link)
    handle = client.get_workflow_handle_for(OnboardingWorkflow.run, onboarding_workflow_id(account))
    await _require_running(
        handle, f"no onboarding is running for account {account}; start it with `starter.py onboard`"
    )
    await handle.signal(OnboardingWorkflow.confirm_email, ConfirmEmailSignal(link=link))


async def start_persona(
    client: Client, account_ref: str, config: PersonaConfig, timing: Timing, task_queue: str
) -> tuple[WorkflowHandle, bool]:
    """Start the persona's loop; returns (handle, False) when it is already running (nothing changes).

    Two names can slug to one workflow id ("Sunset Kitchen!" and "sunset kitchen"): a running persona of
    another name under that id is refused, never mistaken for this one."""
    sources = ", ".join(f"{s.platform}/{s.username} ({s.automation_mode})" for s in config.sources)
    try:
        handle = await client.start_workflow(
            PersonaLoopWorkflow.run,
            PersonaLoopInput(account_ref=account_ref, config=config, timing=timing),
            id=config.workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            static_summary=f"Persona '{config.name}' from {sources}",
            static_details=(
                f"**Persona** {config.name}  \n**Account** {account_ref}  \n**Sources** {sources}  \n"
                f"**Sync every** {config.sync_interval_minutes:g} min, **posts per cycle** {config.posts_per_cycle}, "
                f"**approval** {config.approval.mode}"
            ),
        )
        return handle, True
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle_for(PersonaLoopWorkflow.run, config.workflow_id)
        running = await _running_persona(client, config.workflow_id)
        if running is not None and running.config.name != config.name:
            raise OperatorError(
                f"persona '{config.name}' would take the workflow id {config.workflow_id} of the running persona "
                f"'{running.config.name}'; give it a slug of its own (slug = \"...\" in its file)"
            ) from None
        return handle, False


async def _running_persona(client: Client, workflow_id: str) -> PersonaLoopInput | None:
    """The input of the persona's current run, read from its history (no worker needed)."""
    handle = client.get_workflow_handle(workflow_id)
    async for event in handle.fetch_history_events():
        started = event.workflow_execution_started_event_attributes
        decoded = await client.data_converter.decode(started.input.payloads, [PersonaLoopInput])
        return decoded[0] if decoded and isinstance(decoded[0], PersonaLoopInput) else None
    return None


async def persona_handle(client: Client, slug: str) -> WorkflowHandle[PersonaLoopWorkflow, PersonaStatus]:
    """The running persona workflow `persona-<slug>` (the slug or the whole id are accepted)."""
    workflow_id = slug if slug.startswith("persona-") else f"persona-{slug}"
    handle = client.get_workflow_handle_for(PersonaLoopWorkflow.run, workflow_id)
    await _require_running(handle, f"no persona '{slug}' is running; `starter.py status` lists them")
    return handle


async def signal_persona(client: Client, slug: str, signal: PersonaSignal) -> None:
    """Send one of the persona's payload-free signals (`PersonaLoopWorkflow.pause`, `.topped_up` ...)."""
    handle = await persona_handle(client, slug)
    await handle.signal(signal)


async def running_personas(client: Client) -> list[WorkflowHandle[PersonaLoopWorkflow, PersonaStatus]]:
    query = f"WorkflowType = '{PersonaLoopWorkflow.__name__}' AND ExecutionStatus = 'Running'"
    return [client.get_workflow_handle_for(PersonaLoopWorkflow.run, w.id) async for w in client.list_workflows(query)]


async def persona_statuses(client: Client, slug: str | None = None) -> list[PersonaStatus]:
    handles = [await persona_handle(client, slug)] if slug else await running_personas(client)
    statuses = []
    for handle in handles:
        statuses.append(await handle.query(PersonaLoopWorkflow.status))
    return sorted(statuses, key=lambda s: s.workflow_id)


async def find_post(client: Client, post_id: str) -> WorkflowHandle[ContentPostWorkflow, PostResult]:
    """The running post workflow for a generated post id (or a post workflow id)."""
    check_post_id(post_id)
    if post_id.startswith("post-"):
        handle = client.get_workflow_handle_for(ContentPostWorkflow.run, post_id)
        await _require_running(handle, f"no post workflow {post_id} is running")
        return handle
    query = (
        f"WorkflowType = '{ContentPostWorkflow.__name__}' AND {POST_ID.name} = '{post_id}'"
        " AND ExecutionStatus = 'Running'"
    )
    async for execution in client.list_workflows(query):
        return client.get_workflow_handle_for(ContentPostWorkflow.run, execution.id)
    raise OperatorError(f"no post {post_id} is waiting in any persona; `starter.py status` lists pending approvals")


async def decide(client: Client, post_id: str, *, approve: bool, reason: str | None = None) -> str:
    """Approve or reject one pending post; refuses posts that are not waiting for a decision."""
    handle = await find_post(client, post_id)
    progress = await handle.query(ContentPostWorkflow.status)
    if progress.pending_approval is None:
        raise OperatorError(
            f"post {post_id} is not waiting for approval (stage: {progress.stage}); nothing was changed"
        )
    gid = progress.generated_post_id or post_id
    if approve:
        await handle.signal(ContentPostWorkflow.approve, PostRef(post_id=gid))
    else:
        await handle.signal(ContentPostWorkflow.reject, RejectSignal(post_id=gid, reason=reason))
    return handle.id


async def retry(client: Client, target: str) -> str:
    """Tell parked work that its cause was fixed: a persona (and its posts), one post, or an onboarding.

    `target` is a workflow id (`persona-...`, `post-...`, `onboarding-...`), a persona slug or a generated
    post id; returns the id of the workflow told."""
    check_post_id(target)
    if target.startswith("onboarding-"):
        onboarding = client.get_workflow_handle_for(OnboardingWorkflow.run, target)
        await _require_running(onboarding, f"no onboarding {target} is running")
        await onboarding.signal(OnboardingWorkflow.retry)
        return onboarding.id
    if target.startswith("post-"):
        post = await find_post(client, target)
        await post.signal(ContentPostWorkflow.retry)
        return post.id
    try:
        persona = await persona_handle(client, target)
    except OperatorError:
        post = await find_post(client, target)
        await post.signal(ContentPostWorkflow.retry)
        return post.id
    await persona.signal(PersonaLoopWorkflow.retry)
    return persona.id


async def _require_running(handle: WorkflowHandle, message: str) -> None:
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise OperatorError(message) from None
        raise
    if description.status != WorkflowExecutionStatus.RUNNING:
        status = description.status.name.lower() if description.status else "unknown"
        raise OperatorError(f"{message} (workflow {handle.id} is {status})")
