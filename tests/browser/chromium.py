"""Load a local HTML file in headless Debian chromium with networking off (DevTools protocol).

Returns the console errors/exceptions, failed requests and the value of a JavaScript expression
evaluated after the page's scripts ran.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class PageReport(dict):
    """``errors`` (console errors + exceptions), ``requests`` (non-file URLs asked for), ``value``."""


def load_page(path: Path, expression: str, settle_s: float = 1.0, timeout_s: float = 60.0) -> PageReport:
    import websocket

    binary = find_chromium()
    if binary is None:
        raise FileNotFoundError("chromium is not installed")
    profile = tempfile.mkdtemp(prefix="tlr-chromium-")
    args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
            f"--user-data-dir={profile}", "--remote-debugging-port=0", "--proxy-server=127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND", "about:blank"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.time() + timeout_s
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        ws_url = _page_target(port, deadline)
        ws = websocket.create_connection(ws_url, timeout=timeout_s, suppress_origin=True)
        client = _Client(ws)
        for domain in ("Runtime", "Log", "Network", "Page"):
            client.call(f"{domain}.enable")
        client.call("Network.emulateNetworkConditions", offline=True, latency=0, downloadThroughput=-1,
                    uploadThroughput=-1)
        client.call("Page.navigate", url=path.resolve().as_uri())
        client.wait_for("Page.loadEventFired", deadline)
        time.sleep(settle_s)
        result = client.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        value = result.get("result", {}).get("value")
        client.drain()
        ws.close()
        return PageReport(errors=client.errors, requests=client.requests, value=value)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


def _page_target(port: int, deadline: float) -> str:
    import urllib.request

    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as response:  # local only
            targets = json.loads(response.read())
        pages = [t for t in targets if t.get("type") == "page"]
        if pages:
            return pages[0]["webSocketDebuggerUrl"]
        if time.time() > deadline:
            raise RuntimeError("chromium has no page target")
        time.sleep(0.1)


class _Client:
    def __init__(self, ws: Any) -> None:
        self.ws, self.next_id = ws, 0
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.events: list[str] = []

    def _handle(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method is None:
            return
        self.events.append(method)
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append("console: " + " ".join(str(a.get("value", a.get("description")))
                                                      for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append("exception: " + str(details.get("exception", {}).get("description", details.get("text"))))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            self.errors.append("log: " + str(params["entry"].get("text")))
        elif method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            if not url.startswith(("file:", "data:", "about:")):
                self.requests.append(url)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._handle(message)

    def wait_for(self, event: str, deadline: float) -> None:
        while event not in self.events:
            if time.time() > deadline:
                raise TimeoutError(f"no {event} before the deadline")
            self.ws.settimeout(max(0.1, deadline - time.time()))
            self._handle(json.loads(self.ws.recv()))

    def drain(self) -> None:
        self.ws.settimeout(0.2)
        try:
            while True:
                self._handle(json.loads(self.ws.recv()))
        except Exception:  # noqa: BLE001 - timeout ends the drain
            return


#: JavaScript: wait (up to ``ms``) until every circuitsvis container has content, then report the DOM.
RENDERED = """new Promise(resolve => { const t0 = performance.now(); const check = () => {
  const all = [...document.querySelectorAll('.cv-component')];
  const filled = all.filter(e => e.childElementCount > 0).length;
  if (filled === all.length || performance.now() - t0 > %d) {
    resolve({components: all.length, filled: filled, ms: performance.now(),
             sections: document.querySelectorAll('section.tlr-feature').length,
             pwned: typeof window.PWNED, text: document.body.innerText});
  } else { setTimeout(check, 100); } }; check(); })"""


def ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")
