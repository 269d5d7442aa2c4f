"""The ArcGIS Maps SDK for JavaScript as a test oracle: @arcgis/core in headless Chromium.

Pieces:

* :func:`require_oracle` — the oracle is there (Chromium, Node, the pinned npm packages installed
  by ``tests/oracles/install.sh`` into ``$XPGEO_ORACLE_DIR/sdk``), else the test fails with the
  reason when ``CI`` is set and skips with it otherwise;
* :class:`AssetServer` — a loopback HTTP server for the oracle page, the SDK's ES modules and assets
  (bare import specifiers resolved through an import map and each package's ``exports``, as a bundler
  would), and any files a test hands it (served with CORS, like a static host);
* :func:`run_scenario` — renders the page for one scenario of ``tests/oracles/sdk/scenarios.js``,
  runs ``tests/oracles/sdk/driver.mjs`` (playwright-core on ``/usr/bin/chromium``) and returns its
  verdict: the scenario's result plus every request the browser made and every one it was refused.
"""

from __future__ import annotations

import atexit
import json
import mimetypes
import os
import posixpath
import shutil
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple
from urllib.parse import unquote, urlsplit

import pytest

from emulators.loopback import LoopbackServer

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "tests" / "oracles" / "sdk"
CHROMIUM = "/usr/bin/chromium"
# Read once at import: the test fixtures clear XPGEO_* variables for each test.
_ORACLE_DIR = Path(os.environ.get("XPGEO_ORACLE_DIR") or ".oracles")
ORACLE_DIR = _ORACLE_DIR if _ORACLE_DIR.is_absolute() else ROOT / _ORACLE_DIR
NODE_MODULES = ORACLE_DIR / "sdk" / "node_modules"
_IN_CI = bool(os.environ.get("CI"))
_CONDITIONS = ("browser", "import", "module", "default")

mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("application/json", ".json")


def pinned_versions() -> Dict[str, str]:
    """The exact versions tests/oracles/sdk/package.json pins."""
    return json.loads((HARNESS / "package.json").read_text(encoding="utf-8"))["dependencies"]


