"""Objects with fixed ids and fixed content that no lab authors.

* the project's own identity, creator of the extension definitions and of the
  MITRE ATLAS attack-patterns;
* the project's extension definitions (read from ``mappings/data``);
* the OASIS TLP 2.0 marking definitions and their extension definition,
  reproduced exactly as published in oasis-open/cti-stix-common-objects
  (the markings carry no ``created_by_ref``; the extension definition is
  attributed to CISA, ``identity--b3bca3c2-...``), and an identity object for
  CISA under that id: OASIS publishes none, and without it every bundle that
  carries the TLP 2.0 extension definition would hold a dangling reference;
* the MITRE ATLAS techniques that distillation campaigns use.

Because their content never changes, the TAXII server accepts these ids from
any partner (they are exempt from the "created_by_ref is the publisher" rule),
and every bundle can carry the ones it references so it stands alone.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources
from types import MappingProxyType
from typing import Any, Final

from mappings.ids import authored_id
from mappings.names import EXT_TLP2, PROJECT_EXTENSIONS

FIXED_OBJECT_TIME: Final = datetime(2020, 1, 1, tzinfo=UTC)
"""``created`` of objects whose content is fixed by their key (lab identities,
campaigns, infrastructure): a constant, so re-publishing never makes a new version."""

PROJECT_PUBLISHED: Final = "2026-11-23T00:00:00.000Z"
"""When the project's own fixed objects (identity, attack-patterns) were first published."""

PROJECT_IDENTITY_ID: Final = "identity--7b13befb-6a90-4b54-8e86-b7c3f3df1987"

TLP_CREATOR_ID: Final = "identity--b3bca3c2-1f3d-4b54-b44f-dac42c3a8f01"
"""CISA, author of the OASIS TLP 2.0 extension definition."""

TLP_MARKING_IDS: Final[dict[str, str]] = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
TLP_LEVEL_BY_MARKING: Final[dict[str, str]] = {v: k for k, v in TLP_MARKING_IDS.items()}
TLP_ORDER: Final = ("clear", "green", "amber", "amber+strict", "red")
"""From least to most restrictive."""

ATLAS_TECHNIQUES: Final[dict[str, str]] = {
    "AML.T0040": "AI Model Inference API Access",
    "AML.T0024.002": "Extract AI Model",
    "AML.T0005": "Create Proxy AI Model",
    "AML.T0008.005": "AI Service Proxies",
    "AML.T0021": "Establish Accounts",
    "AML.T0065": "LLM Prompt Crafting",
}

ATLAS_KILL_CHAIN: Final = "mitre-atlas"
"""``kill_chain_name`` of ATLAS tactics (as MITRE's own ATLAS STIX data names it)."""

ATLAS_TACTICS: Final[dict[str, tuple[str, str]]] = {
    "AML.TA0000": ("AI Model Access", "ai-model-access"),
    "AML.TA0001": ("AI Attack Staging", "ai-attack-staging"),
    "AML.TA0003": ("Resource Development", "resource-development"),
    "AML.TA0010": ("Exfiltration", "exfiltration"),
}
"""ATLAS tactic id -> (name, ``phase_name``): the tactics of the techniques below."""

ATLAS_TACTIC_OF: Final[dict[str, str]] = {
    "AML.T0040": "AML.TA0000",
    "AML.T0024.002": "AML.TA0010",
    "AML.T0005": "AML.TA0001",
    "AML.T0008.005": "AML.TA0003",
    "AML.T0021": "AML.TA0003",
    "AML.T0065": "AML.TA0003",
}
"""The ATLAS tactic each technique serves (sub-techniques take their parent's)."""

ATLAS_PATTERNS_MODIFIED: Final = "2026-12-07T00:00:00.000Z"
"""Second version of the attack-patterns: ``kill_chain_phases`` added."""


def atlas_kill_chain_phases(technique_id: str) -> list[dict[str, str]]:
    """``kill_chain_phases`` for an object that shows ``technique_id`` (a fresh list)."""
    _, phase = ATLAS_TACTICS[ATLAS_TACTIC_OF[technique_id]]
    return [{"kill_chain_name": ATLAS_KILL_CHAIN, "phase_name": phase}]


_ATLAS_DESCRIPTIONS: Final[dict[str, str]] = {
    "AML.T0040": "Distillation campaigns query the target model through its public "
    "inference API at scale to collect its answers.",
    "AML.T0024.002": "The collected answers are used to reproduce the target model's "
    "capabilities in a model the adversary controls.",
    "AML.T0005": "The adversary trains a cheaper proxy model on the target's outputs.",
    "AML.T0008.005": "Commercial proxy and reseller services relay the campaign's traffic "
    "and hide its origin; shared as IP ranges and ASNs.",
    "AML.T0021": "Many accounts are created and operated together; shared as keyed-hash "
    "account clusters.",
    "AML.T0065": "Prompts are built from a few templates that elicit reasoning traces, "
    "rubric grading or tool use; shared as keyed prompt fingerprints.",
}


