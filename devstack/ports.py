"""Free loopback ports for servers that tests, the demo and benchmarks start themselves.

Binding to port 0 lets the kernel choose a port nobody uses right now, so parallel runs and leftover
servers never collide on a fixed number. The port is released before it is returned; the tiny window
in which another process could grab it is acceptable for local tooling.
"""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that is free at the time of the call."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on ``host:port`` (used to wait for a server)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
