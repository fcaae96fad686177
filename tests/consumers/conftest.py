"""misp-stix imports mixbox, which vendors six 1.x: its import hook predates ``find_spec``.

pytest calls ``find_spec`` on every ``sys.meta_path`` entry when it imports a
test module, so once misp-stix is imported every later test module fails to
collect (``'_SixMetaPathImporter' object has no attribute 'find_spec'``).
Give such hooks the ``find_spec`` that six 1.16 added, built on their own
``find_module``; nothing else changes.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

import misp_stix_converter  # noqa: F401  (installs the hook this file patches)


def _add_find_spec(finder: Any) -> None:
    def find_spec(fullname: str, path: Any = None, target: Any = None) -> Any:
        loader = finder.find_module(fullname, path)
        return None if loader is None else importlib.util.spec_from_loader(fullname, loader)

    finder.find_spec = find_spec


for _finder in sys.meta_path:
    if not hasattr(_finder, "find_spec") and hasattr(_finder, "find_module"):
        _add_find_spec(_finder)
