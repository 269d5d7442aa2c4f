"""xpgeo_core works three ways (wheel, checkout, copied beside XPGEO.pyt) and on Python 3.9+."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _listed_packages() -> set:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(r"^packages = \[(.*?)\]", text, re.S | re.M).group(1)
    return set(re.findall(r'"([^"]+)"', block))


def test_every_subpackage_is_listed_in_pyproject():
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "xpgeo_core").rglob("__init__.py")
             if "__pycache__" not in p.parts}
    listed = _listed_packages() - {"xpgeo_core.layer_templates"}
    assert found == listed, "pyproject.toml [tool.setuptools] packages must list exactly the xpgeo_core packages"


def test_minimum_python_is_3_9():
    """The machine has one Python: vermin checks statically that nothing needs more than 3.9."""
    targets = [str(ROOT / "xpgeo_core"), str(ROOT / "XPGEO.pyt")] if (ROOT / "XPGEO.pyt").exists() else [
        str(ROOT / "xpgeo_core")]
    vermin = [sys.executable, "-c", "import sys; from vermin.main import main; sys.exit(main())"]
    proc = subprocess.run([*vermin, "--target=3.9-", "--no-tips", "--violations",
                           "--eval-annotations", "--backport", "typing_extensions", *targets],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_core_never_imports_arcpy():
    for path in (ROOT / "xpgeo_core").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import arcpy|from arcpy)", text, re.M), path


def test_wheel_carries_the_layer_templates(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path / "dist"), str(ROOT)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(proc.stdout + proc.stderr)
    wheel = next((tmp_path / "dist").glob("xpgeo-*.whl"))
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        zf.extractall(site)
    assert "xpgeo_core/layer_templates/oi_layer.json" in names
    assert {"xpgeo_core/metadata/wmm/WMM2025.COF", "xpgeo_core/metadata/wmm/WMM2020.COF"} <= set(names)
    assert not any(n.startswith("tests/") for n in names)
    code = ("import xpgeo_core.schema as s, xpgeo_core.cli; print(s.templates_dir()); "
            "print(len(s.layer_fields()))")
    run = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {code}"],
                         cwd=str(tmp_path), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0].startswith(str(site))


def test_copied_beside_the_toolbox_finds_its_templates(tmp_path):
    shutil.copytree(ROOT / "xpgeo_core", tmp_path / "pub" / "xpgeo_core",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "layer_templates", tmp_path / "pub" / "layer_templates")
    code = "import xpgeo_core.schema as s; print(s.templates_dir())"
    run = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, 'pub'); {code}"],
                         cwd=str(tmp_path), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(tmp_path / "pub" / "layer_templates")
