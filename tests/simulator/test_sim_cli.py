"""``python -m simulator``: refuses bad options in one line, prints its address, stops on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from simulator.cli import config_from_args

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulator", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--time-scale", "0"], "--time-scale"),
        (["--time-scale", "fast"], "--time-scale"),
        (["--port", "70000"], "--port"),
        (["--rate-limit", "0"], "--rate-limit"),
        (["--media-failure-rate", "2"], "--media-failure-rate"),
        (["--duration", "video=9:1"], "--duration"),
        (["--duration", "audio=1:2"], "--duration"),
        (["--stripe-api-base", "ftp://x"], "--stripe-api-base"),
        (["--chaos", "{not json"], "--chaos"),
        (["--answers", "minimal"], "--answers"),
        (["--webhook-delay", "-1"], "--webhook-delay"),
        (["--webhook-delay", "soon"], "--webhook-delay"),
        (["--late-commit-rate", "1.5"], "--late-commit-rate"),
        (["--late-commit-seconds", "0"], "--late-commit-seconds"),
        (["--late-commit-path", "("], "--late-commit-path"),
        (["--no-such-option"], "--no-such-option"),
    ],
)
def test_bad_option_is_refused_in_one_line(args: list[str], option: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        config_from_args(args)
    assert exited.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert option in lines[0] and lines[0].startswith("simulator: error:")
    assert captured.out == ""


def test_bad_option_refused_by_the_real_command() -> None:
    result = run_cli("--time-scale", "-1")
    assert result.returncode == 2
    assert result.stderr.strip() == "simulator: error: argument --time-scale: Input should be greater than 0"
    assert result.stdout == ""


def test_options_reach_the_config() -> None:
    config = config_from_args(
        [
            "--port", "0", "--seed", "3", "--duration", "video=1:2", "--video-cost-cents", "7",
            "--rate-limit", "5", "--rate-limit-reset-format", "seconds", "--no-retry-after",
            "--chaos", '{"error_rates": {"503": 0.5}}',
        ]
    )  # fmt: skip
    assert config.port == 0 and config.seed == 3
    assert config.runtime.durations_seconds.video.max == 2 and config.runtime.costs_cents.video == 7
    assert config.runtime.rate_limit.limit == 5 and config.runtime.rate_limit.reset_format == "seconds"
    assert config.runtime.rate_limit.retry_after is False
    assert config.chaos.error_rates == {"503": 0.5}


def test_guide_and_idempotency_options_reach_the_config() -> None:
    assert config_from_args([]).runtime.answers == "full"
    config = config_from_args(["--answers", "guide", "--webhook-delay", "90", "--idempotency-keys"])
    assert config.runtime.answers == "guide" and config.runtime.webhook_delay_seconds == 90
    assert config.runtime.idempotency_keys is True and config_from_args([]).runtime.idempotency_keys is False


def test_late_commit_options_reach_the_chaos_config() -> None:
    config = config_from_args(
        [
            "--chaos", '{"late_commit": {"methods": ["post"]}}', "--late-commit-rate", "0.5",
            "--late-commit-seconds", "2", "--late-commit-path", "/v1/generate$",
        ]
    )  # fmt: skip
    late = config.chaos.late_commit
    assert (late.rate, late.delay_seconds, late.path_pattern, late.methods) == (0.5, 2, "/v1/generate$", ["POST"])
    assert config_from_args([]).chaos.late_commit.rate == 0


def test_starts_prints_address_and_stops_on_sigterm(localstripe: str) -> None:
    argv = [sys.executable, "-m", "simulator", "--port", "0", "--time-scale", "0.01", "--seed", "7"]
    process = subprocess.Popen(
        [*argv, "--stripe-api-base", localstripe],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        match = re.fullmatch(
            r"ReelMirror simulator listening on (http://127\.0\.0\.1:\d+)/api \(admin (http://127\.0\.0\.1:\d+)/_sim\)",
            line,
        )
        assert match is not None, line
        assert match.group(1) == match.group(2)
        health = httpx.get(f"{match.group(1)}/_sim/health", timeout=5).json()
        assert health["seed"] == 7 and health["time_scale"] == 0.01
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
