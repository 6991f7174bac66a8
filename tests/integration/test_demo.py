"""`make demo` runs in CI: the demo must finish, pass its ledger checks and leave nothing running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devstack.ports import free_port, port_is_open

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).parents[2]


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    ui_port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "devstack.demo", "--ui-port", str(ui_port), "--state-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "checks passed" in result.stdout
    assert f"127.0.0.1:{ui_port}" in result.stdout
    assert "approved" in result.stdout and "rejected" in result.stdout
    assert not port_is_open("127.0.0.1", ui_port), "the demo left the Temporal Web UI running"
