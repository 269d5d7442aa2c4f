"""The offline preview map of a layer (``preview.html``); see :mod:`xpgeo_core.preview.preview`
and, for what each camera covers on the ground, :mod:`xpgeo_core.preview.footprint`."""

from xpgeo_core.preview.preview import embed_json, read_photo_index, render_preview, save_photo_copies

__all__ = ["render_preview", "embed_json", "save_photo_copies", "read_photo_index"]
