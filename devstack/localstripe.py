"""Run a throw-away ``localstripe`` (a stateful Stripe API emulator) on a free loopback port.

The simulator's billing goes through the real Stripe SDK, so tests, the demo and benchmarks need a
Stripe API to talk to without network access. ``localstripe`` from the virtualenv's ``bin`` directory
is started as a :class:`~devstack.process.ManagedProcess` (own process group, stopped as a group, and
ended by the kernel if its parent dies), with ``--from-scratch`` so no state leaks in from an earlier
run (localstripe always pickles its state to one fixed file in the temp directory).

Two forms: :class:`LocalStripe` (sync, a context manager) and :func:`localstripe_server` (async
context manager that does not block the event loop while waiting).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType

import httpx

from devstack.ports import LOOPBACK, free_port
from devstack.process import ManagedProcess

# localstripe, plus the publishable-key read of a SetupIntent that Stripe.js (and the card step) relies on;
# run with -P, so its own directory (which holds this module, named like the package) is not on sys.path.
_STRIPEJS_SCRIPT = Path(__file__).with_name("localstripe_stripejs.py")

# Any "sk_" key is accepted by localstripe; this one only proves the server answers authenticated calls.
_PROBE_KEY = "sk_test_probe"


class LocalStripeError(RuntimeError):
    """localstripe could not be started (missing executable, exited early, never answered)."""


def localstripe_executable() -> Path:
    """The ``localstripe`` script installed next to the running interpreter (the venv's bin dir)."""
    return Path(sys.executable).parent / "localstripe"


class LocalStripe:
    """One localstripe process; ``url`` is its API base (``http://127.0.0.1:<port>``)."""

    def __init__(
        self, port: int | None = None, *, startup_timeout: float = 20.0, log_path: Path | None = None
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._startup_timeout = startup_timeout
        self._log_path = log_path
        self.process: ManagedProcess | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def spawn(self) -> None:
        """Start the process without waiting for it to answer."""
        executable = localstripe_executable()
        if not executable.exists():
            raise LocalStripeError(f"localstripe is not installed next to {sys.executable}")
        log_path = self._log_path or Path(tempfile.mkdtemp(prefix="localstripe-")) / "localstripe.log"
        argv = [sys.executable, "-P", str(_STRIPEJS_SCRIPT), "--port", str(self.port), "--from-scratch"]
        self.process = ManagedProcess("localstripe", argv, log_path).start()

    def _probe(self) -> bool:
        """One readiness probe; raises when the process already died."""
        assert self.process is not None
        if not self.process.alive():
            raise LocalStripeError(f"localstripe exited before answering: {self.process.tail()}")
        try:
            response = httpx.get(
                f"{self.url}/v1/customers", headers={"Authorization": f"Bearer {_PROBE_KEY}"}, timeout=0.5
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def wait_ready(self) -> None:
        """Block until the API answers or the startup timeout passes (then stop and raise)."""
        deadline = time.monotonic() + self._startup_timeout
        while not self._probe():
            if time.monotonic() > deadline:
                self.stop()
                raise LocalStripeError(f"localstripe did not answer on {self.url} in time")
            time.sleep(0.05)

    async def wait_ready_async(self) -> None:
        """Like :meth:`wait_ready`, sleeping on the event loop between probes."""
        deadline = time.monotonic() + self._startup_timeout
        while not await asyncio.to_thread(self._probe):
            if time.monotonic() > deadline:
                self.stop()
                raise LocalStripeError(f"localstripe did not answer on {self.url} in time")
            await asyncio.sleep(0.05)

    def start(self) -> str:
        """Spawn and wait; returns the API base URL."""
        self.spawn()
        self.wait_ready()
        return self.url

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the process group (SIGTERM, then SIGKILL after ``timeout``). Idempotent."""
        process, self.process = self.process, None
        if process is not None:
            process.stop(grace=timeout)

    # -- context manager -------------------------------------------------------------------------
    def __enter__(self) -> LocalStripe:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.asynccontextmanager
async def localstripe_server(port: int | None = None, *, startup_timeout: float = 20.0) -> AsyncIterator[str]:
    """Async form: yields the API base URL of a fresh localstripe and stops it on exit."""
    server = LocalStripe(port, startup_timeout=startup_timeout)
    server.spawn()
    try:
        await server.wait_ready_async()
        yield server.url
    finally:
        await asyncio.to_thread(server.stop)
