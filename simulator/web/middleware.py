"""The request pipeline: stats, the event pump, rate limits, injected faults, error envelopes.

For ``/api/v1`` every request is counted in its key's budget and answered with ``X-RateLimit-*``
headers; chaos may add latency, answer 429/502/503 instead of the handler, or lose the response
after the handler committed its side effect (a 502 ``UPSTREAM_ERROR``, or the connection closed
with no response at all), or replace the committed answer by a malformed one (an HTML page, a
truncated body, missing fields, an unknown status), or hold the request before any of this for
longer than the client waits (a late commit). With idempotency keys on, a repeated key gets the
first answer instead of running the handler again. Every injected fault is counted and written to
the ledger. Other paths
(``/auth``, ``/api/webhooks``, ``/_sim``) get the error envelope but no limits and no chaos.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Literal

from aiohttp import web
from aiohttp.typedefs import Handler

from simulator.errors import CODE_BY_STATUS, ApiError
from simulator.late_commit import HeldRequestCancelled
from simulator.malformed import Corrupted, MalformedKind, corrupt
from simulator.ratelimit import RateLimitInfo
from simulator.runtime import Simulator
from simulator.web.guide import shape_for_guide
from simulator.web.http import SIM_KEY, bearer_token, client_ip, error_response
from simulator.web.replay import idempotent

log = logging.getLogger(__name__)

_FAULT_MESSAGES = {
    429: ("RATE_LIMITED", "too many requests"),
    502: ("UPSTREAM_ERROR", "the platform API failed"),
    503: ("SERVICE_UNAVAILABLE", "ReelMirror is temporarily unavailable"),
}


async def _run(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Run the handler, turning every failure into the contract's error envelope."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = CODE_BY_STATUS.get(exc.status, "NOT_FOUND" if exc.status == 404 else "VALIDATION_ERROR")
        message = "no such route" if exc.status == 404 else exc.reason
        return error_response(ApiError(code, message))
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(ApiError("INTERNAL_ERROR", "internal error"))


def _record_fault(
    sim: Simulator, request: web.Request, *, code: str, status: int | None, lost: bool, extra: dict[str, object]
) -> None:
    token = bearer_token(request)
    key = sim.accounts.key_for(token)
    user = sim.core.state.users.get(key.user_id) if key else None
    sim.core.ledger.record(
        "fault",
        at=sim.core.now(),
        by="server",
        user_id=user.id if user else None,
        email=user.email if user else None,
        details={"code": code, "status": status, "lost": lost, "path": request.path, "method": request.method, **extra},
    )


def _bucket(sim: Simulator, request: web.Request) -> str:
    key = sim.accounts.key_for(bearer_token(request))
    return f"key:{key.id}" if key else f"ip:{client_ip(request)}"


def _with_limits(response: web.StreamResponse, info: RateLimitInfo, sim: Simulator) -> web.StreamResponse:
    for name, value in info.headers(sim.core.runtime.rate_limit, time.time()).items():
        response.headers.setdefault(name, value)
    return response


def _drop(request: web.Request) -> web.Response:
    """Close the connection before anything is written: the client sees no response at all."""
    transport = request.transport
    if transport is not None:
        transport.close()
    return web.Response(status=502)


async def _api_v1(sim: Simulator, request: web.Request, handler: Handler) -> tuple[web.StreamResponse, bool]:
    """The ``/api/v1`` pipeline; returns the response and whether it was dropped."""
    sim.refresh()
    method, path = request.method, request.path
    decision = sim.chaos.before_handler(method, path)
    if decision.latency_ms is not None:
        sim.stats.fault("latency")
        _record_fault(sim, request, code="LATENCY", status=None, lost=False, extra={"latency_ms": decision.latency_ms})
        await asyncio.sleep(decision.latency_ms / 1000)
    info = sim.rate_limiter.hit(_bucket(sim, request), sim.core.runtime.rate_limit)
    if not info.allowed:
        error = ApiError("RATE_LIMITED", "rate limit exceeded; wait for X-RateLimit-Reset")
        return _with_limits(error_response(error), info, sim), False
    if decision.error_status is not None:
        status = decision.error_status
        sim.stats.fault(str(status))
        code, message = _FAULT_MESSAGES[status]
        _record_fault(sim, request, code=code, status=status, lost=False, extra={})
        shown = info.exhausted() if status == 429 else info
        return _with_limits(error_response(ApiError(code, message)), shown, sim), False

    async def act() -> web.StreamResponse:
        return shape_for_guide(sim, request, await _run(request, handler))

    response = _with_limits(await idempotent(sim, request, act), info, sim)
    lost: Literal["502", "drop"] | None = sim.chaos.after_handler(method, path)
    if lost is None:
        return _maybe_malformed(sim, request, response), False
    sim.stats.fault("lost")
    _record_fault(
        sim,
        request,
        code="UPSTREAM_ERROR" if lost == "502" else "DROPPED",
        status=502 if lost == "502" else None,
        lost=True,
        extra={"mode": lost, "handler_status": response.status},
    )
    if lost == "drop":
        return _drop(request), True
    return _with_limits(error_response(ApiError("UPSTREAM_ERROR", "the platform API failed")), info, sim), False


def _maybe_malformed(sim: Simulator, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Replace the committed answer by a malformed one when chaos says so (see ``simulator.malformed``)."""
    body = response.body if isinstance(response, web.Response) and isinstance(response.body, bytes) else None
    value = sim.chaos.config.unknown_status_value

    built: dict[MalformedKind, Corrupted | None] = {}

    def applies(kind: MalformedKind) -> bool:
        built[kind] = corrupt(kind, response.status, body, response.content_type, value)
        return built[kind] is not None

    kind = sim.chaos.malformed(request.method, request.path, applies)
    corrupted = built.get(kind) if kind is not None else None
    if kind is None or corrupted is None:
        return response
    sim.stats.fault(kind)
    _record_fault(
        sim,
        request,
        code="MALFORMED_RESPONSE",
        status=corrupted.status,
        lost=False,
        extra={"malformed": kind, "handler_status": response.status},
    )
    replaced = web.Response(status=corrupted.status, body=corrupted.body, content_type=corrupted.content_type)
    if corrupted.keep_api_headers:
        for name, header in response.headers.items():
            if name.lower().startswith(("x-ratelimit-", "retry-after")):
                replaced.headers[name] = header
    return replaced


