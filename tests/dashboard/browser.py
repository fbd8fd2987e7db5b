"""A headless Chromium driven over the DevTools protocol (no extra packages: `websockets`
comes with Prefect). Loads a page, waits for a JavaScript condition, evaluates expressions
and takes screenshots: what a person would see, not the HTML the server sent."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

from websockets.sync.client import connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    def __init__(self, width: int = 1150, height: int = 1400):
        port = _free_port()
        self.profile = tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True)
        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--hide-scrollbars",
                f"--window-size={width},{height}",
                f"--remote-debugging-port={port}",
                f"--user-data-dir={self.profile.name}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                    pages = [p for p in json.load(r) if p["type"] == "page"]
                if pages:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError("chromium did not start")
            time.sleep(0.2)
        self.ws = connect(pages[0]["webSocketDebuggerUrl"], max_size=2**26)
        self._id = 0
        self.call("Page.enable")

    def call(self, method: str, **params):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def evaluate(self, expression: str):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return res["result"].get("value")

    def open(self, url: str, ready: str, timeout: float = 60) -> None:
        """Navigate and wait until the JavaScript expression ``ready`` is true."""
        self.call("Page.navigate", url=url)
        self.wait(ready, timeout)

    def wait(self, condition: str, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while not self.evaluate(
            f"(() => {{ try {{ return !!({condition}); }} catch (e) {{ return false; }} }})()"
        ):
            if time.time() > deadline:
                raise TimeoutError(f"page never satisfied: {condition}")
            time.sleep(0.25)

    def until(self, condition: str, timeout: float = 60) -> float:
        """Wait, in the page, until ``condition`` holds (checked every animation frame);
        returns the page's clock then (seconds since its navigation started)."""
        ms = self._await(f"const t0 = performance.now(); await until(t0, {timeout * 1000}); "
                         f"return performance.now();", condition)  # fmt: skip
        return ms / 1000

    def timed(self, action: str, condition: str, timeout: float = 60) -> float:
        """Seconds from running ``action`` in the page until ``condition`` holds and the
        next frame is painted (timed by the page's clock, to the animation frame)."""
        body = (
            f"const t0 = performance.now(); {action}; await until(t0, {timeout * 1000}); "
            "await new Promise(r => requestAnimationFrame(() => r())); "
            "return performance.now() - t0;"
        )
        return self._await(body, condition) / 1000

    def _await(self, body: str, condition: str) -> float:
        until = (
            "const until = (t0, limit) => new Promise((resolve, reject) => { const check = () => {"
            f" let ok = false; try {{ ok = !!({condition}); }} catch (e) {{}}"
            " if (ok) resolve(); else if (performance.now() - t0 > limit) reject('timeout');"
            " else requestAnimationFrame(check); }; check(); });"
        )
        res = self.call(
            "Runtime.evaluate",
            expression=f"(async () => {{ {until} {body} }})()",
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in res:
            raise TimeoutError(f"page never satisfied: {condition}")
        return float(res["result"]["value"])

    def navigate_timed(self, url: str, ready: str, timeout: float = 60) -> float:
        """Navigate and return the seconds from navigation start until ``ready`` holds."""
        self.call("Page.navigate", url=url)
        self.wait("document.readyState != 'loading'", timeout)
        return self.until(ready, timeout)

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            self.proc.wait(10)
            self.profile.cleanup()
