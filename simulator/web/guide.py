"""Apply guide-minimal answers (:mod:`simulator.guide_answers`) to an aiohttp response.

Only successful JSON answers of ``/api/v1`` routes are rewritten, and only while the runtime knob
``answers`` is ``guide``; error bodies keep the contract's ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import json

from aiohttp import web

from simulator.guide_answers import guide_body
from simulator.runtime import Simulator


def route_template(request: web.Request) -> str | None:
    """The matched route's path template (``/api/v1/personas/{persona_id}``), or None when no route matched."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else None


def shape_for_guide(sim: Simulator, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Rewrite ``response`` in place to its guide-mode body when guide mode is on; returns it."""
    if sim.core.runtime.answers != "guide" or not 200 <= response.status < 300:
        return response
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return response
    route = route_template(request)
    if route is None or response.content_type != "application/json":
        return response
    response.body = json.dumps(guide_body(request.method, route, json.loads(response.body))).encode()
    return response
