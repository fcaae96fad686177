"""A publisher process for the crash test: POSTs tagged groups with taxii2-client until stopped.

Each POST carries one *group*: 1 to ``MAX_GROUP`` objects whose ``labels``
say ``crash-group:<id>`` and ``crash-size:<n>``, so anyone reading the
collection can tell whether it sees the whole POST or part of it. Some
objects of a group are new versions of objects this publisher stored
earlier, so the crash also hits the "demote the previous latest version" path.

Every attempt is written as one JSON line to ``--out``: ``ok`` (the status
said every object succeeded: those objects must survive any crash), or
``error`` (connection cut by the kill, or anything else: the outcome is
unknown, but must be all or nothing). Run as
``python -m tests.reliability.crash_publisher --help``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import orjson
from taxii2client.v21 import Collection

MAX_GROUP = 12
REVERSION_SHARE = 0.3
CREATED = "2026-01-01T00:00:00.000Z"
_BASE_MS = 1_767_225_600_000  # CREATED in milliseconds since the epoch


def _timestamp(offset_ms: int) -> str:
    """CREATED plus ``offset_ms``: a later ``modified`` for each new version."""
    seconds, millis = divmod(_BASE_MS + offset_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _indicator(stix_id: str, identity: str, modified: str, group: str, size: int) -> dict:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": stix_id,
        "created": CREATED,
        "modified": modified,
        "created_by_ref": identity,
        "name": f"crash test {group}",
        "labels": [f"crash-group:{group}", f"crash-size:{size}"],
        "pattern": "[ipv4-addr:value = '198.51.100.7']",
        "pattern_type": "stix",
        "valid_from": CREATED,
    }


class Publisher:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.stored_ids: list[str] = []
        self.version_counter = 0
        self.collection = Collection(
            args.collection_url,
            user=args.user,
            password=args.password,
            collection_info={
                "id": args.collection_url.rstrip("/").rsplit("/", 1)[-1],
                "title": "crash",
                "can_read": True,
                "can_write": True,
                "media_types": ["application/stix+json;version=2.1"],
            },
        )

    def next_group(self, number: int) -> tuple[str, list[dict]]:
        group = f"{self.args.user}-{number}"
        size = self.rng.randint(1, MAX_GROUP)
        reversions = [
            stix_id
            for stix_id in self.rng.sample(self.stored_ids, min(len(self.stored_ids), size))
            if self.rng.random() < REVERSION_SHARE
        ]
        ids = reversions + [f"indicator--{self._uuid()}" for _ in range(size - len(reversions))]
        objects = []
        for stix_id in ids:
            self.version_counter += 1
            modified = _timestamp(self.version_counter)
            objects.append(_indicator(stix_id, self.args.identity, modified, group, size))
        return group, objects

    def _uuid(self) -> str:
        value = self.rng.getrandbits(128)
        hexa = f"{value:032x}"
        return f"{hexa[:8]}-{hexa[8:12]}-4{hexa[13:16]}-a{hexa[17:20]}-{hexa[20:32]}"

    def post(self, group: str, objects: list[dict]) -> dict:
        started = time.time()
        entry: dict = {
            "group": group,
            "size": len(objects),
            "objects": [[o["id"], o["modified"]] for o in objects],
            "at": started,
        }
        try:
            status = self.collection.add_objects({"objects": objects}, wait_for_completion=False)
        except Exception as error:  # the kill cuts connections in every possible place
            entry.update(outcome="error", error=f"{type(error).__name__}: {error}"[:300])
            return entry
        if status.status == "complete" and status.success_count == len(objects):
            entry.update(outcome="ok", status_id=status.id)
            self.stored_ids.extend(o["id"] for o in objects if o["id"] not in self.stored_ids)
        else:
            entry.update(outcome="refused", status_id=status.id, failures=status.failures)
        return entry

    def run(self) -> None:
        stop = Path(self.args.stop_file)
        with open(self.args.out, "ab") as out:
            number = 0
            while not stop.exists():
                number += 1
                group, objects = self.next_group(number)
                entry = self.post(group, objects)
                out.write(orjson.dumps(entry) + b"\n")
                out.flush()
                if entry["outcome"] == "error":
                    time.sleep(0.1)  # the server is restarting; do not spin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collection-url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--identity", required=True, help="the partner's identity--<uuid>")
    parser.add_argument("--out", required=True, help="JSON lines, one per POST attempt")
    parser.add_argument("--stop-file", required=True, help="stop once this file exists")
    parser.add_argument("--seed", type=int, default=0)
    Publisher(parser.parse_args(argv)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
