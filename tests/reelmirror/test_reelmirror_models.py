"""Payload models: tolerance of unknown fields, secrets kept out of repr, the guide's poll conditions."""

from __future__ import annotations

import secrets

import pytest
from pydantic import ValidationError

from reelmirror.models import (
    ALL_SCOPES,
    AUTOMATION_MODES,
    DELIVERY_TERMINAL,
    MEDIA_TERMINAL,
    PLATFORMS,
    SYNC_TERMINAL,
    ApiKey,
    GeneratedPost,
    OutgoingPost,
    SetupIntentSecret,
    SyncJob,
)


def test_constants_match_the_contract() -> None:
    assert len(ALL_SCOPES) == 12 and len(set(ALL_SCOPES)) == 12
    assert "uploads:write" in ALL_SCOPES and "billing:write" in ALL_SCOPES
    assert set(PLATFORMS) == {"instagram", "tiktok", "youtube", "x", "facebook", "threads"}
    assert AUTOMATION_MODES == ("sync_only", "auto_clone", "auto_publish")
    assert SYNC_TERMINAL == {"completed", "failed", "skipped"}
    assert MEDIA_TERMINAL == {"completed", "failed"}
    assert DELIVERY_TERMINAL == {"published", "failed"}


def test_secrets_are_masked_in_repr_str_and_dump() -> None:
    key = "rm_" + secrets.token_hex(16)
    api_key = ApiKey.model_validate({"id": "k1", "key": key, "scopes": ["personas:read"], "new_field": 1})
    for text in (repr(api_key), str(api_key), api_key.model_dump_json()):
        assert key not in text
    assert "**********" in repr(api_key)
    assert api_key.key.get_secret_value() == key

    client_secret = f"seti_{secrets.token_hex(6)}_secret_{secrets.token_hex(8)}"
    setup = SetupIntentSecret.model_validate({"client_secret": client_secret})
    assert client_secret not in repr(setup) and client_secret not in str(setup)
    assert setup.intent_id == client_secret.split("_secret_")[0]


def post(*statuses: str) -> GeneratedPost:
    return GeneratedPost.model_validate(
        {
            "id": "g1",
            "persona_id": "p1",
            "source_post_id": "s1",
            "status": "generating",
            "media_items": [{"id": f"m{i}", "type": "image", "status": s} for i, s in enumerate(statuses)],
            "brand_new_field": {"nested": True},
        }
    )


@pytest.mark.parametrize(
    ("statuses", "completed", "failed", "terminal"),
    [
        (("completed", "completed"), True, False, True),
        (("completed", "processing"), False, False, False),
        (("pending",), False, False, False),
        (("completed", "failed"), False, True, True),
        ((), False, False, False),
        (("completed", "rendering_v2"), False, False, False),
    ],
)
def test_generated_post_media_conditions(
    statuses: tuple[str, ...], completed: bool, failed: bool, terminal: bool
) -> None:
    p = post(*statuses)
    assert (p.all_media_completed, p.any_media_failed, p.media_terminal) == (completed, failed, terminal)


@pytest.mark.parametrize(
    ("statuses", "terminal"),
    [(("published", "failed"), True), (("published", "publishing"), False), (("pending",), False), ((), True)],
)
def test_outgoing_post_all_terminal(statuses: tuple[str, ...], terminal: bool) -> None:
    outgoing = OutgoingPost.model_validate(
        {
            "id": "o1",
            "deliveries": [
                {"id": f"d{i}", "connected_account_id": "a", "platform": "x", "status": s}
                for i, s in enumerate(statuses)
            ],
        }
    )
    assert outgoing.all_terminal is terminal
    assert [d.id for d in outgoing.failed_deliveries] == [f"d{i}" for i, s in enumerate(statuses) if s == "failed"]


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        ("pending", False),
        ("running", False),
        ("completed", True),
        ("failed", True),
        ("skipped", True),
        ("queued", False),
    ],
)
def test_sync_job_terminal(status: str, terminal: bool) -> None:
    assert SyncJob.model_validate({"id": "j", "status": status}).is_terminal is terminal


def test_required_fields_are_required() -> None:
    with pytest.raises(ValidationError):
        GeneratedPost.model_validate({"id": "g1", "persona_id": "p1", "source_post_id": "s1", "status": "ready"})
    with pytest.raises(ValidationError):
        SyncJob.model_validate({"id": "j"})
