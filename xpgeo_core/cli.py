"""The ``xpgeo`` command line: a drop-in for the AerialSphere reference client.

``xpgeo health-check``, ``create-oi-layer``, ``append-image``, ``append-images`` print
the reference client's lines; ``inspect`` and ``demo`` are ours. Global options
(``--json``, ``--config``, ``--verbose``, ...) go before or after the command name.

Exit codes: 0 all done, 1 some images failed, 2 usage or validation error,
3 authentication error, 4 server or network error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, NoReturn, Optional, Sequence, TextIO

from xpgeo_core import __version__
from xpgeo_core.catalogue import CLI, GLOBAL_PARAMS, Param, ToolCall, ToolSpec, missing_one_of, setting_overrides
from xpgeo_core.commands import COMMANDS
from xpgeo_core.results import ProgressCallback, no_progress
from xpgeo_core.errors import EXIT_SERVER, EXIT_USAGE, XpgeoError, redact
from xpgeo_core.operations import ECHOED_BY_CLI
from xpgeo_core.settings import Settings, load_settings

log = logging.getLogger("xpgeo")
_NO_TOOL = ToolSpec("", "", "", "", (), run=lambda call: None)


def add_param(parser: Any, p: Param, *, suppress: bool = False) -> None:
    """One catalogue parameter as an argparse argument (``dest`` is the parameter's name).

    ``suppress``: the default is SUPPRESS, so a global option given before the command
    name is not overwritten by the sub-parser's default."""
    kwargs: Dict[str, Any] = {"help": (p.cli_help or p.help).replace("%", "%%")}
    positional = not p.flags[0].startswith("-")
    if "GPBoolean" in p.datatypes:
        kwargs.update(action="store_true", default=bool(p.default))
    else:
        if p.metavar:
            kwargs["metavar"] = p.metavar
        if p.cli_choices:
            kwargs["choices"] = p.cli_choices
        if "GPLong" in p.datatypes:
            kwargs["type"] = int
        elif "GPDouble" in p.datatypes:
            kwargs["type"] = float
        if positional:
            kwargs["nargs"] = "*" if p.multi_value else None
        else:
            kwargs["default"] = p.default
            if p.multi_value:
                kwargs["action"] = "append"
            if p.cli_required if p.cli_required is not None else p.required:
                kwargs["required"] = True
    if suppress:
        kwargs["default"] = argparse.SUPPRESS
    if positional:
        parser.add_argument(p.name, **kwargs)
    else:
        parser.add_argument(*p.flags, dest=p.name, **kwargs)


def _add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    group = parser.add_argument_group("global options")
    for p in GLOBAL_PARAMS:
        add_param(group, p, suppress=suppress)


class UsageError(Exception):
    """argparse refused the command line; carries its message and the usage text."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing and exiting, so ``main`` can
    still answer a usage error with one JSON document under ``--json``.
    Sub-parsers are made with the same class (argparse's ``parser_class`` default)."""

    def error(self, message: str) -> "NoReturn":
        raise UsageError(f"{self.prog}: {message}", self.format_usage())


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="xpgeo", description="Photos at URLs -> an Esri Oriented Imagery layer.",
        epilog="Exit codes: 0 done, 1 some images failed, 2 usage/validation, 3 authentication, 4 server/network.")
    parser.add_argument("--version", action="version", version=f"xpgeo {__version__}")
    _add_global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        tool = getattr(command, "TOOL", None)
        name, text = (tool.command, tool.cli_help) if tool else (command.NAME, command.HELP)
        p = sub.add_parser(name, help=text, description=text)
        if tool:
            for param in tool.params_for(CLI):
                if not param.global_option:
                    add_param(p, param)
        else:
            command.add_arguments(p)
        _add_global_options(p, suppress=True)
        p.set_defaults(_command=command)
    return parser


@dataclass
class CliContext:
    """What a command needs from the command line: settings, output, progress."""

    args: argparse.Namespace
    stdout: TextIO
    stderr: TextIO
    environ: Dict[str, str]
    _settings: Optional[Settings] = None
    secrets: List[str] = field(default_factory=list)

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    @property
    def quiet(self) -> bool:
        return bool(getattr(self.args, "quiet", False))

    @property
    def tool(self) -> Optional[ToolSpec]:
        command = getattr(self.args, "_command", None)
        return getattr(command, "TOOL", None)

    def values(self) -> Dict[str, Any]:
        """The command's parameter values by catalogue name."""
        params = list(GLOBAL_PARAMS) + (self.tool.params_for(CLI) if self.tool else [])
        return {p.name: getattr(self.args, p.name, None) for p in params}

    def settings(self) -> Settings:
        """Settings with command-line flags on top (flag > env > config file > default)."""
        if self._settings is None:
            overrides = setting_overrides(self.tool or _NO_TOOL, self.values(), GLOBAL_PARAMS)
            self._settings = load_settings(overrides, config_path=getattr(self.args, "config", None),
                                           search_dirs=[os.getcwd()], environ=self.environ,
                                           reference_env_dirs=[os.getcwd()])
            self.secrets = self._settings.secrets()
            _log_settings(self._settings)
        return self._settings

    def call(self, progress: ProgressCallback = no_progress) -> ToolCall:
        """This command's tool call: settings and parameter values, as the toolbox builds them."""
        return ToolCall(self.settings(), self.values(), progress=progress)

    def say(self, line: str = "") -> None:
        """A human output line on stdout (nothing in --json mode)."""
        if not self.json:
            print(redact(line, self.secrets), file=self.stdout, flush=True)

    def emit_json(self, document: Any) -> None:
        """The one JSON document of a --json run."""
        if self.json:
            text = json.dumps(document, indent=2, default=str)
            print(redact(text, self.secrets), file=self.stdout, flush=True)


