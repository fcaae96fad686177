"""TLP levels of posted objects, and the predefined TLP marking definitions.

A collection's TLP cap is only as good as its reading of an object's markings,
so every place a marking can hide is counted: ``object_marking_refs``, each
``granular_markings[].marking_ref``, and a marking definition's own declared
level (``definition_type: "tlp"`` with ``definition.tlp``, or the TLP 2.0
extension's ``tlp_2_0``). Only the predefined definitions may declare a TLP
level: a custom marking definition that says "red" under a fresh id would
otherwise make everything referencing it red behind the cap's back.

The TLP 1.0 definitions predefined by STIX 2.1 (section 7.2.1.4) are fixed
content like the TLP 2.0 ones in ``mappings.well_known``; any partner may post
them, but only unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from mappings.names import EXT_TLP2
from server.store.types import Tlp

TLP_BY_MARKING: Final[Mapping[str, Tlp]] = {
    # TLP 2.0 marking definitions (OASIS).
    "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": Tlp.CLEAR,
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": Tlp.GREEN,
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": Tlp.AMBER,
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": Tlp.AMBER_STRICT,
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": Tlp.RED,
    # TLP 1.0 marking definitions predefined by STIX 2.1 (WHITE is TLP 2.0 CLEAR).
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": Tlp.CLEAR,
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": Tlp.GREEN,
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": Tlp.AMBER,
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": Tlp.RED,
}

TLP_NAMES: Final[Mapping[Tlp, str]] = {
    Tlp.CLEAR: "TLP:CLEAR",
    Tlp.GREEN: "TLP:GREEN",
    Tlp.AMBER: "TLP:AMBER",
    Tlp.AMBER_STRICT: "TLP:AMBER+STRICT",
    Tlp.RED: "TLP:RED",
}

_LEVEL_BY_WORD: Final[Mapping[str, Tlp]] = {
    "white": Tlp.CLEAR,
    "clear": Tlp.CLEAR,
    "green": Tlp.GREEN,
    "amber": Tlp.AMBER,
    "amber+strict": Tlp.AMBER_STRICT,
    "red": Tlp.RED,
}


def _tlp1(marking_id: str, level: str) -> dict[str, Any]:
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": marking_id,
        "created": "2017-01-20T00:00:00.000Z",
        "definition_type": "tlp",
        "name": f"TLP:{level.upper()}",
        "definition": {"tlp": level},
    }


TLP1_DEFINITIONS: Final[Mapping[str, dict[str, Any]]] = {
    obj["id"]: obj
    for obj in (
        _tlp1("marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9", "white"),
        _tlp1("marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", "green"),
        _tlp1("marking-definition--f88d31f6-486f-44da-b317-01333bde0b82", "amber"),
        _tlp1("marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed", "red"),
    )
}


def declared_tlp(obj: Mapping[str, Any]) -> Tlp | None:
    """The TLP level a marking definition declares about itself, if any.

    An unknown level word still counts as a declaration (as RED), so a
    misspelt or exotic level cannot slip under a cap.
    """
    if obj.get("type") != "marking-definition":
        return None
    words: list[Any] = []
    definition = obj.get("definition")
    if obj.get("definition_type") == "tlp":
        words.append(definition.get("tlp") if isinstance(definition, dict) else None)
    extensions = obj.get("extensions")
    if isinstance(extensions, dict) and EXT_TLP2 in extensions:
        extension = extensions[EXT_TLP2]
        words.append(extension.get("tlp_2_0") if isinstance(extension, dict) else None)
    if not words:
        return None
    levels = [
        _LEVEL_BY_WORD.get(word.lower(), Tlp.RED) if isinstance(word, str) else Tlp.RED
        for word in words
    ]
    return max(levels)


def marking_refs(obj: Mapping[str, Any]) -> list[Any]:
    """Every marking reference of an object: object-level and granular."""
    refs: list[Any] = []
    object_level = obj.get("object_marking_refs")
    if isinstance(object_level, list):
        refs.extend(object_level)
    granular = obj.get("granular_markings")
    if isinstance(granular, list):
        refs.extend(item.get("marking_ref") for item in granular if isinstance(item, dict))
    return refs


def tlp_of(obj: Mapping[str, Any]) -> Tlp | None:
    """The most restrictive TLP level among the object's markings and its own declaration."""
    levels = [
        TLP_BY_MARKING[ref]
        for ref in marking_refs(obj)
        if isinstance(ref, str) and ref in TLP_BY_MARKING
    ]
    declared = declared_tlp(obj)
    if declared is not None:
        levels.append(declared)
    return max(levels) if levels else None
