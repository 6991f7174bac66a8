"""The pure rules behind the operator's commands, row by row: no server, no worker.

Which decision a post takes and why it refuses one; how a handler reads a payload a person typed; which
persona file changes a running loop takes and how they read; which alerts a report is worth; what the
next cycle may spend; amounts as operators type them; which command resumes parked work; the low-balance
warning; and how SDK errors become one line and an exit code.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from control.account import parse_amount
from control.errors import ExitCode, OperatorError, Refused, Unavailable, WorkFailed, explain
from control.fleet import AccountLine, low_balance_warning, park_command
from workflows import alerting, attention, config_changes, decisions
from workflows.config import PersonaConfig
from workflows.messages import BadMessage, optional_payload
from workflows.models import DecisionRequest, PendingApproval, PersonaState, PostProgress

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# --- decisions ------------------------------------------------------------------------------------------


def state(**overrides: Any) -> decisions.DecisionState:
    values: dict[str, Any] = {
        "ids": {"sp_1", "gp_1", "post-nova-sp_1"},
        "waiting": True,
        "decided_by": None,
        "approved": None,
        "default_action": "reject",
        "stage": "awaiting_approval",
        "outcome": None,
        "auto_approval": False,
    }
    values.update(overrides)
    return decisions.DecisionState(**values)


@pytest.mark.parametrize(
    ("overrides", "post_id", "kind", "words"),
    [
        ({}, None, None, None),
        ({}, "gp_1", None, None),
        ({}, "sp_1", None, None),
        ({}, "gp_2", "UNKNOWN_POST", "gp_2 is not the post of this workflow"),
        ({"waiting": False, "stage": "rendering_media"}, None, "NOT_READY", "not waiting for a decision yet"),
        ({"decided_by": "operator", "approved": True}, None, "ALREADY_DECIDED", "already approved by an operator"),
        ({"decided_by": "operator", "approved": False}, "gp_1", "ALREADY_DECIDED", "already rejected"),
        ({"decided_by": "server", "approved": True, "waiting": False}, None, "ALREADY_DECIDED", "on the server"),
        ({"decided_by": "timeout", "approved": False}, None, "TIMED_OUT", "the default action (reject) was taken"),
        ({"outcome": "media_failed", "waiting": False}, None, "POST_ENDED", "has ended (media_failed)"),
        ({"auto_approval": True, "waiting": False}, None, "ALREADY_DECIDED", "approves automatically"),
    ],
)
def test_a_decision_is_taken_or_refused_with_its_reason(
    overrides: dict[str, Any], post_id: str | None, kind: str | None, words: str | None
) -> None:
    refused = decisions.refusal(state(**overrides), post_id)
    if kind is None:
        assert refused is None
    else:
        assert refused is not None and refused.kind == kind and words in refused.message


# --- reading a payload ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ((), None),
        ((None,), None),
        (({"post_id": "gp_1", "reason": "off", "by": "dana"},), DecisionRequest(post_id="gp_1", reason="off")),
        (({},), DecisionRequest()),
    ],
)
def test_a_payload_may_be_absent_null_or_carry_unknown_fields(payload: tuple[object, ...], expected: object) -> None:
    assert optional_payload(DecisionRequest, payload, handler="approve") == expected


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (("x",), "approve expects DecisionRequest"),
        ((42,), "approve expects DecisionRequest"),
        (({"post_id": 5},), "post_id"),
        (({}, {}), "approve takes at most one input, got 2"),
    ],
)
def test_a_payload_that_does_not_fit_is_a_bad_message(payload: tuple[object, ...], words: str) -> None:
    with pytest.raises(BadMessage, match=words):
        optional_payload(DecisionRequest, payload, handler="approve")


# --- persona files on a running loop -------------------------------------------------------------------------


def persona(**overrides: Any) -> PersonaConfig:
    values: dict[str, Any] = {
        "name": "Nova",
        "slug": "nova",
        "sources": [{"platform": "instagram", "username": "chef"}],
        "publishing_accounts": [{"platform": "instagram", "username": "nova_official"}],
        "sync_interval_minutes": 60,
    }
    values.update(overrides)
    return PersonaConfig.model_validate(values)


def test_changes_read_in_the_files_terms() -> None:
    new = persona(
        sources=[{"platform": "instagram", "username": "Chef", "automation_mode": "auto_clone"},
                 {"platform": "tiktok", "username": "runner"}],
        publishing_accounts=[{"platform": "instagram", "username": "nova_official"},
                             {"platform": "x", "username": "nova"}],
        sync_interval_minutes=30,
        approval={"mode": "manual", "timeout_minutes": 120},
        alerts=[{"url": "https://hooks.example.com/a"}],
    )  # fmt: skip
    assert config_changes.describe_changes(persona(), new) == [
        "sources: instagram/chef sync_only -> auto_clone",
        "sources: + tiktok/runner (sync_only)",
        "publishing_accounts: + x/nova",
        "sync_interval_minutes: 60.0 -> 30.0",
        "approval.timeout_minutes: unset -> 120.0",
        "alerts: none -> 1 entry",
    ]
    assert config_changes.describe_changes(persona(), persona()) == []


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"slug": "other"}, "the file is for persona 'other', not 'nova'"),
        ({"name": "Nova Two"}, "name cannot change on a running persona"),
        ({"writing_style": "Loud"}, "writing_style cannot change"),
        ({"sources": [{"platform": "tiktok", "username": "runner"}]}, "sources cannot be removed (instagram/chef)"),
        ({"publishing_accounts": []}, "publishing targets cannot be removed (instagram/nova_official)"),
    ],
)
def test_changes_a_running_persona_cannot_take_are_refused(overrides: dict[str, Any], words: str) -> None:
    refused = config_changes.refusal(persona(), persona(**overrides))
    assert refused is not None and words in refused


def test_a_pending_configuration_is_taken_once() -> None:
    current, new = persona(), persona(sync_interval_minutes=30)
    state = PersonaState(pending_config=new)
    assert config_changes.take_pending(current, state) == new and state.pending_config is None
    assert config_changes.take_pending(current, state) == current


# --- alerts ---------------------------------------------------------------------------------------------------


def progress(**overrides: Any) -> PostProgress:
    values: dict[str, Any] = {"workflow_id": "post-nova-sp_1", "source_post_id": "sp_1", "generated_post_id": "gp_1"}
    values.update({"stage": "rendering_media", **overrides})
    return PostProgress(**values)


def test_a_report_is_worth_an_alert_only_when_a_human_is_needed() -> None:
    pending = PendingApproval(
        generated_post_id="gp_1", source_post_id="sp_1", workflow_id="post-nova-sp_1",
        waiting_since=NOW, decide_by=NOW + timedelta(hours=2),
    )  # fmt: skip
    assert alerting.post_events("Nova", progress(), NOW) == []
    [decision] = alerting.post_events("Nova", progress(pending_approval=pending), NOW)
    assert decision.workflow_id == "alert-post-nova-sp_1-decision_needed"
    assert decision.message.text.startswith("Nova: post gp_1 waits for your decision since 2026-03-01 12:00 UTC")
    assert "decided by default at 2026-03-01 14:00 UTC" in decision.message.text
    [parked] = alerting.post_events("Nova", progress(parked_reason="insufficient balance", parked_since=NOW), NOW)
    assert parked.workflow_id == "alert-post-nova-sp_1-parked" and "insufficient balance" in parked.message.text
    [failed] = alerting.post_events("Nova", progress(finished=True, outcome="media_failed", reason="bad frame"), NOW)
    assert failed.message.event == "failed" and failed.message.text.endswith("ended media_failed: bad frame")
    assert alerting.post_events("Nova", progress(finished=True, outcome="published"), NOW) == []


def test_the_persona_alerts_once_per_park_and_once_per_day_of_budget() -> None:
    events = alerting.persona_events(
        "Nova", "persona-nova", parked_reason="insufficient balance", parked_since=NOW,
        budget_note="2 posts wait for tomorrow's budget", today="2026-03-01", now=NOW,
    )  # fmt: skip
    assert [e.workflow_id for e in events] == [
        "alert-persona-nova-parked-20260301T120000",
        "alert-persona-nova-budget_reached-2026-03-01",
    ]


def test_an_alert_goes_only_to_webhooks_that_want_its_event_and_only_once() -> None:
    cfg = persona(alerts=[{"url": "https://a.example/x", "events": ["failed"]}])
    state = PersonaState()
    sender = alerting.AlertSender(state)
    [failed] = alerting.post_events("Nova", progress(finished=True, outcome="failed"), NOW)
    pending = PendingApproval(generated_post_id="gp_1", source_post_id="sp_1", workflow_id="w", waiting_since=NOW)
    [decision] = alerting.post_events("Nova", progress(pending_approval=pending), NOW)
    assert sender.wanted(cfg, [failed, decision]) == [failed]
    state.alerts_sent.append(failed.workflow_id)
    assert sender.wanted(cfg, [failed]) == []


# --- what the next cycle may spend --------------------------------------------------------------------------


def test_the_next_cycle_may_spend_its_free_slots_at_the_dearest_media_within_the_budget() -> None:
    state = PersonaState(active_posts={"post-nova-a": progress()})
    cfg = persona(posts_per_cycle=3, max_concurrent_posts=3)
    assert attention.next_cycle_max_cents(cfg, state, "2026-03-01") == 2 * 100  # video: 100 cents
    budgeted = persona(posts_per_cycle=3, max_concurrent_posts=3, daily_credit_budget_cents=150)
    assert attention.next_cycle_max_cents(budgeted, state, "2026-03-01") == 150


def test_a_post_that_ends_badly_is_kept_for_status_once() -> None:
    state = PersonaState()
    bad = progress(finished=True, outcome="delivery_failed", reason="x: failed")
    attention.note_failure(state, bad, NOW)
    attention.note_failure(state, bad, NOW)
    attention.note_failure(state, progress(finished=True, outcome="rejected"), NOW)
    assert [(f.workflow_id, f.outcome, f.reason) for f in state.recent_failures] == [
        ("post-nova-sp_1", "delivery_failed", "x: failed")
    ]


# --- the CLI's own rules -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cents"), [("25", 2500), ("$25", 2500), ("25.5", 2550), ("0.01", 1), ("10000", 1_000_000)]
)
def test_amounts_are_dollars_as_typed(text: str, cents: int) -> None:
    assert parse_amount(text) == cents


@pytest.mark.parametrize("text", ["", "ten", "-5", "1.234", "0", "0.00", "10000.01", "1e3", "25,00"])
def test_amounts_that_are_not_dollars_are_refused(text: str) -> None:
    with pytest.raises(OperatorError):
        parse_amount(text)


def test_parked_work_names_the_command_that_resumes_it() -> None:
    assert park_command("balance", "nova", "nova", "main") == (
        "starter.py account topup AMOUNT --account main; after paying: starter.py topped-up nova"
    )
    assert park_command("credentials", "nova", "post-nova-sp_1", "main").endswith("starter.py credentials-updated nova")
    retry = park_command("operator", "nova", "post-nova-sp_1", "main")
    assert retry == "after the fix: starter.py retry post-nova-sp_1"


def test_a_balance_below_what_may_be_spent_warns() -> None:
    line = AccountLine(account_ref="main", balance_cents=100, auto_reload=False, needed_cents=300)
    assert low_balance_warning(line) == (
        "balance $1.00 may not cover the posts in flight and the next cycles (up to $3.00): "
        "starter.py account topup AMOUNT --account main"
    )
    reloading = line.model_copy(update={"auto_reload": True, "reload_amount_cents": 2500})
    assert low_balance_warning(reloading).endswith("auto-reload adds $25.00 when it runs low")  # type: ignore[union-attr]
    assert low_balance_warning(line.model_copy(update={"balance_cents": 300})) is None


@pytest.mark.parametrize(
    ("error", "kind", "code", "words"),
    [
        (RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b""), Unavailable, ExitCode.UNAVAILABLE,
         "cannot reach Temporal"),
        (RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b""), OperatorError, ExitCode.BAD_INPUT, "not found"),
        (RPCError("namespace denied", RPCStatusCode.PERMISSION_DENIED, b""), Unavailable, ExitCode.UNAVAILABLE,
         "Temporal refused"),
        (WorkflowUpdateFailedError(ApplicationError("already approved", type="ALREADY_DECIDED")), Refused,
         ExitCode.REFUSED, "already approved"),
        (TimeoutError(), Unavailable, ExitCode.UNAVAILABLE, "is a worker running"),
        (WorkflowFailureError(cause=ApplicationError("onboarding of a@b.co stopped: signing_up: refused")),
         WorkFailed, ExitCode.FAILED, "the request failed: onboarding of a@b.co stopped: signing_up: refused"),
    ],
)  # fmt: skip
def test_sdk_errors_become_one_line_and_an_exit_code(
    error: BaseException, kind: type[OperatorError], code: ExitCode, words: str
) -> None:
    explained = explain(error, "the request")
    assert isinstance(explained, kind) and explained.exit_code == code and words in str(explained)
    assert "\n" not in str(explained)
    assert explain(ValueError("a bug")) is None
