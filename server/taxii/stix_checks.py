"""Light but real checks of each posted STIX object, and the exchange's policies.

A TAXII server is not a STIX validator, but it must not store things that
break its own indexes or lie about who said what. Each object of a POST is
checked here; a failing object becomes a failure in the status resource (with
a message saying why) and the others are stored:

* ``type`` is a STIX type name and ``id`` is ``<type>--<uuid>``;
* ``spec_version`` is "2.1" (observables may omit it: STIX 2.1 SCOs default to 2.1);
* ``created``/``modified`` are STIX timestamps and ``modified >= created``;
* ``created_by_ref`` and ``object_marking_refs`` are well-formed references;
* provenance: in a collection that enforces it, ``created_by_ref`` (where the
  object has one) must be the publishing partner's own identity;
* TLP cap: the object's TLP marking (TLP 2.0, or the TLP 1.0 markings built
  into STIX 2.1) must not exceed the collection's ``max_tlp``.

Well-known objects (``mappings.well_known``: the project's identity and
extension definitions, the OASIS TLP 2.0 markings, the ATLAS techniques) have
fixed ids and fixed content and every lab's bundle may carry them, so any
partner may post them, but only byte-for-byte as published: an object with a
well-known id and any other content is refused.

The version of an object is ``modified``, else ``created`` (TAXII 2.1 section
4.3.1). Objects with neither (STIX cyber-observables) are not versioned in
STIX: their id is derived from their content, so the server gives them the
one constant version ``UNVERSIONED`` and the first stored copy is the object;
posting it again is a duplicate, reported as a success.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from mappings.well_known import WELL_KNOWN_OBJECTS
from server.store.timestamps import stix_timestamp_us, version_key
from server.store.types import CollectionInfo, IncomingObject, Partner, StatusDetail, Tlp
from server.taxii.filters import is_stix_id, is_stix_type

UNVERSIONED = "1970-01-01T00:00:00.000Z"
SPEC_VERSION = "2.1"

TLP_BY_MARKING: Mapping[str, Tlp] = {
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

TLP_NAMES: Mapping[Tlp, str] = {
    Tlp.CLEAR: "TLP:CLEAR",
    Tlp.GREEN: "TLP:GREEN",
    Tlp.AMBER: "TLP:AMBER",
    Tlp.AMBER_STRICT: "TLP:AMBER+STRICT",
    Tlp.RED: "TLP:RED",
}


class ObjectRejected(ValueError):
    """One object failed a check; the message goes into the status resource."""


@dataclass(frozen=True)
class Verdict:
    accepted: IncomingObject | None
    rejected: StatusDetail | None


def _label(obj: Mapping[str, Any], name: str, limit: int = 300) -> str:
    value = obj.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _timestamp(obj: Mapping[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is None and name not in obj:
        return None
    if not isinstance(value, str):
        raise ObjectRejected(f"{name} must be a STIX timestamp string")
    try:
        stix_timestamp_us(value)
    except (ValueError, OverflowError):
        raise ObjectRejected(f"{name} {value[:60]!r} is not a STIX timestamp") from None
    return value


def object_version(obj: Mapping[str, Any]) -> str:
    """The TAXII version of an object: modified, else created, else UNVERSIONED."""
    for name in ("modified", "created"):
        value = obj.get(name)
        if isinstance(value, str):
            return value
    return UNVERSIONED


def tlp_of(obj: Mapping[str, Any]) -> Tlp | None:
    """The most restrictive TLP marking among object_marking_refs, if any."""
    refs = obj.get("object_marking_refs")
    if not isinstance(refs, list):
        return None
    levels = [TLP_BY_MARKING[ref] for ref in refs if isinstance(ref, str) and ref in TLP_BY_MARKING]
    return max(levels) if levels else None


def _check_shape(obj: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """Structural checks; returns (type, id, spec_version, version)."""
    obj_type = obj.get("type")
    if not isinstance(obj_type, str) or not is_stix_type(obj_type):
        raise ObjectRejected("type is missing or not a STIX type name")
    stix_id = obj.get("id")
    if not isinstance(stix_id, str) or not is_stix_id(stix_id):
        raise ObjectRejected("id is missing or not of the form <type>--<uuid>")
    if stix_id.split("--", 1)[0] != obj_type:
        raise ObjectRejected(f"id {stix_id!r} does not start with its type {obj_type!r}")
    created = _timestamp(obj, "created")
    modified = _timestamp(obj, "modified")
    spec_version = obj.get("spec_version")
    if spec_version is None and created is None and "spec_version" not in obj:
        spec_version = SPEC_VERSION  # an observable: STIX 2.1 SCOs default to 2.1
    if spec_version != SPEC_VERSION:
        raise ObjectRejected(f"spec_version must be {SPEC_VERSION!r}")
    if modified is not None:
        if created is None:
            raise ObjectRejected("modified is set but created is missing")
        if version_key(modified) < version_key(created):
            raise ObjectRejected("modified is earlier than created")
    creator = obj.get("created_by_ref", None)
    if "created_by_ref" in obj and (
        not isinstance(creator, str)
        or not is_stix_id(creator)
        or not creator.startswith("identity--")
    ):
        raise ObjectRejected("created_by_ref must be an identity--<uuid> reference")
    markings = obj.get("object_marking_refs", None)
    if "object_marking_refs" in obj and (
        not isinstance(markings, list)
        or not markings
        or not all(
            isinstance(ref, str) and is_stix_id(ref) and ref.startswith("marking-definition--")
            for ref in markings
        )
    ):
        raise ObjectRejected(
            "object_marking_refs must be a non-empty list of marking-definition ids"
        )
    return obj_type, stix_id, SPEC_VERSION, object_version(obj)


def _check_policy(
    obj: Mapping[str, Any], collection: CollectionInfo, partner: Partner | None
) -> None:
    well_known = WELL_KNOWN_OBJECTS.get(obj["id"])
    if well_known is not None and obj != well_known:
        raise ObjectRejected(f"{obj['id']} is a well-known object and must be posted unchanged")
    creator = None if well_known is not None else obj.get("created_by_ref")
    forged = creator is not None and partner is not None and creator != partner.identity_ref
    if collection.enforce_provenance and forged:
        assert partner is not None
        raise ObjectRejected(
            f"created_by_ref {creator} is not your identity ({partner.identity_ref})"
        )
    if collection.max_tlp is not None:
        level = tlp_of(obj)
        if level is not None and level > collection.max_tlp:
            raise ObjectRejected(
                f"marked {TLP_NAMES[level]}, above this collection's cap "
                f"{TLP_NAMES[Tlp(collection.max_tlp)]}"
            )


def check_object(obj: Any, collection: CollectionInfo, partner: Partner | None) -> Verdict:
    """Accept one posted object (with its stored JSON text) or say why not.

    ``partner`` None is the administrator loading files from the command line;
    provenance then is not checked (the admin vouches for the file).
    """
    if not isinstance(obj, dict):
        return Verdict(None, StatusDetail("", "", "not a JSON object"))
    try:
        obj_type, stix_id, spec_version, version = _check_shape(obj)
        _check_policy(obj, collection, partner)
        try:
            body = orjson.dumps(obj).decode("utf-8")
        except orjson.JSONEncodeError:
            raise ObjectRejected("nested too deeply to store") from None
    except ObjectRejected as reason:
        return Verdict(
            None,
            StatusDetail(
                _label(obj, "id"), _label(obj, "modified") or _label(obj, "created"), str(reason)
            ),
        )
    return Verdict(IncomingObject(stix_id, obj_type, version, spec_version, body), None)


def check_objects(
    objects: list[Any], collection: CollectionInfo, partner: Partner | None
) -> tuple[list[IncomingObject], list[StatusDetail]]:
    accepted: list[IncomingObject] = []
    rejected: list[StatusDetail] = []
    for obj in objects:
        verdict = check_object(obj, collection, partner)
        if verdict.accepted is not None:
            accepted.append(verdict.accepted)
        else:
            assert verdict.rejected is not None
            rejected.append(verdict.rejected)
    return accepted, rejected
