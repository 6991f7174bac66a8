"""No message can break a workflow: every handler, sent what a person can type in the Web UI or the
`temporal` CLI, and each workflow still completes on a correct message afterwards.

Against a live stack, through the real `temporal` CLI: a post waiting for a decision (two of them), its
persona, and an onboarding waiting for its confirmation link. The handlers are the ones each running
workflow declares (`temporal workflow metadata`, as the Web UI lists them), so a handler added later is
covered without touching this test. Every handler gets no input, `null`, wrong types, unknown fields
and two inputs. First everything that must change nothing; then the inputs that mean something (an
approve with no input is what the Web UI sends: it approves), ending each workflow. No history may hold
a failed workflow task (beyond the server's UNHANDLED_COMMAND handshake when a signal races a completion).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import Client

from control import ops
from control.connection import DEFAULT_TASK_QUEUE
from devstack.stack import LocalStack, StackConfig
from simulator.admin import SimulatorAdmin
from workflows.config import OnboardingInput, PersonaConfig
from workflows.content_post import ContentPostWorkflow
from workflows.onboarding import OnboardingWorkflow
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.policies import Timing
from workflows.stages import OnboardingStage, PostStage

pytestmark = pytest.mark.integration
T = TypeVar("T")

TEMPORAL = Path(sys.executable).parent / "temporal"
TIMING = Timing(time_scale=0.01)
EMAIL, ACCOUNT = "messages-bot@reelmirror.test", "messages"
LATE_EMAIL = "messages-late@reelmirror.test"

# Inputs that must change nothing anywhere: wrong types, malformed known fields, two inputs.
HARMLESS: list[list[str]] = [
    ['"x"'],
    ["42"],
    ["[1, 2]"],
    ['{"post_id": 5, "reason": 7, "now": "soon", "link": 3, "workflow_id": 9, "name": false}'],
    ["{}", "{}"],
]
# Inputs that mean "no payload" or carry only unknown fields: a decision, a stop, a harmless nudge.
MEANINGFUL: list[list[str]] = [[], ["null"], ['{"unknown": "field"}']]
# Signals whose empty or unknown-field input may be sent any time: they nudge, they decide nothing.
NUDGES = frozenset({"topped_up", "credentials_updated", "retry", "pause", "resume", "post_progress", "confirm_email"})


@pytest.fixture(scope="module")
def stack_config(tmp_path_factory: pytest.TempPathFactory) -> StackConfig:
    """The module's stack runs the codec server, so the `temporal` CLI can read what the workflows answer."""
    return StackConfig(time_scale=0.01, ui_port=None, state_dir=tmp_path_factory.mktemp("stack"), codec_server=True)


async def temporal(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    assert stack.codec_server is not None
    argv = [str(TEMPORAL), *args, "--address", stack.temporal_address, "--namespace", "default",
            "--codec-endpoint", stack.codec_server.url]  # fmt: skip
    return await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=60)


def with_inputs(inputs: list[str]) -> list[str]:
    return [arg for value in inputs for arg in ("--input", value)]


async def handlers(stack: LocalStack, workflow_id: str) -> dict[str, list[str]]:
    """The signal, query and update names the running workflow declares (Temporal's own are left out)."""
    result = await temporal(stack, "workflow", "metadata", "--workflow-id", workflow_id, "--output", "json")
    assert result.returncode == 0, result.stderr
    definition = json.loads(result.stdout)["queryResult"][0]["definition"]
    return {
        kind: sorted(d["name"] for d in definition.get(f"{kind}Definitions", []) if not d["name"].startswith("__"))
        for kind in ("signal", "query", "update")
    }


COMMANDS = {
    "signal": ["workflow", "signal"],
    "query": ["workflow", "query"],
    "update": ["workflow", "update", "execute"],
}


async def send(
    stack: LocalStack, workflow_id: str, kind: str, name: str, inputs: list[str]
) -> subprocess.CompletedProcess[str]:
    return await temporal(stack, *COMMANDS[kind], "--workflow-id", workflow_id, "--name", name, *with_inputs(inputs))


async def wait_until(probe: Callable[[], Awaitable[T]], until: Callable[[T], bool], seconds: float = 120) -> T:
    async with asyncio.timeout(seconds):
        while True:
            value = await probe()
            if until(value):
                return value
            await asyncio.sleep(0.2)


async def failed_tasks(client: Client, workflow_id: str) -> list[str]:
    """The workflow's failed tasks, each as its cause and message.

    A signal that reaches a workflow while its completing task is in flight makes the server refuse that
    task with UNHANDLED_COMMAND and hand the workflow a new one with the signal: Temporal's own handshake,
    not a failure of ours, so it is left out.
    """
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    failures = []
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            continue
        attributes = event.workflow_task_failed_event_attributes
        if attributes.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND:
            continue
        failures.append(f"{WorkflowTaskFailedCause.Name(attributes.cause)}: {attributes.failure.message}")
    return failures


