"""Assemble the aiohttp application from the route modules and the middleware."""

from __future__ import annotations

from aiohttp import web

from simulator.runtime import Simulator
from simulator.web import (
    routes_accounts,
    routes_admin,
    routes_billing,
    routes_content,
    routes_personas,
    routes_supabase,
)
from simulator.web.http import SIM_KEY
from simulator.web.middleware import pipeline


def build_app(sim: Simulator) -> web.Application:
    """A fresh application bound to ``sim`` (route tables are shared; state is not)."""
    app = web.Application(middlewares=[pipeline], client_max_size=1024 * 1024)
    app[SIM_KEY] = sim
    app.add_routes(routes_accounts.routes)
    app.add_routes(routes_billing.api.table)
    app.add_routes(routes_billing.webhooks)
    app.add_routes(routes_personas.api.table)
    app.add_routes(routes_content.api.table)
    app.add_routes(routes_supabase.routes)
    app.add_routes(routes_admin.routes)
    return app
