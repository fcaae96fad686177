"""What ``dx match`` pays to open its persistent prompt index, against the feed size.

    python bench/prompt_index_open.py              # 1,000 and 10,000 templates
    python bench/prompt_index_open.py --sizes 100000

For each size: a lab store holding that many ``containment-keyed`` indicators
(random signatures of 10-64 values; opening does not depend on their content)
is written through ``FeedStore.store_page`` in pages of 1,000, as ``dx poll``
does, with the index hook after each page. Then ``open_prompt_index`` (what
``dx match`` runs) is timed: median CPU seconds of 3. The one-time catch-up of
a store written by an older ``dx`` (``sync_prompt_index`` over all of it) is
timed too.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from exchange.feed.store import FeedStore, ReceivedVersion
from exchange.match.index import open_prompt_index, sync_prompt_index
from exchange.privacy import ConsortiumKey
from exchange.privacy.fingerprint import containment_fingerprint
from exchange.publish import serialise
from mappings.convert import records_to_objects
from mappings.producer import Producer
from mappings.records import PromptFingerprint

KEY = ConsortiumKey("bench-key", bytes(range(1, 33)))
AT = datetime(2026, 5, 1, tzinfo=UTC)


def records(count: int, seed: int) -> list[PromptFingerprint]:
    rng = random.Random(seed)
    out = []
    for number in range(count):
        values = sorted(rng.sample(range(1 << 32), rng.randint(10, 64)))
        out.append(
            PromptFingerprint.model_validate(
                {
                    "kind": "prompt-fingerprint",
                    "fingerprint_id": f"bench-{number}",
                    "scope": "user_prefix",
                    "normalization": "p2",
                    "fingerprints": [containment_fingerprint(values, KEY).to_dict()],
                    "sample_count": 24,
                    "distinct_accounts": 5,
                    "benign_fp_rate": 0.01,
                    "confidence": 80,
                    "updated": "2026-04-29T00:00:00Z",
                    "first_seen": "2026-04-01T00:00:00Z",
                    "last_seen": "2026-04-28T00:00:00Z",
                }
            )
        )
    return out


def fill(path: Path, objects: list[dict], hook: bool) -> None:
    with FeedStore(path) as store:
        for start in range(0, len(objects), 1000):
            page = objects[start : start + 1000]
            versions = [
                ReceivedVersion(
                    obj["id"],
                    serialise(obj).version or "1970-01-01T00:00:00.000Z",
                    f"2026-05-01T00:00:00.{start // 1000:03d}{index:03d}Z",
                    obj,
                )
                for index, obj in enumerate(page)
            ]
            store.store_page("http://bench/", "bench", versions, versions[-1].date_added)
            if hook:
                sync_prompt_index(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    args = parser.parse_args()
    print(f"{'templates':>10} {'open (dx match), s':>19} {'one-time catch-up, s':>21}")
    for size in (int(s) for s in args.sizes.split(",")):
        objects = records_to_objects(records(size, size), Producer("bench.example", "Bench"))
        with tempfile.TemporaryDirectory() as tmp:
            polled = Path(tmp) / "polled.sqlite3"
            fill(polled, objects, hook=True)
            opens = []
            for _ in range(3):
                start = time.process_time()
                index = open_prompt_index(polled, KEY, AT)
                opens.append(time.process_time() - start)
            assert len(index.containment_entries) == size
            old = Path(tmp) / "old.sqlite3"
            fill(old, objects, hook=False)
            with closing(sqlite3.connect(old)) as conn:
                conn.execute("DROP TABLE IF EXISTS prompt_match_entries")
            start = time.process_time()
            sync_prompt_index(old)
            catch_up = time.process_time() - start
        print(f"{size:>10} {statistics.median(opens):>19.3f} {catch_up:>21.3f}")


if __name__ == "__main__":
    main()