def oracle_problem() -> Optional[str]:
    """Why the SDK oracle cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is not installed (apt-get install -y chromium; tests/oracles/install.sh does it)"
    if shutil.which("node") is None:
        return "Node.js is not installed (tests/oracles/install.sh needs node and npm)"
    for name, version in pinned_versions().items():
        manifest = NODE_MODULES / name / "package.json"
        if not manifest.is_file():
            return f"{name} is not installed in {NODE_MODULES} (run tests/oracles/install.sh)"
        found = json.loads(manifest.read_text(encoding="utf-8")).get("version")
        if found != version:
            return f"{name} {found} is installed in {NODE_MODULES}, the tests pin {version} (run tests/oracles/install.sh)"
    return None


def require_oracle() -> None:
    problem = oracle_problem()
    if problem is None:
        return
    if _IN_CI:
        pytest.fail(f"the Maps SDK oracle cannot run: {problem}", pytrace=False)
    pytest.skip(f"the Maps SDK oracle cannot run: {problem}")


# -- resolving bare import specifiers the way Node and bundlers do ---------------------------

def _packages() -> List[str]:
    names = []
    for entry in sorted(NODE_MODULES.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.name.startswith("@"):
            names.extend(f"{entry.name}/{sub.name}" for sub in sorted(entry.iterdir()) if sub.is_dir())
        elif entry.is_dir():
            names.append(entry.name)
    return names


def _pick(target: Any) -> Optional[str]:
    """A conditional ``exports`` target, for a browser importing ES modules."""
    if isinstance(target, str):
        return target
    if isinstance(target, list):
        for option in target:
            found = _pick(option)
            if found:
                return found
        return None
    if isinstance(target, dict):
        for key, value in target.items():  # the package's order decides, as in Node
            if key in _CONDITIONS:
                found = _pick(value)
                if found:
                    return found
    return None


def resolve(package: str, subpath: str) -> Optional[str]:
    """The file (relative to node_modules) that ``import "<package>/<subpath>"`` loads."""
    folder = NODE_MODULES / package
    manifest = json.loads((folder / "package.json").read_text(encoding="utf-8"))
    key = "./" + subpath if subpath else "."
    exports = manifest.get("exports")
    if isinstance(exports, (str, list)) or (isinstance(exports, dict) and exports
                                            and not next(iter(exports)).startswith(".")):
        exports = {".": exports}
    if isinstance(exports, dict):
        target = _pick(exports[key]) if key in exports else None
        if target is None:
            for pattern, value in exports.items():
                if "*" in pattern:
                    head, tail = pattern.split("*", 1)
                    if key.startswith(head) and key.endswith(tail) and len(key) >= len(head) + len(tail):
                        middle = key[len(head):len(key) - len(tail)]
                        picked = _pick(value)
                        target = picked.replace("*", middle) if picked else None
                        break
        if target is not None:
            return posixpath.normpath(f"{package}/{target}")
    if not subpath:
        entry = manifest.get("module") or (manifest.get("browser") if isinstance(manifest.get("browser"), str)
                                           else None) or manifest.get("main") or "index.js"
        return posixpath.normpath(f"{package}/{entry}")
    for candidate in (subpath, subpath + ".js", subpath + "/index.js"):
        if (folder / candidate).is_file():
            return posixpath.normpath(f"{package}/{candidate}")
    return None


def import_map() -> Dict[str, Any]:
    imports = {"@arcgis/core/": "/node_modules/@arcgis/core/"}
    for name in _packages():
        imports.setdefault(name, f"/npm/{name}")
        imports.setdefault(name + "/", f"/npm/{name}/")
    return {"imports": imports}


def _split_specifier(spec: str) -> Tuple[str, str]:
    parts = spec.split("/")
    count = 2 if spec.startswith("@") else 1
    return "/".join(parts[:count]), "/".join(parts[count:])


# -- the loopback asset server ----------------------------------------------------------------

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>XPGEO Maps SDK oracle</title>
<link rel="stylesheet" href="/node_modules/@arcgis/core/assets/esri/themes/light/main.css">
<style>html, body {{ margin: 0; }} .view {{ position: absolute; left: 0; top: 0; width: 480px; height: 480px; }}
  .viewer {{ position: absolute; left: 500px; top: 0; width: 480px; height: 680px; }}</style>
<script>/* what a bundler's define does for process.env.NODE_ENV */ globalThis.process = {{ env: {{ NODE_ENV: "production" }} }};</script>
<script type="importmap">{imports}</script>
<script type="application/json" id="xpgeo-config">{config}</script>
</head><body>
<script type="module" src="/harness/scenarios.js"></script>
</body></html>
"""


