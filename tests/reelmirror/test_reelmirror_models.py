"""Answer models: only promised fields required, assumed ones optional and never fatal, unknown
fields and values tolerated, secrets kept out of repr, the guide's poll conditions."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import ValidationError

from reelmirror import models
from reelmirror.models import (
    ALL_SCOPES,
    AUTOMATION_MODES,
    DELIVERY_STATUSES,
    DELIVERY_TERMINAL,
    MEDIA_STATUSES,
    MEDIA_TERMINAL,
    MEDIA_TYPES,
    ORIGINS,
    PLATFORMS,
    SYNC_STATUSES,
    SYNC_TERMINAL,
    ApiKey,
    ApiModel,
    ApproveResult,
    Balance,
    ConnectedAccount,
    Delivery,
    GeneratedPost,
    GenerateResult,
    MediaItem,
    OutgoingPost,
    Persona,
    PublishingTarget,
    SetupIntentSecret,
    SignupResult,
    Source,
    SourcePost,
    SyncJob,
    SyncStarted,
    TopupSession,
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
    job = SyncJob.model_validate({"status": status})
    assert job.is_terminal is terminal
    assert job.has_known_status is (status != "queued")
    assert (job.is_completed, job.is_failed, job.is_skipped) == (
        status == "completed",
        status == "failed",
        status == "skipped",
    )


# -- promised vs assumed, model by model ------------------------------------------------------

WHEN = "2025-01-01T00:00:00Z"


@dataclass(frozen=True)
class Shape:
    """A model, its guide-minimal answer (promised fields only) and a full answer (every field)."""

    model: type[ApiModel]
    minimal: dict[str, Any]
    full: dict[str, Any]


SHAPES = [
    Shape(
        SignupResult,
        {"status": "pending_confirmation", "user_id": "u1"},
        {"status": "pending_confirmation", "user_id": "u1"},
    ),
    Shape(
        ApiKey,
        {"id": "k1", "key": "rm_" + "k" * 24, "scopes": ["personas:read"]},
        {"id": "k1", "key": "rm_" + "k" * 24, "scopes": ["personas:read"]},
    ),
    Shape(SetupIntentSecret, {"client_secret": "seti_1_secret_2"}, {"client_secret": "seti_1_secret_2"}),
    Shape(
        Balance,
        {},
        {
            "balance_cents": 500,
            "auto_reload": True,
            "reload_threshold_cents": 500,
            "reload_amount_cents": 2500,
            "has_payment_method": True,
        },
    ),
    Shape(TopupSession, {}, {"url": "https://checkout.example/cs_1"}),
    Shape(Persona, {"id": "p1"}, {"id": "p1", "name": "My Creator", "writing_style": "Casual", "created_at": WHEN}),
    Shape(
        Source,
        {"id": "s1"},
        {
            "id": "s1",
            "persona_id": "p1",
            "platform": "instagram",
            "username": "target_creator",
            "automation_mode": "auto_publish",
            "creator_id": "c1",
            "last_synced_at": WHEN,
            "created_at": WHEN,
        },
    ),
    Shape(
        ConnectedAccount,
        {"id": "a1"},
        {"id": "a1", "platform": "tiktok", "username": "me", "status": "connected"},
    ),
    Shape(
        PublishingTarget,
        {"id": "t1"},
        {"id": "t1", "persona_id": "p1", "connected_account_id": "a1", "platform": "tiktok", "username": "me"},
    ),
    Shape(SyncStarted, {"job_ids": ["j1"]}, {"job_ids": ["j1"], "jobs": [{"id": "j1", "status": "pending"}]}),
    Shape(
        SyncJob,
        {"status": "completed"},
        {
            "status": "completed",
            "id": "j1",
            "persona_id": "p1",
            "source_id": "s1",
            "new_posts": 6,
            "created_at": WHEN,
            "finished_at": WHEN,
            "error": "none",
        },
    ),
    Shape(
        SourcePost,
        {"id": "sp1"},
        {
            "id": "sp1",
            "creator_id": "c1",
            "platform": "instagram",
            "platform_post_id": "ig_1",
            "media_type": "video",
            "caption": "hi",
            "posted_at": WHEN,
        },
    ),
    Shape(
        MediaItem,
        {"status": "completed"},
        {"status": "completed", "id": "m1", "type": "image", "url": "https://cdn.example/m1", "error": "none"},
    ),
    Shape(
        GeneratedPost,
        {},
        {
            "id": "g1",
            "persona_id": "p1",
            "source_post_id": "sp1",
            "status": "ready",
            "media_items": [{"status": "completed", "id": "m1", "type": "image", "url": "u", "error": "e"}],
            "caption": "hi",
            "origin": "api",
            "outgoing_post_id": "o1",
            "rejection_reason": "none",
            "created_at": WHEN,
        },
    ),
    Shape(GenerateResult, {"generated_post_id": "g1"}, {"generated_post_id": "g1"}),
    Shape(
        ApproveResult,
        {"status": "publishing", "outgoing_post_id": "o1"},
        {"status": "publishing", "outgoing_post_id": "o1"},
    ),
    Shape(
        Delivery,
        {"status": "published"},
        {"status": "published", "id": "d1", "connected_account_id": "a1", "platform": "x", "error": "e"},
    ),
    Shape(
        OutgoingPost,
        {"deliveries": [{"status": "published"}]},
        {
            "deliveries": [{"status": "published", "id": "d1", "connected_account_id": "a1", "platform": "x"}],
            "id": "o1",
            "generated_post_id": "g1",
            "status": "done",
        },
    ),
]


def test_every_model_has_a_shape() -> None:
    answer_models = {getattr(models, name) for name in models.__all__} - {models.ApiModel}
    answer_models = {m for m in answer_models if isinstance(m, type) and issubclass(m, ApiModel)}
    assert answer_models == {shape.model for shape in SHAPES}


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.model.__name__)
def test_guide_minimal_shape_parses_and_only_promised_fields_are_required(shape: Shape) -> None:
    parsed = shape.model.model_validate(shape.minimal)
    required = {name for name, field in shape.model.model_fields.items() if field.is_required()}
    assert required == set(shape.minimal), "required fields must be exactly the promised ones"
    for name in shape.model.model_fields:
        if name not in shape.minimal:
            assert getattr(parsed, name) in (None, []), name
    for name in shape.minimal:
        with pytest.raises(ValidationError):
            shape.model.model_validate({k: v for k, v in shape.minimal.items() if k != name})


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.model.__name__)
def test_full_shape_fills_every_field(shape: Shape) -> None:
    parsed = shape.model.model_validate(shape.full)
    assert set(shape.full) == set(shape.model.model_fields), "the full shape must name every field"
    for name in shape.model.model_fields:
        assert getattr(parsed, name) not in (None, []), name


#: Fields whose values come from a vocabulary the vendor may extend (statuses, modes, media types, origins).
VOCABULARY_FIELDS = frozenset({"status", "automation_mode", "media_type", "origin", "type", "platform"})


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.model.__name__)
def test_unknown_fields_and_values_never_fail(shape: Shape) -> None:
    vocabulary = [name for name in shape.model.model_fields if name in VOCABULARY_FIELDS]
    odd = {**shape.full, "brand_new_field": {"nested": [1, 2]}, "another": None}
    odd.update({name: "value_from_the_future" for name in vocabulary})
    parsed = shape.model.model_validate(odd)
    for name in vocabulary:
        assert getattr(parsed, name) == "value_from_the_future"
    assert not hasattr(parsed, "brand_new_field")


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.model.__name__)
def test_assumed_fields_in_an_unexpected_shape_fall_back_to_their_default(shape: Shape) -> None:
    weird = dict(shape.full)
    assumed = [name for name in shape.model.model_fields if name not in shape.minimal]
    for name in assumed:
        weird[name] = {"unexpected": ["shape"]}
    parsed = shape.model.model_validate(weird)
    for name in assumed:
        assert getattr(parsed, name) in (None, []), name


def test_promised_fields_in_an_unexpected_shape_still_fail() -> None:
    with pytest.raises(ValidationError):
        SyncJob.model_validate({"status": {"code": "done"}})
    with pytest.raises(ValidationError):
        OutgoingPost.model_validate({"deliveries": [{"id": "d1"}]})
    with pytest.raises(ValidationError):
        SyncStarted.model_validate({"job_ids": "j1"})


def test_balance_with_no_known_field_says_not_reported() -> None:
    balance = Balance.model_validate({"credits": "lots", "currency": "usd"})
    assert balance.model_dump() == {
        "balance_cents": None,
        "auto_reload": None,
        "reload_threshold_cents": None,
        "reload_amount_cents": None,
        "has_payment_method": None,
    }


def test_known_value_helpers() -> None:
    assert SignupResult(status="pending_confirmation", user_id="u").is_pending_confirmation
    assert ApproveResult(status="publishing", outgoing_post_id="o").is_publishing
    assert not ApproveResult(status="queued_for_review", outgoing_post_id="o").is_publishing
    assert Source(id="s", automation_mode="auto_clone").has_known_automation_mode
    assert not Source(id="s", automation_mode="auto_remix").has_known_automation_mode
    assert not Source(id="s").has_known_automation_mode
    delivery = Delivery(status="published")
    assert (delivery.is_terminal, delivery.is_published, delivery.is_failed) == (True, True, False)
    assert not Delivery(status="scheduled").is_terminal
    media = MediaItem(status="failed")
    assert (media.is_terminal, media.is_failed, media.is_completed) == (True, True, False)
    assert GeneratedPost(status="ready").has_known_status
    assert not GeneratedPost(status="remixing").has_known_status and not GeneratedPost().has_known_status
    assert {"image", "video", "carousel"} == MEDIA_TYPES and {"api", "auto_clone", "auto_publish"} == ORIGINS
    assert SYNC_TERMINAL < SYNC_STATUSES and MEDIA_TERMINAL < MEDIA_STATUSES and DELIVERY_TERMINAL < DELIVERY_STATUSES
