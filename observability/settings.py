"""The worker's telemetry and start-up settings, read once from the environment and validated at start.

Kept apart from `activities.settings` because these configure the process (ports, exporters, how long to
wait for Temporal), not the activities. Like those, every bad value stops the worker with one line that
names the variable, and no message echoes a value (an endpoint may carry credentials).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

__all__ = [
    "CONNECT_TIMEOUT_ENV",
    "DEFAULT_CONNECT_TIMEOUT_SECONDS",
    "EXPORTER_ENV",
    "HEALTH_PORT_ENV",
    "METRICS_PORT_ENV",
    "OTLP_ENDPOINT_ENV",
    "BindAddress",
    "ObservabilitySettings",
    "TelemetrySettingsError",
    "parse_bind_address",
    "span_exporter_from_env",
]

METRICS_PORT_ENV = "REELMIRROR_METRICS_PORT"
HEALTH_PORT_ENV = "REELMIRROR_HEALTH_PORT"
CONNECT_TIMEOUT_ENV = "REELMIRROR_CONNECT_TIMEOUT_SECONDS"
EXPORTER_ENV = "REELMIRROR_OTEL_EXPORTER"
OTLP_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTLP_TRACES_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
OTLP_PROTOCOL_ENV = "OTEL_EXPORTER_OTLP_PROTOCOL"
OTLP_TRACES_PROTOCOL_ENV = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"

DEFAULT_CONNECT_TIMEOUT_SECONDS = 180.0
MAX_CONNECT_TIMEOUT_SECONDS = 24 * 3600.0
#: A bare port binds every interface, so Prometheus or a kubelet in another container can reach it.
DEFAULT_BIND_HOST = "0.0.0.0"
EXPORTERS = ("none", "console", "otlp")
SUPPORTED_OTLP_PROTOCOL = "http/protobuf"

Exporter = Literal["none", "console", "otlp"]


class TelemetrySettingsError(ValueError):
    """A telemetry or start-up variable holds a value the worker cannot use; the message names it."""


@dataclass(frozen=True)
class BindAddress:
    """Where a server of the worker listens: an IP literal and a port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_bind_address(value: str, variable: str) -> BindAddress:
    """`9464` (every interface), `127.0.0.1:9464` or `[::1]:9464`; anything else names `variable`."""
    text = value.strip()
    if text.isdigit():
        host, port_text = DEFAULT_BIND_HOST, text
    else:
        host, sep, port_text = text.rpartition(":")
        host = host.strip("[]")
        if not sep or not port_text.isdigit():
            raise TelemetrySettingsError(f"{variable}: give a port (9464) or an address with a port (127.0.0.1:9464)")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise TelemetrySettingsError(
                f"{variable}: the host must be an IP address such as 127.0.0.1 or 0.0.0.0, not a name"
            ) from None
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise TelemetrySettingsError(f"{variable}: the port must be between 1 and 65535")
    return BindAddress(host, port)


def _http_url(value: str, variable: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TelemetrySettingsError(f"{variable}: must be an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise TelemetrySettingsError(f"{variable}: the port is not a number") from None
    return value


def span_exporter_from_env(env: Mapping[str, str] | None = None) -> tuple[Exporter, str | None]:
    """Where spans go: (`otlp`, the endpoint), (`console`, None) or (`none`, None).

    Apart from the rest so the CLI, which serves no metrics, reads only what its traces need.
    """
    source = os.environ if env is None else env

    def get(name: str) -> str:
        return source.get(name, "").strip()

    endpoint_var = OTLP_TRACES_ENDPOINT_ENV if get(OTLP_TRACES_ENDPOINT_ENV) else OTLP_ENDPOINT_ENV
    endpoint = _http_url(get(endpoint_var), endpoint_var) if get(endpoint_var) else None
    exporter = get(EXPORTER_ENV).lower() or ("otlp" if endpoint else "none")
    if exporter not in EXPORTERS:
        raise TelemetrySettingsError(f"{EXPORTER_ENV}: not supported; use one of: {', '.join(EXPORTERS)}")
    if exporter != "otlp":
        return exporter, None  # type: ignore[return-value]
    if endpoint is None:
        raise TelemetrySettingsError(f"{EXPORTER_ENV}=otlp needs {OTLP_ENDPOINT_ENV} (the collector's URL)")
    for protocol_var in (OTLP_TRACES_PROTOCOL_ENV, OTLP_PROTOCOL_ENV):
        protocol = get(protocol_var)
        if protocol and protocol != SUPPORTED_OTLP_PROTOCOL:
            raise TelemetrySettingsError(
                f"{protocol_var}: only OTLP over {SUPPORTED_OTLP_PROTOCOL} is supported "
                "(the collector's port 4318); unset it or set it to that"
            )
    return "otlp", endpoint


@dataclass(frozen=True)
class ObservabilitySettings:
    """Metrics and health addresses (None: off), the span exporter, and the bound on waiting for Temporal."""

    metrics_address: BindAddress | None = None
    health_address: BindAddress | None = None
    exporter: Exporter = "none"
    otlp_endpoint: str | None = None
    connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ObservabilitySettings:
        """Read and check every variable; raise `TelemetrySettingsError` naming the first bad one."""
        source = os.environ if env is None else env

        def get(name: str) -> str:
            return source.get(name, "").strip()

        metrics = parse_bind_address(get(METRICS_PORT_ENV), METRICS_PORT_ENV) if get(METRICS_PORT_ENV) else None
        health = parse_bind_address(get(HEALTH_PORT_ENV), HEALTH_PORT_ENV) if get(HEALTH_PORT_ENV) else None
        if metrics is not None and health is not None and metrics.port == health.port:
            raise TelemetrySettingsError(f"{HEALTH_PORT_ENV}: uses the same port as {METRICS_PORT_ENV}; pick another")

        exporter, endpoint = span_exporter_from_env(source)
        timeout = DEFAULT_CONNECT_TIMEOUT_SECONDS
        if get(CONNECT_TIMEOUT_ENV):
            try:
                timeout = float(get(CONNECT_TIMEOUT_ENV))
            except ValueError:
                raise TelemetrySettingsError(f"{CONNECT_TIMEOUT_ENV}: must be a number of seconds") from None
            if not 0 < timeout <= MAX_CONNECT_TIMEOUT_SECONDS:
                raise TelemetrySettingsError(
                    f"{CONNECT_TIMEOUT_ENV}: must be more than 0 and at most {MAX_CONNECT_TIMEOUT_SECONDS:g} seconds"
                )
        return cls(
            metrics_address=metrics,
            health_address=health,
            exporter=exporter,
            otlp_endpoint=endpoint,
            connect_timeout_seconds=timeout,
        )
