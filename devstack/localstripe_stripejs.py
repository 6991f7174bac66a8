"""localstripe plus the one Stripe.js call it lacks: reading a SetupIntent with the publishable key.

Stripe lets a browser (and a bot doing what Stripe.js does) retrieve a SetupIntent with the publishable
key when the request also carries that intent's client secret; that is how a retried card step learns
what became of the intent it confirmed before. localstripe accepts only secret keys on reads, so this
script wraps its auth middleware to allow exactly that read, and runs localstripe's own `start()` with
its usual arguments. It imports nothing of the project, so it runs as a plain script.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web
from localstripe import server
from localstripe.resources import store

_SETUP_INTENT = re.compile(r"^/v1/setup_intents/(seti_\w+)$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _publishable_key(request: web.Request) -> bool:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer":
        key = request.query.get("key", "")
    return key.startswith("pk_")


def _shows_client_secret(request: web.Request, intent_id: str) -> bool:
    intent = store.get("setup_intent:" + intent_id)
    secret = request.query.get("client_secret", "")
    return intent is not None and bool(secret) and secret == intent.client_secret


def allow_client_secret_reads(original: Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]):
    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        match = _SETUP_INTENT.match(request.path)
        if (
            request.method == "GET"
            and match is not None
            and _publishable_key(request)
            and _shows_client_secret(request, match.group(1))
        ):
            return await handler(request)
        return await original(request, handler)

    return auth


def main() -> None:
    middlewares = server.app.middlewares
    middlewares[middlewares.index(server.auth_middleware)] = allow_client_secret_reads(server.auth_middleware)
    sys.exit(server.start())


if __name__ == "__main__":
    main()
