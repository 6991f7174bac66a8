"""The codec server: lets the Temporal Web UI and CLI show encrypted payloads without holding the keys.

It speaks Temporal's remote codec protocol: ``POST .../encode`` and ``POST .../decode`` (any prefix) take
and return ``{"payloads": [...]}`` in the protobuf JSON mapping (``metadata`` values and ``data`` in base64).
The Web UI calls it from the browser, so it answers CORS preflights for the configured origins only;
a request that carries any other ``Origin`` is refused, which also stops a web page that rebinds its
own host name to the loopback address. An optional bearer token guards encode and decode for callers
that can send one (the ``temporal`` CLI's ``--codec-auth``, scripts). Logs name paths, counts and key
ids, never payload data or the token.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from aiohttp import hdrs, web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from codec.keys import CodecConfigError, read_secret_file
from codec.payload import PayloadDecryptionError

TOKEN_ENV = "REELMIRROR_CODEC_SERVER_TOKEN"
DEFAULT_CORS_ORIGINS = ("http://localhost:8233", "http://127.0.0.1:8233")
ALLOWED_HEADERS = "content-type,x-namespace,authorization"
ALLOWED_METHODS = "POST, OPTIONS"
MAX_REQUEST_BYTES = 16 * 1024 * 1024  # Temporal payloads reach a few MB; base64 adds a third
PREFLIGHT_MAX_AGE = "600"

logger = logging.getLogger("codec.server")

Transform = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def check_origin(origin: str) -> str:
    """Normalize one CORS origin (``scheme://host[:port]``); anything else is one clear error."""
    normalized = origin.strip().rstrip("/")
    parts = urlsplit(normalized)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query or parts.fragment:
        raise CodecConfigError(
            f"--cors-origin {origin!r}: give the Web UI's origin like http://127.0.0.1:8233 "
            "(scheme, host and port; no path, no wildcard)"
        )
    return f"{parts.scheme}://{parts.netloc.lower()}"


def load_token(token_file: Path | None, env: Mapping[str, str]) -> str | None:
    """The bearer token from ``--token-file`` or ``REELMIRROR_CODEC_SERVER_TOKEN`` (not both), or ``None``."""
    from_env = env.get(TOKEN_ENV, "").strip()
    if token_file is not None and from_env:
        raise CodecConfigError(f"both --token-file and {TOKEN_ENV} are set; use only one of them")
    if token_file is not None:
        token = read_secret_file(token_file, "--token-file").strip()
        if not token:
            raise CodecConfigError(f"--token-file: {token_file} is empty; write the token on its first line")
    else:
        token = from_env
    if token and any(ch.isspace() or not ch.isprintable() or not ch.isascii() for ch in token):
        source = "--token-file" if token_file is not None else TOKEN_ENV
        raise CodecConfigError(f"{source}: the token must be printable ASCII without spaces")
    return token or None


def _error(
    status: type[web.HTTPException], message: str, headers: Mapping[str, str] | None = None
) -> web.HTTPException:
    """An HTTP error whose body is ``{"error": message}``, which the UI and scripts can show as is."""
    return status(text=json.dumps({"error": message}), content_type="application/json", headers=headers)


def bearer_matches(header: str, token: bytes) -> bool:
    """Whether an ``Authorization`` header carries ``token``, compared in constant time."""
    scheme, _, value = header.strip().partition(" ")
    return hmac.compare_digest(value.strip().encode("utf-8", "surrogateescape"), token) and scheme.lower() == "bearer"


def build_app(codec: PayloadCodec, *, cors_origins: Sequence[str] = (), token: str | None = None) -> web.Application:
    """The aiohttp application: ``/encode``, ``/decode`` (plus their preflights) and ``/health``."""
    origins = frozenset(check_origin(origin) for origin in cors_origins)
    expected = token.encode() if token else None

    def cors_headers(request: web.Request) -> dict[str, str]:
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is None or origin not in origins:
            return {}
        return {
            hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: origin,
            hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS: "true",  # the UI's "include cross-origin credentials"
            hdrs.VARY: "Origin",
        }

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is not None and origin not in origins:
            logger.warning("refused %s %s from origin %s (not a --cors-origin)", request.method, request.path, origin)
            raise _error(web.HTTPForbidden, f"origin {origin} is not allowed; start the server with --cors-origin")
        headers = cors_headers(request)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(headers)
            raise
        response.headers.update(headers)
        return response

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if expected is not None and request.method == "POST":
            if not bearer_matches(request.headers.get(hdrs.AUTHORIZATION, ""), expected):
                logger.warning("refused %s %s: missing or wrong bearer token", request.method, request.path)
                raise _error(
                    web.HTTPUnauthorized, "a bearer token is required", headers={hdrs.WWW_AUTHENTICATE: "Bearer"}
                )
        return await handler(request)

    async def preflight(request: web.Request) -> web.Response:
        if operation(request.path) is None:
            raise web.HTTPNotFound()
        return web.Response(
            status=204,
            headers={
                hdrs.ACCESS_CONTROL_ALLOW_METHODS: ALLOWED_METHODS,
                hdrs.ACCESS_CONTROL_ALLOW_HEADERS: ALLOWED_HEADERS,
                hdrs.ACCESS_CONTROL_MAX_AGE: PREFLIGHT_MAX_AGE,
            },
        )

    def transform(name: str, fn: Transform) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            if request.content_type != "application/json":
                raise _error(web.HTTPUnsupportedMediaType, "send the payloads as Content-Type: application/json")
            body = await request.read()
            try:
                payloads = json_format.Parse(body, Payloads(), ignore_unknown_fields=True)
            except (json_format.ParseError, UnicodeDecodeError) as exc:
                logger.warning("%s: malformed request body (%s)", name, type(exc).__name__)
                raise _error(web.HTTPBadRequest, f'expected {{"payloads": [...]}} in protobuf JSON: {exc}') from None
            try:
                result = await fn(payloads.payloads)
            except PayloadDecryptionError as exc:
                logger.warning("%s: %s", name, exc)
                raise _error(web.HTTPBadRequest, str(exc)) from None
            except Exception as exc:
                logger.error("%s of %d payloads failed: %s", name, len(payloads.payloads), type(exc).__name__)
                raise _error(web.HTTPInternalServerError, f"{name} failed: {type(exc).__name__}") from None
            logger.debug("%s: %d payloads", name, len(result))
            return web.Response(
                text=json_format.MessageToJson(Payloads(payloads=result)), content_type="application/json"
            )

        return handle

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    handlers = {"encode": transform("encode", codec.encode), "decode": transform("decode", codec.decode)}

    async def dispatch(request: web.Request) -> web.StreamResponse:
        name = operation(request.path)
        if name is None:
            raise web.HTTPNotFound()
        return await handlers[name](request)

    app = web.Application(middlewares=[cors, auth], client_max_size=MAX_REQUEST_BYTES)
    app.add_routes(
        [
            web.get("/health", health),
            web.post("/{path:.*}", dispatch),
            web.options("/{path:.*}", preflight),
        ]
    )
    return app


def operation(path: str) -> str | None:
    """``encode`` or ``decode`` from the last path segment, which is all the protocol fixes.

    Clients append ``/encode`` or ``/decode`` to whatever endpoint they were given, so the server may be
    mounted under a prefix (``https://codec.example/reelmirror/decode``) behind a proxy.
    """
    last = path.rsplit("/", 1)[-1]
    return last if last in ("encode", "decode") else None


class CodecServer:
    """The codec server bound to a TCP port; ``port=0`` picks a free one, known after ``start`` in ``url``."""

    def __init__(
        self,
        codec: PayloadCodec,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        cors_origins: Sequence[str] = DEFAULT_CORS_ORIGINS,
        token: str | None = None,
        access_log: bool = False,
    ) -> None:
        self.app = build_app(codec, cors_origins=cors_origins, token=token)
        self.host = host
        self.port = port
        self.access_log = access_log
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the codec server is not running")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else "::1" if self.host == "::" else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and serve; a bind failure (port in use) propagates as ``OSError`` with nothing left open."""
        access_log = logging.getLogger("aiohttp.access") if self.access_log else None
        runner = web.AppRunner(
            self.app, access_log=access_log, access_log_format='%a "%r" %s %b %Tfs', handle_signals=False
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> CodecServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
