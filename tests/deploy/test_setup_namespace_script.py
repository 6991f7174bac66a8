"""deploy/temporal/setup-namespace.sh, run with the prod compose file's settings against a real Temporal
(the dev server from the venv): it creates a missing namespace, registers the search attributes, and a
second run leaves everything as it is."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from compose_model import REPO, ComposeFile

from devstack.temporal import TemporalDevServer
from workflows.search_attributes import ALL_KEYS

SCRIPT = REPO / "deploy" / "temporal" / "setup-namespace.sh"
SETUP = ComposeFile(REPO / "deploy" / "docker-compose.prod.yml").environment("temporal-setup")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalDevServer]:
    dev = TemporalDevServer(log_path=tmp_path_factory.mktemp("temporal") / "temporal.log", ui_port=None).start()
    try:
        yield dev
    finally:
        dev.stop()


def run(server: TemporalDevServer, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin"  # the venv's `temporal` CLI
    full_env = {"PATH": path, "HOME": str(REPO), "TEMPORAL_ADDRESS": server.address, **env}
    return subprocess.run(list(argv), capture_output=True, text=True, env=full_env, timeout=120)


def test_registers_a_new_namespace_and_the_search_attributes_once(server: TemporalDevServer) -> None:
    settings = {"NAMESPACE": "deploy-check", "SEARCH_ATTRIBUTES": SETUP["SEARCH_ATTRIBUTES"]}
    first = run(server, "bash", str(SCRIPT), **settings)
    assert first.returncode == 0, first.stdout + first.stderr
    again = run(server, "bash", str(SCRIPT), **settings)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("exists") == len(ALL_KEYS)

    listed = run(server, "temporal", "operator", "search-attribute", "list", "--namespace", "deploy-check")
    rows = {tuple(line.split()[:2]) for line in listed.stdout.splitlines() if line.strip()}
    assert {(key.name, "Keyword") for key in ALL_KEYS} <= rows
