"""Loopback NDIF stand-in: nnsight 0.8's remote protocol on 127.0.0.1, executing on the organism.

Run ``python -m tests.remote_server.server [--port 0] [--api-key K]``; it prints ``READY <port>``
once the model is loaded. Endpoints (ndif.md §5.3): ``GET /subscribe`` (websocket; first frame
``{"session_id"}``), multipart ``POST /request`` (``data`` JSON + ``blob``), status frames
RUNNING → COMPLETED (result inline as a binary frame, or as a URL to ``GET /result/{id}``) or
ERROR, ``GET /response/{id}`` for non-blocking polling. Requests are executed with nnsight's own
deserialisation on the server's copy of the model, one at a time. ``POST /_control`` (tests only)
sets the behaviour of the next jobs: ``{"behaviour": "normal"|"error"|"drop"|"hang",
"result": "inline"|"url", "min_nnsight_version": "9.0"}``.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import io
import json
import queue
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.remote_server.websocket_frames import BINARY, CLOSE, TEXT, accept_key, frame

DEFAULT_MODEL_KEY = "tl_reasoning:organism"
HANG_SECONDS = 8.0
SESSION_SECONDS = 600.0


class LoopbackState:
    """The server's model, sessions, finished responses and test controls."""

    def __init__(self, model: Any, model_key: str, api_key: str | None) -> None:
        self.model = model
        self.model_key = model_key
        self.api_key = api_key
        self.sessions: dict[str, queue.Queue] = {}
        self.responses: dict[str, dict[str, Any]] = {}
        self.results: dict[str, bytes] = {}
        self.control: dict[str, Any] = {"behaviour": "normal", "result": "inline", "min_nnsight_version": None}
        self.lock = threading.Lock()
        self.port = 0

    def execute(self, blob: bytes, compress: bool, env: dict | None) -> bytes:
        """Run one serialized request (ndif.md §5.2) and return the result bytes the client expects."""
        import torch
        import zstandard
        from nnsight.schema.request import RequestModel
        from nnsight.tracing import globals as nn_globals
        from nnsight.tracing import tracer as nn_tracer

        with self.lock:
            nn_globals.SOURCES.clear()
            nn_globals.BLOCKS.clear()
            if env:
                self.model._remoteable_set_env(env)
            restored = RequestModel.deserialize(blob, self.model._remoteable_persistent_objects(), compress=compress)
            nn_tracer.inc()
            try:
                restored.execute(restored.info.code)
                saved = nn_tracer._saves()
                saves = {k: v for k, v in restored.info.frame.f_locals.items() if id(v) in saved}
            finally:
                nn_tracer.dec()
        buf = io.BytesIO()
        torch.save(saves, buf, pickle_protocol=4)
        data = buf.getvalue()
        return zstandard.ZstdCompressor(level=6).compress(data) if compress else data


def _response(job: str, status: str, description: str = "", data: Any = None) -> dict[str, Any]:
    return {"id": job, "status": status, "description": description, "data": data, "meta": None}


