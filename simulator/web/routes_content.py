"""Generation, generated posts (approve / reject / send-to-compose) and publishing reads."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from simulator.errors import not_found
from simulator.models import GeneratedPost
from simulator.web.api import ApiContext, ApiRoutes
from simulator.web.http import body, json_response

api = ApiRoutes()


class GenerateBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    source_post_id: StrictStr = Field(min_length=1)
    persona_id: StrictStr = Field(min_length=1)


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    reason: StrictStr | None = Field(default=None, max_length=2000)


def _owned_post(ctx: ApiContext) -> GeneratedPost:
    post = ctx.sim.core.state.generated_posts.get(ctx.match("post_id"))
    if post is None or post.user_id != ctx.user.id:
        raise not_found("generated post")
    return post


@api.route("POST", "/v1/generate", "content:write")
async def generate(ctx: ApiContext) -> web.Response:
    """Charge and start a generation; not idempotent (twice = two posts, two charges)."""
    data = await body(ctx.request, GenerateBody)
    persona = ctx.sim.content.persona(ctx.user, data.persona_id)
    state = ctx.sim.core.state
    source_post = state.source_posts.get(data.source_post_id)
    if source_post is None or source_post.id not in state.visible_post_ids(persona.id):
        raise not_found("source post")
    billing = ctx.sim.billing
    if ctx.user.balance_cents < ctx.sim.generation.cost_of(source_post.media_type):
        await billing.reload_if_needed(ctx.user)
    post = ctx.sim.generation.generate(ctx.user, persona, source_post, origin="api", at=ctx.sim.core.now(), by="client")
    await billing.reload_if_needed(ctx.user)
    return json_response({"generated_post_id": post.id}, status=201)


@api.route("GET", "/v1/generated-posts/{post_id}", "content:read")
async def get_generated_post(ctx: ApiContext) -> web.Response:
    return json_response({"data": _owned_post(ctx).to_wire(ctx.now)})


@api.route("GET", "/v1/personas/{persona_id}/generated-posts", "content:read")
async def list_generated_posts(ctx: ApiContext) -> web.Response:
    """The persona's generated posts; ``?source_post_id=`` filters them, except in guide mode.

    The filter is the simulator's own convenience, not the guide's: in guide mode it is ignored, as an
    unknown query parameter would be, so a client that trusts it sees every post of the persona.
    """
    persona = ctx.sim.content.persona(ctx.user, ctx.match("persona_id"))
    wanted = ctx.request.query.get("source_post_id") if ctx.sim.core.runtime.answers == "full" else None
    posts = [
        post
        for post in ctx.sim.core.state.generated_posts_of(persona.id)
        if wanted is None or post.source_post_id == wanted
    ]
    return json_response({"data": [post.to_wire(ctx.now) for post in posts]})


@api.route("POST", "/v1/generated-posts/{post_id}/approve", "content:write", "publishing:write")
async def approve(ctx: ApiContext) -> web.Response:
    post = _owned_post(ctx)
    outgoing = ctx.sim.generation.approve(ctx.user, post, at=ctx.sim.core.now(), by="client")
    return json_response({"status": "publishing", "outgoing_post_id": outgoing.id})


@api.route("POST", "/v1/generated-posts/{post_id}/reject", "content:write")
async def reject(ctx: ApiContext) -> web.Response:
    post = _owned_post(ctx)
    data = await body(ctx.request, RejectBody)
    ctx.sim.generation.reject(ctx.user, post, data.reason)
    return json_response({"data": post.to_wire(ctx.sim.core.now())})


@api.route("POST", "/v1/generated-posts/{post_id}/send-to-compose", "content:write")
async def send_to_compose(ctx: ApiContext) -> web.Response:
    post = _owned_post(ctx)
    ctx.sim.generation.send_to_compose(ctx.user, post)
    return json_response({"data": post.to_wire(ctx.sim.core.now())})


@api.route("GET", "/v1/publishing/accounts", "publishing:read")
async def list_accounts(ctx: ApiContext) -> web.Response:
    accounts = ctx.sim.core.state.accounts_of(ctx.user.id)
    return json_response({"data": [account.to_wire() for account in accounts]})


@api.route("GET", "/v1/publishing/posts/{outgoing_id}", "publishing:read")
async def get_outgoing_post(ctx: ApiContext) -> web.Response:
    outgoing = ctx.sim.core.state.outgoing_posts.get(ctx.match("outgoing_id"))
    if outgoing is None or outgoing.user_id != ctx.user.id:
        raise not_found("outgoing post")
    return json_response({"post": outgoing.to_wire(ctx.now)})
