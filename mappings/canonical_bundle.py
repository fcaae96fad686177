"""Canonical bundle bytes built record by record, for batches too large to hold as dicts.

``bundle_json(records_to_bundle(records, producer))`` keeps every object of a
batch as a dict until the end: for 100,000 records that is ~870,000 dicts,
over a gigabyte, and on a virtual machine first-touching fresh memory is a
large share of the conversion time. ``CanonicalBundleBuilder`` serialises
each record's objects as soon as they are built, while they are still in the
processor's cache, appends the bytes to one growing buffer (one allocation
instead of one per object: per-object ``bytes`` fragmented the heap to about
five times their size) and keeps only (id, modified, offset) per object. At
``finish`` it adds the batch's shared and well-known objects and sorts by id;
the bundle is then written as slices of the buffer, never copied whole.

The bytes are identical to ``bundle_json(records_to_bundle(...))`` (a test
compares them, plain and pretty): both convert through ``BatchConverter`` and
write each object with orjson's sorted keys, and a bundle's own keys (``id``,
``objects``, ``type``) come in sorted order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from typing import Any, Final

import orjson

from mappings.convert import BatchConverter, Record, bundle_id_of, collector_paused
from mappings.producer import Producer

ObjectObserver = Callable[[dict[str, Any]], None]
"""Called with each object, as a dict, before it is serialised (e.g. to keep a sample
of each shape for validation); it must not change the object."""

_COMPACT: Final = orjson.OPT_SORT_KEYS
_PRETTY: Final = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2
_PRETTY_NEWLINE: Final = b"\n    "
"""A newline inside an object of an indented bundle: objects sit two levels deep."""
_OBJECTS_PER_CHUNK: Final = 2_000
"""Objects per piece ``CanonicalBundle.chunks`` yields (about a megabyte)."""


class CanonicalBundle:
    """A finished bundle: its id, its object count, and its bytes as slices of one buffer."""

    def __init__(
        self,
        bundle_id: str,
        buffer: bytearray,
        spans: list[tuple[int, int]],
        pretty: bool,
    ) -> None:
        self.bundle_id = bundle_id
        self.object_count = len(spans)
        self._buffer = buffer
        self._spans = spans
        self._pretty = pretty

    def chunks(self) -> Iterator[bytes | memoryview]:
        """The bundle's bytes in order; write them one after another (``writelines``)."""
        quoted_id = orjson.dumps(self.bundle_id)
        view = memoryview(self._buffer)
        if self._pretty:
            head, separator, tail = (
                b'{\n  "id": ' + quoted_id + b',\n  "objects": [' + _PRETTY_NEWLINE,
                b"," + _PRETTY_NEWLINE,
                b'\n  ],\n  "type": "bundle"\n}\n',
            )
        else:
            head, separator, tail = (
                b'{"id":' + quoted_id + b',"objects":[',
                b",",
                b'],"type":"bundle"}\n',
            )
        yield head
        spans = self._spans
        for first in range(0, len(spans), _OBJECTS_PER_CHUNK):
            if first:
                yield separator
            # One join per block of objects: writing ~900,000 small pieces one by
            # one cost more than building them.
            yield separator.join(
                [view[start:end] for start, end in spans[first : first + _OBJECTS_PER_CHUNK]]
            )
        yield tail

    @property
    def data(self) -> bytes:
        """The whole bundle as one ``bytes`` (a copy: prefer ``chunks`` for large ones)."""
        return b"".join(self.chunks())


class CanonicalBundleBuilder:
    """Serialises a batch's objects as its records are added; ``finish`` orders them.

    ``add`` raises ``MappingError`` for a record whose kind and key repeat an
    earlier one. One builder per batch; ``finish`` once, and nothing after it.
    """

    def __init__(
        self, producer: Producer, *, pretty: bool = False, observe: ObjectObserver | None = None
    ) -> None:
        self._producer = producer
        self._batch = BatchConverter(producer)
        self._pretty = pretty
        self._observe = observe
        self._buffer = bytearray()
        self._entries: list[tuple[str, str, int, int]] = []
        """(id, modified, start, end) of each object in ``_buffer``, in the order built."""
        self._finished = False

    def add(self, record: Record) -> None:
        """Convert and serialise one record. Pause the garbage collector around a loop
        of these (``collector_paused``, or ``add_all``): done here for each record,
        pausing and resuming cost as much as converting the smaller records."""
        self._check_open()
        self._serialise(self._batch.add(record))

    def add_all(self, records: Iterable[Record]) -> None:
        self._check_open()
        with collector_paused():
            add = self._batch.add
            for record in records:
                self._serialise(add(record))

    def finish(self) -> CanonicalBundle:
        """Every object sorted by id, and the bundle id over their versions."""
        self._check_open()
        self._finished = True
        with collector_paused():
            self._serialise(self._batch.finish())
            entries = self._entries
            entries.sort(key=itemgetter(0))  # ids are unique within one batch
            bundle_id = bundle_id_of(
                self._producer, map(itemgetter(0), entries), map(itemgetter(1), entries)
            )
            spans = list(map(itemgetter(2, 3), entries))
            self._entries = []
            return CanonicalBundle(bundle_id, self._buffer, spans, self._pretty)

    def _check_open(self) -> None:
        """A finished bundle shares this builder's buffer: it takes no more records."""
        if self._finished:
            raise RuntimeError("this bundle is finished; start a new CanonicalBundleBuilder")

    def _serialise(self, objects: list[dict[str, Any]]) -> None:
        dumps, observe, buffer, append = (
            orjson.dumps,
            self._observe,
            self._buffer,
            self._entries.append,
        )
        pretty = self._pretty
        option = _PRETTY if pretty else _COMPACT
        for obj in objects:
            if observe is not None:
                observe(obj)
            data = dumps(obj, option=option)
            if pretty:  # orjson escapes newlines inside strings: each b"\n" is layout
                data = data.replace(b"\n", _PRETTY_NEWLINE)
            start = len(buffer)
            buffer += data
            append((obj["id"], obj.get("modified", ""), start, start + len(data)))
