"""Feedback between labs: sightings from match reports, opinions, and the producer's view.

* ``read_matches`` + ``sightings_from_matches``: a ``dx match`` report
  (JSON Lines) becomes one ``sighting`` per matched shared object: count of
  distinct matching input lines, first and last seen, the best match
  confidence, and a one-line description of the rules that matched. The
  report names input files and lines; the sightings carry none of that.
  Matches of the lab's own objects are left out (a lab does not sight itself).
* ``latest_opinion``: the opinion this lab already published on some objects
  (fetched from the server), so re-running ``dx feedback opinion`` with the
  same words is a no-op and a changed mind becomes a new version.
* ``feedback_on_own_objects``: from the local store, who sighted this lab's
  objects and who agrees or disagrees with them (the producer's view after
  ``dx poll``).

The STIX objects themselves are built by ``mappings.feedback`` (pure).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import requests
from taxii2client.v21 import Collection

from exchange.errors import DEFAULT_MAX_ERRORS, ErrorCollector, InputError
from exchange.feed.client import TaxiiSession
from exchange.feed.store import FeedStore, StoredVersion
from exchange.readers.text import UnreadableInput, display_name, read_text
from mappings.feedback import DEFAULT_FEEDBACK_TLP, opinion_id, sighting_object
from mappings.producer import Producer
from mappings.records import Tlp
from mappings.timestamps import parse_stix_timestamp

_REQUIRED_MATCH_FIELDS = ("object_id", "seen_at", "rule", "file", "line")


@dataclass(frozen=True)
class MatchLine:
    """The parts of one ``dx match`` output line that a sighting needs."""

    object_id: str
    seen_at: datetime
    rule: str
    source: tuple[str, str, int]
    producer: str | None
    confidence: int | None
    similarity: float | None


class _BadMatch(ValueError):
    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _match_line(record: Any) -> MatchLine:
    if not isinstance(record, dict):
        raise _BadMatch(None, "expected a JSON object from dx match")
    for field_name in _REQUIRED_MATCH_FIELDS:
        if field_name not in record:
            raise _BadMatch(field_name, "missing")
    object_id = record["object_id"]
    if not isinstance(object_id, str) or "--" not in object_id:
        raise _BadMatch("object_id", "must be a STIX id")
    try:
        seen_at = parse_stix_timestamp(record["seen_at"])
    except (ValueError, TypeError):
        raise _BadMatch(
            "seen_at", "must be a STIX timestamp such as 2026-05-01T12:00:00Z"
        ) from None
    line = record["line"]
    if not isinstance(line, int) or isinstance(line, bool):
        raise _BadMatch("line", "must be an integer")
    confidence = record.get("confidence")
    if confidence is not None and (not isinstance(confidence, int) or not 0 <= confidence <= 100):
        raise _BadMatch("confidence", "must be an integer 0..100 or null")
    similarity = record.get("similarity")
    if similarity is not None and not isinstance(similarity, int | float):
        raise _BadMatch("similarity", "must be a number")
    producer = record.get("producer")
    return MatchLine(
        object_id=object_id,
        seen_at=seen_at,
        rule=str(record["rule"]),
        source=(str(record.get("input", "")), str(record["file"]), line),
        producer=producer if isinstance(producer, str) else None,
        confidence=confidence,
        similarity=None if similarity is None else float(similarity),
    )


def read_matches(path: Path, max_errors: int = DEFAULT_MAX_ERRORS) -> list[MatchLine]:
    """Every match of a ``dx match`` JSON Lines report; raises InputErrors (one line each)."""
    errors = ErrorCollector(max_errors)
    name = display_name(path)
    try:
        text = read_text(path)
    except UnreadableInput as exc:
        errors.add(exc.error)
        errors.raise_if_any()
        return []
    matches = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            matches.append(_match_line(orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            errors.add(InputError(name, number, None, f"not valid JSON: {exc}"))
        except _BadMatch as exc:
            errors.add(InputError(name, number, exc.field, exc.message))
        if errors.full:
            errors.truncated = True
            break
    errors.raise_if_any()
    return matches


@dataclass
class SightingPlan:
    """The sightings to publish and the matches left out (with why)."""

    sightings: list[dict[str, Any]] = field(default_factory=list)
    own_objects_skipped: int = 0


def _description(matches: Sequence[MatchLine], lines: int) -> str:
    rules = sorted({match.rule for match in matches})
    similarities = [m.similarity for m in matches if m.similarity is not None]
    best = f"; best similarity {max(similarities):.2f}" if similarities else ""
    noun = "input line" if lines == 1 else "input lines"
    return f"Matched locally by {', '.join(rules)} in {lines} {noun}{best}."


def sightings_from_matches(
    matches: Iterable[MatchLine], reporter: Producer, *, tlp: Tlp = DEFAULT_FEEDBACK_TLP
) -> SightingPlan:
    """One sighting per matched object (sorted by object id); own objects left out."""
    plan = SightingPlan()
    by_object: dict[str, list[MatchLine]] = defaultdict(list)
    for match in matches:
        if match.producer == reporter.identity_id:
            plan.own_objects_skipped += 1
            continue
        by_object[match.object_id].append(match)
    for object_id in sorted(by_object):
        group = by_object[object_id]
        lines = len({match.source for match in group})
        confidences = [m.confidence for m in group if m.confidence is not None]
        plan.sightings.append(
            sighting_object(
                reporter,
                object_id,
                count=lines,
                first_seen=min(match.seen_at for match in group),
                last_seen=max(match.seen_at for match in group),
                confidence=max(confidences) if confidences else None,
                description=_description(group, lines),
                tlp=tlp,
            )
        )
    return plan


def latest_opinion(
    session: TaxiiSession, collection: Collection, author: Producer, object_refs: Sequence[str]
) -> dict[str, Any] | None:
    """The author's current opinion on these objects as the server holds it, if any."""
    wanted = opinion_id(author, object_refs)

    def fetch() -> dict[str, Any] | None:
        try:
            return collection.get_object(wanted)
        except requests.HTTPError as error:
            if error.response is not None and error.response.status_code == 404:
                return None
            raise

    envelope = session.call(f"reading {wanted}", fetch)
    objects = (envelope or {}).get("objects") or []
    latest = [obj for obj in objects if isinstance(obj, dict) and obj.get("id") == wanted]
    if not latest:
        return None
    return max(latest, key=lambda obj: parse_stix_timestamp(str(obj.get("modified"))))


