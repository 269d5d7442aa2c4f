"""tools/check_live_portal.py, the one command that checks a live portal, run against the
emulator's kinds of server: it reports an OI layer where there is one, a failure where not,
and leaves nothing behind either way (unless asked to keep the layer)."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import pytest

from emulators.portal import PortalEmulator
from portal_support import assert_no_secrets, user_env

TOOL = Path(__file__).resolve().parents[1] / "tools" / "check_live_portal.py"


def run(portal, *argv):
    spec = importlib.util.spec_from_file_location("check_live_portal", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out, err = io.StringIO(), io.StringIO()
    code = module.main(list(argv), environ=user_env(portal), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("rule", ["keep", "promote_on_update"])
def test_reports_an_oi_layer_and_deletes_it(rule):
    with PortalEmulator(layer_type_rule=rule) as portal:
        code, out, err = run(portal)
        assert code == 0, out + err
        report = json.loads(out)
        assert report["ok"] and report["layer"]["type"] == "Oriented Imagery Layer" and report["deleted"] is True
        assert report["item"]["data"]["layers"][0]["layerType"] == "OrientedImageryLayer"
        assert portal.items() == []
        assert_no_secrets(portal, out, err)


def test_reports_what_a_refusing_portal_did():
    with PortalEmulator(layer_type_rule="refuse_oi_type") as portal:
        code, out, _ = run(portal, "--keep")
        assert code == 1
        report = json.loads(out)
        assert not report["ok"] and "did not keep an Oriented Imagery layer" in report["create"]["failed"]
        assert portal.items() == []


def test_keep_keeps_it():
    with PortalEmulator() as portal:
        code, out, _ = run(portal, "--keep", "--imagery-type", "nadir")
        assert code == 0 and json.loads(out)["kept"] is True
        assert len(portal.items()) == 1
