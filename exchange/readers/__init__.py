"""Readers for detection records: JSON, JSON Lines and CSV in, validated records out.

The public API::

    from exchange.readers import read_records, read_detections, InputFormat
    records = read_records(["lab-a/detections.jsonl"])      # raises InputErrors

Formats (``docs/formats.md`` has the details and examples):

* ``.json``: one record object, or an array of record objects;
* ``.jsonl`` / ``.ndjson``: one record object per line, blank lines ignored;
* ``.csv``: one record kind per file (``kind`` column or ``kind=``), nested
  fields flattened as described in ``exchange.readers.csv_layout``.

Every problem is reported as ``<file>:<line>: <field>: <message>`` and a
batch with any problem yields no records at all.
"""

from exchange.readers.batch import (
    LocatedRecord,
    iter_detections,
    read_detections,
    read_file_raw,
    read_records,
)
from exchange.readers.csv_layout import LAYOUTS, MODEL_BY_KIND, CsvLayout
from exchange.readers.formats import FORMAT_NAMES, InputFormat, format_for
from exchange.readers.raw import RawRecord
from exchange.readers.validation import Record, validate_raw

__all__ = [
    "FORMAT_NAMES",
    "LAYOUTS",
    "MODEL_BY_KIND",
    "CsvLayout",
    "InputFormat",
    "LocatedRecord",
    "RawRecord",
    "Record",
    "format_for",
    "iter_detections",
    "read_detections",
    "read_file_raw",
    "read_records",
    "validate_raw",
]
