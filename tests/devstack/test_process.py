"""Managed processes never outlive what started them: stopped as a group, and ended if the parent dies."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is gone for our purpose once it is not running
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_stop_ends_the_whole_group(tmp_path: Path) -> None:
    from devstack.process import ManagedProcess

    script = "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"
    process = ManagedProcess("parent", [sys.executable, "-c", script], tmp_path / "log").start()
    time.sleep(0.3)
    grandchildren = subprocess.run(["pgrep", "-g", str(process.pid)], capture_output=True, text=True).stdout.split()
    assert len(grandchildren) >= 2
    process.stop(grace=2)
    assert all(_wait_gone(int(pid)) for pid in grandchildren)


def test_children_die_when_their_starter_is_killed(tmp_path: Path) -> None:
    starter = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from pathlib import Path
        from devstack.process import ManagedProcess
        child = ManagedProcess("sleeper", ["sleep", "60"], Path({str(tmp_path / "log")!r})).start()
        print(child.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert _alive(child_pid)
    parent.kill()
    parent.wait()
    assert _wait_gone(child_pid), "the child outlived its killed parent"
