"""Value types shared by the store and the HTTP layer.

The HTTP layer (``server.taxii``) turns requests into these types and the
store (``server.store.sql``) answers with them, so neither knows the other's
internals. Timestamps that the store orders by are integers of microseconds
since the epoch (``date_added``) or fixed-width strings (``version_key``), which
sort the same way in SQLite and PostgreSQL and never lose precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class Tlp(IntEnum):
    """TLP 2.0 levels, ordered so that a collection cap is a simple comparison."""

    CLEAR = 0
    GREEN = 1
    AMBER = 2
    AMBER_STRICT = 3
    RED = 4


@dataclass(frozen=True)
class ApiRootInfo:
    name: str  # the path segment, e.g. "exchange" for /exchange/
    title: str
    description: str = ""
    versions: tuple[str, ...] = ("application/taxii+json;version=2.1",)
    max_content_length: int = 10 * 1024 * 1024


@dataclass(frozen=True)
class CollectionInfo:
    id: str  # a UUID string
    api_root: str
    title: str
    description: str = ""
    alias: str | None = None
    media_types: tuple[str, ...] = ("application/stix+json;version=2.1",)
    max_tlp: Tlp | None = None  # None: no cap
    enforce_provenance: bool = True  # created_by_ref must be the publisher's identity


@dataclass(frozen=True)
class Partner:
    id: str  # the HTTP Basic user name
    name: str
    identity_ref: str  # identity--<uuid> of the lab
    active: bool = True


@dataclass(frozen=True)
class Grant:
    can_read: bool
    can_write: bool


@dataclass(frozen=True)
class Position:
    """Where a page ended: the (date_added, seq) of its last row. Opaque to clients."""

    date_added_us: int
    seq: int


@dataclass(frozen=True)
class ObjectQuery:
    """Filters of the objects, manifest and versions endpoints, already validated.

    ``versions`` holds "first", "last", "all" and/or version keys (see
    ``version_key``); empty means the TAXII default, the latest version.
    ``spec_versions`` empty means the latest spec_version of each object.
    """

    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    spec_versions: tuple[str, ...] = ()
    added_after_us: int | None = None
    limit: int = 100
    after: Position | None = None


@dataclass(frozen=True)
class StoredVersion:
    """One stored object version. ``body`` is the STIX JSON text exactly as served."""

    stix_id: str
    version: str  # as the object states it (modified, else created, else date_added)
    date_added_us: int
    spec_version: str
    media_type: str = "application/stix+json;version=2.1"
    body: str | None = None  # None when only the manifest was asked for


@dataclass(frozen=True)
class Page:
    rows: list[StoredVersion]
    more: bool
    last: Position | None  # position of the last row, for the next cursor


@dataclass(frozen=True)
class IncomingObject:
    """An object of a POST that passed the HTTP layer's checks."""

    stix_id: str
    obj_type: str
    version: str
    spec_version: str
    body: str  # canonical JSON text to store and serve
    # Whether the id belongs to its first publisher exchange-wide (see ``owners``);
    # False for fixed well-known objects and unversioned observables.
    owned: bool = True


@dataclass(frozen=True)
class StatusDetail:
    id: str
    version: str
    message: str = ""


@dataclass
class StatusRecord:
    id: str
    api_root: str
    partner_id: str | None
    status: str  # "complete" or "pending"
    request_timestamp_us: int
    successes: list[StatusDetail] = field(default_factory=list)
    failures: list[StatusDetail] = field(default_factory=list)
    pendings: list[StatusDetail] = field(default_factory=list)

    @property
    def failure_count(self) -> int:
        return len(self.failures)

    @property
    def total_count(self) -> int:
        return len(self.successes) + self.failure_count + len(self.pendings)


@dataclass(frozen=True)
class DeleteResult:
    """What a DELETE matched: versions removed, and versions left because others published them.

    The HTTP layer answers 404 when both are 0 and 403 when only ``not_owned`` is.
    """

    deleted: int
    not_owned: int


@dataclass(frozen=True)
class PartnerGrant:
    """One row of the grants table, for listing in the administration commands."""

    partner_id: str
    collection_id: str
    can_read: bool
    can_write: bool


@dataclass(frozen=True)
class AuditEntry:
    """One administrative or publishing event, as recorded in the audit log."""

    seq: int
    at_us: int
    actor: str
    action: str
    target: str
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ImportSummary:
    """What ``Store.import_medallion`` created; a re-import of the same file adds zeros."""

    api_roots: int = 0
    collections: int = 0
    objects_added: int = 0
    objects_already_present: int = 0
    statuses_added: int = 0
    statuses_already_present: int = 0
