"""Where the OpenTelemetry spans of the worker and the CLI go.

Temporal's TracingInterceptor (installed by `control.connection.connect`) makes spans for workflow starts,
signals, workflow tasks and activities and carries the trace through Temporal headers; the activities'
HTTP pool adds a span per vendor call (`observability.http`). This module only installs the provider:
OTLP over HTTP to `OTEL_EXPORTER_OTLP_ENDPOINT` (the standard variables configure it: headers, timeout,
TLS), the console with `REELMIRROR_OTEL_EXPORTER=console`, or nothing.

A collector that is down must cost spans, never work: exports run on the batch processor's thread, and
`GuardedExporter` turns an outage into one log line and drops spans quietly until the collector answers.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter, SpanExportResult

from observability.settings import EXPORTER_ENV, EXPORTERS, OTLP_ENDPOINT_ENV

__all__ = ["EXPORTERS", "GuardedExporter", "configure_tracing", "install_provider"]

logger = logging.getLogger("control.telemetry")

#: The OTLP exporter's own loggers print a line per failed try; the guard reports an outage once instead.
_NOISY_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.common.http",
)
#: After a failed export, batches are dropped without trying for this long (a down collector is not hammered).
RETRY_PAUSE_SECONDS = 30.0


def _where(endpoint: str | None) -> str:
    """scheme://host:port of an endpoint, for log lines: never its path, query or credentials."""
    if not endpoint:
        return "the OTLP endpoint"
    parts = urlsplit(endpoint)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


class GuardedExporter(SpanExporter):
    """Wraps an exporter so that its failures are logged once per outage and never raised.

    While the target is down, batches are dropped for `pause` seconds before the next try; the first
    success after an outage logs one line too, so the log shows when spans flow again.
    """

    def __init__(self, inner: SpanExporter, *, setting: str, endpoint: str | None, pause: float = RETRY_PAUSE_SECONDS):
        self._inner = inner
        self._setting = setting
        self._where = _where(endpoint)
        self._pause = pause
        self._down = False
        self._retry_at = 0.0
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            if self._down and time.monotonic() < self._retry_at:
                return SpanExportResult.FAILURE
        try:
            result = self._inner.export(spans)
            reason = "the export failed"
        except Exception as exc:  # an exporter bug must not kill the processor's thread
            result, reason = SpanExportResult.FAILURE, type(exc).__name__
        with self._lock:
            if result is SpanExportResult.SUCCESS:
                if self._down:
                    logger.info("%s: spans reach %s again", self._setting, self._where)
                self._down = False
                return result
            if not self._down:
                logger.warning(
                    "%s: cannot send spans to %s (%s); dropping spans and trying again every %.0f s. "
                    "Workflows and activities are not affected",
                    self._setting, self._where, reason, self._pause,
                )  # fmt: skip
            self._down = True
            self._retry_at = time.monotonic() + self._pause
            return result

    def shutdown(self) -> None:
        try:
            self._inner.shutdown()
        except Exception as exc:
            logger.debug("span exporter shutdown failed: %s", type(exc).__name__)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        try:
            return self._inner.force_flush(timeout_millis)
        except Exception:
            return False


def otlp_exporter(default_timeout: float | None = None) -> SpanExporter:
    """The OTLP/HTTP span exporter, configured by the standard OTEL_EXPORTER_OTLP_* variables.

    `default_timeout` replaces the SDK's 10 s per export unless OTEL_EXPORTER_OTLP(_TRACES)_TIMEOUT is set:
    a short-lived command should not wait that long for a collector that is down.
    """
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    configured = any(
        os.environ.get(name) for name in ("OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
    )
    return OTLPSpanExporter(timeout=None if configured else default_timeout)


def configure_tracing(
    exporter: str, service_name: str, otlp_endpoint: str | None = None, *, export_timeout: float | None = None
) -> TracerProvider | None:
    """Install a global tracer provider that sends spans to `exporter`; returns it so it can be shut down.

    `export_timeout`: seconds per OTLP export when the environment sets none (the SDK's 10 s otherwise)."""
    if exporter not in EXPORTERS:
        raise ValueError(f"{EXPORTER_ENV}={exporter!r} is not supported; use one of: {', '.join(EXPORTERS)}")
    if exporter == "none":
        return None
    if exporter == "console":
        return install_provider(ConsoleSpanExporter(), service_name)
    guarded = GuardedExporter(otlp_exporter(export_timeout), setting=OTLP_ENDPOINT_ENV, endpoint=otlp_endpoint)
    provider = install_provider(guarded, service_name)
    logger.info("sending spans to %s over OTLP/HTTP", _where(otlp_endpoint))
    return provider


def install_provider(exporter: SpanExporter, service_name: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider
