"""Spans leave by OTLP/HTTP; a collector that is down is one log line and never an error in the caller."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from control.telemetry import GuardedExporter, otlp_exporter
from devstack.ports import free_port


class Failing(SpanExporter):
    def __init__(self) -> None:
        self.calls = 0
        self.fail = True

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        if self.fail:
            raise ConnectionError("collector down")
        return SpanExportResult.SUCCESS


def emit(exporter: SpanExporter, count: int) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for n in range(count):
        with provider.get_tracer("test").start_as_current_span(f"span-{n}"):
            pass


def test_an_outage_is_one_warning_and_a_recovery_one_info(caplog: pytest.LogCaptureFixture) -> None:
    inner = Failing()
    guarded = GuardedExporter(inner, setting="OTEL_EXPORTER_OTLP_ENDPOINT", endpoint="http://u:p@c:4318/x", pause=0)
    with caplog.at_level(logging.INFO, logger="control.telemetry"):
        emit(guarded, 5)  # SimpleSpanProcessor exports each span at once: five failed exports
        inner.fail = False
        emit(guarded, 2)
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("OTEL_EXPORTER_OTLP_ENDPOINT: cannot send spans to http://c:4318 (ConnectionError)")
    assert "u:p" not in lines[0] and "/x" not in lines[0], "no credentials or path in the log"
    assert "spans reach http://c:4318 again" in lines[1]


def test_while_down_spans_are_dropped_without_trying() -> None:
    inner = Failing()
    emit(GuardedExporter(inner, setting="X", endpoint=None, pause=60), 10)
    assert inner.calls == 1


@pytest.fixture
def collector() -> Iterator[tuple[str, list[ExportTraceServiceRequest]]]:
    """A minimal OTLP/HTTP receiver: records each export request."""
    received: list[ExportTraceServiceRequest] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(ExportTraceServiceRequest.FromString(body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_spans_reach_an_otlp_collector(
    collector: tuple[str, list[ExportTraceServiceRequest]], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, received = collector
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    emit(GuardedExporter(otlp_exporter(), setting="OTEL_EXPORTER_OTLP_ENDPOINT", endpoint=endpoint), 1)
    names = [
        span.name for request in received for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans
    ]
    assert names == ["span-0"]


def test_an_unreachable_collector_is_one_line(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    with caplog.at_level(logging.DEBUG):
        emit(GuardedExporter(otlp_exporter(), setting="OTEL_EXPORTER_OTLP_ENDPOINT", endpoint=endpoint), 3)
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"OTEL_EXPORTER_OTLP_ENDPOINT: cannot send spans to {endpoint}")