def _log_settings(settings: Settings) -> None:
    """With ``--verbose``: every setting, its value (secrets masked) and where it came from,
    so a person can see why Auto picked a backend or which config file was read."""
    log.debug("Config file: %s", settings.config_file or "(none found)")
    for path in settings.read_files:
        if path != settings.config_file:
            log.debug("Reference client config: %s (after the config file)", path)
    for key, entry in settings.describe().items():
        log.debug("  %s = %s (%s)", key, entry["value"], entry["source"])


class _RedactingFormatter(logging.Formatter):
    def __init__(self, secrets: Callable[[], List[str]]) -> None:
        super().__init__("%(message)s")
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno >= logging.WARNING:
            text = f"{record.levelname.capitalize()}: {text}"
        return redact(text, self._secrets())


def _install_log_handler(ctx: CliContext) -> logging.Handler:
    handler = logging.StreamHandler(ctx.stderr)
    handler.setFormatter(_RedactingFormatter(lambda: ctx.secrets))
    level = logging.DEBUG if getattr(ctx.args, "verbose", False) else (
        logging.WARNING if ctx.quiet else logging.INFO)
    handler.setLevel(level)
    handler.addFilter(lambda record: not getattr(record, ECHOED_BY_CLI, False))  # the command says it on stdout
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    return handler


def main(argv: Optional[Sequence[str]] = None, *, stdout: Optional[TextIO] = None,
         stderr: Optional[TextIO] = None, environ: Optional[Dict[str, str]] = None) -> int:
    """Run the command line; returns the exit code (never raises for expected failures)."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    wants_json = "--json" in argv[:argv.index("--")] if "--" in argv else "--json" in argv
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version exit 0
        return int(exc.code or 0)
    except UsageError as exc:
        print(exc.usage.rstrip(), file=stderr)
        return _usage_error(stdout, stderr, wants_json, exc.message, "Run xpgeo --help (or xpgeo COMMAND --help).")
    tool = getattr(getattr(args, "_command", None), "TOOL", None)
    missing = missing_one_of(tool, vars(args), CLI) if tool else None
    if missing and tool is not None:
        message = f"xpgeo {tool.command}: {missing}"
        print(parser.format_usage().rstrip(), file=stderr)
        return _usage_error(stdout, stderr, wants_json, message, f"Run xpgeo {tool.command} --help.")
    if not getattr(args, "_command", None):
        if wants_json:
            return _usage_error(stdout, stderr, True, "xpgeo: no command given.",
                                "Give a command, e.g. xpgeo --json health-check; xpgeo --help lists them.")
        parser.print_help(stdout)
        return EXIT_USAGE
    ctx = CliContext(args=args, stdout=stdout, stderr=stderr,
                     environ=dict(os.environ if environ is None else environ))
    saved = (log.level, log.propagate)
    handler = _install_log_handler(ctx)
    try:
        return int(args._command.run(args, ctx))
    except XpgeoError as exc:
        _report_error(ctx, exc.kind, exc.message, exc.hint, exc.status)
        return exc.exit_code
    except KeyboardInterrupt:
        print("Interrupted.", file=stderr)
        return 130
    except Exception as exc:  # a bug: say so plainly, traceback only with --verbose
        if getattr(args, "verbose", False):
            print(redact(traceback.format_exc(), ctx.secrets), file=stderr)
        _report_error(ctx, "internal", f"Unexpected error: {exc.__class__.__name__}: {exc}",
                      "Run again with --verbose for details, and report it with that output.", None)
        return EXIT_SERVER
    finally:
        log.removeHandler(handler)
        log.setLevel(saved[0])
        log.propagate = saved[1]


def _usage_error(stdout: TextIO, stderr: TextIO, wants_json: bool, message: str, hint: str) -> int:
    """A command line argparse refused: the message on stderr, and under ``--json`` the
    one JSON document on stdout that scripts parse whatever happened."""
    if wants_json:
        document = {"ok": False, "error": {"type": "usage", "message": message, "hint": hint, "status": None}}
        print(json.dumps(document, indent=2), file=stdout, flush=True)
    ended = message if message.rstrip().endswith((".", "!", "?")) else message.rstrip() + "."
    print(f"Error: {ended} {hint}", file=stderr, flush=True)  # argparse's own messages end without a full stop
    return EXIT_USAGE


def _report_error(ctx: CliContext, kind: str, message: str, hint: Optional[str], status: Optional[int]) -> None:
    if ctx.json:
        ctx.emit_json({"ok": False, "error": {"type": kind, "message": message, "hint": hint, "status": status}})
    text = f"Error: {message}" + (f" {hint}" if hint else "")
    print(redact(text, ctx.secrets), file=ctx.stderr, flush=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