class Handler(BaseHTTPRequestHandler):
    server_version = "LoopbackNDIF/0.8"
    state: LoopbackState

    def log_message(self, *args: Any) -> None:  # quiet
        return None

    # -- helpers ---------------------------------------------------------------------------------
    def _json(self, code: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _authorised(self) -> bool:
        key = self.state.api_key
        return key is None or self.headers.get("ndif-api-key") == key

    # -- routes ----------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?")[0]
        if path == "/subscribe":
            return self._subscribe()
        if path.startswith("/response/"):
            stored = self.state.responses.get(path.rsplit("/", 1)[1])
            return self._json(200, stored) if stored else self._json(404, {"detail": "no such job (yet)"})
        if path.startswith("/result/"):
            data = self.state.results.get(path.rsplit("/", 1)[1])
            if data is None:
                return self._json(404, {"detail": "no such result"})
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        if path == "/status":
            return self._json(200, {self.state.model_key: {"status": "RUNNING"}})
        return self._json(404, {"detail": f"unknown path {path}"})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path == "/_control":
            self.state.control.update(json.loads(body or b"{}"))
            return self._json(200, self.state.control)
        if self.path != "/request":
            return self._json(404, {"detail": f"unknown path {self.path}"})
        if not self._authorised():
            return self._json(401, {"detail": "Invalid API key."})
        minimum = self.state.control.get("min_nnsight_version")
        client = self.headers.get("nnsight-version", "0")
        if minimum and _version(client) < _version(minimum):
            return self._json(400, {"detail": f"Client nnsight version {client} is incompatible with the server "
                                              f"(nnsight >= {minimum} required)."})
        fields = _multipart(self.headers.get("Content-Type", ""), body)
        meta = json.loads(fields.get("data", b"{}"))
        if meta.get("model_key") != self.state.model_key:
            return self._json(400, {"detail": f"Model {meta.get('model_key')!r} is not hosted on this server."})
        job = uuid.uuid4().hex
        self._json(200, _response(job, "RECEIVED", "Your job has been received."))
        threading.Thread(target=self._run_job, args=(job, meta, fields.get("blob", b"")), daemon=True).start()
        return None

    # -- jobs --------------------------------------------------------------------------------------
    def _run_job(self, job: str, meta: dict[str, Any], blob: bytes) -> None:
        state = self.state
        session = state.sessions.get(meta.get("session_id") or "")
        control = dict(state.control)

        def push(opcode: int, payload: bytes) -> None:
            if session is not None:
                session.put((opcode, payload))

        push(TEXT, json.dumps(_response(job, "RUNNING", "Your job has started running.")).encode())
        if control["behaviour"] == "drop":
            return push(CLOSE, b"")
        if control["behaviour"] == "hang":
            time.sleep(HANG_SECONDS)
            return push(CLOSE, b"")
        try:
            if control["behaviour"] == "error":
                raise RuntimeError("injected server failure (loopback test)")
            data = state.execute(blob, bool(meta.get("compress")), meta.get("env"))
        except Exception:
            final = _response(job, "ERROR", traceback.format_exc())
            state.responses[job] = final
            push(TEXT, json.dumps(final).encode())
            return push(CLOSE, b"")
        state.results[job] = data
        url = f"http://127.0.0.1:{state.port}/result/{job}"
        state.responses[job] = _response(job, "COMPLETED", "Your job has been completed.", url)
        if control["result"] == "inline":
            import torch

            buf = io.BytesIO()
            torch.save(_response(job, "COMPLETED", "Your job has been completed.", data), buf, pickle_protocol=4)
            push(BINARY, buf.getvalue())
        else:
            push(TEXT, json.dumps(state.responses[job]).encode())
        return push(CLOSE, b"")

    def _subscribe(self) -> None:
        if not self._authorised():
            return self._json(401, {"detail": "Invalid API key."})
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept_key(self.headers.get("Sec-WebSocket-Key", "")))
        self.end_headers()
        sid = uuid.uuid4().hex
        inbox: queue.Queue = queue.Queue()
        self.state.sessions[sid] = inbox
        self.close_connection = True
        try:
            self.wfile.write(frame(json.dumps({"session_id": sid}).encode(), TEXT))
            self.wfile.flush()
            deadline = time.monotonic() + SESSION_SECONDS
            while time.monotonic() < deadline:
                try:
                    opcode, payload = inbox.get(timeout=1.0)
                except queue.Empty:
                    continue
                if opcode == CLOSE:
                    break
                self.wfile.write(frame(payload, opcode))
                self.wfile.flush()
        except OSError:
            pass
        finally:
            self.state.sessions.pop(sid, None)
        return None


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """Fields of a ``multipart/form-data`` body by name."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[str(name)] = part.get_payload(decode=True) or b""
    return fields


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--model-key", default=DEFAULT_MODEL_KEY)
    args = parser.parse_args(argv)
    import tl_reasoning

    model = tl_reasoning.load_model("organism", backend="nnsight")
    Handler.state = LoopbackState(model, args.model_key, args.api_key)
    httpd = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    httpd.daemon_threads = True
    Handler.state.port = httpd.server_address[1]
    print(f"READY {Handler.state.port}", flush=True)
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        httpd.server_close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