@pytest.fixture(scope="module")
async def sim(stack: LocalStack) -> AsyncIterator[SimulatorAdmin]:
    async with SimulatorAdmin(stack.sim_origin) as admin:
        yield admin


async def test_no_message_breaks_a_workflow(stack: LocalStack, client: Client, sim: SimulatorAdmin) -> None:
    # an onboarded account with a persona whose two posts wait for a decision, and an onboarding waiting for
    # the link from its e-mail (sent by signal)
    ready = await ops.start_onboarding(
        client, OnboardingInput(email=EMAIL, account_ref=ACCOUNT, attach_card=True, timing=TIMING), DEFAULT_TASK_QUEUE
    )
    await asyncio.wait_for(ready.result(), 120)
    await sim.connect_account(EMAIL, "instagram", "messages_official")
    config = PersonaConfig.model_validate({
        "name": "Messages", "slug": "messages", "sources": [{"platform": "instagram", "username": "messages_chef"}],
        "publishing_accounts": [{"platform": "instagram", "username": "messages_official"}],
        "sync_interval_minutes": 15, "posts_per_cycle": 2, "max_cycles": 1,
    })  # fmt: skip
    persona, _ = await ops.start_persona(client, ACCOUNT, config, TIMING, DEFAULT_TASK_QUEUE)
    waiting = await wait_until(
        lambda: persona.query(PersonaLoopWorkflow.status), lambda s: len(s.pending_approvals) == 2
    )
    post_a, post_b = sorted(p.workflow_id for p in waiting.pending_approvals)
    onboarding = await ops.start_onboarding(
        client, OnboardingInput(email=LATE_EMAIL, account_ref="late", confirmation="signal", timing=TIMING),
        DEFAULT_TASK_QUEUE,
    )  # fmt: skip
    await wait_until(
        lambda: onboarding.query(OnboardingWorkflow.status), lambda s: s.stage == OnboardingStage.AWAITING_EMAIL
    )
    targets = [post_a, post_b, persona.id, onboarding.id]
    declared = {workflow_id: await handlers(stack, workflow_id) for workflow_id in targets}
    assert declared[post_a]["update"] == ["approve", "reject"]
    assert declared[persona.id]["update"] == ["reconfigure", "stop"]

    # 1. what must change nothing, to every handler of every workflow
    for workflow_id in targets:
        for kind, names in declared[workflow_id].items():
            for name in names:
                for inputs in HARMLESS + (MEANINGFUL if kind == "query" or name in NUDGES else []):
                    result = await send(stack, workflow_id, kind, name, inputs)
                    if kind == "update":
                        assert result.returncode != 0 and "BAD_MESSAGE" in result.stderr, (name, inputs, result)
    for post_id in (post_a, post_b):
        post = client.get_workflow_handle_for(ContentPostWorkflow.run, post_id)
        assert (await post.query(ContentPostWorkflow.status)).stage == PostStage.AWAITING_APPROVAL
    assert not (await persona.query(PersonaLoopWorkflow.status)).paused, "resume came after pause"
    assert (await onboarding.query(OnboardingWorkflow.status)).stage == OnboardingStage.AWAITING_EMAIL

    # 2. what means something: the first decision wins and later ones are refused or ignored
    accepted = await send(stack, post_a, "update", "reject", ['{"unknown": "field"}'])
    assert accepted.returncode == 0, accepted.stderr
    approved = await send(stack, post_b, "signal", "approve", [])  # the Web UI's "Send a Signal", no input
    assert approved.returncode == 0, approved.stderr
    for post_id in (post_a, post_b):
        for kind in ("signal", "update"):
            for name in ("approve", "reject"):
                for inputs in MEANINGFUL:
                    result = await send(stack, post_id, kind, name, inputs)
                    if kind == "update":  # refused while the post runs on; a finished post takes no update
                        refused = "ALREADY_DECIDED" in result.stderr or "already completed" in result.stderr
                        assert result.returncode != 0 and refused, result.stderr
    for inputs in MEANINGFUL:
        await send(stack, persona.id, "update", "stop", inputs)  # a graceful stop: it ends after its posts
    for inputs in MEANINGFUL:
        await send(stack, onboarding.id, "signal", "confirm_email", inputs)  # no link in it: ignored
    link = await wait_until(lambda: sim.confirmation_link(LATE_EMAIL), lambda found: found is not None)
    await send(stack, onboarding.id, "signal", "confirm_email", [json.dumps({"link": link, "extra": 1})])

    final = await asyncio.wait_for(persona.result(), 120)
    await asyncio.wait_for(onboarding.result(), 120)
    assert (final.counters.approved, final.counters.rejected) == (1, 1)
    for workflow_id in targets:
        assert (await client.get_workflow_handle(workflow_id).describe()).close_time is not None
        assert await failed_tasks(client, workflow_id) == [], f"{workflow_id} had a failed workflow task"
