"""Peak worker memory of hostile POST bodies (issue 12: memory per POST is bounded).

Starts a real server (one worker, two threads, SQLite) and posts bodies that
are cheap to send and expensive to parse, reading the worker's peak resident
memory (VmHWM) after each from /proc. Prints one line per body.

    python3 bench/post_memory.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.store.types import CollectionInfo
from tests.support.server import TAXII, PartnerSpec, basic, served

MIB = 1024 * 1024
BODIES = {
    "10 MiB of {} (3.5 million objects)": lambda: (
        b'{"objects":[' + b",".join([b"{}"] * (10 * MIB // 3 - 10)) + b"]}"
    ),
    "499,000 {} (under the container bound)": lambda: (
        b'{"objects":[' + b",".join([b"{}"] * 499_000) + b"]}"
    ),
    "10 MiB of 2-character strings": lambda: (
        b'{"objects":[{"x":[' + b",".join([b'"ab"'] * (10 * MIB // 5 - 10)) + b"]}]}"
    ),
}


def _worker_memory_mib(master_pid: int) -> tuple[int, int]:
    pids = subprocess.run(
        ["pgrep", "-P", str(master_pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    fields = {}
    for line in Path(f"/proc/{pids[0]}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value
    return int(fields["VmRSS"].split()[0]) // 1024, int(fields["VmHWM"].split()[0]) // 1024


def main() -> None:
    collection = str(uuid.uuid4())
    partner = PartnerSpec(
        "lab", "identity--aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa", {collection: (True, True)}
    )
    with (
        tempfile.TemporaryDirectory() as directory,
        served(
            Path(directory),
            "sqlite",
            [CollectionInfo(collection, "exchange", "Feed")],
            [partner],
            workers=1,
            threads=2,
        ) as server,
    ):
        master = server.server._process.pid
        rss, peak = _worker_memory_mib(master)
        print(f"idle worker: {rss} MiB resident, peak {peak} MiB")
        headers = {
            "Authorization": basic("lab", server.keys["lab"]),
            "Accept": TAXII,
            "Content-Type": TAXII,
        }
        url = f"{server.base_url}/exchange/collections/{collection}/objects/"
        for label, make in BODIES.items():
            body = make()
            answer = requests.post(url, data=body, headers=headers, timeout=300)
            rss, peak = _worker_memory_mib(master)
            print(
                f"{label}: {len(body) / MIB:.1f} MiB body -> {answer.status_code}; "
                f"worker peak so far {peak} MiB"
            )


if __name__ == "__main__":
    main()
