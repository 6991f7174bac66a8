"""Guide-minimal answers: each ``/api/v1`` success body cut down to what the vendor's guide promises.

The simulator's default answers carry every field the contract assumes (``{"data": ...}`` envelopes,
``persona_id``, ``source_post_id``, ``has_payment_method``...). A client that quietly depends on one of
them works against the simulator and breaks on the real service. In guide mode each success body is
rebuilt from the full one by the rule of its route in :data:`GUIDE_SHAPES`: the guide's own
envelopes where its examples or jq paths show one (``.data.status``, ``.data.media_items``,
``.post.deliveries``), bare objects and bare JSON arrays everywhere else, and only the promised
fields plus the ids of what the call created. ``simulator/README.md`` lists the result per route.

The functions are pure (full body in, guide body out); the middleware applies them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["GUIDE_SHAPES", "Shape", "guide_body"]

Shape = Callable[[Any], Any]


def _fields(*names: str) -> Shape:
    """Keep only ``names`` of a bare object (answers the guide prints in full, e.g. ``generated_post_id``)."""

    def shape(body: Any) -> Any:
        return {name: body[name] for name in names if name in body}

    return shape


def _id(body: Any) -> Any:
    """``{"data": {...}}`` to a bare ``{"id"}``: the id of what was created or named is all that is promised."""
    return {"id": body["data"]["id"]}


def _ids(body: Any) -> Any:
    """``{"data": [...]}`` to a bare array of ``{"id"}``."""
    return [{"id": item["id"]} for item in body["data"]]


def _nothing(body: Any) -> Any:
    """An action the guide shows no answer for (reject, send-to-compose): nothing to read."""
    return {}


def _sync_job(body: Any) -> Any:
    """The guide's poll reads ``.data.status`` and nothing else."""
    return {"data": {"status": body["data"]["status"]}}


def _generated_post(body: Any) -> Any:
    """The guide's poll reads ``.data.media_items[].status`` and nothing else."""
    return {"data": {"media_items": [{"status": item["status"]} for item in body["data"]["media_items"]]}}


def _outgoing_post(body: Any) -> Any:
    """The guide's poll reads ``.post.deliveries[].status`` and nothing else."""
    return {"post": {"deliveries": [{"status": item["status"]} for item in body["post"]["deliveries"]]}}


def _balance(body: Any) -> Any:
    """The guide names the auto-reload settings (its PATCH body) but not ``has_payment_method``."""
    return _fields("balance_cents", "auto_reload", "reload_threshold_cents", "reload_amount_cents")(body["data"])


_PERSONA = "/api/v1/personas/{persona_id}"
_POST = "/api/v1/generated-posts/{post_id}"

#: (method, route template) of every ``/api/v1`` route -> how its success body looks in guide mode.
GUIDE_SHAPES: dict[tuple[str, str], Shape] = {
    ("POST", "/api/v1/auth/signup"): _fields("status", "user_id"),
    ("POST", "/api/v1/api-keys"): _fields("id", "key", "scopes"),
    ("GET", "/api/v1/billing/balance"): _balance,
    ("PATCH", "/api/v1/billing/balance"): _balance,
    ("POST", "/api/v1/billing/setup-intent"): _fields("client_secret"),
    ("POST", "/api/v1/billing/topup"): _fields("url"),
    ("POST", "/api/v1/personas"): _id,
    ("GET", "/api/v1/personas"): _ids,
    ("GET", _PERSONA): _id,
    ("PATCH", _PERSONA): _id,
    ("POST", f"{_PERSONA}/sources"): _id,
    ("GET", f"{_PERSONA}/sources"): _ids,
    ("PATCH", f"{_PERSONA}/sources/{{source_id}}"): _id,
    ("POST", f"{_PERSONA}/publishing-targets"): _id,
    ("GET", f"{_PERSONA}/publishing-targets"): _ids,
    ("POST", f"{_PERSONA}/sync"): _fields("job_ids"),
    ("GET", "/api/v1/sync-jobs/{job_id}"): _sync_job,
    ("GET", f"{_PERSONA}/source-posts"): _ids,
    ("POST", "/api/v1/generate"): _fields("generated_post_id"),
    ("GET", _POST): _generated_post,
    ("GET", f"{_PERSONA}/generated-posts"): _ids,
    ("POST", f"{_POST}/approve"): _fields("status", "outgoing_post_id"),
    ("POST", f"{_POST}/reject"): _nothing,
    ("POST", f"{_POST}/send-to-compose"): _nothing,
    ("GET", "/api/v1/publishing/accounts"): _ids,
    ("GET", "/api/v1/publishing/posts/{outgoing_id}"): _outgoing_post,
}


def guide_body(method: str, route: str, body: Any) -> Any:
    """The guide-mode body of a success answer to ``method route``; unknown routes keep their body."""
    shape = GUIDE_SHAPES.get((method, route))
    return body if shape is None else shape(body)
