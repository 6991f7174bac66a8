"""The local stack's payload key and codec server, so a rehearsal encrypts exactly like production.

Each stack has its own key, written 0600 into its state directory (and reused when the directory is,
so a persistent Temporal database stays readable); every process the stack starts gets it through
`REELMIRROR_CODEC_KEY_FILE`. The codec server (`python -m codec serve`) lets the Web UI and the
`temporal` CLI show the payloads; it accepts browser calls from the Web UI's origins only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from codec.keys import KEY_FILE_ENV, KEYS_ENV, generate_key
from devstack.ports import LOOPBACK, free_port
from devstack.process import ManagedProcess, wait_for_port

__all__ = ["LocalCodecServer", "stack_key_file"]

KEY_FILE_NAME = "codec.key"


def stack_key_file(state_dir: Path) -> Path:
    """The stack's key file: created with a fresh key (mode 0600) unless the state directory has one."""
    path = state_dir / KEY_FILE_NAME
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("# payload key of this local stack (python -m codec keygen)\n")
            out.write(generate_key(f"stack-{os.urandom(3).hex()}") + "\n")
    return path


class LocalCodecServer:
    """`python -m codec serve` on a free loopback port, reading the stack's key file."""

    def __init__(self, key_file: Path, log_path: Path, cors_origins: Sequence[str], env: dict[str, str]) -> None:
        self.port = free_port()
        self.key_file = key_file
        self.log_path = log_path
        self.cors_origins = list(cors_origins)
        self.env = env
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def argv(self) -> list[str]:
        argv = [sys.executable, "-m", "codec", "serve", "--host", LOOPBACK, "--port", str(self.port)]
        for origin in self.cors_origins:
            argv += ["--cors-origin", origin]
        return argv

    def start(self, timeout: float = 30.0) -> LocalCodecServer:
        env = {k: v for k, v in self.env.items() if k != KEYS_ENV} | {KEY_FILE_ENV: str(self.key_file)}
        self.process = ManagedProcess("codec-server", self.argv(), self.log_path, env=env).start()
        try:
            wait_for_port(LOOPBACK, self.port, timeout, self.process.proc)
        except Exception as exc:
            tail = self.process.tail()
            self.process.stop()
            raise RuntimeError(f"the codec server did not start: {exc}\n{tail}") from exc
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
