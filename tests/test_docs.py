"""The documentation says what the code does: generated parts up to date, every parameter, setting
and error documented, the README's set-up commands exact, links alive."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from html import unescape
from pathlib import Path

import pytest

from xpgeo_core.settings import SETTINGS
from xpgeo_core.toolbox import TOOLS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import make_docs  # noqa: E402

README = (ROOT / "README.md").read_text(encoding="utf-8")
DEMO_COMMAND = "python3 -m venv .venv && .venv/bin/python -m pip install -e . && .venv/bin/xpgeo demo"


def _doc(name: str) -> str:
    return (ROOT / "docs" / name).read_text(encoding="utf-8")


def test_generated_parts_are_up_to_date():
    stale = [str(p.relative_to(ROOT)) for p in make_docs.stale_files()]
    assert not stale, f"run `python3 tools/make_docs.py` to refresh: {stale}"


def test_readme_has_exactly_two_setup_commands_and_the_test_one_is_ci():
    ci_lines = [line for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
                if line.startswith("exec ")]
    assert len(ci_lines) == 1
    section = README.split("## Set-up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```\n(.*?)\n```", section, re.S)
    assert commands == [DEMO_COMMAND, ci_lines[0][len("exec "):]]


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t.name)
def test_every_parameter_has_help_in_its_pyt_xml(tool):
    tree = ET.parse(ROOT / f"XPGEO.{tool.name}.pyt.xml")
    element = tree.getroot().find("tool")
    assert element.get("name") == tool.name and element.get("toolboxalias") == "xpgeo"
    assert tool.description in unescape(element.findtext("summary"))
    params = {p.get("name"): p for p in element.find("parameters")}
    assert list(params) == [p.name for p in tool.params_for("pro")]
    for p in tool.params_for("pro"):
        help_html = unescape(params[p.name].findtext("dialogReference") or "")
        assert p.help and p.help in help_html, p.name
        assert params[p.name].get("displayname") == p.label


def test_toolbox_pyt_xml_names_the_toolbox():
    root = ET.parse(ROOT / "XPGEO.pyt.xml").getroot()
    assert root.find("toolbox").get("name") == "XPGEO" and root.find("toolbox").get("alias") == "xpgeo"


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t.name)
def test_every_parameter_has_help_in_tools_md(tool):
    text = _doc("tools.md")
    section = text.split(f"(`{tool.name}`)", 1)[1].split("\n## ", 1)[0]
    for p in tool.params:
        row = next((line for line in section.splitlines() if line.startswith(f"| `{p.name}` |")), None)
        assert row is not None, f"{tool.name}.{p.name} is missing from docs/tools.md"
        assert p.help.replace("|", "\\|") in row


def test_every_setting_is_in_configuration_md():
    text = _doc("configuration.md")
    for spec in SETTINGS:
        row = next((line for line in text.splitlines() if line.startswith(f"| `{spec.keys[0]}` |")), None)
        assert row is not None, f"{spec.keys[0]} is missing from docs/configuration.md"
        assert f"`{spec.env}`" in row
        for key in spec.keys[1:]:
            assert f"`{key}`" in row


def test_every_error_message_is_in_troubleshooting_md():
    text = _doc("troubleshooting.md")
    sites = list(make_docs.error_sites())
    assert len(sites) > 40
    for module, cls, message, _hint in sites:
        assert make_docs._cell(message) in text, f"{module}: {message}"


def test_readme_settings_table_lists_every_setting():
    for spec in SETTINGS:
        assert f"| `{spec.keys[0]}` |" in README


@pytest.mark.parametrize("name", ["README.md", "docs/getting-started.md", "docs/tools.md", "docs/configuration.md",
                                  "docs/publishing.md", "docs/troubleshooting.md"])
def test_relative_links_point_at_files(name):
    path = ROOT / name
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8")):
        if "://" in target:
            continue
        assert (path.parent / target).exists(), f"{name} links to missing {target}"


def test_docs_name_real_cli_commands_and_options():
    from xpgeo_core.cli import build_parser

    help_text = build_parser().format_help()
    for command in ("health-check", "create-oi-layer", "append-image", "append-images", "check-layer", "inspect", "demo"):
        assert command in help_text and f"xpgeo {command}" in README
    for option in ("--json", "--config", "--verbose", "--quiet", "--backend", "--rest-url", "--portal-url",
                   "--output-dir", "--disable-ssl-verification"):
        assert option in help_text and option in README


def test_the_getting_started_sd_card_commands_work_as_written(tmp_path, monkeypatch):
    """Issue 15 item 5: "From an SD card to ArcGIS Online", run as written from a card's root (the portal and
    credentials come from the environment, as the text says), against the portal emulator; then again."""
    import shlex

    from emulators.portal import PortalEmulator
    from portal_support import run_cli, user_env
    from test_portal_attachments import assert_each_photo_attached_once, sd_card

    block = _doc("getting-started.md").split("## 6. From an SD card to ArcGIS Online", 1)[1].split("```", 2)[1]
    commands = [shlex.split(line)[1:] for line in block.splitlines() if line.startswith("xpgeo ")]
    assert len(commands) == 2 and "--attachments" in commands[0] and "--photo-folder" in commands[1]
    assert block in _doc("backends.md")  # the same two commands there
    paths = sd_card(tmp_path / "SDCARD")
    monkeypatch.chdir(tmp_path / "SDCARD")
    with PortalEmulator() as portal:
        for argv in commands:
            code, out, err = run_cli(argv, user_env(portal))
            assert code == 0, out + err
        assert "Appended 3, skipped 0" in out
        assert_each_photo_attached_once(portal, "sd_survey", paths)
        code, out, err = run_cli(commands[1], user_env(portal))
        assert code == 0 and "Appended 0, skipped 3 (already in the layer)" in out
