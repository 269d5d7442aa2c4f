"""The offline preview map of a layer (``preview.html``); see :mod:`xpgeo_core.preview.preview`."""

from xpgeo_core.preview.preview import embed_json, render_preview

__all__ = ["render_preview", "embed_json"]
