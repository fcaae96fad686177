"""What changed between two versions of an object, for the console's version timeline.

Properties are compared by path (``extensions.<id>.<property>`` one level
into dictionaries), and each change is a short (path, before, after) triple
of display strings, so a reviewer sees that ``confidence`` went from 60 to 85
without reading two JSON documents side by side.
"""

from __future__ import annotations

from typing import Any

import orjson

_MAX_TEXT = 160
_IGNORED = {"modified"}  # always changes between versions; the timeline shows it already


def _flatten(obj: dict[str, Any], prefix: str = "", depth: int = 0) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and depth < 2 and value:
            flat.update(_flatten(value, path + ".", depth + 1))
        else:
            flat[path] = value
    return flat


def _show(value: Any) -> str:
    if value is None:
        return "(absent)"
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "\u2026"


def version_changes(
    before: dict[str, Any] | None, after: dict[str, Any]
) -> list[tuple[str, str, str]]:
    """(path, before, after) for every property that differs; [] for the first version."""
    if before is None:
        return []
    old, new = _flatten(before), _flatten(after)
    changes = []
    for path in sorted(set(old) | set(new)):
        if path in _IGNORED:
            continue
        if old.get(path) != new.get(path):
            changes.append((path, _show(old.get(path)), _show(new.get(path))))
    return changes