# -- the producer's view -------------------------------------------------------


@dataclass(frozen=True)
class FeedbackRow:
    """One sighting or opinion about one of this lab's objects."""

    object_id: str
    object_name: str | None
    feedback: str  # "sighting" or "opinion"
    feedback_id: str
    by: str | None
    by_name: str | None
    count: int | None = None
    first_seen: str | None = None
    last_seen: str | None = None
    opinion: str | None = None
    explanation: str | None = None
    confidence: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in vars(self).items() if value is not None}


def _refs(feedback: StoredVersion) -> list[str]:
    obj = feedback.obj
    if feedback.obj_type == "sighting":
        ref = obj.get("sighting_of_ref")
        return [ref] if isinstance(ref, str) else []
    refs = obj.get("object_refs")
    return [ref for ref in refs if isinstance(ref, str)] if isinstance(refs, list) else []


def feedback_on_own_objects(store: FeedStore, own_identity: str) -> list[FeedbackRow]:
    """Every current (latest, not revoked) sighting and opinion about an object this lab
    created, ordered by object, kind, author."""
    feedback = [v for v in store.latest_versions(["sighting", "opinion"]) if not v.revoked]
    referenced = {ref for item in feedback for ref in _refs(item)}
    targets = store.latest_by_id(referenced)
    names = {
        v.stix_id: str(v.obj.get("name"))
        for v in store.latest_versions(["identity"])
        if isinstance(v.obj.get("name"), str)
    }
    rows = []
    for item in feedback:
        author = item.created_by_ref
        for ref in _refs(item):
            target = targets.get(ref)
            if target is None or target.created_by_ref != own_identity:
                continue
            name = target.obj.get("name")
            common: dict[str, Any] = {
                "object_id": ref,
                "object_name": name if isinstance(name, str) else None,
                "feedback": item.obj_type,
                "feedback_id": item.stix_id,
                "by": author,
                "by_name": names.get(author or ""),
                "confidence": item.obj.get("confidence"),
            }
            if item.obj_type == "sighting":
                rows.append(
                    FeedbackRow(
                        **common,
                        count=item.obj.get("count"),
                        first_seen=item.obj.get("first_seen"),
                        last_seen=item.obj.get("last_seen"),
                    )
                )
            else:
                rows.append(
                    FeedbackRow(
                        **common,
                        opinion=item.obj.get("opinion"),
                        explanation=item.obj.get("explanation"),
                    )
                )
    rows.sort(key=lambda row: (row.object_id, row.feedback, row.by or "", row.feedback_id))
    return rows


def render_rows(rows: Sequence[FeedbackRow]) -> str:
    """Grouped by object: a heading line, then one indented line per sighting or opinion."""
    lines: list[str] = []
    current = None
    for row in rows:
        if row.object_id != current:
            current = row.object_id
            label = f" ({row.object_name})" if row.object_name else ""
            lines.append(f"{row.object_id}{label}")
        who = row.by_name or row.by or "unknown"
        if row.feedback == "sighting":
            times = f"{row.first_seen} .. {row.last_seen}" if row.first_seen else "no times"
            confidence = f", confidence {row.confidence}" if row.confidence is not None else ""
            lines.append(f"  sighted by {who}: {row.count} times, {times}{confidence}")
        else:
            because = f": {row.explanation}" if row.explanation else ""
            lines.append(f"  opinion of {who}: {row.opinion}{because}")
    return "\n".join(lines) + ("\n" if lines else "")
