"""From a decoded JSON answer to a model: envelopes taken off, the contract's promise checked.

Why tolerant here: the guide shows a ``{"data": ...}`` envelope for some answers (``.data.status``),
``{"post": ...}`` for one, and nothing for most (create a persona: no answer printed at all). A
server may wrap or not wrap any of them, and a bot must not care. So:

* a **single resource** is the bare object, or the object under ``data`` (and, for publishing posts,
  under ``post``, possibly inside ``data``). An object whose ``data`` member is an object is read as
  an envelope, unless the outer object itself carries every promised field and the inner one does
  not (then ``data`` is just a field);
* a **list** is a bare JSON array, or an array under ``data``.

Failures become :class:`~reelmirror.errors.MalformedResponseError` naming field locations and error
types only, never input values: a body that lacks ``id`` may still carry a key, and pydantic's own
message would print it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from reelmirror.errors import MalformedResponseError
from reelmirror.ratelimit import RateLimitInfo

__all__ = ["parse_list", "parse_model", "parse_single", "promised_fields", "unwrap"]

M = TypeVar("M", bound=BaseModel)


def promised_fields(model: type[BaseModel]) -> frozenset[str]:
    """The model's required fields: what the contract promises for this answer."""
    return frozenset(name for name, field in model.model_fields.items() if field.is_required())


def _carries(obj: dict[str, Any], fields: frozenset[str]) -> bool:
    return all(name in obj for name in fields)


def unwrap(payload: Any, keys: Sequence[str], promised: frozenset[str]) -> Any:
    """Take off each envelope of ``keys`` in turn, where the payload has one (see the module docstring)."""
    for key in keys:
        if not isinstance(payload, dict):
            return payload
        inner = payload.get(key)
        if not isinstance(inner, dict):
            continue
        if promised and _carries(payload, promised) and not _carries(inner, promised):
            continue  # ``key`` is a field of the resource, not an envelope around it
        payload = inner
    return payload


def parse_model(
    model: type[M],
    payload: Any,
    where: str,
    status: int,
    rate_limit: RateLimitInfo | None = None,
    *,
    name: str | None = None,
) -> M:
    """Validate ``payload`` as ``model`` (called ``name`` in messages, default the class name); a
    missing promised field or a non-object is MalformedResponseError."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['type']}" for err in exc.errors()
        )
        raise MalformedResponseError(
            f"{where}: response does not match {name or model.__name__} ({problems})",
            status=status,
            rate_limit=rate_limit,
        ) from None


def parse_single(
    model: type[M],
    payload: Any,
    where: str,
    status: int,
    *,
    envelopes: Sequence[str] = ("data",),
    promise: type[BaseModel] | None = None,
    rate_limit: RateLimitInfo | None = None,
) -> M:
    """One resource, with or without its envelopes.

    ``promise`` is a stricter model of what the contract promises for this particular call, when
    that is more than ``model`` requires (``model`` also serves calls that promise less): the body
    must pass it first, then it is parsed leniently as ``model``.
    """
    body = unwrap(payload, envelopes, promised_fields(promise or model))
    if promise is not None:
        parse_model(promise, body, where, status, rate_limit, name=model.__name__)
    return parse_model(model, body, where, status, rate_limit)


def parse_list(
    model: type[M], payload: Any, where: str, status: int, rate_limit: RateLimitInfo | None = None
) -> list[M]:
    """A list of resources: a bare JSON array or ``{"data": [...]}``; every item must parse."""
    items = payload.get("data") if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise MalformedResponseError(
            f"{where}: response is not a list (neither a JSON array nor {{'data': [...]}})",
            status=status,
            rate_limit=rate_limit,
        )
    parsed: list[M] = []
    for index, item in enumerate(items):
        parsed.append(parse_model(model, item, f"{where}: item {index}", status, rate_limit))
    return parsed
