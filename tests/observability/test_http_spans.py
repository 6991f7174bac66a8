"""Every vendor call through the activities' pool is a client span and a count, and neither holds a secret."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from observability.http import ObservedTransport, safe_path

API_KEY = "rm_live_5f2c0ffee"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def client(spans: InMemorySpanExporter, handler) -> httpx.AsyncClient:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    transport = ObservedTransport(httpx.MockTransport(handler), tracer_provider=provider)
    return httpx.AsyncClient(transport=transport)


async def test_a_call_is_a_client_span_with_method_host_path_and_status(spans: InMemorySpanExporter) -> None:
    async with client(spans, lambda request: httpx.Response(429)) as http:
        await http.get(
            "https://api.reelmirror.test/v1/personas/p1/posts?token=one-time-secret",
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
    (span,) = spans.get_finished_spans()
    assert span.name == "GET" and span.kind is SpanKind.CLIENT
    assert span.attributes == {
        "http.request.method": "GET",
        "url.scheme": "https",
        "server.address": "api.reelmirror.test",
        "server.port": 443,
        "url.path": "/v1/personas/p1/posts",
        "http.response.status_code": 429,
        "error.type": "429",
    }
    assert span.status.status_code is StatusCode.ERROR


async def test_no_secret_reaches_a_span(spans: InMemorySpanExporter) -> None:
    async with client(spans, lambda request: httpx.Response(200, json={"key": API_KEY})) as http:
        await http.get(f"http://127.0.0.1:8787/_sim/mailbox/bot@example.test/{API_KEY}/{JWT}?token={JWT}")
        await http.post("http://127.0.0.1:8787/v1/api-keys", headers={"Authorization": f"Bearer {JWT}"}, json={})
    text = repr([(span.name, dict(span.attributes or {}), span.events) for span in spans.get_finished_spans()])
    for secret in (API_KEY, JWT, "bot@example.test", "token=", "Bearer", "Authorization"):
        assert secret not in text


async def test_a_transport_failure_is_an_error_span_and_still_raises(spans: InMemorySpanExporter) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with client(spans, refuse) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("http://127.0.0.1:9/v1/balance")
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ConnectError"
    assert not span.events, "no exception event: its message could quote a URL"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/personas/abc/sources", "/v1/personas/abc/sources"),
        ("/_sim/mailbox/a.b@c.test", "/_sim/mailbox/{redacted}"),
        (f"/keys/{API_KEY}", "/keys/{redacted}"),
        (f"/s/{JWT}", "/s/{redacted}"),
        ("/v1/setup_intents/seti_123_secret_abc/confirm", "/v1/setup_intents/{redacted}/confirm"),
    ],
)
def test_safe_path_masks_addresses_and_keys(path: str, expected: str) -> None:
    assert safe_path(path) == expected


class Broken(SimpleSpanProcessor):
    def on_start(self, span, parent_context=None) -> None:
        raise RuntimeError("tracing is broken")

    def on_end(self, span) -> None:
        raise RuntimeError("tracing is broken")


async def test_broken_tracing_never_fails_the_call(caplog: pytest.LogCaptureFixture) -> None:
    provider = TracerProvider()
    provider.add_span_processor(Broken(InMemorySpanExporter()))
    transport = ObservedTransport(httpx.MockTransport(lambda r: httpx.Response(200)), tracer_provider=provider)
    async with httpx.AsyncClient(transport=transport) as http:
        for _ in range(3):
            assert (await http.get("http://127.0.0.1:9/v1/balance")).status_code == 200
    warnings = [r for r in caplog.records if r.name == "observability.http"]
    assert len(warnings) == 1 and "tracing is broken" in warnings[0].getMessage()
