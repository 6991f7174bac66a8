"""Fixtures of the reelmirror client tests: fake API transports and a real localstripe emulator.

The localstripe fixture here is this package's own (``stripe_emulator``), independent of the shared
``localstripe`` fixture of ``tests/conftest.py``: the Stripe tests only need an emulator, not the
simulator's, and keep working while the shared fixtures change.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from reelmirror_fakes import BASE_URL, FakeApi, make_api_key

from reelmirror.client import ReelMirrorClient


@pytest.fixture
def api_key() -> str:
    return make_api_key()


@pytest.fixture
async def fake_api(api_key: str) -> AsyncIterator[Callable[..., tuple[ReelMirrorClient, FakeApi]]]:
    """Factory: ``client, api = fake_api(handler)`` gives a client (with ``api_key``) on a fake API."""
    pools: list[httpx.AsyncClient] = []

    def build(
        handler: Callable[[httpx.Request], httpx.Response], token: str | None = "default"
    ) -> tuple[ReelMirrorClient, FakeApi]:
        api = FakeApi(handler)
        http = httpx.AsyncClient(transport=httpx.MockTransport(api))
        pools.append(http)
        client = ReelMirrorClient(BASE_URL, token=api_key if token == "default" else token, http=http)
        return client, api

    yield build
    for http in pools:
        await http.aclose()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"localstripe exited early with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("localstripe did not start listening in time")


@pytest.fixture(scope="session")
def stripe_emulator() -> Iterator[str]:
    """A localstripe process on a free loopback port for this session; yields its API base URL.

    ``--from-scratch`` keeps it from loading state another localstripe left in its shared dump file.
    """
    executable = Path(sys.executable).with_name("localstripe")
    port = _free_port()
    process = subprocess.Popen(
        [str(executable), "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_listening(port, process, time.monotonic() + 20)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
