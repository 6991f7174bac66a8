"""The whole local stack in one object: localstripe, the simulator, the Temporal dev server and workers.

The demo, the integration and crash tests and the benchmarks all start the same processes the same way;
each runs in its own process group on free loopback ports and `stop()` (or leaving the `with` block) ends
every one of them. Workers are separate processes so that tests can `kill -9` one and start another.
Payloads are encrypted as in production: the stack makes its own key, hands it to every process it
starts and to `client_env()`, and (with the Web UI, or when asked) runs the codec server the UI reads
payloads through.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from codec.keys import KEY_FILE_ENV
from control.connection import CODEC_ENV
from devstack.codec_server import LocalCodecServer, stack_key_file
from devstack.localstripe import LocalStripe
from devstack.ports import free_port
from devstack.process import ManagedProcess, wait_for_port
from devstack.temporal import TemporalDevServer

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_PUBLISHABLE_KEY = "pk_test_reelmirror_demo"
DEMO_PAYMENT_METHOD = "pm_card_visa"


@dataclass
class StackConfig:
    time_scale: float = 0.01
    seed: int = 7
    ui_port: int | None = 0  # 0: a free port; None: headless
    temporal_port: int = 0
    persistent_temporal: bool = False  # keep Temporal state in a SQLite file (survives a server restart)
    state_dir: Path | None = None  # defaults to a fresh temporary directory
    simulator_args: list[str] = field(default_factory=list)
    worker_env: dict[str, str] = field(default_factory=dict)
    codec: bool = True  # encrypt payloads with the stack's own key; False: REELMIRROR_CODEC=off (plaintext)
    codec_server: bool | None = None  # run the codec server; None: exactly when the Web UI runs


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class LocalStack:
    """Start with `start()` or `with LocalStack(...) as stack:`; every process is stopped on exit."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.state_dir = self.config.state_dir or Path(tempfile.mkdtemp(prefix="reelmirror-stack-"))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.logs = self.state_dir / "logs"
        self.localstripe: LocalStripe | None = None
        self.simulator: ManagedProcess | None = None
        self.simulator_port = free_port()
        self.temporal = TemporalDevServer(
            log_path=self.logs / "temporal.log",
            port=self.config.temporal_port,
            ui_port=self.config.ui_port,
            db_file=self.state_dir / "temporal.db" if self.config.persistent_temporal else None,
        )
        self.workers: list[ManagedProcess] = []
        self._worker_count = 0
        self.codec_key_file: Path | None = stack_key_file(self.state_dir) if self.config.codec else None
        self.codec_server: LocalCodecServer | None = None
        run_codec_server = self.config.codec_server
        if run_codec_server is None:
            run_codec_server = self.config.codec and self.temporal.ui_port is not None
        if run_codec_server:
            if self.codec_key_file is None:
                raise ValueError("a codec server needs the codec: set StackConfig(codec=True)")
            ui = self.temporal.ui_port
            origins = [f"http://127.0.0.1:{ui}", f"http://localhost:{ui}"] if ui else []
            self.codec_server = LocalCodecServer(
                self.codec_key_file, self.logs / "codec-server.log", origins, env=self._python_env()
            )
            self.temporal.codec_endpoint = self.codec_server.url if ui else None

    # --- addresses -----------------------------------------------------------------------------------
    @property
    def sim_origin(self) -> str:
        return f"http://127.0.0.1:{self.simulator_port}"

    @property
    def sim_api(self) -> str:
        return f"{self.sim_origin}/api"

    @property
    def temporal_address(self) -> str:
        return self.temporal.address

    @property
    def secrets_dir(self) -> Path:
        return self.state_dir / "secrets"

    def client_env(self) -> dict[str, str]:
        """Environment for anything that talks to this stack's Temporal (worker, starter CLI)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "REELMIRROR_", "STRIPE_"))}
        env.update({"TEMPORAL_ADDRESS": self.temporal_address, "TEMPORAL_NAMESPACE": "default"})
        if self.codec_key_file is not None:
            env[KEY_FILE_ENV] = str(self.codec_key_file)
        else:
            env[CODEC_ENV] = "off"
        return env

    def worker_env(self) -> dict[str, str]:
        assert self.localstripe is not None, "start the stack first"
        env = self.client_env()
        env.update(
            {
                "REELMIRROR_BASE_URL": self.sim_api,
                "REELMIRROR_MAILBOX_URL": self.sim_origin,
                "REELMIRROR_AUTH_ORIGIN": self.sim_origin,  # the simulator serves the confirmation links
                "REELMIRROR_SECRETS_DIR": str(self.secrets_dir),
                "STRIPE_API_BASE": self.localstripe.url,
                "STRIPE_PUBLISHABLE_KEY": DEMO_PUBLISHABLE_KEY,
                "REELMIRROR_PAYMENT_METHOD": DEMO_PAYMENT_METHOD,
                # The vendor's "retry after 60 s" on 503 runs on the simulator's clock in rehearsals.
                "REELMIRROR_503_RETRY_SECONDS": f"{max(60 * self.config.time_scale, 0.2):g}",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.config.worker_env)
        return env

    # --- lifecycle ------------------------------------------------------------------------------------
    def start(self, workers: int = 1, *, temporal: bool = True) -> LocalStack:
        """Start everything; `temporal=False` leaves the dev server for later (`self.temporal.start()`)."""
        try:
            self.localstripe = LocalStripe(log_path=self.logs / "localstripe.log")
            self.localstripe.start()
            self.start_simulator()
            if self.codec_server is not None:
                self.codec_server.start()
            if temporal:
                self.temporal.start()
            for _ in range(workers):
                self.start_worker()
        except BaseException:
            self.stop()
            raise
        return self

    def start_simulator(self) -> None:
        assert self.localstripe is not None
        argv = [
            sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", str(self.simulator_port),
            "--time-scale", str(self.config.time_scale), "--seed", str(self.config.seed),
            "--stripe-api-base", self.localstripe.url, *self.config.simulator_args,
        ]  # fmt: skip
        self.simulator = ManagedProcess("simulator", argv, self.logs / "simulator.log", env=self._python_env())
        self.simulator.start()
        try:
            wait_for_port("127.0.0.1", self.simulator_port, 30, self.simulator.proc)
        except Exception as exc:
            raise RuntimeError(f"the simulator did not start: {exc}\n{self.simulator.tail()}") from exc

    def start_worker(
        self, extra_env: dict[str, str] | None = None, timeout: float = 60, *, wait: bool = True
    ) -> ManagedProcess:
        """Start one more worker process and (unless `wait=False`) wait until it polls its task queue."""
        self._worker_count += 1
        env = self.worker_env() | (extra_env or {})
        log = self.logs / f"worker-{self._worker_count}.log"
        argv = [sys.executable, str(REPO_ROOT / "worker.py")]
        worker = ManagedProcess(f"worker-{self._worker_count}", argv, log, env=env).start()
        self.workers.append(worker)
        if wait:
            self.wait_worker_ready(worker, timeout)
        return worker

    def wait_worker_ready(self, worker: ManagedProcess, timeout: float = 60) -> None:
        """Block until `worker` logged that it polls its task queue (or died, or time ran out)."""
        log = worker.log_path
        deadline = time.monotonic() + timeout
        while "worker ready" not in (log.read_text(errors="replace") if log.exists() else ""):
            if not worker.alive():
                raise RuntimeError(f"worker exited during start:\n{worker.tail(40)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker not ready after {timeout:.0f} s:\n{worker.tail(40)}")
            time.sleep(0.05)

    def sim_ready(self) -> bool:
        try:
            return httpx.get(f"{self.sim_origin}/_sim/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        """Stop everything this stack started, workers first so none of them logs a lost server.

        A second Ctrl-C while stopping must not leave the rest running (each process has its own session,
        so nothing else would stop it): SIGINT is ignored until every process is down.
        """
        with _sigint_ignored():
            for worker in self.workers:
                worker.stop()
            self.temporal.stop()
            if self.codec_server is not None:
                self.codec_server.stop()
            if self.simulator is not None:
                self.simulator.stop()
            if self.localstripe is not None:
                self.localstripe.stop()

    def _python_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
