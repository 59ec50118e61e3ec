"""The fake server in a process of its own, for tests and benchmarks of other processes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["fake_server_process"]


@contextmanager
def fake_server_process(*args: str, timeout: float = 120.0) -> Iterator[str]:
    """``aioglif fake-server ARGS`` on a free port of 127.0.0.1; yields its base URL once it
    answers (``BASE/api``, ``BASE/simple``, ``BASE/_fake/stats``) and stops it afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "aioglif", "fake-server", "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(base + "/_fake/stats", timeout=5) as r:
                    json.loads(r.read())
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the fake server did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
