"""Does this portal hold an Oriented Imagery layer made through its REST API? Find out.

For whoever has an ArcGIS Online or ArcGIS Enterprise account with publisher rights: it
creates a layer ``xpgeo_live_check_<UTC time>`` with XPGEO's portal backend (which itself
reads the layer back and fails when the portal did not keep an OI layer), reads the layer,
its item and the item's data back once more, prints what the portal kept as JSON, and
deletes the layer unless ``--keep`` is given. Credentials come from the usual settings
(``XPGEO_PORTAL_URL`` plus ``XPGEO_API_KEY`` or ``XPGEO_USERNAME``/``XPGEO_PASSWORD``, or
``xpgeo.env``); nothing secret is printed.

Usage::

    python tools/check_live_portal.py [--keep] [--imagery-type 360]

Exit code 0: an OI layer Esri's clients open; 1: the portal did not keep one (the JSON
says what it did); 2: a setting or credential problem.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, TextIO

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from xpgeo_core import schema  # noqa: E402
from xpgeo_core.backends.portal import api  # noqa: E402
from xpgeo_core.backends.portal.backend import PortalBackend  # noqa: E402
from xpgeo_core.errors import AuthError, ConfigError, XpgeoError  # noqa: E402
from xpgeo_core.settings import load_settings  # noqa: E402


def check(backend: PortalBackend, imagery_type: Optional[str], keep: bool) -> Dict[str, Any]:
    """Create, read back, report (and delete unless *keep*)."""
    report: Dict[str, Any] = {"portal": backend.portal_url, "ok": False}
    name = time.strftime("xpgeo_live_check_%Y%m%d_%H%M%S", time.gmtime())
    try:
        created = backend.create_layer(name, imagery_type)
    except XpgeoError as exc:
        report["create"] = {"failed": exc.message, "hint": exc.hint}
        return report
    client, root = backend.client, backend.root
    layer = api.layer_info(client, created.layer["url"])
    item = api.get_item(client, root, created.item_id)
    try:
        data: Any = api.get_item_data(client, root, created.item_id)
    except XpgeoError as exc:
        data = {"unreadable": exc.message}
    problems: List[str] = schema.oi_problems(layer, {})
    if schema.OI_TYPE_KEYWORD not in (item.get("typeKeywords") or []):
        problems.append(f"the item has no {schema.OI_TYPE_KEYWORD!r} type keyword")
    report.update({
        "ok": not problems, "problems": problems, "defined_by": created.layer.get("definedBy"),
        "messages": created.messages,
        "layer": {"url": created.layer["url"], "type": layer.get("type"),
                  "orientedImageryInfo": layer.get("orientedImageryInfo"), "timeInfo": layer.get("timeInfo"),
                  "hasZ": layer.get("hasZ"), "zDefault": layer.get("zDefault")},
        "item": {"id": item.get("id"), "type": item.get("type"), "typeKeywords": item.get("typeKeywords"),
                 "access": item.get("access"), "data": data},
    })
    if keep:
        report["kept"] = True
    else:
        try:
            api.delete_item(client, root, item.get("owner") or backend.me()["username"], created.item_id,
                            item.get("ownerFolder") or None)
            report["deleted"] = True
        except XpgeoError as exc:
            report["deleted"] = f"could not delete item {created.item_id}: {exc.message}"
    return report


def main(argv: Optional[List[str]] = None, *, environ: Optional[Mapping[str, str]] = None,
         stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the layer (default: delete it after the check)")
    parser.add_argument("--imagery-type", help="imagery type of the test layer (default: the XPGEO default)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(environ=environ)
        with PortalBackend(settings) as backend:
            report = check(backend, schema.normalize_imagery_type(args.imagery_type), args.keep)
    except (ConfigError, AuthError) as exc:
        print(f"Error: {exc.message}" + (f" {exc.hint}" if exc.hint else ""), file=stderr)
        return 2
    except XpgeoError as exc:
        print(f"Error: {exc.message}", file=stderr)
        return 1
    print(json.dumps(report, indent=2, default=str), file=stdout)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
