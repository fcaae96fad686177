"""Hostile input against every endpoint: no 5xx, no leak, the server stays up, nothing lost.

A property-based fuzz drawn from docs/openapi.yaml (see ``fuzz_strategies``)
runs against a real server process (gunicorn, 2 workers x 2 threads) over
real HTTP, on SQLite and, with a smaller budget, PostgreSQL. Every answer is
held to the oracle in ``fuzz_http.problems``; every ``HEALTH_EVERY`` requests
and at the end a valid request must still succeed and the server process must
still be alive; at the end every version the owner stored before the fuzz
must be there unchanged, and the server log must hold no traceback.

Plain hypothesis, not schemathesis: most of what matters here lies outside
any schema (raw bytes in paths, lying Content-Length, invalid UTF-8, huge
headers, duplicate JSON keys), which needs a byte-level request writer and
oracle of our own anyway, and hypothesis is already a dependency. The
description still drives the fuzz: operations, parameters, example values,
patterns and the 2xx response schemas all come from it.

Determinism and budget: ``derandomize=True`` (the same requests every run),
``DX_FUZZ_BUDGET`` requests on SQLite (default 500) and
``DX_FUZZ_PG_BUDGET`` on PostgreSQL (default 150); ``DX_FUZZ_SEED=N`` swaps
the derandomized run for hypothesis seed N, to explore other requests. The figures go to stdout
(``pytest -s``) and to ``fuzz-summary-<backend>.json`` in pytest's temp
directory, or in ``$DX_FUZZ_SUMMARY_DIR`` if set.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from server.config import ServerConfig
from tests.reliability.fuzz_cases import EXPLICIT, with_credentials
from tests.reliability.fuzz_http import Answer, RawRequest, Tally, problems, send
from tests.reliability.fuzz_strategies import Known, fuzz_requests
from tests.reliability.fuzz_target import (
    COLLECTIONS,
    FUZZER,
    MAX_CONTENT_LENGTH,
    PARTNERS,
    Live,
    Snapshot,
    owner_data_intact,
    populate,
    snapshot,
)
from tests.support.server import TAXII, Served, basic, served

SQLITE_BUDGET = int(os.environ.get("DX_FUZZ_BUDGET", "500"))
PG_BUDGET = int(os.environ.get("DX_FUZZ_PG_BUDGET", "150"))
# A different seed explores other requests (for long runs); unset, the run is derandomized.
SEED = os.environ.get("DX_FUZZ_SEED")
HEALTH_EVERY = 25


def _unlimited_rates() -> dict[str, object]:
    """Switch off login and request rate limits where the server has them.

    They would turn most of the fuzz into 429s after a few dozen bad
    credentials and so hide every endpoint behind them; they are tested on
    their own elsewhere.
    """
    wanted = {
        "login_failures_per_partner": 0,
        "login_failures_per_address": 0,
        "request_rate_per_second": 1_000_000,
        "request_burst": 1_000_000,
    }
    return {k: v for k, v in wanted.items() if k in ServerConfig.model_fields}


@dataclass
class Target:
    backend: str
    running: Served
    live: Live
    before: Snapshot
    tally: Tally

    @property
    def known(self) -> Known:
        return Known(self.live)

    def check(self, request: RawRequest) -> Answer:
        request = with_credentials(request, basic(FUZZER, self.live.fuzzer_key).encode())
        started = time.monotonic()
        answer = send(self.running.server.port, request)
        self.tally.record(request, answer, time.monotonic() - started)
        found = problems(request, answer)
        assert not found, _describe(request, answer, found)
        if self.tally.requests % HEALTH_EVERY == 0:
            self.assert_healthy()
        return answer

    def assert_healthy(self) -> None:
        process = self.running.server._process
        assert process is not None and process.poll() is None, self.running.server.log()
        request = RawRequest(
            "GET",
            b"/taxii2/",
            (
                (b"Authorization", basic(FUZZER, self.live.fuzzer_key).encode()),
                (b"Accept", TAXII.encode()),
            ),
        )
        answer = send(self.running.server.port, request)
        self.tally.health_checks += 1
        assert answer.status == 200, (answer.status, answer.body[:300])


def _describe(request: RawRequest, answer: Answer, found: list[str]) -> str:
    return (
        f"{found}\n{request.method} {request.target[:300]!r}\n"
        f"headers: {[(k, v[:120]) for k, v in request.headers]}\n"
        f"body: {(request.body or b'')[:300]!r} ({len(request.body or b'')} bytes)\n"
        f"-> {answer.status} {answer.headers.get('content-type')} {answer.body[:500]!r}"
    )


def _target(tmp_path_factory, backend: str):
    directory = tmp_path_factory.mktemp(f"fuzz-{backend}")
    with served(
        directory,
        backend,
        COLLECTIONS,
        PARTNERS,
        max_content_length=MAX_CONTENT_LENGTH,
        **_unlimited_rates(),
    ) as running:
        live = populate(running)
        target = Target(backend, running, live, snapshot(running), Tally())
        yield target
        # Every check is done: SIGKILL spares the seconds gunicorn's master takes to exit.
        running.server.kill()
        log = running.server.log_path.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log, log[-5000:]


@pytest.fixture(scope="module")
def sqlite_target(tmp_path_factory):
    yield from _target(tmp_path_factory, "sqlite")


@pytest.fixture(scope="module")
def postgres_target(tmp_path_factory):
    yield from _target(tmp_path_factory, "postgres")


def _write_summary(target: Target, budget: int, seconds: float, tmp_root: Path) -> None:
    summary = {
        "backend": target.backend,
        "budget": budget,
        "seconds": round(seconds, 1),
        "owner_versions_checked": len(target.before),
        **target.tally.as_dict(),
    }
    directory = Path(os.environ.get("DX_FUZZ_SUMMARY_DIR") or tmp_root)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"fuzz-summary-{target.backend}.json"
    path.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    print(
        f"\nfuzz[{target.backend}]: {summary['requests']} requests "
        f"({summary['health_checks']} health checks, {len(target.before)} stored versions "
        f"checked) in {summary['seconds']} s; statuses {summary['statuses']}; summary in {path}"
    )


def _fuzz(target: Target, budget: int, tmp_root: Path) -> None:
    started = time.monotonic()

    @settings(
        max_examples=budget,
        derandomize=SEED is None,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(data=st.data())
    def one_request(data: st.DataObject) -> None:
        target.check(data.draw(fuzz_requests(target.known), label="request"))

    if SEED is not None:
        one_request = seed(int(SEED))(one_request)

    try:
        one_request()
    finally:
        _write_summary(target, budget, time.monotonic() - started, tmp_root)
    target.assert_healthy()
    lost = owner_data_intact(target.before, snapshot(target.running))
    assert not lost, lost
    assert target.tally.requests >= budget


def _time_limit(budget: int) -> pytest.MarkDecorator:
    """Room for long runs (DX_FUZZ_BUDGET=5000...) past the suite's 300 s per test."""
    return pytest.mark.timeout(max(300, budget))


@_time_limit(SQLITE_BUDGET)
def test_fuzz_every_endpoint_sqlite(sqlite_target, tmp_path_factory):
    _fuzz(sqlite_target, SQLITE_BUDGET, tmp_path_factory.getbasetemp())


@pytest.mark.postgres
@_time_limit(PG_BUDGET)
def test_fuzz_every_endpoint_postgres(postgres_target, tmp_path_factory):
    _fuzz(postgres_target, PG_BUDGET, tmp_path_factory.getbasetemp())


@pytest.mark.parametrize("case", EXPLICIT, ids=[case.label for case in EXPLICIT])
def test_explicit_hostile_request_sqlite(sqlite_target, case):
    sqlite_target.check(case)
    sqlite_target.assert_healthy()


@pytest.mark.postgres
@pytest.mark.parametrize("case", EXPLICIT, ids=[case.label for case in EXPLICIT])
def test_explicit_hostile_request_postgres(postgres_target, case):
    postgres_target.check(case)
    postgres_target.assert_healthy()


def test_owner_data_survives_the_explicit_cases(sqlite_target):
    lost = owner_data_intact(sqlite_target.before, snapshot(sqlite_target.running))
    assert not lost, lost
