"""Replay: the histories of real runs saved under `histories/` must replay on today's workflow code.

Why: a workflow change that issues different commands breaks every run in flight when a new worker picks
it up (a persona runs for months, a post waits days for approval). Replaying saved histories of real runs
(recorded by `record_histories.py`, see its docstring: `make record-histories`) catches that in the normal
test run, in about a second. The tests also show that the check has teeth (a changed workflow fails, its
`workflow.patched` version passes), that the saved runs cover what they claim, and that no secret was
recorded.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest
from changed_workflows import BalanceFirstPost, BalanceFirstPostPatched, DelayedStartPersona, RereadBeforeApprovePost
from history_files import history_files, load_histories, load_history, secret_findings, workflow_type
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from workflows.content_post import ContentPostWorkflow
from workflows.onboarding import OnboardingWorkflow
from workflows.persona_loop import PersonaLoopWorkflow

WORKFLOWS = [OnboardingWorkflow, PersonaLoopWorkflow, ContentPostWorkflow]
EXPECTED_TYPES = {"OnboardingWorkflow": 2, "PersonaLoopWorkflow": 2, "ContentPostWorkflow": 3}


def replayer(*workflows: type) -> Replayer:
    return Replayer(workflows=list(workflows), data_converter=pydantic_data_converter)


async def _each(histories: Iterable[WorkflowHistory]) -> AsyncIterator[WorkflowHistory]:
    for history in histories:
        yield history


def saved(prefix: str) -> list[WorkflowHistory]:
    return [load_history(path) for path in history_files() if path.stem.startswith(prefix)]


def events_of(history: WorkflowHistory, event_type: EventType.ValueType) -> list:
    return [e for e in history.events if e.event_type == event_type]


def activity_types(history: WorkflowHistory) -> Counter[str]:
    scheduled = events_of(history, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    return Counter(e.activity_task_scheduled_event_attributes.activity_type.name for e in scheduled)


def signal_names(history: WorkflowHistory) -> Counter[str]:
    signalled = events_of(history, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
    return Counter(e.workflow_execution_signaled_event_attributes.signal_name for e in signalled)


def failed_activity_types(history: WorkflowHistory) -> list[str]:
    failed = events_of(history, EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED)
    return [e.activity_task_failed_event_attributes.failure.application_failure_info.type for e in failed]


# --- the replay itself ----------------------------------------------------------------------------


async def test_every_saved_history_replays_on_the_current_workflows() -> None:
    histories = load_histories()
    assert Counter(workflow_type(h) for h in histories) == EXPECTED_TYPES

    results = await replayer(*WORKFLOWS).replay_workflows(_each(histories), raise_on_replay_failure=False)

    failures = {run_id: str(err)[:400] for run_id, err in results.replay_failures.items()}
    assert failures == {}, "a saved history no longer replays: the change breaks runs in flight"


@pytest.mark.parametrize(
    ("changed", "history_prefix"),
    [
        (BalanceFirstPost, "post-replay-parked-"),
        (RereadBeforeApprovePost, "post-replay-cycle-"),
        (DelayedStartPersona, "persona-replay-cycle"),
    ],
)
async def test_a_nondeterministic_change_is_caught(changed: type, history_prefix: str) -> None:
    histories = saved(history_prefix)
    assert histories, f"no saved history starts with {history_prefix}"

    results = [await replayer(changed).replay_workflow(h, raise_on_replay_failure=False) for h in histories]

    # RereadBeforeApprovePost differs only where a post was approved: the rejected one still replays.
    caught = [r.replay_failure for r in results if r.replay_failure is not None]
    assert caught, f"{changed.__name__} replayed cleanly against {history_prefix}*"
    assert all(isinstance(failure, NondeterminismError) for failure in caught)
    assert all("Nondeterminism" in str(failure) for failure in caught)


async def test_the_same_change_behind_workflow_patched_replays() -> None:
    histories = saved("post-")
    results = await replayer(BalanceFirstPostPatched).replay_workflows(_each(histories), raise_on_replay_failure=False)
    assert results.replay_failures == {}


# --- what the saved runs cover ------------------------------------------------------------------------


def test_onboarding_histories_cover_card_bonus_and_auto_reload() -> None:
    histories = saved("onboarding-")
    steps = [activity_types(h) for h in histories]
    assert all({"signup", "verify_email", "create_api_key", "attach_card", "await_balance"} <= set(s) for s in steps)
    assert sum(s["configure_auto_reload"] for s in steps) == 1  # one account with auto-reload, one without


def test_persona_cycle_history_has_one_approved_and_one_rejected_post() -> None:
    (persona,) = saved("persona-replay-cycle")
    children = events_of(persona, EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED)
    assert len(children) == 2
    assert {"ensure_persona", "ensure_source", "ensure_publishing_target", "start_sync", "plan_cycle"} <= set(
        activity_types(persona)
    )
    assert signal_names(persona)["post_progress"] >= 4

    posts = saved("post-replay-cycle-")
    assert {h.workflow_id for h in posts} == {
        c.start_child_workflow_execution_initiated_event_attributes.workflow_id for c in children
    }
    decisions = sorted((signal_names(h)["approve"], signal_names(h)["reject"]) for h in posts)
    assert decisions == [(0, 1), (1, 0)]
    approved = next(h for h in posts if signal_names(h)["approve"])
    assert {"generate_post", "poll_generated_post", "approve_post", "poll_deliveries"} <= set(activity_types(approved))


def test_parked_post_history_has_the_402_and_the_forwarded_top_up() -> None:
    (post,) = saved("post-replay-parked-")
    assert failed_activity_types(post) == ["INSUFFICIENT_BALANCE"]
    assert signal_names(post)["topped_up"] == 1
    assert activity_types(post)["generate_post"] == 2  # the refused try and the retry after the top-up

    (persona,) = saved("persona-replay-parked")
    assert signal_names(persona)["topped_up"] == 1
    forwarded = events_of(persona, EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED)
    assert any(
        e.signal_external_workflow_execution_initiated_event_attributes.signal_name == "topped_up"
        and e.signal_external_workflow_execution_initiated_event_attributes.workflow_execution.workflow_id
        == post.workflow_id
        for e in forwarded
    )


# --- no secrets --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", history_files(), ids=lambda p: p.stem[:40])
def test_saved_history_holds_no_secret(path: Path) -> None:
    assert secret_findings(json.loads(path.read_text())) == []


def test_the_secret_check_finds_planted_secrets() -> None:
    """The check above must not pass vacuously: payloads are base64, so each kind is planted inside one;
    a bare token start is planted outside the payloads too."""
    document = json.loads(history_files()[0].read_text())
    assert secret_findings(document) == []
    planted = {
        "password": "correct-horse-battery",
        "note": " ".join(
            [
                "rm_" + "k3y" * 8,
                "eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiJ1c2VyLTEifQ." + "c2lnbmF0dXJl",
                "seti_123" + "_secret_" + "abcdef123",
                "pm_" + "card_visa",
            ]
        ),
    }
    payload = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()}, "data": ""}
    payload["data"] = base64.b64encode(json.dumps(planted).encode()).decode()
    started = document["events"][0]["workflowExecutionStartedEventAttributes"]
    started["input"]["payloads"].append(payload)
    started["identity"] = "eyJhbGciOiJIUzI1NiJ9"

    findings = " | ".join(secret_findings(document, known_secrets=["correct-horse-battery"]))
    for kind in ("rm_ API key", "JWT in a payload", "Stripe client secret", "payment method id", "'password'"):
        assert kind in findings
    assert "eyJ (a JWT's start) in the history JSON" in findings and "stored secret #1" in findings
