"""Light but real checks of each posted STIX object, and the exchange's policies.

A TAXII server is not a STIX validator, but it must not store things that
break its own indexes or lie about who said what. Each object of a POST is
checked here; a failing object becomes a failure in the status resource (with
a message saying why) and the others are stored:

* ``type`` is a STIX type name and ``id`` is ``<type>--<uuid>`` in canonical
  form (lower-case UUID, nothing after it): another spelling of an id would be
  stored as a distinct object shadowing the real one;
* ``spec_version`` is "2.1" (observables may omit it: STIX 2.1 SCOs default to 2.1);
* ``created``/``modified`` are STIX timestamps, ``modified >= created``, and
  neither is more than ``max_future_skew_seconds`` ahead of the server clock
  (a far-future version would stay "latest" over every real one);
* every property named ``*_ref`` / ``*_refs``, at any depth, holds canonical
  ids; ``created_by_ref`` names an identity and marking refs name marking
  definitions;
* numbers are within the signed 64-bit range (parsers disagree beyond it);
* provenance: in a collection that enforces it, every SDO and SRO (anything
  with ``created``, marking and extension definitions apart) carries a
  ``created_by_ref``, and it is the publishing partner's own identity;
* TLP cap: the object's TLP level (object and granular markings, and a marking
  definition's own declared level; see ``markings``) must not exceed the
  collection's ``max_tlp``; only the predefined TLP marking definitions may
  declare a TLP level.

Fixed objects (``mappings.well_known``: the project's identity and extension
definitions, the OASIS TLP 2.0 markings, the ATLAS techniques; and the STIX
2.1 TLP 1.0 marking definitions) have fixed ids and fixed content and every
lab's bundle may carry them, so any partner may post them, but only exactly
as published: an object with such an id and any other content is refused.

Who may publish an id at all (the partner bound to an identity, the first
publisher of an object, exchange-wide) is decided in the store, in the
transaction that stores the objects (``server.store.owners``).

The version of an object is ``modified``, else ``created`` (TAXII 2.1 section
4.3.1). Objects with neither (STIX cyber-observables) are not versioned in
STIX: their id is derived from their content, so the server gives them the
one constant version ``UNVERSIONED`` and the first stored copy is the object;
posting it again is a duplicate, reported as a success.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from mappings.well_known import WELL_KNOWN_OBJECTS
from server.store.timestamps import now_us, stix_timestamp_us, version_key
from server.store.types import CollectionInfo, IncomingObject, Partner, StatusDetail, Tlp
from server.taxii.body import JsonPath, is_out_of_range, spell_path
from server.taxii.filters import is_stix_id, is_stix_type
from server.taxii.markings import (
    TLP1_DEFINITIONS,
    TLP_BY_MARKING,
    TLP_NAMES,
    declared_tlp,
    tlp_of,
)

UNVERSIONED = "1970-01-01T00:00:00.000Z"
SPEC_VERSION = "2.1"
# How far in the future created/modified may be (server clock). A version dated
# later would stay "latest" over every real version until then; five minutes
# cover honest clock drift. Overridden by the ``max_future_skew_seconds`` setting.
DEFAULT_MAX_FUTURE_SKEW_SECONDS = 300
# Objects that carry ``created`` but are shared as-is rather than authored claims.
UNATTRIBUTED_TYPES = frozenset({"marking-definition", "extension-definition"})
FIXED_OBJECTS: Mapping[str, Mapping[str, Any]] = {**WELL_KNOWN_OBJECTS, **TLP1_DEFINITIONS}
FIXED_IDS = frozenset(FIXED_OBJECTS)

__all__ = [
    "FIXED_IDS",
    "TLP_BY_MARKING",
    "UNVERSIONED",
    "CheckRules",
    "NumberOutOfRange",
    "check_objects",
    "object_version",
    "tlp_of",
]


@dataclass(frozen=True)
class CheckRules:
    """What the checks need besides the object: the clock, the allowed future skew,
    and whether a number past 64 bits refuses the whole request (HTTP, see
    ``NumberOutOfRange``) or only its object (files the administrator loads)."""

    now_us: int
    max_future_skew_us: int = DEFAULT_MAX_FUTURE_SKEW_SECONDS * 1_000_000
    numbers_refuse_request: bool = False

    @classmethod
    def current(
        cls,
        max_future_skew_seconds: int = DEFAULT_MAX_FUTURE_SKEW_SECONDS,
        *,
        numbers_refuse_request: bool = False,
    ) -> CheckRules:
        return cls(now_us(), max_future_skew_seconds * 1_000_000, numbers_refuse_request)

    @property
    def latest_us(self) -> int:
        return self.now_us + self.max_future_skew_us


class ObjectRejected(ValueError):
    """One object failed a check; the message goes into the status resource."""


class NumberOutOfRange(Exception):
    """A number outside the signed 64-bit range, under rules that refuse the request for it.

    ``position`` is the object's index in the sequence ``check_objects`` was
    given; ``where`` the value's path inside the object (``.x_count``).
    """

    def __init__(self, where: str, position: int = 0) -> None:
        super().__init__(where)
        self.where = where
        self.position = position


def _label(obj: Mapping[str, Any], name: str, limit: int = 300) -> str:
    value = obj.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _timestamp(obj: Mapping[str, Any], name: str, rules: CheckRules) -> str | None:
    value = obj.get(name)
    if value is None and name not in obj:
        return None
    if not isinstance(value, str):
        raise ObjectRejected(f"{name} must be a STIX timestamp string")
    try:
        moment = stix_timestamp_us(value)
    except (ValueError, OverflowError):
        raise ObjectRejected(f"{name} {value[:60]!r} is not a STIX timestamp") from None
    if moment > rules.latest_us:
        raise ObjectRejected(
            f"{name} {value[:60]} is in the future (more than "
            f"{rules.max_future_skew_us // 1_000_000} s ahead of the server clock)"
        )
    return value


def object_version(obj: Mapping[str, Any]) -> str:
    """The TAXII version of an object: modified, else created, else UNVERSIONED."""
    for name in ("modified", "created"):
        value = obj.get(name)
        if isinstance(value, str):
            return value
    return UNVERSIONED


def _shown(path: JsonPath) -> str:
    return spell_path(path)[1:200]


_REFERENCE_SUFFIXES = ("_ref", "_refs")


def _check_values(obj: Mapping[str, Any], numbers_refuse_request: bool) -> ObjectRejected | None:
    """Every ``*_ref``/``*_refs`` at any depth is a canonical id; every number fits 64 bits.

    Returns the first problem found, for the caller to raise where the
    structural checks reach it. A number past 64 bits under
    ``numbers_refuse_request`` raises ``NumberOutOfRange`` at once; the walk
    then goes on past a bad reference (and into values under reference keys),
    because such a number anywhere refuses the whole request.

    One iterative walk, so the deepest document the JSON parser accepts cannot
    exhaust Python's stack; a value's path is spelled out only for an error.
    Objects and lists are walked by separate loops: only object keys can name
    references, and this walk visits every value of every POST.
    """
    problem: ObjectRejected | None = None
    pending: list[tuple[JsonPath, Any]] = [(None, obj)]
    while pending:
        path, value = pending.pop()
        if type(value) is dict:
            for key, item in value.items():
                kind = type(item)
                if type(key) is str and key.endswith(_REFERENCE_SUFFIXES):
                    if problem is None:
                        problem = _reference_problem((path, key), item, key[-1] == "s")
                        if problem is not None and not numbers_refuse_request:
                            return problem
                    if kind is dict or kind is list:
                        pending.append(((path, key), item))
                elif kind is dict or kind is list:
                    pending.append(((path, key), item))
                elif (kind is int or kind is float) and is_out_of_range(item):
                    return _out_of_range((path, key), numbers_refuse_request)
        else:
            for index, item in enumerate(value):
                kind = type(item)
                if kind is dict or kind is list:
                    pending.append(((path, index), item))
                elif (kind is int or kind is float) and is_out_of_range(item):
                    return _out_of_range((path, index), numbers_refuse_request)
    return problem


def _reference_problem(path: JsonPath, value: Any, is_list: bool) -> ObjectRejected | None:
    if not is_list:
        return _reference_value_problem(path, value)
    if type(value) is not list:
        return ObjectRejected(f"{_shown(path)} must be a list of STIX ids")
    for ref in value:
        problem = _reference_value_problem(path, ref)
        if problem is not None:
            return problem
    return None


def _reference_value_problem(path: JsonPath, value: Any) -> ObjectRejected | None:
    if not isinstance(value, str) or not is_stix_id(value):
        return ObjectRejected(f"{_shown(path)} must be a STIX id <type>--<lower-case uuid>")
    return None


def _out_of_range(path: JsonPath, refuse_request: bool) -> ObjectRejected:
    """The object's refusal for a number past 64 bits, or ``NumberOutOfRange`` raised."""
    if refuse_request:
        raise NumberOutOfRange(spell_path(path))
    return ObjectRejected(f"{_shown(path)}: a number outside the signed 64-bit range")


