"""Small network helpers shared by the server, the distributed search, the benchmarks and the tests."""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on right now (the OS picks it; a race with another process is possible)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
