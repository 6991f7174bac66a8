"""The worker refuses invalid configuration before it connects, naming the variable to fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from codec.keys import KEYS_ENV, generate_key
from devstack.ports import free_port

REPO = Path(__file__).parents[2]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REELMIRROR_BASE_URL", "ftp://reelmirror.example"),
        ("REELMIRROR_HTTP_TIMEOUT_SECONDS", "-3"),
        ("STRIPE_PUBLISHABLE_KEY", "not-a-publishable-key"),
        ("REELMIRROR_OTEL_EXPORTER", "jaeger"),
        ("REELMIRROR_METRICS_PORT", "http://0.0.0.0:9464"),
        ("REELMIRROR_METRICS_PORT", "70000"),
        ("REELMIRROR_HEALTH_PORT", "localhost:8080"),
        ("REELMIRROR_CONNECT_TIMEOUT_SECONDS", "soon"),
        ("REELMIRROR_CONNECT_TIMEOUT_SECONDS", "-1"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("REELMIRROR_WORKFLOW_CACHE", "lots"),
        ("REELMIRROR_CODEC_KEYS", "k1:c2hvcnQ="),
        ("REELMIRROR_CODEC_KEY_FILE", "/nonexistent/codec.key"),
        ("REELMIRROR_CODEC", "sometimes"),
    ],
)
def test_invalid_setting_stops_the_worker_with_one_line(variable: str, value: str, tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",  # closed: reaching it would fail differently
        "REELMIRROR_SECRETS_DIR": str(tmp_path / "secrets"),
        KEYS_ENV: generate_key("worker-test"),
        variable: value,
    }
    if variable == "REELMIRROR_CODEC_KEY_FILE":
        del env[KEYS_ENV]
    if variable == "OTEL_EXPORTER_OTLP_PROTOCOL":
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:4318"
    result = subprocess.run(
        [sys.executable, str(REPO / "worker.py")], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert variable in result.stderr
    assert "Traceback" not in result.stderr
    echoed_on_purpose = {"REELMIRROR_OTEL_EXPORTER", "REELMIRROR_CODEC_KEY_FILE"}  # a name and a path, not secrets
    assert value not in result.stderr or variable in echoed_on_purpose, "settings errors never echo values"
