"""Reading JSON answers whose shape a server does not promise.

Why: a portal or XPGEO server answer is a dict whose members may be missing, ``null`` or of
another type than documented (an error page turned JSON, an older server). Every reader takes
an object or a list member the same way: the member when it has that type, else an empty one,
so the check that follows reads one kind of value.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping


def object_at(answer: Mapping[str, Any], key: str) -> Dict[str, Any]:
    """``answer[key]`` when it is a JSON object, else ``{}``."""
    value = answer.get(key)
    return value if isinstance(value, dict) else {}


def list_at(answer: Mapping[str, Any], key: str) -> List[Any]:
    """``answer[key]`` when it is a JSON array, else ``[]``."""
    value = answer.get(key)
    return value if isinstance(value, list) else []
