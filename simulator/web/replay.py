"""``Idempotency-Key`` on ``/api/v1`` POSTs, when the runtime knob ``idempotency_keys`` is on.

The scope is the caller: the bearer token (an ``rm_`` key or a session JWT, stored only as a hash),
or the client IP for calls without one (signup). The fingerprint is the method, path, query and body,
so reusing a key for another request is a 400. The stored answer is the handler's (after guide
shaping), before any injected fault touches it: a retry after a lost response gets what the first
request committed. A replay carries ``Idempotent-Replayed: true``, as Stripe's does. With the knob
off the header is ignored entirely.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

from aiohttp import web

from simulator.errors import invalid
from simulator.idempotency import KeyReused, StoredAnswer
from simulator.runtime import Simulator
from simulator.web.http import bearer_token, client_ip, error_response

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
_OWN_HEADERS = frozenset({"content-length", "content-type"})


def _scope(request: web.Request) -> str:
    token = bearer_token(request)
    if token:
        return "token:" + hashlib.sha256(token.encode()).hexdigest()
    return "ip:" + client_ip(request)


def _fingerprint(request: web.Request, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path_qs.encode(), body):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def _stored(response: web.StreamResponse) -> StoredAnswer:
    body = response.body if isinstance(response, web.Response) else None
    headers = tuple((name, value) for name, value in response.headers.items() if name.lower() not in _OWN_HEADERS)
    return StoredAnswer(
        status=response.status,
        body=body if isinstance(body, bytes) else b"",
        content_type=response.content_type,
        headers=headers,
    )


def _replayed(answer: StoredAnswer) -> web.Response:
    response = web.Response(status=answer.status, body=answer.body, content_type=answer.content_type)
    for name, value in answer.headers:
        response.headers.add(name, value)
    response.headers[REPLAYED_HEADER] = "true"
    return response


async def idempotent(
    sim: Simulator, request: web.Request, act: Callable[[], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Answer through the idempotency store when the knob is on and the POST carries a key."""
    key = request.headers.get(HEADER)
    if not sim.core.runtime.idempotency_keys or request.method != "POST" or key is None:
        return await act()
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        return error_response(invalid(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters"))
    fingerprint = _fingerprint(request, await request.read())
    acted: list[web.StreamResponse] = []

    async def first() -> StoredAnswer:
        acted.append(await act())
        return _stored(acted[0])

    try:
        answer, replayed = await sim.idempotency.run(_scope(request), key, fingerprint, first)
    except KeyReused:
        return error_response(invalid(f"this {HEADER} was already used with a different request"))
    if not replayed:
        return acted[0]
    api_key = sim.accounts.key_for(bearer_token(request))
    user = sim.core.state.users.get(api_key.user_id) if api_key else None
    sim.core.ledger.record(
        "idempotent_replay",
        at=sim.core.now(),
        by="server",
        user_id=user.id if user else None,
        email=user.email if user else None,
        details={"key": key, "method": request.method, "path": request.path, "status": answer.status},
    )
    return _replayed(answer)
