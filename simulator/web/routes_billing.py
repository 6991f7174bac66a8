"""Billing routes (``/v1/billing/*``) and the Stripe webhook (``/api/webhooks/stripe``).

Every billing call first reconciles the user's pending SetupIntents, so a bot that confirmed its
card and then reads its balance sees the bonus without waiting for the background pass.
"""

from __future__ import annotations

import json

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from simulator.billing import verify_webhook
from simulator.errors import invalid
from simulator.web.api import ApiContext, ApiRoutes
from simulator.web.http import SIM_KEY, body, json_response

api = ApiRoutes()
webhooks = web.RouteTableDef()


class BalanceBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    auto_reload: StrictBool | None = None
    reload_threshold_cents: StrictInt | None = Field(default=None, ge=0, le=100_000_000)
    reload_amount_cents: StrictInt | None = Field(default=None, ge=50, le=100_000_000)


class TopupBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    amount_cents: StrictInt = Field(ge=50, le=100_000_000)


@api.route("GET", "/v1/billing/balance", "billing:read")
async def get_balance(ctx: ApiContext) -> web.Response:
    await ctx.sim.billing.reconcile_user(ctx.user)
    return json_response({"data": ctx.user.balance_wire()})


@api.route("PATCH", "/v1/billing/balance", "billing:write")
async def patch_balance(ctx: ApiContext) -> web.Response:
    data = await body(ctx.request, BalanceBody)
    if data.model_fields_set.isdisjoint(BalanceBody.model_fields):
        raise invalid("nothing to change: send auto_reload, reload_threshold_cents or reload_amount_cents")
    await ctx.sim.billing.update_settings(
        ctx.user,
        auto_reload=data.auto_reload,
        threshold_cents=data.reload_threshold_cents,
        amount_cents=data.reload_amount_cents,
    )
    return json_response({"data": ctx.user.balance_wire()})


@api.route("POST", "/v1/billing/setup-intent", "billing:write")
async def create_setup_intent(ctx: ApiContext) -> web.Response:
    await ctx.sim.billing.reconcile_user(ctx.user)
    client_secret = await ctx.sim.billing.create_setup_intent(ctx.user)
    return json_response({"client_secret": client_secret})


@api.route("POST", "/v1/billing/topup", "billing:write")
async def create_topup(ctx: ApiContext) -> web.Response:
    """A checkout URL for a human; ``POST`` to it (the simulator's checkout page) pays."""
    data = await body(ctx.request, TopupBody)
    await ctx.sim.billing.reconcile_user(ctx.user)
    session = ctx.sim.billing.create_checkout(ctx.user, data.amount_cents)
    return json_response({"url": f"{ctx.sim.core.origin}/_sim/checkout/{session.id}"})


@webhooks.post("/api/webhooks/stripe")
async def stripe_webhook(request: web.Request) -> web.Response:
    """Stripe events; verified when a webhook secret is configured, re-read from Stripe always."""
    sim = request.app[SIM_KEY]
    payload = await request.read()
    secret = sim.config.stripe_webhook_secret
    if secret is not None:
        try:
            event = verify_webhook(payload, request.headers.get("Stripe-Signature"), secret.get_secret_value())
        except ValueError as exc:
            raise invalid(str(exc)) from exc
    else:
        try:
            event = json.loads(payload)
        except ValueError as exc:
            raise invalid("the webhook body is not JSON") from exc
        if not isinstance(event, dict):
            raise invalid("the webhook body must be a JSON object")
    handled = await sim.billing.handle_webhook(event, verified=secret is not None)
    return json_response({"received": True, "handled": handled})
