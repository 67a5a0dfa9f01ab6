"""A real OpenAI-compatible LLM server for tests, and a fault-injecting HTTP proxy in front of it.

``llm_server`` (session scope) runs ``transformers serve`` on the organism model (a toy arithmetic LM: its
answers are nonsense, the plumbing is real). ``fault_proxy`` (per test) forwards to it, or answers 401,
500, invalid JSON, JSON without choices, a reply without token counts, or too slowly, and records every
request it received. ``closed_port`` gives a port that refuses connections, for "server down" tests. Use
``from tests.llm_server import llm_server, fault_proxy  # noqa: F401``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

START_TIMEOUT_S = 120.0
MODES = ("pass", "401", "500", "malformed", "no_choices", "no_usage", "slow")


def free_port() -> int:
    """A port that was free a moment ago (for servers that cannot bind port 0 and report it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A port that refuses connections for the whole block: bound by us but never listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


@dataclass
class LLMServer:
    """A running ``transformers serve``: its OpenAI base URL and the model name it answers to."""

    base_url: str
    model: str
    process: subprocess.Popen
    log_path: Path


def _log_tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def _serve_command(model_dir: Path, port: int) -> list[str]:
    script = Path(sys.executable).with_name("transformers")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "transformers.cli.transformers"]
    return [*head, "serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


def _wait_healthy(process: subprocess.Popen, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"transformers serve exited with code {process.returncode} before becoming healthy; "
                        f"its log ends with:\n{_log_tail(log_path)}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        time.sleep(0.25)
    pytest.fail(f"transformers serve was not healthy within {START_TIMEOUT_S:.0f} s; its log ends with:\n"
                f"{_log_tail(log_path)}")


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LLMServer]:
    """``transformers serve`` on a copy of the organism model (with a chat template) on a free port."""
    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:  # fail, not skip: CI installs transformers[serving] and a skip would hide that it broke
        pytest.fail(f"transformers serve needs {', '.join(missing)}: pip install 'transformers[serving]'")
    from tl_reasoning.organism.chat import export_chat_model

    root = tmp_path_factory.mktemp("llm_server")
    model = export_chat_model(root / "organism")
    log_path = root / "serve.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    port = free_port()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(_serve_command(model, port), env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(process, url, log_path)
        with urllib.request.urlopen(f"{url}/v1/models", timeout=10) as reply:
            listed = [m["id"] for m in json.load(reply).get("data", [])]
        yield LLMServer(f"{url}/v1", listed[0] if listed else str(model), process, log_path)
    finally:
        _stop(process)


@dataclass
class FaultProxy:
    """An HTTP proxy whose answers a test sets with :meth:`set`; ``requests`` lists (method, path)."""

    upstream: str  # the real server's origin, e.g. http://127.0.0.1:PORT
    model: str = ""  # the model name the real server answers to
    base_url: str = ""
    mode: str = "pass"
    first: int | None = None  # fault only the first N requests, then pass
    require_key: str | None = None  # in "pass" mode: 401 unless "Authorization: Bearer <key>"
    slow_s: float = 3.0
    requests: list[tuple[str, str]] = field(default_factory=list)
    _faulted: int = field(default=0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set(self, mode: str, *, first: int | None = None, require_key: str | None = None,
            slow_s: float | None = None) -> None:
        """Choose the behaviour for the following requests (and reset the fault counter)."""
        if mode not in MODES:
            raise ValueError(f"unknown proxy mode {mode!r}; expected one of {MODES}")
        with self._lock:
            self.mode, self.first, self.require_key = mode, first, require_key
            self.slow_s = self.slow_s if slow_s is None else slow_s
            self._faulted = 0

    @property
    def count(self) -> int:
        """How many requests reached the proxy."""
        return len(self.requests)

    def posts(self) -> int:
        """How many completion requests (POSTs) reached the proxy."""
        return sum(method == "POST" for method, _ in self.requests)

    def decide(self, method: str, path: str) -> str:
        """Record a request and return the behaviour it gets."""
        with self._lock:
            self.requests.append((method, path))
            if self.mode == "pass" or (self.first is not None and self._faulted >= self.first):
                return "pass"
            self._faulted += 1
            return self.mode


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str, kind: str) -> None:
            body = {"error": {"message": message, "type": kind, "code": None}}  # OpenAI's error shape
            self._send(status, json.dumps(body).encode())

        def _forward(self, body: bytes | None, strip_usage: bool = False) -> None:
            request = urllib.request.Request(proxy.upstream + self.path, data=body, method=self.command,
                                             headers={"content-type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=60) as reply:
                    answer = reply.read()
                    if strip_usage:
                        answer = json.dumps({k: v for k, v in json.loads(answer).items()
                                             if k != "usage"}).encode()
                    self._send(reply.status, answer, reply.headers.get("content-type", "application/json"))
            except urllib.error.HTTPError as err:
                self._send(err.code, err.read(), err.headers.get("content-type", "application/json"))
            except OSError as err:  # e.g. the real server already stopped when a "slow" request wakes up
                self._error(502, f"upstream unreachable: {err}", "proxy_error")

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            mode = proxy.decide(self.command, self.path)
            if mode == "slow":
                time.sleep(proxy.slow_s)
                mode = "pass"
            if mode == "pass" and proxy.require_key is not None:
                if self.headers.get("authorization") != f"Bearer {proxy.require_key}":
                    mode = "401"
            if mode == "401":
                self._error(401, "Incorrect API key provided.", "invalid_request_error")
            elif mode == "500":
                self._error(500, "The server had an error while processing your request.", "server_error")
            elif mode == "malformed":
                self._send(200, b"not json{")
            elif mode == "no_choices":
                self._send(200, json.dumps({"id": "x", "object": "chat.completion", "created": 0}).encode())
            else:
                self._forward(body, strip_usage=mode == "no_usage")

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            with contextlib.suppress(OSError):  # the client gave up (timeout tests): nobody to answer
                self._handle()

        do_POST = do_GET  # noqa: N815

    return Handler


@contextlib.contextmanager
def fault_proxy_for(upstream_base_url: str, model: str = "") -> Iterator[FaultProxy]:
    """A running :class:`FaultProxy` in front of ``upstream_base_url`` (".../v1"), stopped at block end."""
    proxy = FaultProxy(upstream=upstream_base_url.rsplit("/v1", 1)[0], model=model)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    server.daemon_threads = True
    server.block_on_close = False
    proxy.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def fault_proxy(llm_server: LLMServer) -> Iterator[FaultProxy]:
    """A fresh :class:`FaultProxy` (mode "pass", no requests seen) in front of ``llm_server``."""
    with fault_proxy_for(llm_server.base_url, llm_server.model) as proxy:
        yield proxy
