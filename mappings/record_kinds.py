"""Every kind of detection record, declared once: the registry the rest derives from.

A record kind is its model (``mappings.records``; the model's ``kind``
literal is the kind's name, as written in JSON, in a CSV ``kind`` column and
after ``dx convert --kind``), the field holding its producer-scoped stable key
(the first CSV column, the duplicate check, the STIX ids), the ATLAS technique
its detections are evidence of, the extension definitions its objects use,
and the ``RecordWriter`` method that maps it to STIX.

The readers (CSV layouts, validation, duplicate keys), the converter and the
reverse mapping all read this registry, so a new kind is its model, its
``RecordWriter`` method and one ``register`` call here. Registration order is
the kinds' order wherever kinds are listed (help texts, summaries, the order
of records read back from STIX).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from mappings.names import (
    EXT_ACCOUNT_CLUSTER,
    EXT_FINGERPRINT_INDICATOR,
    EXT_IP_RANGE_INDICATOR,
    EXT_KEYED_IDENTIFIER,
    EXT_PROMPT_FINGERPRINT,
)
from mappings.records import AccountCluster, IpRange, PromptFingerprint

if TYPE_CHECKING:
    from mappings.record_objects import RecordWriter

ToStix = Callable[["RecordWriter", Any], list[dict[str, Any]]]


@dataclass(frozen=True)
class RecordKind:
    """One kind of detection record and everything the exchange needs to know of it."""

    model: type[BaseModel]
    key_field: str
    technique: str
    extensions: tuple[str, ...]
    to_stix: ToStix

    @property
    def name(self) -> str:
        """The kind's name, from the model's ``kind`` literal (declared there, once)."""
        return str(self.model.model_fields["kind"].default)

    def key(self, record: Any) -> str:
        """The producer-scoped stable key of ``record``."""
        return str(getattr(record, self.key_field))


RECORD_KINDS: dict[str, RecordKind] = {}
"""Kind name -> kind, in registration order."""


def register(kind: RecordKind) -> RecordKind:
    """Add ``kind`` to the registry; its name and key field must be new and real."""
    if kind.name in RECORD_KINDS:
        raise ValueError(f"record kind {kind.name!r} is already registered")
    if kind.key_field not in kind.model.model_fields:
        raise ValueError(f"record kind {kind.name!r}: no field {kind.key_field!r} to key it by")
    RECORD_KINDS[kind.name] = kind
    return kind


def kind_of(record: Any) -> RecordKind:
    """The registered kind of a record; KeyError for anything else."""
    return RECORD_KINDS[record.kind]


def record_key(record: Any) -> str:
    """The producer-scoped stable key of a record, whatever its kind."""
    return kind_of(record).key(record)


def kind_names() -> list[str]:
    """The registered kinds' names, in order."""
    return list(RECORD_KINDS)


register(
    RecordKind(
        model=AccountCluster,
        key_field="cluster_id",
        technique="AML.T0021",
        extensions=(EXT_ACCOUNT_CLUSTER, EXT_KEYED_IDENTIFIER),
        to_stix=lambda writer, record: writer.cluster(record),
    )
)
register(
    RecordKind(
        model=PromptFingerprint,
        key_field="fingerprint_id",
        technique="AML.T0065",
        extensions=(EXT_FINGERPRINT_INDICATOR, EXT_PROMPT_FINGERPRINT),
        to_stix=lambda writer, record: writer.fingerprint(record),
    )
)
register(
    RecordKind(
        model=IpRange,
        key_field="cidr",
        technique="AML.T0008.005",
        extensions=(EXT_IP_RANGE_INDICATOR,),
        to_stix=lambda writer, record: writer.ip_range(record),
    )
)
