"""One tool catalogue, two front ends: every parameter reaches the toolbox and the command line
it is declared for, with the same name, and one that only one front end has says why."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest

from toolbox_harness import ROOT, arcpy, load_toolbox
from xpgeo_core import catalogue
from xpgeo_core.catalogue import BOTH, CLI, GLOBAL_PARAMS, PRO, TOOLS
from xpgeo_core.cli import build_parser
from xpgeo_core.settings import BACKENDS, SPECS_BY_ATTR


def _subparsers(parser: argparse.ArgumentParser) -> dict:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _dests(parser: argparse.ArgumentParser) -> list:
    return [a.dest for a in parser._actions if a.dest not in ("help", "version", "command")]


@pytest.fixture(scope="module")
def pyt():
    arcpy.reset()
    return load_toolbox()


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t.name)
def test_every_parameter_reaches_the_front_ends_it_is_declared_for(pyt, tool):
    if PRO in tool.front_ends:
        params = getattr(pyt, tool.name)().getParameterInfo()
        assert [p.name for p in params] == [p.name for p in tool.params if p.on(PRO)]
    else:
        assert not hasattr(pyt, tool.name)
    commands = _subparsers(build_parser())
    if CLI in tool.front_ends:
        own = [p.name for p in tool.params if p.on(CLI) and not p.global_option]
        globals_ = [p.name for p in GLOBAL_PARAMS]
        assert _dests(commands[tool.command]) == own + globals_
    else:
        assert tool.command not in commands


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t.name)
def test_a_parameter_of_one_front_end_says_why(tool):
    for p in tool.params:
        assert p.front_ends <= BOTH and p.front_ends, p.name
        if p.front_ends != BOTH:
            assert p.only_because, f"{tool.name}.{p.name} belongs to one front end: say why"
        if p.on(CLI) and tool.front_ends & {CLI}:
            assert p.flags, f"{tool.name}.{p.name} is on the command line but has no flag"
        if p.setting:
            assert p.setting in SPECS_BY_ATTR


def test_a_parameter_name_means_one_thing_across_tools():
    seen = {}
    for tool in TOOLS:
        for p in tool.params:
            if p.derived:
                continue
            key = (p.setting, p.flags)
            assert seen.setdefault(p.name, key) == key, p.name


def test_global_options_are_the_connection_parameters_plus_the_command_line_ones():
    top = _dests(build_parser())
    assert top == [p.name for p in GLOBAL_PARAMS]
    backend = catalogue.CONNECTION_PARAMS[0]
    assert backend.cli_choices == BACKENDS and len(backend.value_list) == len(BACKENDS)


def test_every_flag_and_alias_parses_to_the_parameter():
    parser = build_parser()
    args = parser.parse_args(["append-images", "--name", "n", "--file", "f.txt", "--server-url", "http://h",
                              "--output-folder", "out"])
    assert (args.layer_name, args.url_file, args.server_url, args.output_folder) == ("n", "f.txt", "http://h", "out")
    args = parser.parse_args(["--rest-url", "http://a", "health-check"])
    assert args.server_url == "http://a"  # a global option before the command is kept


def test_no_front_end_dispatches_on_a_tool_name():
    """run_tool runs the tool's own function; nothing compares a tool name to a string literal."""
    for path in (ROOT / "xpgeo_core" / "toolbox.py", ROOT / "xpgeo_core" / "cli.py", ROOT / "XPGEO.pyt"):
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
        names = {t.name for t in TOOLS} | {t.command for t in TOOLS}
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                for side in [node.left] + list(node.comparators):
                    assert not (isinstance(side, ast.Constant) and side.value in names), (path, ast.dump(node))


def test_every_error_message_reads_in_pro_without_command_line_syntax():
    import sys as _sys

    _sys.path.insert(0, str(ROOT / "tools"))
    import make_docs
    from xpgeo_core.toolbox import pro_wording

    pro_flags = {f for t in TOOLS for p in t.params if p.on(PRO) for f in p.flags if f.startswith("--")}
    pro_commands = {t.command for t in TOOLS if PRO in t.front_ends}
    for module, _cls, message, hint in make_docs.error_sites():
        text = pro_wording(f"{message} {hint}")
        for flag in pro_flags:
            assert f"{flag} " not in text + " " and f"{flag})" not in text and f"{flag}," not in text, (module, text)
        for command in pro_commands:
            assert f"xpgeo {command}" not in text, (module, text)
