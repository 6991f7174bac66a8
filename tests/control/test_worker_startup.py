"""The worker's start: a taken port is one line naming its setting; a Temporal that is not up is waited for.

Each test runs `worker.py` as a process, as an operator or an orchestrator would, with TEMPORAL_ADDRESS on
a closed port, so nothing here needs a Temporal server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from codec.keys import KEYS_ENV, generate_key
from devstack.ports import free_port

REPO = Path(__file__).parents[2]


def worker_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",  # closed
        "REELMIRROR_SECRETS_DIR": str(tmp_path / "secrets"),
        KEYS_ENV: generate_key("startup-test"),
        **extra,
    }


def run_worker(env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "worker.py")], capture_output=True, text=True, env=env, timeout=timeout
    )


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("variable", ["REELMIRROR_METRICS_PORT", "REELMIRROR_HEALTH_PORT"])
def test_a_taken_port_is_one_line_naming_the_setting(variable: str, taken_port: int, tmp_path: Path) -> None:
    result = run_worker(worker_env(tmp_path, **{variable: f"127.0.0.1:{taken_port}"}))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"worker: {variable}: cannot listen on 127.0.0.1:{taken_port}")
    assert "in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_temporal_is_retried_then_one_line(tmp_path: Path) -> None:
    result = run_worker(worker_env(tmp_path, REELMIRROR_CONNECT_TIMEOUT_SECONDS="2.5"))
    assert result.returncode == 1, result.stderr
    tries = [line for line in result.stderr.splitlines() if "is not reachable (try" in line]
    assert len(tries) >= 2, result.stderr
    assert "Connection refused" in tries[0]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("worker: Temporal at 127.0.0.1:") and "REELMIRROR_CONNECT_TIMEOUT_SECONDS" in last
    assert "Traceback" not in result.stderr


def test_health_says_live_but_not_ready_while_waiting_for_temporal(tmp_path: Path) -> None:
    port = free_port()
    env = worker_env(tmp_path, REELMIRROR_HEALTH_PORT=f"127.0.0.1:{port}", REELMIRROR_CONNECT_TIMEOUT_SECONDS="60")
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "worker.py")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                live = httpx.get(f"http://127.0.0.1:{port}/live", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, "the health endpoint never came up"
                time.sleep(0.1)
        assert live.status_code == 200
        ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["reason"] == "connecting to Temporal"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, "SIGTERM while waiting for Temporal is a clean stop"
    assert "Traceback" not in stderr
