"""Generate the parts of the documentation that the code already says.

Why: parameter help, settings and error messages live in the code (``xpgeo_core.catalogue.TOOLS``,
``xpgeo_core.settings.SETTINGS``, the ``raise`` sites). Copying them by hand into Markdown
and ArcGIS metadata drifts; generating them keeps one source. Prose stays hand-written:
only the text between ``<!-- BEGIN GENERATED: key -->`` and ``<!-- END GENERATED: key -->``
is rewritten, and the ``XPGEO*.pyt.xml`` files are generated whole.

Usage (from the checkout)::

    python3 tools/make_docs.py          # rewrite what is out of date
    python3 tools/make_docs.py --check  # exit 1 and name the files that are out of date

Standard library only; no arcpy.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple
from xml.sax.saxutils import escape, quoteattr

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from xpgeo_core.errors import ConfigError, ValidationError, AuthError, RequestError, ServerError, XpgeoError  # noqa: E402
from xpgeo_core.catalogue import CLI, CLI_TOOLS, GLOBAL_PARAMS, PRO, PRO_TOOLS as TOOLS, Param, ToolSpec  # noqa: E402
from xpgeo_core.settings import BACKENDS, SETTINGS, SPECS_BY_ATTR  # noqa: E402

TOOLBOX_NAME = "XPGEO"
TOOLBOX_ALIAS = "xpgeo"
TOOLBOX_SUMMARY = ("Create Esri Oriented Imagery layers from photos at URLs, and append photos to them, through an "
                   "AerialSphere XPGEO REST server, an ArcGIS portal, or a local folder.")

DATATYPE_NAMES = {"GPString": "String", "GPStringHidden": "String Hidden", "GPEncryptedString": "Encrypted String",
                  "GPLong": "Long", "GPDouble": "Double", "GPBoolean": "Boolean", "DEFile": "File",
                  "GPValueTable": "Value Table", "GPDate": "Date", "DEFolder": "Folder",
                 "GPFeatureLayer": "Feature Layer"}

USAGE: Dict[str, str] = {
    "HealthCheck": "Run it first, and whenever a tool fails to connect: it says which backend Auto picked, checks "
                   "the credentials, and returns the versions as JSON.",
    "CreateOrientedImageryLayer": "The layer starts empty; add photos with Append Image or Append Images. If the "
                                  "name is taken, the layer is created with a _YYYYMMDD_HHMMSS suffix: use the "
                                  "Created layer name output, not the name you typed, in the next tool.",
    "AppendImage": "The photo's position and camera angles come from its EXIF/XMP metadata; a photo without a GPS "
                   "position fails with that reason.",
    "AppendImages": "Long lists are sent in chunks (MAX_IMAGE_LIST_SIZE, default 100); the progressor advances per "
                    "image. A rerun of the same list skips the images already in the layer.",
    "CheckLayer": "Run it on a layer whose photos the viewer shows as \"No image available\". It checks a sample of "
                  "3 photos per host by default (Check viewer access: All photos checks each); every problem is a "
                  "warning naming the photo and the fix, and the report (JSON) lists them all.",
}

ERROR_CLASSES = {"XpgeoError", "ConfigError", "ValidationError", "AuthError", "RequestError", "ServerError",
                 "TokenRejected", "PhotoError"}
EXIT_CODES = {cls.__name__: cls.exit_code for cls in (XpgeoError, ConfigError, ValidationError, AuthError,
                                                      RequestError, ServerError)}
EXIT_CODES["TokenRejected"] = AuthError.exit_code
HOLE = "…"

# What to do, for messages whose code gives no hint. Keyed by a fragment of the message.
FIXES: Dict[str, str] = {
    "Unknown setting": "Check the spelling against docs/configuration.md.",
    "Unknown backend": "Use one of: " + ", ".join(BACKENDS) + ".",
    "Missing layer name": "Give the layer name (the tool's Layer name, or --name).",
    "Malformed image URL": "Give a full http:// or https:// URL with a host; encode spaces as %20.",
    "Imagery type": "Use Horizontal, Oblique, Nadir, 360 or Inspection, or leave it empty.",
    "layer templates": "Keep layer_templates/ beside xpgeo_core/ (checkout, web tool) or reinstall the wheel.",
    "preview": "Reinstall XPGEO, or restore xpgeo_core/preview/ from the checkout.",
    "XPGEO server refused": "Read the server's message after the colon; 401/403: check CLIENT_ESRI_API_KEY; "
                            "400/422: fix the named input; 5xx: try again later or read the server's log.",
    "Setting ": "Fix the value in the place named (tool parameter, environment variable or config file line).",
    "URL list file": "Check the file exists, is readable and is UTF-8 text.",
    "no GPS position": "Geotag the photo (or turn on the camera's location) and append it again.",
    "GPS position out of range": "The camera wrote an impossible position; fix the photo's GPS tags.",
    "did not answer in time": "Raise TIMEOUT_SECONDS, or check the server is up.",
    "TLS certificate": "Set CA_BUNDLE to your organisation's CA file (PEM).",
    "could not connect": "Check the URL, the network and any proxy (HTTPS_PROXY, NO_PROXY).",
    "CA bundle file cannot be read": "Point CA_BUNDLE (or REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE) at an existing PEM "
                                     "file, or unset the variable.",
    "is malformed": "Check the URL; if it is right, the server redirected to a broken address: tell its owner.",
    "redirects too many times": "Open the URL in a browser: it loops between addresses; give the photo's final URL.",
    "proxy could not be used": "Check the proxy address and its credentials in HTTPS_PROXY / HTTP_PROXY, or add "
                               "the photo host to NO_PROXY.",
    "MAX_HEADER_BYTES": "Raise MAX_HEADER_BYTES, or check the photo is not corrupt.",
    "server answered bytes": "The photo server mishandles byte ranges; serve the photos from a standard web "
                             "server or S3.",
    "EXIF": "The photo's EXIF block is corrupt: re-export the photo, or fix it with exiftool.",
    "JPEG": "The file is damaged or not a JPEG: re-export it as JPEG.",
    "no such file": "Check the path.",
    "is a folder": "Give the path of a photo, not a folder.",
    "file is empty": "The file has no bytes: copy or upload it again.",
    "request failed": "Check the URL and the network, then run again.",
    "The request to": "Check the URL, the network and any proxy, then run again.",
    "The portal refused": "Read the portal's message after the colon; check PORTAL_URL and the account's rights.",
    "reading the file failed": "Check the disk or network share holding the photo, then run again.",
    "cannot be read": "Check the file exists and you can read it.",
}


# -- generated blocks ---------------------------------------------------------------

def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _flags(p: Param) -> str:
    if not p.on(CLI):
        return "(Pro only)"
    if not p.flag.startswith("-"):
        return f"`{p.metavar or p.name}`" + (" …" if p.multi_value else "")
    value = "" if "GPBoolean" in p.datatypes else " " + (p.metavar or "|".join(p.cli_choices) or "VALUE")
    return ", ".join(f"`{flag}{value}`" for flag in p.flags)


def _kind(p: Param, multiple: bool = True) -> str:
    return " or ".join(DATATYPE_NAMES.get(d, d) for d in p.datatypes) + (
        " (multiple)" if p.multi_value and multiple else "")


def _tool_table(tool: ToolSpec) -> str:
    lines = [f"Inputs of `{tool.name}` (Python: `arcpy.{TOOLBOX_ALIAS}.{tool.name}(...)`; command line: "
             f"`xpgeo {tool.command}`):", "",
             "| Parameter | Label | Type | Required | Command line | Help |", "|---|---|---|---|---|---|"]
    for p in tool.inputs:
        choices = f" Choices: {', '.join(p.value_list)}." if p.value_list else ""
        where = f" Group: {p.category}." if p.category else ""
        only = f" Only here because {p.only_because}." if p.only_because else ""
        setting = f" Setting: `{SPECS_BY_ATTR[p.setting].keys[0]}`." if p.setting else ""
        lines.append(f"| `{p.name}` | {_cell(p.label)} | {_kind(p)} | {'yes' if p.required else 'no'} "
                     f"| {_cell(_flags(p))} | {_cell(p.help + choices + where + setting + only)} |")
    lines += ["", "Derived outputs (for ModelBuilder and scripts):", "", "| Output | Label | Type | Help |",
              "|---|---|---|---|"]
    for p in tool.outputs_params:
        lines.append(f"| `{p.name}` | {_cell(p.label)} | {_kind(p)} | {_cell(p.help)} |")
    return "\n".join(lines)


def _cli_table() -> str:
    lines = ["| Command | Flags | What it does |", "|---|---|---|"]
    for tool in CLI_TOOLS:
        flags = "; ".join(_flags(p) for p in tool.params_for(CLI) if not p.global_option)
        lines.append(f"| `xpgeo {tool.command}` | {_cell(flags or '(none)')} | {_cell(tool.cli_help)} |")
    lines += ["", "Global options (before or after the command name):", "", "| Option | Setting | Help |",
              "|---|---|---|"]
    for p in GLOBAL_PARAMS:
        setting = f"`{SPECS_BY_ATTR[p.setting].keys[0]}`" if p.setting else ""
        lines.append(f"| {_cell(_flags(p))} | {setting} | {_cell(p.help)} |")
    return "\n".join(lines)


def _settings_table() -> str:
    lines = ["| Config file key | Also accepted | Environment variable | Default | Meaning |", "|---|---|---|---|---|"]
    for spec in SETTINGS:
        default = "(none)" if spec.default is None else f"`{spec.default}`"
        also = ", ".join(f"`{k}`" for k in spec.keys[1:]) or ""
        meaning = spec.doc + (" Secret: never printed or logged." if spec.secret else "")
        lines.append(f"| `{spec.keys[0]}` | {also} | `{spec.env}` | {default} | {_cell(meaning)} |")
    return "\n".join(lines)


def _render(node: Optional[ast.AST], constants: Dict[str, str]) -> str:
    """A message expression as text, with ``…`` where a value is filled in at run time."""
    if node is None:
        return ""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_render(v, constants) for v in node.values)
    if isinstance(node, ast.FormattedValue):
        plain = node.conversion == -1 and node.format_spec is None
        return _render(node.value, constants) if plain and isinstance(node.value, ast.Name) else HOLE
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _render(node.left, constants) + _render(node.right, constants)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return re.sub(r"%[-+ #0-9.]*[sdrfi]", HOLE, _render(node.left, constants))
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join":
        return HOLE
    return HOLE


def _module_constants(tree: ast.Module) -> Dict[str, str]:
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                out[node.targets[0].id] = node.value.value
    return out


def _calls_by_scope(tree: ast.Module) -> Iterator[Tuple[ast.Call, Dict[str, ast.AST]]]:
    """Every call, with the simple ``name = value`` assignments of its function (for messages
    built in a variable first, e.g. ``said = f"..."; raise AuthError(said)``)."""
    seen = set()
    scopes = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))] + [tree]
    for scope in scopes:
        local_values = {n.targets[0].id: n.value for n in ast.walk(scope)
                        if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)}
        for node in ast.walk(scope):
            if isinstance(node, ast.Call) and id(node) not in seen:
                seen.add(id(node))
                yield node, local_values


def error_sites() -> Iterator[Tuple[str, str, str, str]]:
    """(module path, error class, message template, hint template) for every error the code builds."""
    shared = {}
    for path in sorted((ROOT / "xpgeo_core").rglob("*.py")):
        shared.update(_module_constants(ast.parse(path.read_text(encoding="utf-8"))))
    for path in sorted((ROOT / "xpgeo_core").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = dict(shared, **_module_constants(tree))
        for node, local_values in _calls_by_scope(tree):
            name = node.func.id if isinstance(node.func, ast.Name) else (
                node.func.attr if isinstance(node.func, ast.Attribute) else None)
            if name not in ERROR_CLASSES or not node.args:
                continue
            message_node = node.args[1] if name == "PhotoError" and len(node.args) > 1 else node.args[0]
            if isinstance(message_node, ast.Name) and message_node.id in local_values:
                message_node = local_values[message_node.id]
            message = _render(message_node, constants).strip()
            hint = next((_render(k.value, constants) for k in node.keywords if k.arg == "hint"), "").strip()
            if message.replace(HOLE, "").strip(" .:") == "":
                continue  # a message built elsewhere (re-raised or passed through)
            yield str(path.relative_to(ROOT)).replace("\\", "/"), name, message, hint


def _fix_for(message: str, hint: str) -> str:
    if hint and hint != HOLE:
        return hint
    for fragment, fix in FIXES.items():
        if fragment.lower() in message.lower():
            return fix
    return "Read the message: it names the input and the reason; fix that input and run again."


def _errors_table() -> str:
    rows, seen = [], set()
    for module, cls, message, hint in error_sites():
        key = (cls, message)
        if key in seen:
            continue
        seen.add(key)
        kind = "photo (the image fails, the batch goes on)" if cls == "PhotoError" else (
            f"{cls}, exit {EXIT_CODES.get(cls, 4)}")
        rows.append((module, f"| {_cell(message)} | {kind} | {_cell(_fix_for(message, hint))} | `{module}` |"))
    lines = ["| Message (… = filled in at run time) | Kind | What to do | Raised in |", "|---|---|---|---|"]
    return "\n".join(lines + [row for _, row in sorted(rows)])


def generated_blocks() -> Dict[str, str]:
    blocks = {f"tool {tool.name}": _tool_table(tool) for tool in TOOLS}
    blocks["cli commands"] = _cli_table()
    blocks["settings"] = _settings_table()
    blocks["errors"] = _errors_table()
    return blocks


BLOCK = re.compile(r"(<!-- BEGIN GENERATED: (?P<key>[^>]+?) -->\n)(?P<body>.*?)(<!-- END GENERATED: (?P=key) -->)",
                   re.S)


def fill_blocks(text: str, blocks: Dict[str, str]) -> str:
    def replace(match: "re.Match[str]") -> str:
        key = match.group("key")
        if key not in blocks:
            raise KeyError(f"unknown generated block {key!r}")
        return match.group(1) + blocks[key] + "\n" + match.group(4)

    return BLOCK.sub(replace, text)


# -- ArcGIS metadata (.pyt.xml) -------------------------------------------------------

def _html(text: str) -> str:
    """ArcGIS metadata holds help as escaped HTML: a DIV with one paragraph."""
    return escape(f'<DIV STYLE="text-align:Left;"><P><SPAN>{escape(text)}</SPAN></P></DIV>')


def _esri_header() -> str:
    return ("  <Esri>\n    <ArcGISFormat>1.0</ArcGISFormat>\n    <SyncOnce>FALSE</SyncOnce>\n"
            "    <ArcGISProfile>ItemDescription</ArcGISProfile>\n  </Esri>\n")


def _param_xml(p: Param) -> str:
    attrs = (f"name={quoteattr(p.name)} displayname={quoteattr(p.label)} type={quoteattr(p.parameter_type)} "
             f"direction={quoteattr(p.direction)} datatype={quoteattr(_kind(p, multiple=False))}")
    if p.parameter_type != "Derived":
        expression = p.name if p.parameter_type == "Required" else "{" + p.name + "}"
        attrs += f" expression={quoteattr(expression)}"
    choices = f" Choices: {', '.join(p.value_list)}." if p.value_list else ""
    return (f"      <param {attrs}>\n"
            f"        <dialogReference>{_html(p.help + choices)}</dialogReference>\n"
            f"        <pythonReference>{_html(p.help + choices)}</pythonReference>\n"
            f"      </param>\n")


def tool_xml(tool: ToolSpec) -> str:
    params = "".join(_param_xml(p) for p in tool.params_for(PRO))
    usage = USAGE.get(tool.name, "")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<metadata xml:lang="en">\n' + _esri_header() +
            f"  <tool name={quoteattr(tool.name)} displayname={quoteattr(tool.label)} "
            f"toolboxalias={quoteattr(TOOLBOX_ALIAS)} xmlns=\"\">\n"
            "    <parameters>\n" + params + "    </parameters>\n"
            f"    <summary>{_html(tool.description)}</summary>\n"
            f"    <usage>{_html(usage)}</usage>\n"
            "  </tool>\n"
            "  <dataIdInfo>\n"
            f"    <idCitation><resTitle>{escape(tool.label)}</resTitle></idCitation>\n"
            f"    <idPurp>{escape(tool.description)}</idPurp>\n"
            f"    <idAbs>{_html(tool.description + ' ' + usage)}</idAbs>\n"
            "    <searchKeys><keyword>Oriented Imagery</keyword><keyword>XPGEO</keyword></searchKeys>\n"
            "  </dataIdInfo>\n"
            "  <distInfo><distributor><distorFormat><formatName>ArcToolbox Tool</formatName></distorFormat>"
            "</distributor></distInfo>\n"
            '  <mdHrLv><ScopeCd value="005"/></mdHrLv>\n'
            "</metadata>\n")


def toolbox_xml() -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<metadata xml:lang="en">\n' + _esri_header() +
            f"  <toolbox name={quoteattr(TOOLBOX_NAME)} alias={quoteattr(TOOLBOX_ALIAS)}>\n"
            "    <toolsets/>\n"
            "  </toolbox>\n"
            "  <dataIdInfo>\n"
            f"    <idCitation><resTitle>{TOOLBOX_NAME}</resTitle></idCitation>\n"
            f"    <idPurp>{escape(TOOLBOX_SUMMARY)}</idPurp>\n"
            f"    <idAbs>{_html(TOOLBOX_SUMMARY + ' Tools: ' + ', '.join(t.label for t in TOOLS) + '.')}</idAbs>\n"
            "    <searchKeys><keyword>Oriented Imagery</keyword><keyword>XPGEO</keyword></searchKeys>\n"
            "  </dataIdInfo>\n"
            "  <distInfo><distributor><distorFormat><formatName>ArcToolbox Toolbox</formatName></distorFormat>"
            "</distributor></distInfo>\n"
            '  <mdHrLv><ScopeCd value="005"/></mdHrLv>\n'
            "</metadata>\n")


# -- the files ------------------------------------------------------------------------

MARKDOWN_FILES = ("README.md", "docs/tools.md", "docs/configuration.md", "docs/troubleshooting.md")


def expected_files() -> Dict[Path, str]:
    """Every generated file's expected content (Markdown: the current file with its blocks refreshed)."""
    out: Dict[Path, str] = {ROOT / f"{TOOLBOX_NAME}.pyt.xml": toolbox_xml()}
    for tool in TOOLS:
        out[ROOT / f"{TOOLBOX_NAME}.{tool.name}.pyt.xml"] = tool_xml(tool)
    blocks = generated_blocks()
    for name in MARKDOWN_FILES:
        path = ROOT / name
        if path.is_file():
            out[path] = fill_blocks(path.read_text(encoding="utf-8"), blocks)
    return out


def stale_files() -> List[Path]:
    return [path for path, text in expected_files().items()
            if not path.is_file() or path.read_text(encoding="utf-8") != text]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report out-of-date files (exit 1 if any)")
    args = parser.parse_args(argv)
    stale = stale_files()
    if args.check:
        for path in stale:
            print(f"out of date: {path.relative_to(ROOT)}")
        return 1 if stale else 0
    expected = expected_files()
    for path in stale:
        path.write_text(expected[path], encoding="utf-8", newline="\n")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
