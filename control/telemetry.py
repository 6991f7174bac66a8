"""OpenTelemetry tracing for the worker and the CLI.

Temporal's TracingInterceptor (installed by `control.connection.connect`) creates spans for workflow
starts, signals, workflow tasks and activities, and propagates them through Temporal headers; this module
only decides where spans go. `REELMIRROR_OTEL_EXPORTER=console` prints them; `none` (default) keeps the
SDK's no-op provider, so nothing is exported. An OTLP exporter can be added by installing
`opentelemetry-exporter-otlp` and setting the provider in the same place.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

EXPORTERS = ("none", "console")


def configure_tracing(exporter: str, service_name: str) -> TracerProvider | None:
    """Install a global tracer provider that sends spans to `exporter`; returns it so it can be shut down."""
    if exporter not in EXPORTERS:
        raise ValueError(f"REELMIRROR_OTEL_EXPORTER={exporter!r} is not supported; use one of: {', '.join(EXPORTERS)}")
    if exporter == "none":
        return None
    return install_provider(ConsoleSpanExporter(), service_name)


def install_provider(exporter: SpanExporter, service_name: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider
