"""A throw-away PostgreSQL server from the distribution's binaries, on a free loopback port.

The shared secret store's tests and rehearsals need a real server, not a mock: upserts, row locks and
transactions are what they prove. `initdb` runs in a fresh temporary directory with one superuser (trust
authentication, or a password when one is given, to test how clients supply it), the server listens on
127.0.0.1 and a socket in that directory only, and `stop()` removes everything. Durability settings are
off: nothing here must survive a crash of the machine.

initdb and postgres refuse to run as root, so as root both run as the `postgres` system user (through
`runuser`, which stays the parent and passes a SIGTERM on, so the server still dies with the test run).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

from devstack.ports import LOOPBACK, free_port
from devstack.process import ManagedProcess

__all__ = ["PostgresServer", "PostgresUnavailable", "find_postgres_bin_dir"]

DEBIAN_ROOT = Path("/usr/lib/postgresql")
SYSTEM_USER = "postgres"
_FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed, or the server did not come up."""


def find_postgres_bin_dir() -> Path | None:
    """The newest `/usr/lib/postgresql/<version>/bin` with initdb and postgres, else the one on PATH."""
    candidates = []
    if DEBIAN_ROOT.is_dir():
        for child in DEBIAN_ROOT.iterdir():
            if re.fullmatch(r"\d+", child.name) and (child / "bin" / "initdb").exists():
                candidates.append((int(child.name), child / "bin"))
    if candidates:
        return max(candidates)[1]
    initdb = shutil.which("initdb")
    if initdb and shutil.which("postgres"):
        return Path(initdb).parent
    return None


class PostgresServer:
    """One server; `url(dbname)` addresses it, `create_database()` makes an empty database per test."""

    def __init__(
        self, *, user: str = "app", password: str | None = None, port: int | None = None, startup_timeout: float = 30.0
    ) -> None:
        bin_dir = find_postgres_bin_dir()
        if bin_dir is None:
            raise PostgresUnavailable(
                "PostgreSQL server binaries (initdb, postgres) not found under /usr/lib/postgresql/*/bin or on "
                "PATH: install Debian's postgresql package (`make test` does)"
            )
        self.bin_dir = bin_dir
        self.user = user
        self.password = password
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self.base_dir = Path(tempfile.mkdtemp(prefix="reelmirror-pg-"))
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir
        self.log_path = self.base_dir / "postgres.log"
        self.process: ManagedProcess | None = None
        self._as_postgres = os.geteuid() == 0
        self._databases = 0

    def url(self, dbname: str = "postgres") -> str:
        """The database's URL, without the password (clients supply it as they would in production)."""
        return f"postgresql://{self.user}@{LOOPBACK}:{self.port}/{dbname}"

    def start(self) -> PostgresServer:
        try:
            self._initdb()
            argv = [
                str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                "-k", str(self.socket_dir), "-c", f"listen_addresses={LOOPBACK}",
            ]  # fmt: skip
            for setting in _FAST_SETTINGS:
                argv += ["-c", setting]
            self.process = ManagedProcess("postgres", self._command(argv), self.log_path).start()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def create_database(self, prefix: str = "test") -> str:
        """A new empty database; returns its URL."""
        self._databases += 1
        name = f"{prefix}_{self._databases}"
        with psycopg.connect(self.url(), autocommit=True, password=self.password) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster: sessions are cut), then sweep the group and the directory."""
        if self.process is not None:
            pid = self._postmaster_pid()
            if pid is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGINT)
                deadline = time.monotonic() + 10
                while self.process.alive() and time.monotonic() < deadline:
                    time.sleep(0.05)
            self.process.stop(grace=5)
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- internals ---------------------------------------------------------------------------------

    def _command(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", SYSTEM_USER, "--", *argv] if self._as_postgres else argv

    def _give_to_postgres(self, path: Path) -> None:
        if self._as_postgres:
            account = pwd.getpwnam(SYSTEM_USER)
            os.chown(path, account.pw_uid, account.pw_gid)

    def _initdb(self) -> None:
        self._give_to_postgres(self.base_dir)
        argv = [
            str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", self.user,
            "-E", "UTF8", "--locale=C", "--no-sync",
        ]  # fmt: skip
        if self.password is None:
            argv += ["-A", "trust"]
        else:
            password_file = self.base_dir / "initdb-password"
            password_file.write_text(self.password + "\n")
            self._give_to_postgres(password_file)
            argv += ["-A", "scram-sha-256", f"--pwfile={password_file}"]
        init = ManagedProcess("initdb", self._command(argv), self.base_dir / "initdb.log").start()
        assert init.proc is not None
        code = init.proc.wait(timeout=120)
        if code != 0:
            raise PostgresUnavailable(f"initdb failed with exit code {code}:\n{init.tail(20)}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            assert self.process is not None
            if not self.process.alive():
                raise PostgresUnavailable(f"postgres exited during start:\n{self.tail()}")
            try:
                with psycopg.connect(self.url(), connect_timeout=2, password=self.password):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise PostgresUnavailable(
                        f"postgres not ready after {self.startup_timeout:.0f} s:\n{self.tail()}"
                    ) from None
                time.sleep(0.05)

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
