"""An incremental poller for the crash test: checks, while servers die, that no POST is torn.

It follows the collection as a lab would (``added_after`` = the last
``X-TAXII-Date-Added-Last`` it saw, every version), and each time it has
caught up (a page with ``more: false``) it checks that every group it has
seen any object of is complete (``crash-size`` objects). Why that is sound:
a POST's objects get consecutive date_added values under the collection
lock and commit together, so once any of them is visible, the whole group
is in every later snapshot, after the poller's cursor. A group seen in part
at that moment was half-committed.

It uses ``requests`` rather than taxii2-client because it needs the
``X-TAXII-Date-Added-Last`` header, which taxii2-client does not expose.
When the stop file appears it catches up one last time and writes what it
saw (``--out``, JSON): violations, every (id, version) per group, counts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson
import requests

TAXII = "application/taxii+json;version=2.1"
PAGE = 37  # small and odd, so page boundaries fall inside groups


class Poller:
    def __init__(self, args: argparse.Namespace) -> None:
        self.url = args.collection_url.rstrip("/") + "/objects/"
        self.session = requests.Session()
        self.session.auth = (args.user, args.password)
        self.session.headers["Accept"] = TAXII
        self.added_after: str | None = None
        self.seen: dict[str, set[tuple[str, str]]] = {}
        self.sizes: dict[str, int] = {}
        self.violations: dict[str, dict] = {}
        self.counts = {"requests": 0, "errors": 0, "caught_up": 0, "objects": 0}

    def _page(self) -> dict | None:
        params = {"match[version]": "all", "limit": PAGE}
        if self.added_after:
            params["added_after"] = self.added_after
        self.counts["requests"] += 1
        try:
            response = self.session.get(self.url, params=params, timeout=10)
        except requests.RequestException:
            self.counts["errors"] += 1
            return None
        if response.status_code != 200:
            self.counts["errors"] += 1
            return None
        page = response.json()
        last = response.headers.get("X-TAXII-Date-Added-Last")
        for obj in page.get("objects", []):
            self._note(obj)
        if last:
            self.added_after = last
        return page

    def _note(self, obj: dict) -> None:
        labels = dict(label.split(":", 1) for label in obj.get("labels", []) if ":" in label)
        group = labels.get("crash-group")
        if group is None:
            return
        self.sizes[group] = int(labels["crash-size"])
        self.seen.setdefault(group, set()).add((obj["id"], obj["modified"]))
        self.counts["objects"] += 1

    def catch_up(self) -> bool:
        """Read until ``more`` is false, then check groups; False if the server did not answer."""
        while True:
            page = self._page()
            if page is None:
                return False
            if not page.get("more"):
                break
        self.counts["caught_up"] += 1
        for group, keys in self.seen.items():
            if len(keys) != self.sizes[group] and group not in self.violations:
                self.violations[group] = {
                    "seen": len(keys),
                    "size": self.sizes[group],
                    "at": time.time(),
                }
        return True

    def report(self) -> dict:
        return {
            "violations": self.violations,
            "groups": {group: sorted(keys) for group, keys in self.seen.items()},
            "counts": self.counts,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collection-url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--out", required=True, help="JSON report written at the end")
    parser.add_argument("--stop-file", required=True, help="catch up once more, then stop")
    args = parser.parse_args(argv)
    poller = Poller(args)
    stop = Path(args.stop_file)
    while not stop.exists():
        if not poller.catch_up():
            time.sleep(0.1)  # the server is restarting
    deadline = time.monotonic() + 180  # hang guard for a busy machine
    while not poller.catch_up():
        if time.monotonic() > deadline:
            return 1
        time.sleep(0.1)
    Path(args.out).write_bytes(orjson.dumps(poller.report()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
