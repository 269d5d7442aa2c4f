"""XPGEO.pyt contract and end-to-end tests, with the fake arcpy and the fake XPGEO server."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from toolbox_harness import ROOT, arcpy, load_toolbox, run_tool, validate
from emulators.xpgeo_server import FakeXpgeoServer
from xpgeo_core.toolbox import TOOLS, TOOLS_BY_NAME, WEB_TOOL_SAFE_TYPES

CANARY = "CANARY-tbx-key-51d0c3a9"
TOOL_CLASSES = ["HealthCheck", "CreateOrientedImageryLayer", "AppendImage", "AppendImages", "CheckLayer"]


@pytest.fixture(autouse=True)
def _fresh_arcpy():
    arcpy.reset()
    yield
    arcpy.reset()


@pytest.fixture
def pyt():
    return load_toolbox()


@pytest.fixture
def server(monkeypatch):
    with FakeXpgeoServer(api_key=CANARY) as s:
        monkeypatch.setenv("XPGEO_REST_URL", s.url)
        monkeypatch.setenv("XPGEO_RETRY_BACKOFF", "0")
        yield s


def test_loading_has_no_side_effects(pyt):
    assert arcpy.CALLS == [] and arcpy.MESSAGES == []


def test_toolbox_and_class_names(pyt):
    box = pyt.Toolbox()
    assert box.label == "XPGEO" and box.alias == "xpgeo"
    assert [t.__name__ for t in box.tools] == TOOL_CLASSES
    for cls in box.tools:
        assert re.fullmatch(r"[A-Za-z]+", cls.__name__)


@pytest.mark.parametrize("tool_name", TOOL_CLASSES)
def test_parameters_are_web_tool_safe_and_have_a_derived_output(pyt, tool_name):
    params = getattr(pyt, tool_name)().getParameterInfo()
    spec = TOOLS_BY_NAME[tool_name]
    for p in params:  # folders of this machine are for the local backend, which a web tool never uses
        types = set(p.datatype) if isinstance(p.datatype, list) else {p.datatype}
        assert types <= WEB_TOOL_SAFE_TYPES or spec.param(p.name).local_only, p.name
    assert any(p.parameterType == "Derived" and p.direction == "Output" for p in params)
    names = [p.name for p in params]
    assert len(names) == len(set(names))
    api_key = [p for p in params if p.name == "api_key"][0]
    assert api_key.datatype == "GPStringHidden" and api_key.parameterType == "Optional" and api_key.value is None
    assert arcpy.CALLS == ["GetInstallInfo"]


def test_local_backend_not_offered_on_server(pyt):
    arcpy.PRODUCT = "Server"
    backend = [p for p in pyt.HealthCheck().getParameterInfo() if p.name == "backend"][0]
    assert "Local folder" not in backend.filter.list
    arcpy.PRODUCT = "ArcGISPro"
    backend = [p for p in pyt.HealthCheck().getParameterInfo() if p.name == "backend"][0]
    assert "Local folder" in backend.filter.list


def test_output_folder_is_a_folder_enabled_whenever_the_local_backend_will_be_used(pyt):
    tool = pyt.CreateOrientedImageryLayer()
    params = tool.getParameterInfo()
    by = {p.name: p for p in params}
    assert by["output_folder"].datatype == "DEFolder"  # Pro shows a Browse button
    tool.updateParameters(params)
    assert by["output_folder"].enabled is True  # Auto, nothing configured: the local folder
    by["server_url"].set("HTTP://xpgeo.example.com")
    tool.updateParameters(params)
    assert by["output_folder"].enabled is False  # Auto now picks the XPGEO server
    by["backend"].set("Local folder")
    tool.updateParameters(params)
    assert by["output_folder"].enabled is True
    by["backend"].set("Portal")
    tool.updateParameters(params)
    assert by["output_folder"].enabled is False


def _validate(pyt, tool_name, values):
    return validate(pyt, tool_name, values)[2]


def test_update_messages_flags_bad_inputs_before_the_run(pyt, tmp_path):
    assert "image_url" in _validate(pyt, "AppendImage", {"layer_name": "a", "image_url": "htp:/x y.jpg"})
    assert "layer_name" in _validate(pyt, "CreateOrientedImageryLayer", {"layer_name": "   "})
    missing = str(tmp_path / "missing.txt")
    flagged = _validate(pyt, "AppendImages", {"layer_name": "a", "url_file": missing})
    assert "url_file" in flagged and "missing.txt" in flagged["url_file"]
    ok = tmp_path / "ok.txt"
    ok.write_text("https://h/a.jpg\n")
    assert _validate(pyt, "AppendImages", {"layer_name": "a", "url_file": str(ok)}) == {}
    assert arcpy.CALLS == ["GetInstallInfo"] * 4  # one per dialog opened: no sign-in, no messages


def test_chain_health_create_append_images(pyt, server, tmp_path):
    out = run_tool(pyt, "HealthCheck", {"api_key": CANARY})
    assert json.loads(out["out_versions"])["enterpriseBuild"] == "56755"
    assert ("message", "XPGEO REST response: The app is running...") in arcpy.MESSAGES

    created = run_tool(pyt, "CreateOrientedImageryLayer", {"layer_name": "field_2026", "imagery_type": "Oblique",
                                                           "api_key": CANARY})
    assert created["out_layer_name"] == "field_2026"
    assert re.fullmatch(r"[0-9a-f]{32}", created["out_item_id"])

    again = run_tool(pyt, "CreateOrientedImageryLayer", {"layer_name": "field_2026", "api_key": CANARY})
    assert again["out_layer_name"].startswith("field_2026_")

    urls = [f"https://photos.example.com/p{i}.jpg" for i in range(7)]
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join(urls + [urls[0], "not a url"]) + "\n", encoding="utf-8")
    arcpy.MESSAGES.clear()
    import os
    os.environ["XPGEO_MAX_IMAGE_LIST_SIZE"] = "3"
    try:
        result = run_tool(pyt, "AppendImages", {"layer_name": created["out_layer_name"], "url_file": str(listing),
                                                "image_urls": ["https://photos.example.com/extra.jpg"],
                                                "api_key": CANARY})
    finally:
        del os.environ["XPGEO_MAX_IMAGE_LIST_SIZE"]
    assert result["out_layer_name"] == "field_2026"
    assert result["out_appended_count"] == 8 and result["out_failed_count"] == 1
    report = json.loads(result["out_report"])
    assert report["total"] == 9
    assert server.state.layers["field_2026"] == urls + ["https://photos.example.com/extra.jpg"]
    steps = [a for name, a in arcpy.PROGRESS if name == "SetProgressorPosition"]
    assert steps == list(range(1, 9))  # per image
    assert ("SetProgressor", ("step", "Append Images", 0, 8, 1)) in arcpy.PROGRESS
    assert any(sev == "warning" and "line 9" in text for sev, text in arcpy.MESSAGES)

    single = run_tool(pyt, "AppendImage", {"layer_name": "field_2026", "image_url": "https://photos.example.com/z.jpg",
                                           "api_key": CANARY})
    assert single["out_appended_count"] == 1 and single["out_failed_count"] == 0
    everything = json.dumps(arcpy.MESSAGES) + json.dumps(arcpy.PROGRESS)
    assert CANARY not in everything
    assert all(CANARY not in r.raw_path for r in server.state.requests)


def test_core_errors_become_execute_error_without_secrets(pyt, server):
    with pytest.raises(arcpy.ExecuteError) as info:
        run_tool(pyt, "HealthCheck", {"api_key": "WRONG-secret-value-99"})
    assert "Invalid API key" in str(info.value)
    errors = [t for sev, t in arcpy.MESSAGES if sev == "error"]
    assert errors and "CLIENT_ESRI_API_KEY" in errors[0]
    assert "WRONG-secret-value-99" not in json.dumps(arcpy.MESSAGES)
    assert "Traceback" not in json.dumps(arcpy.MESSAGES)


def test_server_down_becomes_execute_error(pyt, monkeypatch):
    with FakeXpgeoServer() as s:
        dead = s.url
    monkeypatch.setenv("XPGEO_RETRIES", "0")
    with pytest.raises(arcpy.ExecuteError, match="Could not connect"):
        run_tool(pyt, "HealthCheck", {"server_url": dead})


def test_config_file_beside_the_toolbox_is_read(tmp_path):
    """A copy of the toolbox folder (as a web tool publishes it) with xpgeo.env beside XPGEO.pyt."""
    pub = tmp_path / "pub"
    pub.mkdir()
    shutil.copy(ROOT / "XPGEO.pyt", pub / "XPGEO.pyt")
    shutil.copytree(ROOT / "xpgeo_core", pub / "xpgeo_core", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "layer_templates", pub / "layer_templates")
    with FakeXpgeoServer(api_key=CANARY) as server:
        (pub / "xpgeo.env").write_text(f"XPGEO_REST_URL={server.url}\nCLIENT_ESRI_API_KEY={CANARY}\n",
                                       encoding="utf-8")
        script = (
            "import sys, json; sys.path.insert(0, {fake!r}); sys.path.insert(0, {tests!r});"
            "from toolbox_harness import load_toolbox, run_tool; from pathlib import Path;"
            "m = load_toolbox(Path({pyt!r})); print(m.core.__file__);"
            "print(run_tool(m, 'HealthCheck', {{}})['out_versions'])"
        ).format(fake=str(ROOT / "tests" / "fake_arcpy"), tests=str(ROOT / "tests"), pyt=str(pub / "XPGEO.pyt"))
        proc = subprocess.run([sys.executable, "-c", script], cwd=str(tmp_path), capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NO_PROXY": "127.0.0.1"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(str(pub / "xpgeo_core"))  # the copy beside the toolbox wins
    assert json.loads(lines[1])["enterpriseVersion"] == "11.5.0"


def test_web_tool_never_falls_back_to_a_server_folder(pyt):
    arcpy.PRODUCT = "Server"
    with pytest.raises(arcpy.ExecuteError, match="no XPGEO server or portal"):
        run_tool(pyt, "CreateOrientedImageryLayer", {"layer_name": "x"})
    errors = [t for sev, t in arcpy.MESSAGES if sev == "error"]
    assert "xpgeo.env" in errors[0]
