"""Request and response helpers shared by every route module.

JSON in and out, the contract's error envelope, request bodies validated by pydantic models into
``400 VALIDATION_ERROR`` with a message naming the offending fields, the bearer token, the client
IP, and the app key under which the :class:`~simulator.runtime.Simulator` is stored.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from simulator.errors import ApiError, invalid
from simulator.runtime import Simulator

SIM_KEY: web.AppKey[Simulator] = web.AppKey("simulator", Simulator)

M = TypeVar("M", bound=BaseModel)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=json.dumps(data).encode(), status=status, headers=headers, content_type="application/json")


def error_response(error: ApiError) -> web.Response:
    return json_response(error.body(), status=error.status, headers=error.headers or None)


async def read_json(request: web.Request) -> dict[str, Any]:
    """The JSON object body; an empty body is ``{}`` (curl posts without ``-d``)."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise invalid("the request body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise invalid("the request body must be a JSON object")
    return data


def validate(model: type[M], data: dict[str, Any]) -> M:
    """Validate ``data`` into ``model``; errors become one readable 400 message."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "body"
            problems.append(f"{field}: {error['msg']}")
        raise invalid("invalid request body: " + "; ".join(problems)) from exc


async def body(request: web.Request, model: type[M]) -> M:
    return validate(model, await read_json(request))


def bearer_token(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def client_ip(request: web.Request) -> str:
    return request.remote or "unknown"