def _check_shape(
    obj: Mapping[str, Any], rules: CheckRules, values_problem: ObjectRejected | None
) -> tuple[str, str, str, str]:
    """Structural checks; returns (type, id, spec_version, version).

    ``values_problem`` is what the walk of every value found (``_check_values``):
    it is raised after the checks of the top-level fields, so an object with
    several problems is refused for the same one whatever the rules on numbers.
    """
    obj_type = obj.get("type")
    if not isinstance(obj_type, str) or not is_stix_type(obj_type):
        raise ObjectRejected("type is missing or not a STIX type name")
    stix_id = obj.get("id")
    if not isinstance(stix_id, str) or not is_stix_id(stix_id):
        raise ObjectRejected("id is missing or not of the form <type>--<lower-case uuid>")
    if stix_id.split("--", 1)[0] != obj_type:
        raise ObjectRejected(f"id {stix_id!r} does not start with its type {obj_type!r}")
    created = _timestamp(obj, "created", rules)
    modified = _timestamp(obj, "modified", rules)
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
    if values_problem is not None:
        raise values_problem
    creator = obj.get("created_by_ref", None)
    if "created_by_ref" in obj and (
        not isinstance(creator, str) or not creator.startswith("identity--")
    ):
        raise ObjectRejected("created_by_ref must be an identity--<uuid> reference")
    markings = obj.get("object_marking_refs", None)
    if "object_marking_refs" in obj and (
        not isinstance(markings, list)
        or not markings
        or not all(ref.startswith("marking-definition--") for ref in markings)
    ):
        raise ObjectRejected(
            "object_marking_refs must be a non-empty list of marking-definition ids"
        )
    granular = obj.get("granular_markings", None)
    if "granular_markings" in obj and (
        not isinstance(granular, list)
        or not all(
            isinstance(item, dict)
            and isinstance(item.get("marking_ref"), str)
            and item["marking_ref"].startswith("marking-definition--")
            for item in granular
        )
    ):
        raise ObjectRejected("granular_markings must name marking-definition ids in marking_ref")
    return obj_type, stix_id, SPEC_VERSION, object_version(obj)


