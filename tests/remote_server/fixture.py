"""Start the loopback server in its own process (127.0.0.1, free port) and always stop it."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0


@dataclass
class LoopbackServer:
    """A running loopback server: its URL and a way to change how it answers."""

    url: str
    process: subprocess.Popen

    def control(self, **settings: object) -> None:
        """Set the behaviour of the next jobs (see ``server.py``)."""
        request = urllib.request.Request(f"{self.url}/_control", data=json.dumps(settings).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=10) as reply:
            reply.read()


@contextlib.contextmanager
def loopback_server(api_key: str | None = None) -> Iterator[LoopbackServer]:
    """A server process; terminated (then killed) when the block ends, whatever happens."""
    cmd = [sys.executable, "-m", "tests.remote_server.server", "--port", "0"]
    if api_key:
        cmd += ["--api-key", api_key]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = _wait_ready(process)
        yield LoopbackServer(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_ready(process: subprocess.Popen) -> int:
    found: list[int] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("READY "):
                found.append(int(line.split()[1]))
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)
    if not found:
        raise RuntimeError(f"the loopback server did not start within {START_TIMEOUT:.0f} s "
                           f"(exit code {process.poll()})")
    return found[0]
