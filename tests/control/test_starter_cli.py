"""The CLI refuses bad input with one `error:` line and exit code 2, before it connects to anything.

TEMPORAL_ADDRESS points at a closed port: a command that got past validation would fail with exit 1
("cannot reach Temporal"), so exit 2 proves the refusal happened first and nothing was started.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from codec.keys import KEYS_ENV, generate_key
from devstack.ports import free_port

REPO = Path(__file__).parents[2]


def run_cli(*args: str, stdin: str = "", **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "PATH": "/usr/bin:/bin",
        "HOME": str(REPO),
        KEYS_ENV: generate_key("cli-test"),
        **extra_env,
    }
    return subprocess.run(
        [sys.executable, str(REPO / "starter.py"), *args],
        capture_output=True, text=True, env=env, input=stdin, timeout=60, cwd=REPO,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), None),  # no command: help, exit 2 is click's convention for "nothing to do"
        (("persona", "start"), "Missing argument 'config'"),
        (("persona", "start", "no-such-file.toml"), "no-such-file.toml: no such file"),
        (("approve",), "Missing argument 'post_id'"),
        (("reject",), "Missing argument 'post_id'"),
        (("approve", "bad id'"), "is not a post id"),
        (("frobnicate",), "No such command 'frobnicate'"),
        (("onboard", "--email", "not-an-email"), "--email: 'not-an-email' is not an e-mail address"),
        (
            ("onboard", "--email", "a@b.co", "--account", "Bad Name"),
            "--account: 'Bad Name' is not a valid account name",
        ),
        (("onboard", "--email", "a@b.co", "--auto-reload"), "--auto-reload needs --card"),
        (("onboard", "--email", "a@b.co", "--time-scale", "3"), "--time-scale"),
        (("onboard", "--email", "a@b.co", "--confirmation", "carrier-pigeon"), "--confirmation"),
        (("confirm-email", "main", "not-a-link"), "must be the http(s) URL"),
        (("confirm-email", "a@b.co", "https://x.test/verify"), "not the e-mail address"),
        (("confirm-email", "Bad Name", "https://x.test/verify"), "ACCOUNT: 'Bad Name' is not a valid account name"),
        (("account", "import-key", "main"), "must hold the API key"),
        (("account", "import-key", "../etc"), "ACCOUNT: '../etc' is not a valid account name"),
        (
            ("persona", "start", "examples/demo-persona.toml", "--account", "Main Account"),
            "is not a valid account name",
        ),
        (("watch", "--interval", "0"), "--interval"),
    ],
)
def test_bad_input_is_refused_before_connecting(args: tuple[str, ...], expected: str | None) -> None:
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    if expected is not None:
        error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(error_lines) == 1, result.stderr
        assert expected in error_lines[0]


def test_invalid_persona_file_names_the_field(tmp_path: Path) -> None:
    config = tmp_path / "p.toml"
    config.write_text('name = "x"\nsync_interval_minutes = 1\n[[sources]]\nplatform = "instagram"\nusername = "a"\n')
    result = run_cli("persona", "start", str(config))
    assert result.returncode == 2
    assert "sync_interval_minutes: must be at least 15" in result.stderr


def test_valid_command_without_server_exits_1_with_one_line() -> None:
    result = run_cli("status")
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach Temporal")
    assert "Traceback" not in result.stderr


def test_help_lists_every_operator_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("onboard", "confirm-email", "persona", "approve", "reject", "pause", "resume", "topped-up",
                    "credentials-updated", "status", "watch", "account"):  # fmt: skip
        assert command in result.stdout


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({KEYS_ENV: ""}, "REELMIRROR_CODEC_KEYS"),  # no key at all
        ({KEYS_ENV: "k1:not-base64!"}, "REELMIRROR_CODEC_KEYS"),
        ({KEYS_ENV: "", "REELMIRROR_CODEC_KEY_FILE": "/nonexistent/codec.key"}, "REELMIRROR_CODEC_KEY_FILE"),
        ({"REELMIRROR_CODEC": "maybe"}, "REELMIRROR_CODEC"),
        ({"REELMIRROR_CODEC": "off"}, "REELMIRROR_CODEC=off but an encryption key is set"),
        ({"REELMIRROR_OTEL_EXPORTER": "jaeger"}, "REELMIRROR_OTEL_EXPORTER"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ],
)
def test_a_missing_or_bad_key_or_trace_setting_is_one_line_naming_it(env: dict[str, str], named: str) -> None:
    result = run_cli("status", **env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_codec_off_is_an_explicit_opt_out() -> None:
    result = run_cli("status", **{KEYS_ENV: "", "REELMIRROR_CODEC": "off"})
    assert result.returncode == 1, "past the codec check, on to the (closed) Temporal port"
    assert result.stderr.startswith("error: cannot reach Temporal")
