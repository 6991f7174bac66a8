"""The processes that open a secret store: the worker refuses a bad shared-store setup in one line before it
connects to Temporal, and `starter.py account import-key` writes where the workers read.

TEMPORAL_ADDRESS points at a closed port throughout: a worker that got past its store would fail on
Temporal instead, with another message.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from secret_helpers import make_ring

from activities.secret_store_pg import PostgresSecretStore
from activities.secrets import FileSecretStore
from codec.keys import parse_key_ring
from devstack.ports import free_port

REPO = Path(__file__).parents[2]
CODEC_KEYS = make_ring("k1").current.spec()
KEY = "rm_" + "i" * 40


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "REELMIRROR_SECRETS_DIR": str(tmp_path / "secrets"),
        **extra,
    }


def run(script: str, env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / script), *args],
        capture_output=True, text=True, env=env, input=stdin, timeout=60, cwd=REPO,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("not-postgresql", "REELMIRROR_SECRETS_URL: Value error, must be a postgresql:// URL"),
        ("unreachable", "REELMIRROR_SECRETS_URL: cannot use PostgreSQL at postgresql://bot:***@127.0.0.1"),
        ("no-codec-key", "REELMIRROR_CODEC_KEYS"),  # the payload codec asks first; the store needs the same keys
    ],
)
def test_the_worker_refuses_a_bad_shared_store_in_one_line(
    case: str, expected: str, tmp_path: Path, pg_url: str
) -> None:
    urls = {
        "not-postgresql": "mysql://bot:hunter2@127.0.0.1/reelmirror",
        "unreachable": f"postgresql://bot:hunter2@127.0.0.1:{free_port()}/reelmirror",
        "no-codec-key": pg_url,
    }
    env = base_env(tmp_path, REELMIRROR_SECRETS_URL=urls[case])
    if case != "no-codec-key":
        env["REELMIRROR_CODEC_KEYS"] = CODEC_KEYS
    result = run("worker.py", env)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "hunter2" not in result.stderr + result.stdout
    assert "Temporal" not in result.stderr, "the worker must stop before it connects"
    assert not (tmp_path / "secrets").exists()


async def test_import_key_writes_to_the_shared_store_when_a_url_is_set(tmp_path: Path, pg_url: str) -> None:
    env = base_env(tmp_path, REELMIRROR_SECRETS_URL=pg_url, REELMIRROR_CODEC_KEYS=CODEC_KEYS)
    result = run("starter.py", env, "account", "import-key", "main", stdin=KEY + "\n")
    assert result.returncode == 0, result.stderr
    assert "shared PostgreSQL store postgresql://app@127.0.0.1" in result.stdout
    store = await PostgresSecretStore.open(pg_url, parse_key_ring(CODEC_KEYS))
    try:
        assert (await store.require("main", "api_key")).get_secret_value() == KEY
    finally:
        await store.aclose()
    assert not (tmp_path / "secrets").exists(), "nothing may land in the local directory"


async def test_import_key_writes_to_the_file_store_without_a_url(tmp_path: Path) -> None:
    result = run("starter.py", base_env(tmp_path), "account", "import-key", "main", stdin=KEY + "\n")
    assert result.returncode == 0, result.stderr
    assert (await FileSecretStore(tmp_path / "secrets").require("main", "api_key")).get_secret_value() == KEY


@pytest.mark.parametrize(
    ("extra", "args", "expected"),
    [
        ({}, ("--secrets-dir", "elsewhere"), "--secrets-dir and REELMIRROR_SECRETS_URL select different stores"),
        ({"REELMIRROR_CODEC_KEYS": ""}, (), "REELMIRROR_SECRETS_URL is set and the shared secret store encrypts"),
    ],
)
def test_import_key_refuses_an_ambiguous_or_keyless_shared_store(
    extra: dict[str, str], args: tuple[str, ...], expected: str, tmp_path: Path, pg_url: str
) -> None:
    env = base_env(tmp_path, REELMIRROR_SECRETS_URL=pg_url, REELMIRROR_CODEC_KEYS=CODEC_KEYS) | extra
    result = run("starter.py", env, "account", "import-key", "main", *args, stdin=KEY + "\n")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2, result.stderr
    assert len(errors) == 1 and expected in errors[0], result.stderr
