"""This tree against another revision, interleaved, so the machine's load hits both alike.

    python3 bench/perf/compare.py --base REV [--backend postgres] [--objects 100000]

On a shared machine two benchmark runs made minutes apart measure two
different loads as much as two versions of the code. Here both versions run
at the same time, each a real server (``python -m server.wsgi``, 2 workers x 4
threads) over its own fresh database, and the client alternates between them
request by request, swapping which goes first each time:

* publish: the same envelopes (at most 10,000 objects, 10 MiB) POSTed to
  each; objects/s over the time spent in each side's POSTs;
* a full sync of each at ``limit`` 100 and at 1,000, page by page
  alternately; objects/s over each side's own request and parse time;
* first page, ``limit`` 100: median and p95 of 200 requests each.

The other revision comes from ``git archive REV`` into a temporary directory;
only its server runs from there, the client is this tree's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.perf.client import TaxiiClient, envelopes
from bench.perf.feed import BENCH_IDENTITY, SyntheticFeed
from bench.perf.servers import API_ROOT, MAX_CONTENT_LENGTH, PARTNER
from tests.support.server import ServerProcess, database, write_config

REPO = Path(__file__).resolve().parents[2]
SIDES = ("base", "this")
REPEATS = 200


@contextmanager
def _tree(revision: str) -> Iterator[Path]:
    """The repository at ``revision``, unpacked into a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="dx-compare-") as directory:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", revision], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", directory], input=archive, check=True)
        yield Path(directory)


@contextmanager
def _server(backend: str, tree: Path, directory: Path, name: str) -> Iterator[TaxiiClient]:
    """A fresh database and a server running ``tree``'s code over it."""
    collection = str(uuid.uuid4())
    with database(backend, directory / name) as url:
        keys = _seed_with(tree, url, collection)
        config = write_config(
            directory / f"{name}.toml",
            url,
            default_api_root=API_ROOT,
            workers=2,
            threads=4,
            access_log="",
        )
        # ``python -m`` puts the working directory first on sys.path: ``tree``'s code runs.
        process = ServerProcess(config, directory / f"{name}.log", cwd=tree).start()
        try:
            yield TaxiiClient(process.base_url, API_ROOT, collection, PARTNER, keys[PARTNER])
        finally:
            process.kill()


# Run by ``tree``'s own Python code: each side's database is migrated and seeded
# by the revision that serves it (an older server refuses a newer schema).
_SEED_SCRIPT = """
import json, sys
from server.store.types import CollectionInfo
from tests.support.server import PartnerSpec, seed
url, collection, partner, identity, api_root, max_length = sys.argv[1:]
keys = seed(
    url,
    api_root,
    [CollectionInfo(collection, api_root, "Benchmark feed")],
    [PartnerSpec(partner, identity, {collection: (True, True)})],
    max_content_length=int(max_length),
)
print(json.dumps(keys))
"""


def _seed_with(tree: Path, url: str, collection: str) -> dict[str, str]:
    """Migrate and seed ``url`` with ``tree``'s code; the partners' keys."""
    arguments = [url, collection, PARTNER, BENCH_IDENTITY, API_ROOT, str(MAX_CONTENT_LENGTH)]
    result = subprocess.run(
        [sys.executable, "-c", _SEED_SCRIPT, *arguments],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"seeding with {tree} failed:\n{result.stderr[-2000:]}")
    keys: dict[str, str] = orjson.loads(result.stdout.strip().splitlines()[-1])
    return keys


def _alternating(step: int) -> tuple[str, ...]:
    return SIDES if step % 2 == 0 else SIDES[::-1]


def publish(clients: dict[str, TaxiiClient], objects: int) -> dict[str, float]:
    spent = dict.fromkeys(SIDES, 0.0)
    for step, (body, _count) in enumerate(
        envelopes(SyntheticFeed(objects).objects(), MAX_CONTENT_LENGTH)
    ):
        for side in _alternating(step):
            answer = clients[side].post(body)
            if answer.status != 202 or answer.json().get("failure_count"):
                raise RuntimeError(f"{side}: POST answered {answer.status}: {answer.body[:300]!r}")
            spent[side] += answer.seconds
    return {side: objects / spent[side] for side in SIDES}


def sync(clients: dict[str, TaxiiClient], limit: int) -> dict[str, float]:
    spent = dict.fromkeys(SIDES, 0.0)
    received = dict.fromkeys(SIDES, 0)
    tokens: dict[str, str | None] = dict.fromkeys(SIDES)
    done: set[str] = set()
    step = 0
    while len(done) < len(SIDES):
        for side in _alternating(step):
            if side in done:
                continue
            params: dict[str, object] = {"limit": limit}
            if tokens[side]:
                params["next"] = tokens[side]
            started = time.perf_counter()
            answer = clients[side].objects(**params)
            page = orjson.loads(answer.body)
            spent[side] += time.perf_counter() - started
            received[side] += len(page.get("objects", []))
            tokens[side] = page.get("next")
            if not page.get("more"):
                done.add(side)
        step += 1
    if received["base"] != received["this"]:
        raise RuntimeError(f"the two syncs received different counts: {received}")
    return {side: received[side] / spent[side] for side in SIDES}


def first_pages(clients: dict[str, TaxiiClient]) -> dict[str, tuple[float, float]]:
    samples: dict[str, list[float]] = {side: [] for side in SIDES}
    for step in range(REPEATS):
        for side in _alternating(step):
            answer = clients[side].objects(limit=100)
            if answer.status != 200:
                raise RuntimeError(f"{side}: GET answered {answer.status}")
            samples[side].append(answer.seconds * 1000)
    result = {}
    for side, values in samples.items():
        ordered = sorted(values)
        result[side] = (statistics.median(ordered), ordered[round(0.95 * (len(ordered) - 1))])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--objects", type=int, default=100_000)
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    started = time.monotonic()
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dx-compare-")))
        trees = {"base": stack.enter_context(_tree(args.base)), "this": REPO}
        clients = {
            side: stack.enter_context(_server(args.backend, trees[side], directory, side))
            for side in SIDES
        }
        rates = {"publish, objects/s": publish(clients, args.objects)}
        rates["full sync (limit 100), objects/s"] = sync(clients, 100)
        rates["full sync (limit 1000), objects/s"] = sync(clients, 1000)
        pages = first_pages(clients)
    print(
        f"{args.backend}, N={args.objects:,}: base {args.base} vs this tree, interleaved; "
        f"{os.cpu_count()} CPUs, load average at start {load_at_start:.1f}, "
        f"{time.monotonic() - started:.0f} s"
    )
    print(f"| figure | {args.base} | this tree | this / base |")
    print("|---|---|---|---|")
    for label, values in rates.items():
        ratio = values["this"] / values["base"]
        print(f"| {label} | {values['base']:,.0f} | {values['this']:,.0f} | {ratio:.2f}x |")
    base, this = pages["base"], pages["this"]
    print(
        f"| first page, limit 100, ms median / p95 | {base[0]:.1f} / {base[1]:.1f} | "
        f"{this[0]:.1f} / {this[1]:.1f} | {this[0] / base[0]:.2f}x |"
    )


if __name__ == "__main__":
    main()
