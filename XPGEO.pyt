# -*- coding: utf-8 -*-
"""XPGEO: photos at URLs -> an Esri Oriented Imagery layer (ArcGIS Pro Python toolbox).

This file is deliberately thin. Tool parameters are declared once, as data, in
``xpgeo_core/catalogue.py``; each tool here turns them into ``arcpy.Parameter`` objects,
reads their values *by name*, calls ``xpgeo_core.toolbox.run_tool`` and writes the
derived outputs back by name. Core logging becomes geoprocessing messages through one
handler, progress becomes the step progressor, and core errors become
``arcpy.ExecuteError`` with a message that says what to do.

Importing this file does no work: no network, no files, no arcpy calls. The only
module-level action is putting the folder of this toolbox first on ``sys.path`` when
``xpgeo_core`` sits beside it (the checkout, or a published web tool), so that copy
wins over any installed one.
"""

import logging
import os
import sys

import arcpy

_HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.isdir(os.path.join(_HERE, "xpgeo_core")) and _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from xpgeo_core import toolbox as core  # noqa: E402  (static import: web-tool publishing follows it)
from xpgeo_core.errors import Cancelled, XpgeoError, redact  # noqa: E402


class Toolbox(object):
    def __init__(self):
        self.label = "XPGEO"
        self.alias = "xpgeo"
        self.description = "Create Esri Oriented Imagery layers from photos at URLs and append photos to them."
        self.tools = [HealthCheck, CreateOrientedImageryLayer, AppendImage, AppendImages, CheckLayer]


# -- the bridge: logging -> messages, progress -> progressor ---------------------------

class _MessagesHandler(logging.Handler):
    """Routes ``xpgeo`` log records to AddMessage / AddWarning / AddError."""

    def __init__(self, secrets):
        logging.Handler.__init__(self, logging.INFO)
        self._secrets = secrets

    def emit(self, record):
        try:
            text = core.pro_wording(redact(record.getMessage(), self._secrets))
        except Exception:  # a log call must never break a tool
            return
        if record.levelno >= logging.ERROR:
            arcpy.AddError(text)
        elif record.levelno >= logging.WARNING:
            arcpy.AddWarning(text)
        else:
            arcpy.AddMessage(text)


def _progressor(label):
    """A progress callback: the step progressor moves per image, and Pro's Cancel button
    (``arcpy.env.isCancelled``) stops the run: the core stops within two seconds and reports
    exactly what landed. Heartbeats (``tick``) only check for the cancel."""
    state = {"started": False}

    def show(progress):
        if getattr(arcpy.env, "isCancelled", False):
            raise Cancelled("Cancelled in ArcGIS Pro.")
        if progress.kind == "tick":
            return
        if not state["started"]:
            arcpy.SetProgressor("step", label, 0, max(progress.total, 1), 1)
            state["started"] = True
        arcpy.SetProgressorLabel("{0} of {1} images, {2} failed".format(progress.done, progress.total,
                                                                         progress.failed))
        if progress.kind == "image":
            arcpy.SetProgressorPosition(progress.done)

    return show


def _pro_signin_token():
    """Token provider for the portal ArcGIS Pro is signed in to (fresh on every call)."""
    info = arcpy.GetSigninToken()
    if not info or not info.get("token"):
        return None
    return {"token": info["token"], "referer": info.get("referer"), "expires": info.get("expires")}


def _pro_portal_url():
    try:
        return arcpy.GetActivePortalURL() or None
    except Exception:
        return None


def _project_home():
    try:
        return arcpy.mp.ArcGISProject("CURRENT").homeFolder or None
    except Exception:  # not in a Pro session (web tool, stand-alone script)
        return None


def _is_server():
    try:
        return arcpy.GetInstallInfo().get("ProductName") == "Server"
    except Exception:
        return False


# -- one base class; the tools only name their spec --------------------------------

