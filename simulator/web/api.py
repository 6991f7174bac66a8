"""Declaring an authenticated ``/api/v1`` route with the scopes it needs, in one line.

Each route states its scopes next to its path, so the scope table of the SPEC can be checked by
reading one decorator per handler. The wrapper authenticates the ``rm_`` key (401), checks scopes
(403) and hands the handler an :class:`ApiContext` with the user and the simulated ``now`` the
middleware brought the state up to.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from simulator.models import ApiKey, User
from simulator.runtime import Simulator
from simulator.web.http import SIM_KEY, bearer_token


@dataclass(frozen=True)
class ApiContext:
    request: web.Request
    sim: Simulator
    user: User
    key: ApiKey
    now: float

    def match(self, name: str) -> str:
        return self.request.match_info[name]


Handler = Callable[[ApiContext], Awaitable[web.StreamResponse]]


class ApiRoutes:
    """A route table whose handlers require an API key with the given scopes."""

    def __init__(self) -> None:
        self.table = web.RouteTableDef()
        self.scopes: dict[tuple[str, str], tuple[str, ...]] = {}

    def route(self, method: str, path: str, *scopes: str) -> Callable[[Handler], Handler]:
        """Register ``method /api<path>`` requiring ``scopes``."""

        def decorate(handler: Handler) -> Handler:
            async def wrapper(request: web.Request) -> web.StreamResponse:
                sim = request.app[SIM_KEY]
                user, key = sim.accounts.authenticate(bearer_token(request), scopes)
                # refresh() again: the handler reads state exactly as of the now it returns.
                return await handler(ApiContext(request, sim, user, key, sim.refresh()))

            wrapper.__name__ = handler.__name__
            wrapper.__doc__ = handler.__doc__
            self.table.route(method, "/api" + path)(wrapper)
            self.scopes[(method, path)] = scopes
            return handler

        return decorate
