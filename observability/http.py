"""An httpx transport that gives every vendor call a client span and a count by status.

Why a transport rather than the global httpx instrumentation: it sees exactly the calls of the pool it is
installed on (the activities' pool), and it decides itself what a span may carry. Spans and metrics hold
the method, the scheme, host and port, a path with anything that looks like an e-mail address or a key
masked, and the status: never the query string (confirmation links carry their one-time token there),
never a header (the `Authorization` bearer), never a body.
"""

from __future__ import annotations

import logging
import re

import httpx
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from observability import metrics

__all__ = ["ObservedTransport", "safe_path"]

logger = logging.getLogger("observability.http")

TRACER_NAME = "reelmirror.http"
_SECRET_SEGMENT = re.compile(r"@|^rm_|^eyJ|^sk_|^pk_|^pm_|^seti_.*_secret_", re.IGNORECASE)


def safe_path(path: str) -> str:
    """The URL path with any segment that could be personal or secret replaced by `{redacted}`."""
    return "/".join("{redacted}" if _SECRET_SEGMENT.search(segment) else segment for segment in path.split("/"))


def _transport_status(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect_error"
    return "network_error"


class ObservedTransport(httpx.AsyncBaseTransport):
    """Wraps another transport (by default a pooled `httpx.AsyncHTTPTransport`); spans go to the global
    tracer provider unless one is given. A failure of the tracing itself is logged once, never raised:
    the call it describes goes on."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport | None = None, tracer_provider: trace.TracerProvider | None = None
    ) -> None:
        self._inner = inner or httpx.AsyncHTTPTransport()
        self._tracer_provider = tracer_provider  # None: the global one, looked up per call (set after us)
        self._warned = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        span = self._start(request)
        status, code, error = "cancelled", None, "cancelled"
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.HTTPError as exc:
            status, error = _transport_status(exc), type(exc).__name__
            raise
        else:
            code = response.status_code
            status, error = str(code), (str(code) if code >= 400 else None)
            return response
        finally:
            self._finish(span, status, code, error)
            if status != "cancelled":
                metrics.vendor_call(request.method, status, request.url.host)

    def _start(self, request: httpx.Request) -> trace.Span:
        url = request.url
        attributes = {
            "http.request.method": request.method,
            "url.scheme": url.scheme,
            "server.address": url.host,
            "server.port": url.port or (443 if url.scheme == "https" else 80),
            "url.path": safe_path(url.path),
        }
        try:
            tracer = trace.get_tracer(TRACER_NAME, tracer_provider=self._tracer_provider)
            return tracer.start_span(request.method, kind=SpanKind.CLIENT, attributes=attributes)
        except Exception as exc:
            self._warn(exc)
            return trace.INVALID_SPAN

    def _finish(self, span: trace.Span, status: str, code: int | None, error: str | None) -> None:
        try:
            if code is not None:
                span.set_attribute("http.response.status_code", code)
            if error is not None:
                span.set_attribute("error.type", error)
                span.set_status(Status(StatusCode.ERROR, None if code is not None else status))
            span.end()
        except Exception as exc:
            self._warn(exc)

    def _warn(self, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            logger.warning("cannot record the span of a vendor call: %s (further failures are not logged)", exc)

    async def aclose(self) -> None:
        await self._inner.aclose()
