"""What the oracle tests share: where tests/oracles/install.sh put Esri's clients, how to
run one scenario of theirs, and a layer made by XPGEO for them to open.

Esri's own clients are the oracles of the portal emulator (and of XPGEO's layers): the
ArcGIS API for Python in its own venv, arcgis-rest-js under Node. A test whose oracle is
not installed fails with the reason when ``CI`` is set (so a CI run can never pass without
them) and skips with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from emulators.image_host import ImageHost
from emulators.portal import PortalEmulator
from portal_support import run_cli, synthetic_photos, user_env, write_list

REPO = Path(__file__).resolve().parents[1]
ORACLES = REPO / "tests" / "oracles"
INSTALL = "XPGEO_ORACLE_DIR=... bash tests/oracles/install.sh"
_ORACLE_DIR = os.environ.get("XPGEO_ORACLE_DIR")  # read at import: conftest clears XPGEO_* for each test


def oracle_dir() -> Path:
    """``XPGEO_ORACLE_DIR`` (default ``.oracles``, relative to the repository), as install.sh reads it."""
    path = Path(_ORACLE_DIR or ".oracles")
    return path if path.is_absolute() else REPO / path


def unavailable(reason: str) -> None:
    """No oracle: a failure in CI, a skip (with the reason) elsewhere."""
    message = f"{reason} (install the oracles with: {INSTALL})"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def python_api() -> Path:
    python = oracle_dir() / "python_api" / "bin" / "python"
    if not python.is_file():
        unavailable(f"the ArcGIS API for Python is not installed: {python} is missing")
    return python


def rest_js() -> Dict[str, str]:
    """The node binary and the folder whose node_modules hold arcgis-rest-js."""
    node = shutil.which("node")
    if node is None:
        unavailable("node is not on PATH: arcgis-rest-js cannot run")
    modules = oracle_dir() / "rest_js"
    if not (modules / "node_modules" / "@esri" / "arcgis-rest-request").is_dir():
        unavailable(f"arcgis-rest-js is not installed in {modules}")
    return {"node": str(node), "modules": str(modules)}


def loopback_env(**extra: str) -> Dict[str, str]:
    """The environment an oracle runs in: no proxies, nothing of XPGEO's, loopback only."""
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "requests_ca_bundle",
                                "ssl_cert_file", "node_extra_ca_certs", "node_tls_reject_unauthorized")
           and not k.startswith("XPGEO_")}
    env["NO_PROXY"] = env["no_proxy"] = "*"
    env.update(extra)
    return env


def run_scenario(command: List[str], config: Dict[str, Any], env: Dict[str, str], timeout: float = 240) -> Any:
    """Run one scenario script: config as JSON on stdin, its answer as JSON on the last stdout line."""
    done = subprocess.run(command, input=json.dumps(config), capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=str(REPO))
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        raise AssertionError(f"{' '.join(command[-2:])} exited {done.returncode}:\n{done.stderr[-4000:]}")
    return json.loads(lines[-1])


def xpgeo_layer(portal: PortalEmulator, host: ImageHost, folder: Path, name: str, count: int = 3,
                ca_bundle: Optional[Path] = None) -> Dict[str, Any]:
    """XPGEO's create-oi-layer then append-images against *portal*, through xpgeo_core's CLI;
    returns the create answer and the features as the portal holds them (XPGEO's values)."""
    env = user_env(portal, **({"XPGEO_CA_BUNDLE": str(ca_bundle)} if ca_bundle else {}))
    code, out, err = run_cli(["--json", "create-oi-layer", "--name", name, "--imagery-type", "Horizontal"], env)
    assert code == 0, err
    created = json.loads(out)
    urls = synthetic_photos(host, count)
    code, out, err = run_cli(["append-images", "--name", created["layer_name"], "--file", write_list(folder, urls)],
                             env)
    assert code == 0, err
    return {"created": created, "urls": urls, "features": portal.features(created["layer_name"])}