async def _late_commit(sim: Simulator, request: web.Request, handler: Handler, delay: float) -> web.StreamResponse:
    """Hold the request ``delay`` real seconds, then run the pipeline; it commits even if the client left.

    The body is read first: it has arrived, and once the client disconnects aiohttp refuses to read it.
    The held work records itself (stats, ledger), since nobody may be left to do it afterwards.
    """
    await request.read()

    async def commit() -> web.StreamResponse:
        response, dropped = await _api_v1(sim, request, handler)
        gone = request.transport is None
        sim.stats.fault("late_commit")
        sim.stats.status("client_gone" if gone else "dropped" if dropped else response.status)
        _record_fault(
            sim,
            request,
            code="LATE_COMMIT",
            status=None if gone or dropped else response.status,
            lost=gone,
            extra={"delay_seconds": delay, "handler_status": response.status, "client_gone": gone},
        )
        return response

    try:
        return await sim.late_commits.hold(delay, commit)
    except HeldRequestCancelled:
        return error_response(ApiError("SERVICE_UNAVAILABLE", "the simulator was reset or is shutting down"))


@web.middleware
async def pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
    sim = request.app[SIM_KEY]
    if request.path.startswith("/_sim"):
        return await _run(request, handler)
    sim.stats.request()
    if request.path.startswith("/api/v1/"):
        delay = sim.chaos.late_commit(request.method, request.path)
        if delay is not None:
            return await _late_commit(sim, request, handler, delay)
        response, dropped = await _api_v1(sim, request, handler)
        sim.stats.status("dropped" if dropped else response.status)
        return response
    sim.refresh()
    response = await _run(request, handler)
    sim.stats.status(response.status)
    return response
