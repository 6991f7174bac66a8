"""Supabase-style auth endpoints served by the simulator itself.

``GET /auth/v1/verify`` is the link in the confirmation e-mail: a 303 whose ``Location`` fragment
carries the session (or Supabase's ``otp_expired`` error). ``POST /auth/v1/token`` supports the
``refresh_token`` and ``password`` grants so a bot whose one-hour session lapsed can get a new JWT
without a new link; the right password of an unconfirmed account answers Supabase's
``email_not_confirmed`` 400. ``GET /auth/callback`` is the page a browser lands on.
"""

from __future__ import annotations

from aiohttp import web

from simulator.accounts import EmailNotConfirmed, Session
from simulator.web.http import SIM_KEY, json_response, read_json

routes = web.RouteTableDef()

_CALLBACK_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>ReelMirror simulator</title></head>
<body><h1>E-mail link handled</h1>
<p>The session (or the error) is in this page's URL fragment. Bots read it from the
<code>Location</code> header of the verify link instead of following the redirect.</p>
</body></html>
"""


@routes.get("/auth/v1/verify")
async def verify(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    query = request.query
    location = sim.accounts.verify(query.get("token", ""), query.get("type", ""), query.get("redirect_to"))
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


@routes.post("/auth/v1/token")
async def token(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    grant = request.query.get("grant_type", "")
    data = await read_json(request)
    session: Session | None
    if grant == "refresh_token":
        session = sim.accounts.refresh(str(data.get("refresh_token", "")))
        description = "Invalid Refresh Token: Refresh Token Not Found"
    elif grant == "password":
        try:
            session = sim.accounts.login(str(data.get("email", "")), str(data.get("password", "")))
        except EmailNotConfirmed:
            return json_response(
                {"code": 400, "error_code": "email_not_confirmed", "msg": "Email not confirmed"}, status=400
            )
        description = "Invalid login credentials"
    else:
        return json_response(
            {"error": "unsupported_grant_type", "error_description": f"unsupported grant_type {grant!r}"},
            status=400,
        )
    if session is None:
        return json_response({"error": "invalid_grant", "error_description": description}, status=400)
    return json_response(session.token_body())


@routes.get("/auth/callback")
async def callback(request: web.Request) -> web.Response:
    return web.Response(text=_CALLBACK_PAGE, content_type="text/html")