def _check_policy(
    obj: Mapping[str, Any], collection: CollectionInfo, partner: Partner | None
) -> None:
    fixed = FIXED_OBJECTS.get(obj["id"])
    if fixed is not None and obj != fixed:
        raise ObjectRejected(f"{obj['id']} is a well-known object and must be posted unchanged")
    if fixed is None and declared_tlp(obj) is not None:
        raise ObjectRejected(
            "only the predefined TLP marking definitions may declare a TLP level; "
            "reference those instead"
        )
    creator = None if fixed is not None else obj.get("created_by_ref")
    if collection.enforce_provenance and partner is not None and fixed is None:
        if creator is None and "created" in obj and obj["type"] not in UNATTRIBUTED_TYPES:
            raise ObjectRejected(
                f"created_by_ref is required in this collection (your identity is "
                f"{partner.identity_ref})"
            )
        if creator is not None and creator != partner.identity_ref:
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


def _judge(
    obj: Any, collection: CollectionInfo, partner: Partner | None, rules: CheckRules
) -> IncomingObject | StatusDetail:
    """Accept one posted object (with its stored JSON text), or say why not.

    ``partner`` None is the administrator loading files from the command line;
    provenance then is not checked (the admin vouches for the file).
    """
    if not isinstance(obj, dict):
        return StatusDetail("", "", "not a JSON object")
    try:
        # Walked first, so that every object is searched for numbers past 64 bits.
        values_problem = _check_values(obj, rules.numbers_refuse_request)
        obj_type, stix_id, spec_version, version = _check_shape(obj, rules, values_problem)
        _check_policy(obj, collection, partner)
        try:
            body = orjson.dumps(obj).decode("utf-8")
        except orjson.JSONEncodeError:
            raise ObjectRejected("nested too deeply, or a number out of range, to store") from None
    except ObjectRejected as reason:
        return StatusDetail(
            _label(obj, "id"),
            _label(obj, "modified", 64) or _label(obj, "created", 64),
            str(reason),
        )
    # Fixed objects and observables (unversioned, content-derived ids) belong to nobody.
    owned = stix_id not in FIXED_IDS and version != UNVERSIONED
    return IncomingObject(stix_id, obj_type, version, spec_version, body, owned=owned)


def check_objects(
    objects: Sequence[Any],
    collection: CollectionInfo,
    partner: Partner | None,
    rules: CheckRules | None = None,
) -> tuple[list[IncomingObject], list[StatusDetail]]:
    """The objects accepted (with their stored JSON text) and the refusals, with reasons.

    Raises ``NumberOutOfRange`` when ``rules`` refuse the whole request for a
    number past 64 bits and an object holds one.
    """
    rules = rules or CheckRules.current()
    accepted: list[IncomingObject] = []
    rejected: list[StatusDetail] = []
    for position, obj in enumerate(objects):
        try:
            outcome = _judge(obj, collection, partner, rules)
        except NumberOutOfRange as found:
            found.position = position
            raise
        if isinstance(outcome, IncomingObject):
            accepted.append(outcome)
        else:
            rejected.append(outcome)
    return accepted, rejected
