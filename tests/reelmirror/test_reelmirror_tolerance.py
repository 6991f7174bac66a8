"""The client against guide-minimal answers: only promised fields, envelopes present or absent.

Each case is one endpoint answering in a shape the contract allows but the default simulator never
sends: the bare object where the guide shows none, an envelope where it shows none, a list as a bare
array, unknown values. The call must succeed and read what is there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from reelmirror_fakes import json_response

from reelmirror.client import ReelMirrorClient
from reelmirror.errors import MalformedResponseError

Call = Callable[[ReelMirrorClient], Awaitable[Any]]

KEY = "rm_" + "k" * 24
SECRET = "seti_1_secret_2"

CASES: list[tuple[str, Call, Any, Callable[[Any], bool]]] = [
    # Bare answers, as the guide prints them, and the same wrapped in {"data": ...}.
    (
        "signup",
        lambda c: c.signup("a@b.c", "pw-123456"),
        {"status": "pending_confirmation", "user_id": "u1"},
        lambda r: r.user_id == "u1" and r.is_pending_confirmation,
    ),
    (
        "signup-enveloped",
        lambda c: c.signup("a@b.c", "pw-123456"),
        {"data": {"status": "pending_confirmation", "user_id": "u1"}},
        lambda r: r.user_id == "u1",
    ),
    (
        "api-key",
        lambda c: c.create_api_key("jwt", "k"),
        {"id": "k1", "key": KEY, "scopes": []},
        lambda r: r.key.get_secret_value() == KEY,
    ),
    (
        "api-key-enveloped",
        lambda c: c.create_api_key("jwt", "k"),
        {"data": {"id": "k1", "key": KEY, "scopes": []}},
        lambda r: r.id == "k1",
    ),
    (
        "setup-intent-enveloped",
        lambda c: c.create_setup_intent(),
        {"data": {"client_secret": SECRET}},
        lambda r: r.intent_id == "seti_1",
    ),
    (
        "generate-enveloped",
        lambda c: c.generate("sp1", "p1"),
        {"data": {"generated_post_id": "g1"}},
        lambda r: r.generated_post_id == "g1",
    ),
    (
        "approve-enveloped",
        lambda c: c.approve("g1"),
        {"data": {"status": "publishing", "outgoing_post_id": "o1"}},
        lambda r: r.outgoing_post_id == "o1" and r.is_publishing,
    ),
    (
        "sync-enveloped",
        lambda c: c.sync_persona("p1"),
        {"data": {"job_ids": ["j1", "j2"]}},
        lambda r: r.job_ids == ["j1", "j2"],
    ),
    (
        "sync-with-a-data-field",
        lambda c: c.sync_persona("p1"),
        {"job_ids": ["j1"], "data": {"queued": 1}},
        lambda r: r.job_ids == ["j1"],
    ),
    # Balance: every field assumed.
    (
        "balance-empty",
        lambda c: c.get_balance(),
        {},
        lambda r: r.balance_cents is None and r.has_payment_method is None,
    ),
    ("balance-bare", lambda c: c.get_balance(), {"balance_cents": 5}, lambda r: r.balance_cents == 5),
    ("balance-empty-envelope", lambda c: c.get_balance(), {"data": {}}, lambda r: r.auto_reload is None),
    (
        "balance-odd-types",
        lambda c: c.get_balance(),
        {"data": {"balance_cents": "five", "auto_reload": "maybe"}},
        lambda r: r.balance_cents is None and r.auto_reload is None,
    ),
    ("update-balance-empty", lambda c: c.update_balance(True), {}, lambda r: r.auto_reload is None),
    ("topup-empty", lambda c: c.create_topup(500), {}, lambda r: r.url is None),
    # Created and listed resources: the id, nothing else.
    ("persona-bare", lambda c: c.create_persona("n", "s"), {"id": "p1"}, lambda r: (r.id, r.name) == ("p1", None)),
    ("persona-get-bare", lambda c: c.get_persona("p1"), {"id": "p1"}, lambda r: r.id == "p1"),
    (
        "personas-bare-array",
        lambda c: c.list_personas(),
        [{"id": "p1"}, {"id": "p2"}],
        lambda r: [p.id for p in r] == ["p1", "p2"],
    ),
    ("personas-empty-array", lambda c: c.list_personas(), [], lambda r: r == []),
    (
        "source-bare",
        lambda c: c.add_source("p1", "instagram", "u"),
        {"id": "s1"},
        lambda r: r.id == "s1" and r.automation_mode is None,
    ),
    ("source-update-bare", lambda c: c.update_source("p1", "s1", "auto_clone"), {"id": "s1"}, lambda r: r.id == "s1"),
    (
        "sources-bare-array",
        lambda c: c.list_sources("p1"),
        [{"id": "s1", "automation_mode": "auto_remix"}],
        lambda r: r[0].automation_mode == "auto_remix" and not r[0].has_known_automation_mode,
    ),
    ("accounts-bare-array", lambda c: c.list_publishing_accounts(), [{"id": "a1"}], lambda r: r[0].username is None),
    (
        "target-bare",
        lambda c: c.add_publishing_target("p1", "a1"),
        {"id": "t1"},
        lambda r: r.connected_account_id is None,
    ),
    ("targets-bare-array", lambda c: c.list_publishing_targets("p1"), [{"id": "t1"}], lambda r: r[0].id == "t1"),
    (
        "source-posts-bare-array",
        lambda c: c.list_source_posts("p1"),
        [{"id": "sp1"}],
        lambda r: r[0].creator_id is None,
    ),
    # Polled resources: the promised status, the id filled in from the request.
    (
        "sync-job-minimal",
        lambda c: c.get_sync_job("j1"),
        {"data": {"status": "running"}},
        lambda r: (r.id, r.status, r.is_terminal) == ("j1", "running", False),
    ),
    ("sync-job-bare", lambda c: c.get_sync_job("j1"), {"status": "skipped"}, lambda r: r.is_skipped and r.id == "j1"),
    (
        "sync-job-own-id-kept",
        lambda c: c.get_sync_job("j1"),
        {"data": {"status": "completed", "id": "j1-canonical"}},
        lambda r: r.id == "j1-canonical",
    ),
    (
        "sync-job-unknown-status",
        lambda c: c.get_sync_job("j1"),
        {"data": {"status": "exploded"}},
        lambda r: not r.is_terminal and not r.has_known_status,
    ),
    (
        "post-minimal",
        lambda c: c.get_generated_post("g1"),
        {"data": {"media_items": [{"status": "completed"}]}},
        lambda r: (r.id, r.status, r.all_media_completed) == ("g1", None, True),
    ),
    (
        "post-bare",
        lambda c: c.get_generated_post("g1"),
        {"media_items": [{"status": "failed"}]},
        lambda r: r.any_media_failed and r.media_terminal,
    ),
    (
        "post-unknown-media-status",
        lambda c: c.get_generated_post("g1"),
        {"data": {"media_items": [{"status": "upscaling"}], "origin": "auto_remix"}},
        lambda r: not r.media_terminal and r.origin == "auto_remix",
    ),
    (
        "posts-bare-array-of-nothing",
        lambda c: c.list_generated_posts("p1"),
        [{}],
        lambda r: len(r) == 1 and r[0].id is None and r[0].source_post_id is None,
    ),
    (
        "posts-enveloped",
        lambda c: c.list_generated_posts("p1"),
        {"data": [{"id": "g1", "source_post_id": "sp1"}]},
        lambda r: r[0].source_post_id == "sp1",
    ),
    ("reject-empty", lambda c: c.reject("g1"), {}, lambda r: (r.id, r.status) == ("g1", None)),
    (
        "compose-bare",
        lambda c: c.send_to_compose("g1"),
        {"status": "composing"},
        lambda r: (r.id, r.status) == ("g1", "composing"),
    ),
    (
        "publishing-minimal",
        lambda c: c.get_publishing_post("o1"),
        {"post": {"deliveries": [{"status": "published"}]}},
        lambda r: (r.id, r.all_terminal, r.deliveries[0].id) == ("o1", True, None),
    ),
    (
        "publishing-data-post",
        lambda c: c.get_publishing_post("o1"),
        {"data": {"post": {"deliveries": [{"status": "failed"}]}}},
        lambda r: len(r.failed_deliveries) == 1,
    ),
    (
        "publishing-data",
        lambda c: c.get_publishing_post("o1"),
        {"data": {"deliveries": [{"status": "queued"}]}},
        lambda r: not r.all_terminal,
    ),
    ("publishing-bare", lambda c: c.get_publishing_post("o1"), {"deliveries": []}, lambda r: r.all_terminal),
]


@pytest.mark.parametrize(("name", "call", "answer", "check"), CASES, ids=[c[0] for c in CASES])
async def test_guide_minimal_and_enveloped_answers(
    name: str, call: Call, answer: Any, check: Callable[[Any], bool], fake_api: Any
) -> None:
    client, _ = fake_api(lambda request: json_response(200, answer))
    result = await call(client)
    assert check(result), result


@pytest.mark.parametrize(
    "call",
    [lambda c: c.reject("g1"), lambda c: c.send_to_compose("g1"), lambda c: c.get_balance()],
    ids=["reject", "send_to_compose", "get_balance"],
)
async def test_204_no_content_is_an_empty_answer(call: Call, fake_api: Any) -> None:
    client, _ = fake_api(lambda request: httpx.Response(204))
    await call(client)


async def test_204_still_fails_where_something_is_promised(fake_api: Any) -> None:
    client, _ = fake_api(lambda request: httpx.Response(204))
    with pytest.raises(MalformedResponseError) as caught:
        await client.approve("g1")
    assert "outgoing_post_id" in caught.value.message
