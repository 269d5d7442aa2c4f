"""Headless Chromium driven over the DevTools protocol on a pipe (standard library only).

Why a pipe and not ``--screenshot``/``--dump-dom``: a test must click the map and read what
the page then shows, and wait for conditions rather than for time. ``--remote-debugging-pipe``
speaks JSON messages ending in NUL on file descriptors 3 (to Chromium) and 4 (from it).

Chromium never reaches the network: every host name resolves to nothing except 127.0.0.1
(``--host-resolver-rules``), so basemap tiles fail at once, as they would offline.

When ``/usr/bin/chromium`` is absent, :data:`needs_chromium` skips, and FAILS under CI
(``CI`` set), where the browser checks are part of what must pass.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import select
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

CHROMIUM = os.environ.get("XPGEO_CHROMIUM", "/usr/bin/chromium")
TIMEOUT = 60.0  # seconds for any one answer: a guard against a hung browser, not a timing assertion


def _chromium_or_reason() -> Optional[str]:
    if Path(CHROMIUM).exists():
        return None
    return f"{CHROMIUM} is not installed (apt-get install -y chromium)"


def needs_chromium(test):
    """Skip a browser test where Chromium is missing; under CI, fail with the reason instead."""
    reason = _chromium_or_reason()
    if reason is None:
        return test
    if os.environ.get("CI"):
        @functools.wraps(test)  # the same name and parameters (fixtures, parametrize)
        def failing(*args, **kwargs):
            pytest.fail(f"CI must run the browser checks: {reason}")
        return failing
    return pytest.mark.skip(reason=reason)(test)


class CdpError(RuntimeError):
    pass


# Runs before the page's own scripts (DevTools injects it past the page's CSP): uncaught
# errors are kept, so a wait ends with the error instead of waiting for the guard.
_RECORD_ERRORS = ("window.__xpgeoErrors = []; window.addEventListener('error', function (e) {"
                  " window.__xpgeoErrors.push(String(e.message) + ' at ' + e.lineno + ':' + e.colno); });")


class Browser:
    """One headless Chromium with an empty profile; use as a context manager."""

    def __init__(self, width: int = 1280, height: int = 800) -> None:
        self.width, self.height = width, height
        self._profile = tempfile.TemporaryDirectory(prefix="xpgeo-chromium-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire() -> None:  # in the child: its fd 3 reads our messages, fd 4 writes its answers
            a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-extensions", "--disable-quic", "--mute-audio",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                f"--user-data-dir={self._profile.name}", "--remote-debugging-pipe",
                f"--window-size={width},{height}", "about:blank"]
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, close_fds=False, preexec_fn=wire)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: List[Dict[str, Any]] = []

    # -- protocol ---------------------------------------------------------------------
    def send(self, method: str, params: Optional[Dict[str, Any]] = None, session: Optional[str] = None) -> Any:
        self._next_id += 1
        message: Dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode("utf-8") + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise CdpError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def _read(self) -> Dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_chrome], [], [], max(left, 0))
            if not ready:
                raise CdpError("Chromium did not answer")
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise CdpError("Chromium exited")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def open(self, url: str) -> "Page":
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        page.send("Page.enable")
        page.send("Runtime.enable")
        page.send("Page.addScriptToEvaluateOnNewDocument", {"source": _RECORD_ERRORS})
        page.send("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})
        page.send("Page.navigate", {"url": url})
        return page

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (CdpError, OSError):
            pass
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass
        self._profile.cleanup()

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Page:
    def __init__(self, browser: Browser, session: str) -> None:
        self.browser, self.session = browser, session

    def send(self, method: str, params: Optional[Dict[str, Any]] = None) -> Any:
        return self.browser.send(method, params, self.session)

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if result.get("exceptionDetails"):
            raise CdpError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, condition: str) -> None:
        """Until the JavaScript *condition* holds (checked in the page every 10 ms); an
        uncaught error in the page ends the wait with that error."""
        errors = self.evaluate("new Promise(function (done) { (function check() {"
                               f" var ok = false; try {{ ok = !!({condition}); }} catch (e) {{}}"
                               " var errors = window.__xpgeoErrors || [];"
                               " if (ok || errors.length) done(errors); else setTimeout(check, 10); })(); })")
        if errors:
            raise CdpError(f"the page failed while waiting for {condition!r}: {errors}")

    def click(self, x: float, y: float) -> None:
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                                   "buttons": 1 if kind == "mousePressed" else 0, "clickCount": 1})

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def text(self, selector: str) -> str:
        return self.evaluate(f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent || ''")
