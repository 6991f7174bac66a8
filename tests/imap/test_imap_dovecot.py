"""devstack.dovecot: never root, nothing left behind, gone with its parent, a clear word when missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import devstack.dovecot
from devstack.dovecot import Dovecot, DovecotNotInstalledError

REPO = Path(__file__).parents[2]


def _gone(pid: int) -> bool:
    """No such process, or only a zombie waiting for a reaper that is not us."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state == "Z"


def _uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


def test_runs_unprivileged_and_leaves_nothing_behind() -> None:
    with Dovecot() as server:
        assert server.process is not None
        pid = server.process.pid
        root = server.root
        assert _uid(pid) != 0
        assert server.maildir.stat().st_uid == _uid(pid), "the Maildir belongs to the mail uid"
    assert _gone(pid)
    assert not root.exists()


def test_dies_with_the_process_that_started_it() -> None:
    script = (
        "import time\n"
        "from devstack.dovecot import Dovecot\n"
        "server = Dovecot().start()\n"
        "print(server.process.pid, server.root, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid_text, root = parent.stdout.readline().split()
        pid = int(pid_text)
        assert not _gone(pid)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 5
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(pid), "dovecot outlived the process that started it"
    shutil.rmtree(root, ignore_errors=True)  # a killed parent cannot clean up its temp dir


def test_missing_dovecot_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devstack.dovecot, "dovecot_executable", lambda: None)
    with pytest.raises(DovecotNotInstalledError, match="dovecot-imapd"):
        Dovecot().start()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the Maildir to another uid")
def test_delivered_mail_belongs_to_the_mail_uid() -> None:
    with Dovecot() as server:
        key = server.deliver(b"To: a@example.test\r\nSubject: x\r\n\r\nbody\r\n")
        assert server.process is not None
        assert (server.maildir / "new" / key).stat().st_uid == _uid(server.process.pid)
