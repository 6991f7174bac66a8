"""The admin API under ``/_sim``: the human steps (mail, OAuth, checkout), content injection, the
ledger and stats, chaos and runtime knobs, the clock, state and reset.

No API key: tests, the demo and benchmarks drive the simulator through these routes; they never
appear under ``/api``, so a client pointed at the simulator cannot call them by accident.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from simulator.chaos import ChaosConfig
from simulator.clock import iso
from simulator.errors import ApiError, conflict, invalid, not_found
from simulator.models import PLATFORMS, ConnectedAccount, MediaType, User
from simulator.runtime import Simulator
from simulator.web.http import SIM_KEY, body, json_response, read_json, validate

routes = web.RouteTableDef()

Platform = Literal["instagram", "tiktok", "youtube", "x", "facebook", "threads"]
_PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
_MP4_STUB = bytes.fromhex("0000001866747970697336d000000000697336d06d703431")


class AccountBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    platform: Platform
    username: StrictStr = Field(min_length=1, max_length=100)


class AmountBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_cents: StrictInt = Field(gt=0, le=100_000_000)


class NewPost(BaseModel):
    model_config = ConfigDict(extra="forbid")
    media_type: MediaType
    caption: StrictStr | None = None


class CreatorPostsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    posts: list[NewPost] | None = None
    count: StrictInt | None = Field(default=None, ge=1, le=1000)
    media_type: MediaType | None = None


class AdvanceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(ge=0)


class ResetBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    config: StrictBool = False
    chaos: StrictBool = False


def _sim(request: web.Request) -> Simulator:
    return request.app[SIM_KEY]


def _user(sim: Simulator, email: str) -> User:
    user = sim.core.state.user_by_email(email)
    if user is None:
        raise not_found("user")
    return user


@routes.get("/_sim/health")
async def health(request: web.Request) -> web.Response:
    sim = _sim(request)
    now = sim.refresh()
    return json_response(
        {"status": "ok", "time_scale": sim.core.clock.time_scale, "sim_now": iso(now), "seed": sim.core.seed}
    )


@routes.get("/_sim/mailbox/{email}")
async def mailbox(request: web.Request) -> web.Response:
    sim = _sim(request)
    messages = sim.core.state.mailbox.get(request.match_info["email"].strip().lower(), [])
    return json_response({"data": [message.to_wire() for message in messages]})


@routes.post("/_sim/users/{email}/connected-accounts")
async def connect_account(request: web.Request) -> web.Response:
    """The human OAuth step: connect a publishing account to the user."""
    sim = _sim(request)
    user = _user(sim, request.match_info["email"])
    data = await body(request, AccountBody)
    username = data.username.strip().lstrip("@")
    for account in sim.core.state.accounts_of(user.id):
        if (account.platform, account.username.lower()) == (data.platform, username.lower()):
            raise conflict("this account is already connected")
    account = ConnectedAccount(
        id=sim.core.new_id(), user_id=user.id, platform=data.platform, username=username, created_at=sim.core.now()
    )
    sim.core.state.connected_accounts[account.id] = account
    return json_response({"data": account.to_wire()}, status=201)


@routes.post("/_sim/users/{email}/topup")
async def topup(request: web.Request) -> web.Response:
    """The human Stripe Checkout step, shortened: credit the balance directly."""
    sim = _sim(request)
    user = _user(sim, request.match_info["email"])
    data = await body(request, AmountBody)
    sim.billing.credit_topup(user, data.amount_cents, via="admin")
    return json_response({"data": user.balance_wire()})


@routes.post("/_sim/creators/{platform}/{username}/posts")
async def add_creator_posts(request: web.Request) -> web.Response:
    sim = _sim(request)
    platform = request.match_info["platform"]
    if platform not in PLATFORMS:
        raise invalid(f"unknown platform {platform!r}")
    data = await body(request, CreatorPostsBody)
    if (data.posts is None) == (data.count is None):
        raise invalid("send either posts: [...] or count: N")
    if data.posts is not None:
        kinds: list[MediaType] = [post.media_type for post in data.posts]
        captions = [post.caption for post in data.posts]
    else:
        assert data.count is not None
        kinds = [data.media_type or sim.catalog.media_type_for(i) for i in range(data.count)]
        captions = [None] * data.count
    creator = sim.catalog.get_or_create(platform, request.match_info["username"])
    posts = sim.catalog.add_posts(creator, kinds, captions)
    return json_response({"data": [post.to_wire() for post in posts]}, status=201)


@routes.get("/_sim/ledger")
async def ledger(request: web.Request) -> web.Response:
    sim = _sim(request)
    sim.refresh()
    query = request.query
    since = query.get("since")
    if since is not None and not since.isdigit():
        raise invalid("since must be a sequence number")
    entries = sim.core.ledger.entries(
        kind=query.get("kind"),
        email=query.get("email"),
        user_id=query.get("user_id"),
        persona_id=query.get("persona_id"),
        generated_post_id=query.get("generated_post_id"),
        since=int(since) if since is not None else None,
    )
    return json_response({"data": [entry.to_wire() for entry in entries]})


@routes.get("/_sim/stats")
async def stats(request: web.Request) -> web.Response:
    return json_response({"data": _sim(request).stats.to_wire()})


@routes.get("/_sim/chaos")
async def get_chaos(request: web.Request) -> web.Response:
    return json_response({"data": _sim(request).chaos.config.model_dump(mode="json")})


@routes.put("/_sim/chaos")
async def put_chaos(request: web.Request) -> web.Response:
    sim = _sim(request)
    config = validate(ChaosConfig, await read_json(request))
    sim.chaos.replace(config)
    return json_response({"data": config.model_dump(mode="json")})


@routes.get("/_sim/config")
async def get_config(request: web.Request) -> web.Response:
    return json_response({"data": _sim(request).core.runtime.model_dump(mode="json")})


@routes.patch("/_sim/config")
async def patch_config(request: web.Request) -> web.Response:
    sim = _sim(request)
    patch: dict[str, Any] = await read_json(request)
    try:
        sim.core.runtime = sim.core.runtime.merged(patch)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['msg']}" for error in exc.errors()
        )
        raise invalid(f"invalid config: {problems}") from exc
    return json_response({"data": sim.core.runtime.model_dump(mode="json")})


@routes.post("/_sim/clock/advance")
async def advance_clock(request: web.Request) -> web.Response:
    sim = _sim(request)
    data = await body(request, AdvanceBody)
    now = sim.advance(data.seconds)
    await sim.webhooks.deliver_due()
    return json_response({"data": {"sim_now": iso(now), "advanced_seconds": data.seconds}})


@routes.get("/_sim/state")
async def state(request: web.Request) -> web.Response:
    sim = _sim(request)
    now = sim.refresh()
    return json_response({"data": sim.core.state.to_wire(now)})


@routes.post("/_sim/reset")
async def reset(request: web.Request) -> web.Response:
    sim = _sim(request)
    data = await body(request, ResetBody)
    sim.reset(config=data.config, chaos=data.chaos)
    return json_response({"data": {"reset": True, "config": data.config, "chaos": data.chaos}})


@routes.get("/_sim/checkout/{session_id}")
async def checkout_page(request: web.Request) -> web.Response:
    """What a human would see: one button that pays."""
    sim = _sim(request)
    session = sim.core.state.checkout_sessions.get(request.match_info["session_id"])
    if session is None:
        raise not_found("checkout session")
    amount = f"${session.amount_cents / 100:.2f}"
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Simulated checkout</title></head><body>"
        f"<h1>Top up {amount}</h1>"
        + (
            "<p>Already paid.</p>"
            if session.completed_at
            else f"<form method='post'><button>Pay {amount}</button></form>"
        )
        + "</body></html>"
    )
    return web.Response(text=page, content_type="text/html")


@routes.post("/_sim/checkout/{session_id}")
async def checkout_complete(request: web.Request) -> web.Response:
    sim = _sim(request)
    session = sim.billing.complete_checkout(request.match_info["session_id"])
    return json_response({"data": session.to_wire()})


@routes.get("/_sim/media/{name}")
async def media(request: web.Request) -> web.Response:
    """Placeholder bytes for a completed media item's ``url``."""
    sim = _sim(request)
    item_id, _, extension = request.match_info["name"].partition(".")
    post = sim.core.state.generated_posts.get(sim.core.state.media_owner.get(item_id, ""))
    item = next((i for i in post.media_items if i.id == item_id), None) if post else None
    if item is None or item.final_status != "completed":
        raise ApiError("NOT_FOUND", "media not found")
    if extension == "mp4":
        return web.Response(body=_MP4_STUB, content_type="video/mp4")
    return web.Response(body=_PNG_1X1, content_type="image/png")
