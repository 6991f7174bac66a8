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
    tracer provider unless one is given."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport | None = None, tracer_provider: trace.TracerProvider | None = None
    ) -> None:
        self._inner = inner or httpx.AsyncHTTPTransport()
        self._tracer_provider = tracer_provider  # None: the global one, looked up per call (set after us)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        method = request.method
        host = url.host
        attributes = {
            "http.request.method": method,
            "url.scheme": url.scheme,
            "server.address": host,
            "server.port": url.port or (443 if url.scheme == "https" else 80),
            "url.path": safe_path(url.path),
        }
        tracer = trace.get_tracer(TRACER_NAME, tracer_provider=self._tracer_provider)
        with tracer.start_as_current_span(
            method, kind=SpanKind.CLIENT, attributes=attributes, record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                response = await self._inner.handle_async_request(request)
            except httpx.HTTPError as exc:
                status = _transport_status(exc)
                span.set_attribute("error.type", type(exc).__name__)
                span.set_status(Status(StatusCode.ERROR, status))
                metrics.vendor_call(method, status, host)
                raise
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 400:
                span.set_attribute("error.type", str(response.status_code))
                span.set_status(Status(StatusCode.ERROR))
            metrics.vendor_call(method, str(response.status_code), host)
            return response

    async def aclose(self) -> None:
        await self._inner.aclose()
