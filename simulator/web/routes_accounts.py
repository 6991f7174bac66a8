"""``POST /v1/auth/signup`` and ``POST /v1/api-keys``: the two ``/v1`` calls without an API key."""

from __future__ import annotations

import re
import time
from typing import Annotated

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr

from simulator.accounts import SignupLimited
from simulator.errors import ApiError
from simulator.ratelimit import format_reset, retry_after
from simulator.web.http import SIM_KEY, bearer_token, body, client_ip, json_response

routes = web.RouteTableDef()

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: str) -> str:
    if not _EMAIL.match(value.strip()):
        raise ValueError("not an e-mail address")
    return value.strip().lower()


class SignupBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    email: Annotated[StrictStr, AfterValidator(_email)]
    password: StrictStr = Field(min_length=8, max_length=256)


class ApiKeyBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: StrictStr = Field(min_length=1, max_length=200)
    scopes: list[StrictStr]


@routes.post("/api/v1/auth/signup")
async def signup(request: web.Request) -> web.Response:
    """Create an account pending e-mail confirmation; 5 per client IP per 24 simulated hours.

    In guide mode a known e-mail is answered like a new one (200, a new confirmation mail), as Supabase
    does, instead of 409.
    """
    sim = request.app[SIM_KEY]
    data = await body(request, SignupBody)
    try:
        user = sim.accounts.signup(data.email, data.password, client_ip(request))
    except SignupLimited as exc:
        now = time.time()
        reset_at = now + sim.core.clock.to_real(exc.retry_after)
        config = sim.core.runtime.rate_limit
        headers = {
            "X-RateLimit-Limit": str(exc.limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": format_reset(reset_at, config.reset_format, now),
            "Retry-After": retry_after(reset_at, now),
        }
        raise ApiError(
            "RATE_LIMITED", f"signup limit reached: {exc.limit} signups per IP per 24 hours", headers=headers
        ) from None
    # Supabase answers every signup 200; the full answers keep the REST-style 201.
    status = 200 if sim.core.runtime.answers == "guide" else 201
    return json_response({"status": "pending_confirmation", "user_id": user.id}, status=status)


@routes.post("/api/v1/api-keys")
async def create_api_key(request: web.Request) -> web.Response:
    """Trade the Supabase session JWT for a permanent ``rm_`` key (shown only in this answer)."""
    sim = request.app[SIM_KEY]
    user = sim.accounts.user_from_jwt(bearer_token(request))
    data = await body(request, ApiKeyBody)
    key, plaintext = sim.accounts.create_api_key(user, data.name, list(data.scopes))
    return json_response({"id": key.id, "key": plaintext, "name": key.name, "scopes": list(key.scopes)}, status=201)