def atlas_attack_pattern_id(technique_id: str) -> str:
    """The project's attack-pattern id for an ATLAS technique (UUIDv5 of its ATLAS id)."""
    return authored_id("attack-pattern", "mitre-atlas", technique_id)


def _project_identity() -> dict[str, Any]:
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": PROJECT_IDENTITY_ID,
        "created_by_ref": PROJECT_IDENTITY_ID,
        "created": PROJECT_PUBLISHED,
        "modified": PROJECT_PUBLISHED,
        "name": "distill-exchange",
        "identity_class": "system",
        "description": (
            "The distillation-defence indicator exchange: author of its STIX extension "
            "definitions and of its MITRE ATLAS attack-pattern objects."
        ),
    }


def _attack_pattern(technique_id: str) -> dict[str, Any]:
    return {
        "type": "attack-pattern",
        "spec_version": "2.1",
        "id": atlas_attack_pattern_id(technique_id),
        "created_by_ref": PROJECT_IDENTITY_ID,
        "created": PROJECT_PUBLISHED,
        "modified": ATLAS_PATTERNS_MODIFIED,
        "name": ATLAS_TECHNIQUES[technique_id],
        "description": _ATLAS_DESCRIPTIONS[technique_id],
        "kill_chain_phases": atlas_kill_chain_phases(technique_id),
        "external_references": [
            {
                "source_name": "mitre-atlas",
                "external_id": technique_id,
                "url": f"https://atlas.mitre.org/techniques/{technique_id}",
            }
        ],
    }


def _tlp_marking(level: str) -> dict[str, Any]:
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP_MARKING_IDS[level],
        "created": "2022-10-01T00:00:00.000Z",
        "name": f"TLP:{level.upper()}",
        "extensions": {EXT_TLP2: {"extension_type": "property-extension", "tlp_2_0": level}},
    }


def _tlp_extension_definition() -> dict[str, Any]:
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": EXT_TLP2,
        "created_by_ref": TLP_CREATOR_ID,
        "created": "2022-10-01T00:00:00.000Z",
        "modified": "2022-10-01T00:00:00.000Z",
        "name": "TLP 2.0",
        "description": "This defines TLP 2.0 as a STIX extension",
        "schema": "https://github.com/oasis-open/cti-stix-common-objects/tree/master/"
        "extension-definition-specifications/tlp-2.0",
        "version": "1.0.0",
        "extension_types": ["property-extension"],
    }


def _tlp_creator_identity() -> dict[str, Any]:
    """CISA's identity under the id the TLP 2.0 extension definition names.

    No identity object is published for that id, so this one is the project's:
    the minimum that makes ``created_by_ref`` resolve (name and class, dated like
    the extension definition). It carries no ``created_by_ref`` of its own: the
    project does not speak for CISA, and claiming CISA authored it would be false.
    """
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": TLP_CREATOR_ID,
        "created": "2022-10-01T00:00:00.000Z",
        "modified": "2022-10-01T00:00:00.000Z",
        "name": "Cybersecurity and Infrastructure Security Agency",
        "identity_class": "organization",
        "description": (
            "Author of the OASIS TLP 2.0 marking extension definition. Identity object "
            "supplied by distill-exchange so that references to it resolve."
        ),
    }


def _project_extension_definition(extension_id: str) -> dict[str, Any]:
    """Read one extension definition from the package data (the published source of truth)."""
    text = resources.files("mappings").joinpath("data", f"{extension_id}.json").read_text("utf-8")
    definition = json.loads(text)
    if definition.get("id") != extension_id:
        raise RuntimeError(f"mappings/data/{extension_id}.json holds id {definition.get('id')!r}")
    return definition


def _build() -> dict[str, dict[str, Any]]:
    objects = [_project_identity(), _tlp_extension_definition(), _tlp_creator_identity()]
    objects += [_project_extension_definition(ext) for ext in PROJECT_EXTENSIONS]
    objects += [_tlp_marking(level) for level in TLP_ORDER]
    objects += [_attack_pattern(technique) for technique in ATLAS_TECHNIQUES]
    return {obj["id"]: obj for obj in objects}


WELL_KNOWN_OBJECTS: Final[dict[str, dict[str, Any]]] = _build()
"""id -> object. Treat as read-only: copy an object before changing it."""

WELL_KNOWN_IDS: Final = frozenset(WELL_KNOWN_OBJECTS)

PROJECT_EXTENSION_DEFINITIONS: Final = MappingProxyType(
    {ext: WELL_KNOWN_OBJECTS[ext] for ext in PROJECT_EXTENSIONS}
)
