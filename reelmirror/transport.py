"""One HTTP exchange under one total deadline, and what a failure says about the server's state.

Why a total deadline: httpx's timeouts are per phase (connect, write, each read, pool). A server
that trickles its answer one byte every few seconds never trips a read timeout, and a call can
hang for as long as the server likes; an activity with a start-to-close timeout then dies without
knowing why. :func:`send` wraps the whole exchange, from taking a pooled connection to the last
byte of the body, in :func:`asyncio.timeout`.

Why phases: after a failure the caller must decide whether the request may have run on the
server. httpcore reports its progress through the ``trace`` request extension; the last event seen
tells the phase (``connect``: nothing sent; ``send``; ``wait``: sent, no answer yet; ``receive``).
Transports that report nothing (``httpx.MockTransport``) leave the phase unknown (``None``), and
an unknown phase counts as "may have committed" for a call with side effects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx

from reelmirror.errors import TransportError

__all__ = ["SAFE_METHODS", "PhaseTracker", "send", "transport_error"]

#: Methods that change nothing on the server (RFC 9110 "safe"): a failed one never committed anything.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_NOTHING_SENT = frozenset({"connect"})


class PhaseTracker:
    """An httpcore ``trace`` callback that remembers how far the exchange got (async: httpcore's
    async connections refuse a plain function)."""

    __slots__ = ("phase",)

    def __init__(self) -> None:
        self.phase: str | None = None

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        # Event names look like "connection.connect_tcp.started" or "http11.send_request_body.complete".
        if event.startswith("connection."):
            self.phase = "connect"
        elif ".send_request_" in event:
            self.phase = "send"
        elif ".receive_response_headers." in event:
            self.phase = "wait"
        elif ".receive_response_body." in event:
            self.phase = "receive"


def _may_have_committed(has_side_effects: bool, phase: str | None) -> bool:
    return has_side_effects and phase not in _NOTHING_SENT


def transport_error(
    exc: httpx.HTTPError,
    method: str,
    where: str,
    *,
    phase: str | None,
    has_side_effects: bool,
    secrets: Sequence[str | None] = (),
) -> TransportError:
    """Classify an httpx failure by what it says about the request's fate on the server."""
    if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError | httpx.PoolTimeout):
        # The request never left this process (or never reached a server): nothing was committed.
        kind, phase, committed = "connect", "connect", False
    else:
        if isinstance(exc, httpx.TimeoutException):
            kind = "timeout"
        elif isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
            kind = "dropped"
        else:
            kind = "network"
        committed = _may_have_committed(has_side_effects, phase)
    detail = str(exc) or type(exc).__name__
    return TransportError(
        f"{method} {where}: {type(exc).__name__}: {detail} (phase: {phase or 'unknown'})",
        kind=kind,
        may_have_committed=committed,
        phase=phase,
        secrets=secrets,
    )


async def send(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    deadline: float | None,
    where: str,
    has_side_effects: bool | None = None,
    secrets: Sequence[str | None] = (),
    **kwargs: Any,
) -> httpx.Response:
    """``http.request(method, url, **kwargs)``, complete with its body within ``deadline`` seconds.

    ``where`` names the call in messages (a path without the query, which may hold a secret).
    ``has_side_effects`` defaults to "not a safe method"; pass ``True`` for a GET that consumes
    something (a one-time confirmation link). Raises :class:`TransportError` for every failure
    without a complete response, ``kind="timeout"`` with the phase when the deadline struck.
    """
    effects = method.upper() not in SAFE_METHODS if has_side_effects is None else has_side_effects
    tracker = PhaseTracker()
    extensions = {**kwargs.pop("extensions", {}), "trace": tracker}
    try:
        async with asyncio.timeout(deadline) as scope:
            return await http.request(method, url, extensions=extensions, **kwargs)
    except TimeoutError:
        if not scope.expired():
            raise
        raise TransportError(
            f"{method} {where}: no complete response within the total deadline of {deadline:g} s "
            f"(phase: {tracker.phase or 'unknown'})",
            kind="timeout",
            may_have_committed=_may_have_committed(effects, tracker.phase),
            phase=tracker.phase,
            secrets=secrets,
        ) from None
    except httpx.HTTPError as exc:
        raise transport_error(
            exc, method, where, phase=tracker.phase, has_side_effects=effects, secrets=secrets
        ) from exc