class _Tool(object):
    spec_name = ""

    def __init__(self):
        spec = core.TOOLS_BY_NAME[self.spec_name]
        self.label = spec.label
        self.description = spec.description
        self.canRunInBackground = spec.can_run_in_background

    def getParameterInfo(self):
        params = []
        on_server = _is_server()
        for p in core.TOOLS_BY_NAME[self.spec_name].params_for(core.PRO):
            datatype = list(p.datatypes) if len(p.datatypes) > 1 else p.datatype
            param = arcpy.Parameter(name=p.name, displayName=p.label, datatype=datatype,
                                    parameterType=p.parameter_type, direction=p.direction,
                                    multiValue=p.multi_value, category=p.category)
            if p.value_list:
                choices = list(p.value_list)
                if p.name == "backend" and on_server:
                    choices = [c for c in choices if c != core.BACKEND_LABELS["local"]]
                param.filter.type = "ValueList"
                param.filter.list = choices
            if p.file_types:
                param.filter.list = list(p.file_types)
            if p.default is not None:
                param.value = p.default
            if p.local_only and on_server:
                param.enabled = False  # a web tool never uses a folder of the server
            params.append(param)
        return params

    def isLicensed(self):
        return True

    def updateParameters(self, parameters):
        by_name = {p.name: p for p in parameters}
        enabled = core.enabled_parameters(self.spec_name, _values(parameters), search_dirs=[_HERE])
        for name, on in enabled.items():
            by_name[name].enabled = on

    def updateMessages(self, parameters):
        by_name = {p.name: p for p in parameters}
        errors, notes = core.check_tool(self.spec_name, _values(parameters), search_dirs=[_HERE])
        touched = any(p.altered for p in parameters)
        for name, message in notes.items():
            if name in by_name and by_name[name].altered and message:
                by_name[name].setWarningMessage(message)
        for name, message in errors.items():
            # "give a list file or URLs" belongs to no single parameter: shown once the dialog is in use
            if name in by_name and (by_name[name].altered or touched):
                by_name[name].setErrorMessage(message)

    def execute(self, parameters, messages):
        values = _values(parameters)
        secrets = [values.get("api_key") or ""]
        handler = _MessagesHandler(secrets)
        logger = logging.getLogger("xpgeo")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            # A signed-in Pro user types nothing: the active portal and its token are the
            # default credential (the core ignores them when a key or account is configured).
            signed_in = _pro_signin_token() is not None
            outputs = core.run_tool(
                self.spec_name, values, search_dirs=[_HERE],
                token_provider=_pro_signin_token if signed_in else None,
                portal_url=_pro_portal_url() if signed_in else None, default_output_dir=_project_home(),
                progress=_progressor(self.label), on_server=_is_server())
        except XpgeoError as exc:
            text = core.pro_wording(redact(str(exc), secrets))
            messages.addErrorMessage(text)
            raise arcpy.ExecuteError(text)
        except Exception as exc:
            text = redact("Unexpected error in {0}: {1}: {2}".format(self.label, exc.__class__.__name__, exc),
                          secrets)
            messages.addErrorMessage(text + " Please report it with the messages above.")
            raise arcpy.ExecuteError(text)
        finally:
            logger.removeHandler(handler)
            arcpy.ResetProgressor()
        by_name = {p.name: p for p in parameters}
        for name, value in outputs.items():
            if by_name[name].datatype == "GPFeatureLayer":
                value = _feature_layer(value)
            if value is not None:
                by_name[name].value = value
        return

    def postExecute(self, parameters):
        return


def _feature_layer(reference):
    """A feature-layer output: a service layer URL as it is; a local layer's points file as a feature
    class in the scratch geodatabase (Pro cannot add GeoJSON to a map); nothing for an empty layer."""
    if not reference or "://" in reference:
        return reference
    if not os.path.isfile(reference) or core.is_empty_points_file(reference):
        return None
    name = arcpy.ValidateTableName("xpgeo_" + os.path.basename(os.path.dirname(reference)), arcpy.env.scratchGDB)
    target = os.path.join(arcpy.env.scratchGDB, name)
    arcpy.conversion.JSONToFeatures(reference, target, "POINT")
    return target


def _layer_text(p):
    """A layer parameter as text: a layer picked in the map (or a model's feature layer) is its data
    source (the service layer URL); a typed name, item id or URL is passed through."""
    value = p.value
    if value is not None and not isinstance(value, str):
        try:
            return arcpy.Describe(value).catalogPath or p.valueAsText
        except Exception:  # not a layer arcpy can describe: keep what was typed
            return p.valueAsText
    return p.valueAsText


def _values(parameters):
    """Parameter values by name, as plain Python values."""
    values = {}
    for p in parameters:
        if p.direction != "Input":
            continue
        if isinstance(p.datatype, (list, tuple)) and "GPFeatureLayer" in p.datatype:
            values[p.name] = _layer_text(p)
        elif p.datatype == "GPBoolean":
            values[p.name] = bool(p.value)
        elif p.multiValue:
            values[p.name] = list(p.values or []) if p.values is not None else None
        else:
            values[p.name] = p.valueAsText
    return values


class HealthCheck(_Tool):
    spec_name = "HealthCheck"


class CreateOrientedImageryLayer(_Tool):
    spec_name = "CreateOrientedImageryLayer"


class AppendImage(_Tool):
    spec_name = "AppendImage"


class AppendImages(_Tool):
    spec_name = "AppendImages"


class CheckLayer(_Tool):
    spec_name = "CheckLayer"
