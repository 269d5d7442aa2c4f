"""arcpy.conversion: JSONToFeatures, which writes a feature class from a (Geo)JSON file."""

import json
from typing import List, Tuple

CONVERTED: List[Tuple[str, str, int]] = []
"""(in_json_file, out_features, number of features) for every conversion."""


def JSONToFeatures(in_json_file: str, out_features: str, geometry_type: str = "") -> str:
    with open(in_json_file, encoding="utf-8") as handle:
        count = len(json.load(handle).get("features") or [])
    CONVERTED.append((in_json_file, out_features, count))
    return out_features
