"""Telemetry settings: every bad value is one message naming its variable, and sensible defaults."""

from __future__ import annotations

import pytest

from observability.settings import (
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    BindAddress,
    ObservabilitySettings,
    TelemetrySettingsError,
    parse_bind_address,
)


def test_defaults_turn_everything_off() -> None:
    settings = ObservabilitySettings.from_env({})
    assert settings == ObservabilitySettings()
    assert settings.metrics_address is None and settings.health_address is None
    assert settings.exporter == "none"
    assert settings.connect_timeout_seconds == DEFAULT_CONNECT_TIMEOUT_SECONDS


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("9464", BindAddress("0.0.0.0", 9464)),
        ("127.0.0.1:9464", BindAddress("127.0.0.1", 9464)),
        ("[::1]:9464", BindAddress("::1", 9464)),
    ],
)
def test_a_port_or_an_address(value: str, expected: BindAddress) -> None:
    assert parse_bind_address(value, "X") == expected


def test_an_otlp_endpoint_selects_otlp_unless_told_otherwise() -> None:
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    assert ObservabilitySettings.from_env(endpoint).exporter == "otlp"
    assert ObservabilitySettings.from_env(endpoint).otlp_endpoint == "http://collector:4318"
    assert ObservabilitySettings.from_env({**endpoint, "REELMIRROR_OTEL_EXPORTER": "none"}).exporter == "none"
    assert ObservabilitySettings.from_env({"REELMIRROR_OTEL_EXPORTER": "console"}).exporter == "console"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"REELMIRROR_METRICS_PORT": "metrics"}, "REELMIRROR_METRICS_PORT"),
        ({"REELMIRROR_METRICS_PORT": "0"}, "REELMIRROR_METRICS_PORT"),
        ({"REELMIRROR_HEALTH_PORT": "prometheus.local:80"}, "REELMIRROR_HEALTH_PORT"),
        ({"REELMIRROR_METRICS_PORT": "9000", "REELMIRROR_HEALTH_PORT": "9000"}, "REELMIRROR_HEALTH_PORT"),
        ({"REELMIRROR_OTEL_EXPORTER": "zipkin"}, "REELMIRROR_OTEL_EXPORTER"),
        ({"REELMIRROR_OTEL_EXPORTER": "otlp"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "grpc://c:4317"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "c:4318"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
        ({"REELMIRROR_CONNECT_TIMEOUT_SECONDS": "0"}, "REELMIRROR_CONNECT_TIMEOUT_SECONDS"),
        ({"REELMIRROR_CONNECT_TIMEOUT_SECONDS": "five"}, "REELMIRROR_CONNECT_TIMEOUT_SECONDS"),
    ],
)
def test_a_bad_value_names_its_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(TelemetrySettingsError) as caught:
        ObservabilitySettings.from_env(env)
    assert variable in str(caught.value)
    assert "\n" not in str(caught.value)
