"""XPGEO core: photos at URLs -> an Esri Oriented Imagery layer.

Pure Python (standard library + ``requests``/``urllib3``) so that it runs inside
ArcGIS Pro's default ``arcgispro-py3`` environment and on ArcGIS Server, where users
cannot install packages. It never imports ``arcpy``: the toolbox (``XPGEO.pyt``) and
the command line are thin adapters over :mod:`xpgeo_core.operations`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