def _embed(value: Any) -> str:
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class AssetServer(LoopbackServer):
    """``with AssetServer() as assets: assets.add("layer.json", data); assets.page_url(config)``."""

    def __init__(self) -> None:
        self.files: Dict[str, Tuple[bytes, str]] = {}
        self.pages: Dict[str, str] = {}
        self.answers: List[Tuple[int, str]] = []  # (status, path) of every answer, to find what was missing
        self.state = type("State", (), {"requests": []})()
        self._map = _embed(import_map())
        handler = type("Handler", (_AssetHandler,), {"owner": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        return "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def add(self, name: str, data: bytes, content_type: str = "application/json") -> str:
        self.files[name] = (data, content_type)
        return f"{self.base_url}/data/{name}"

    def page_url(self, config: Dict[str, Any]) -> str:
        name = f"p{len(self.pages)}"
        self.pages[name] = PAGE.format(imports=self._map, config=_embed(config))
        return f"{self.base_url}/page/{name}.html"


class _AssetHandler(BaseHTTPRequestHandler):
    owner: AssetServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_OPTIONS(self) -> None:
        self._send(204, b"", "text/plain")

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        if path.startswith("/page/") and path.endswith(".html"):
            page = self.owner.pages.get(path[len("/page/"):-len(".html")])
            return self._send(200, page.encode(), "text/html; charset=utf-8") if page else self._missing()
        if path.startswith("/data/"):
            found = self.owner.files.get(path[len("/data/"):])
            return self._send(200, *found) if found else self._missing()
        if path.startswith("/harness/"):
            return self._file(HARNESS, path[len("/harness/"):])
        if path.startswith("/node_modules/"):
            return self._file(NODE_MODULES, path[len("/node_modules/"):])
        if path.startswith("/npm/"):
            package, subpath = _split_specifier(path[len("/npm/"):])
            target = resolve(package, subpath) if (NODE_MODULES / package / "package.json").is_file() else None
            if target is None:
                return self._missing()
            # A redirect, so the module's own relative imports resolve against its real location.
            return self._send(302, b"", "text/plain", {"Location": "/node_modules/" + target})
        self._missing()

    def _file(self, folder: Path, relative: str) -> None:
        target = (folder / relative).resolve()
        if folder.resolve() not in target.parents or not target.is_file():
            return self._missing()
        if target.suffix == ".css" and self.headers.get("Sec-Fetch-Dest") == "script":
            # `import "x.css"` (calcite's runtime has one) is a bundler idiom: answer what a bundler makes
            # of it, a module that adds the style sheet to the page.
            module = ("const link = document.createElement('link'); link.rel = 'stylesheet'; "
                      "link.href = import.meta.url; document.head.append(link);\n")
            return self._send(200, module.encode(), "text/javascript", {"Cache-Control": "no-store"})
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        # node_modules is pinned by the lock file: cacheable; a .css may also be asked for as a module.
        cache = "no-store" if target.suffix == ".css" or folder == HARNESS else "max-age=86400"
        self._send(200, target.read_bytes(), kind, {"Cache-Control": cache})

    def _missing(self) -> None:
        self._send(404, b"not found", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str, extra: Optional[Dict[str, str]] = None) -> None:
        self.owner.answers.append((status, self.path))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


# -- running a scenario ---------------------------------------------------------------------------

_profile: Optional[Path] = None


def _session_profile() -> Path:
    """One fresh Chromium profile for the test session (never the user's): its HTTP cache spares later
    runs the SDK's thousands of module downloads, and it is removed when the session ends."""
    global _profile
    if _profile is None:
        _profile = Path(tempfile.mkdtemp(prefix="xpgeo-chromium-profile-"))
        atexit.register(shutil.rmtree, _profile, True)
    return _profile


def spki_pin(cert_pem: Path) -> str:
    """Base64 SHA-256 of a certificate's public key: what Chromium's
    ``--ignore-certificate-errors-spki-list`` accepts (that one test certificate, nothing else)."""
    import base64
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key = x509.load_pem_x509_certificate(cert_pem.read_bytes()).public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def run_scenario(assets: AssetServer, config: Dict[str, Any], *, allowed: Iterable[str] = (),
                 trusted_certs: Iterable[Path] = (), timezone: str = "America/Los_Angeles",
                 timeout_s: float = 90.0) -> Dict[str, Any]:
    """Run one scenario page in headless Chromium; the driver's verdict (see driver.mjs).

    *allowed* are the other loopback origins the page may reach (the portal, the photo host); every
    other request is refused and listed in ``refused``. The browser runs in a zone that is not UTC, so
    a date written without its offset shows up. *timeout_s* only guards against a hung browser (the
    machine may be busy): nothing is asserted about time. *trusted_certs* are the test's own server
    certificates, pinned by public key; every other certificate error still fails.
    """
    origins = sorted({assets.base_url, *(_origin(u) for u in allowed)})
    with tempfile.TemporaryDirectory(prefix="xpgeo-sdk-") as work:
        spec = {"playwrightCore": str(NODE_MODULES / "playwright-core" / "index.mjs"), "executablePath": CHROMIUM,
                "url": assets.page_url(config), "allowedOrigins": origins, "timeoutMs": int(timeout_s * 1000),
                "timezoneId": timezone, "userDataDir": str(_session_profile()),
                "trustedSpki": [spki_pin(Path(c)) for c in trusted_certs]}
        spec_file = Path(work) / "spec.json"
        spec_file.write_text(json.dumps(spec), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        proc = subprocess.run(["node", str(HARNESS / "driver.mjs"), str(spec_file)], capture_output=True, text=True,
                              timeout=timeout_s + 60, env=env, cwd=work)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise AssertionError(f"the SDK driver failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def outcome(verdict: Dict[str, Any]) -> Dict[str, Any]:
    """The scenario's result, or an AssertionError that says what the browser saw."""
    inner = verdict.get("verdict") or {}
    if not inner.get("done") or inner.get("error"):
        raise AssertionError("the SDK scenario did not finish: %s\nrefused: %s\npage errors: %s\nconsole: %s" % (
            json.dumps(inner.get("error")), verdict.get("refused"), verdict.get("pageErrors")[-5:],
            verdict.get("console")[-15:]))
    return inner["result"]
