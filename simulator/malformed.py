"""Malformed answers: what a proxy, a half-deployed release or a new enum value does to a response.

A client that parses only well-formed JSON survives a happy-path simulator and then crashes on the
real service the first time a load balancer serves its HTML error page, a connection is cut in the
middle of a body, a field is missing, or the vendor ships a status value nobody has seen before.
These functions turn one already-produced response into such an answer. They are pure: which
request is hit (and whether its side effect was committed first) is decided by
:class:`simulator.chaos.ChaosEngine` and applied by the middleware.

Kinds (``MalformedKind``):

* ``html_502``: a gateway's HTML "502 Bad Gateway" page instead of the answer (any answer);
* ``html_200``: an HTML maintenance page with status 200 (only instead of a 2xx answer);
* ``invalid_json``: the 2xx JSON body cut in half (a truncated transfer), status kept;
* ``missing_fields``: the 2xx JSON body without the fields the contract promises (ids, statuses,
  the bare results such as ``generated_post_id`` or ``job_ids``; an empty list loses its envelope);
* ``unknown_status``: every ``status`` field of a 2xx JSON body set to an unknown value
  (``"exploded"`` by default): only answers that carry a status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "HTML_200_PAGE",
    "HTML_502_PAGE",
    "MALFORMED_KINDS",
    "REQUIRED_FIELDS",
    "Corrupted",
    "MalformedKind",
    "corrupt",
    "has_status",
    "strip_required",
    "with_status",
]

MalformedKind = Literal["html_502", "html_200", "invalid_json", "missing_fields", "unknown_status"]
MALFORMED_KINDS: tuple[MalformedKind, ...] = (
    "html_502",
    "html_200",
    "invalid_json",
    "missing_fields",
    "unknown_status",
)

#: Fields a client cannot do without: dropped by ``missing_fields`` wherever they appear in the answer's object
#: (the guide's promised fields among them: a publishing post's ``deliveries``, a generated post's ``media_items``).
REQUIRED_FIELDS = frozenset(
    {
        "id",
        "status",
        "deliveries",
        "media_items",
        "user_id",
        "key",
        "client_secret",
        "url",
        "balance_cents",
        "job_ids",
        "generated_post_id",
        "outgoing_post_id",
    }
)

HTML_502_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
HTML_200_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>ReelMirror: down for maintenance</title></head>\n"
    "<body><h1>We'll be right back</h1><p>ReelMirror is being updated. Please try again in a few minutes.</p>"
    "</body></html>\n"
)


@dataclass(frozen=True)
class Corrupted:
    """The answer to send instead: status, body, content type, and whether rate-limit headers stay.

    HTML pages come from a proxy in front of the API, so they carry no ``X-RateLimit-*`` headers;
    corrupted JSON still comes from the API and keeps them.
    """

    status: int
    body: bytes
    content_type: str
    keep_api_headers: bool


def _is_success(status: int) -> bool:
    return 200 <= status < 300


def _json_of(body: bytes | None, content_type: str | None) -> Any:
    """The decoded JSON body, or ``None`` when the answer is not JSON (nothing to corrupt then)."""
    if body is None or not (content_type or "").startswith("application/json"):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def has_status(payload: Any) -> bool:
    """Whether a ``status`` key appears anywhere in the JSON value."""
    if isinstance(payload, dict):
        return "status" in payload or any(has_status(value) for value in payload.values())
    if isinstance(payload, list):
        return any(has_status(item) for item in payload)
    return False


def with_status(payload: Any, value: str) -> Any:
    """A copy of the JSON value with every ``status`` set to ``value``."""
    if isinstance(payload, dict):
        return {key: value if key == "status" else with_status(item, value) for key, item in payload.items()}
    if isinstance(payload, list):
        return [with_status(item, value) for item in payload]
    return payload


def _without_required(obj: dict[str, Any]) -> dict[str, Any]:
    kept = {key: value for key, value in obj.items() if key not in REQUIRED_FIELDS}
    return kept if len(kept) < len(obj) else {}


def strip_required(payload: Any) -> Any:
    """A copy of the answer that lacks what the contract promises.

    The object inside the envelope (``data`` or ``post``; the first item of a list, also of a bare
    list as guide answers send) loses its required fields (an object without any loses every field);
    an empty list loses its envelope, and an empty bare list becomes an empty object.
    """
    if isinstance(payload, list) and payload:
        first = payload[0] if isinstance(payload[0], dict) else {}
        return [_without_required(first), *payload[1:]]
    if not isinstance(payload, dict):
        return {}
    for envelope in ("data", "post"):
        if envelope not in payload:
            continue
        inner = payload[envelope]
        rest = {key: value for key, value in payload.items() if key != envelope}
        if isinstance(inner, list):
            if not inner:
                return rest
            first = inner[0] if isinstance(inner[0], dict) else {}
            return {**rest, envelope: [_without_required(first), *inner[1:]]}
        if isinstance(inner, dict):
            return {**rest, envelope: _without_required(inner)}
        return rest
    return _without_required(payload)


def corrupt(
    kind: MalformedKind, status: int, body: bytes | None, content_type: str | None, unknown_status: str
) -> Corrupted | None:
    """The malformed answer of ``kind`` for this response, or ``None`` when the kind does not apply."""
    if kind == "html_502":
        return Corrupted(502, HTML_502_PAGE.encode(), "text/html", keep_api_headers=False)
    if not _is_success(status):
        return None
    if kind == "html_200":
        return Corrupted(200, HTML_200_PAGE.encode(), "text/html", keep_api_headers=False)
    payload = _json_of(body, content_type)
    if payload is None or body is None:
        return None
    if kind == "invalid_json":
        return Corrupted(status, body[: len(body) // 2], "application/json", keep_api_headers=True)
    if kind == "missing_fields":
        return Corrupted(status, json.dumps(strip_required(payload)).encode(), "application/json", True)
    if not has_status(payload):
        return None
    return Corrupted(status, json.dumps(with_status(payload, unknown_status)).encode(), "application/json", True)
