"""The worker refuses invalid configuration before it connects, naming the variable to fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devstack.ports import free_port

REPO = Path(__file__).parents[2]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REELMIRROR_BASE_URL", "ftp://reelmirror.example"),
        ("REELMIRROR_HTTP_TIMEOUT_SECONDS", "-3"),
        ("STRIPE_PUBLISHABLE_KEY", "not-a-publishable-key"),
        ("REELMIRROR_OTEL_EXPORTER", "jaeger"),
    ],
)
def test_invalid_setting_stops_the_worker_with_one_line(variable: str, value: str, tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",  # closed: reaching it would fail differently
        "REELMIRROR_SECRETS_DIR": str(tmp_path / "secrets"),
        variable: value,
    }
    result = subprocess.run(
        [sys.executable, str(REPO / "worker.py")], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert variable in result.stderr
    assert "Traceback" not in result.stderr
    assert value not in result.stderr or variable == "REELMIRROR_OTEL_EXPORTER", "settings errors never echo values"
