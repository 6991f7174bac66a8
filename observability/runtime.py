"""The Temporal runtime of the worker: the SDK's metrics and the product's on one Prometheus endpoint.

The SDK (Rust core) serves `/metrics` itself; counters recorded with `workflow.metric_meter()` and
`activity.metric_meter()` (see `observability.metrics`) land on the same endpoint. Without a metrics
address the default runtime is used and nothing listens.
"""

from __future__ import annotations

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from observability.settings import METRICS_PORT_ENV, BindAddress, TelemetrySettingsError

__all__ = ["BindError", "temporal_runtime"]


class BindError(TelemetrySettingsError):
    """A port in the settings cannot be bound (taken, or not an address of this host)."""


def temporal_runtime(metrics_address: BindAddress | None) -> Runtime | None:
    """A runtime serving Prometheus metrics on `metrics_address`, or None (the SDK's default runtime)."""
    if metrics_address is None:
        return None
    try:
        return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=str(metrics_address))))
    except ValueError as exc:  # the core reports a bind failure as "Failed starting Prometheus exporter: ..."
        reason = str(exc).split(": ", 1)[-1]
        raise BindError(bind_message(METRICS_PORT_ENV, metrics_address, reason)) from None


def bind_message(variable: str, address: BindAddress, reason: str) -> str:
    """The one line for a port that cannot be bound, naming the setting that chose it."""
    return f"{variable}: cannot listen on {address}: {reason}; stop what runs there or choose another port"
