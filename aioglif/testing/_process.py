"""The fake server in a process of its own, for tests and benchmarks of other processes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["fake_server_process"]


@contextmanager
def fake_server_process(*args: str, timeout: float = 120.0) -> Iterator[str]:
    """``aioglif fake-server ARGS`` on a free port of 127.0.0.1; yields its base URL once it
    listens (``BASE/api``, ``BASE/simple``, ``BASE/_fake/stats``) and stops it afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "aioglif", "fake-server", "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        stdout = proc.stdout
        assert stdout is not None
        # Its first line says where it listens (a port it picked itself: no race for a free one).
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not lines or not lines[0]:
            raise RuntimeError("the fake server did not start")
        base = json.loads(lines[0])["api_url"].removesuffix("/api")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
