"""Publishers and pollers for the scale tests, as partners run them: taxii2-client and ``dx poll``.

Both retry what a load balancer in front of restarting nodes produces (502,
503, 504, dropped or refused connections) and nothing else: anything else is
a failure the test must see. A publisher counts an envelope as acknowledged
only when the server's status says every object succeeded; it then repeats
nothing, and a retried envelope is safe because a version already stored is a
success. A poller follows ``next`` while the server says ``more``, then asks
for ``added_after`` = the last ``X-TAXII-Date-Added-Last`` it saw, as a
partner's sync loop does.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests
from taxii2client.v21 import Collection

from tests.support.server import REPO, indicator

T = TypeVar("T")

RETRIED_STATUSES = frozenset({502, 503, 504})
# Hang guard for one operation through every retry: nodes restart in seconds.
RETRY_HANG_GUARD_S = 120.0


def with_retries(what: str, call: Callable[[], T], counter: list[int] | None = None) -> T:
    """``call()`` until it succeeds; 502/503/504 and failed or cut-short connections are retried."""
    deadline = time.monotonic() + RETRY_HANG_GUARD_S
    while True:
        try:
            return call()
        except requests.HTTPError as error:
            status = error.response.status_code if error.response is not None else 0
            if status not in RETRIED_STATUSES:
                raise
            problem: str = f"HTTP {status}"
        except requests.exceptions.SSLError:
            raise  # a certificate problem is no outage: retrying would only hide it
        except requests.RequestException as error:
            # Refused, reset, timed out, or an answer cut short (the node died after
            # its headers: ChunkedEncodingError). Whether a cut-short POST was stored
            # is unknown, so it is sent again: a version already stored is a success.
            problem = type(error).__name__
        if counter is not None:
            counter[0] += 1
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still failing ({problem}) after the hang guard")
        time.sleep(0.05)  # a retry pause, as any client has; not synchronisation


def taxii_collection(url: str, partner_id: str, api_key: str, ca_file: Path) -> Collection:
    """taxii2-client trusting the test CA.

    ``requests`` lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE replace a session's
    ``verify`` (docs/server.md, "TLS"); the session ignores the environment so
    the CA given here is the one used, as on a partner's host without them.
    """
    collection = Collection(url, user=partner_id, password=api_key, verify=str(ca_file))
    collection._conn.session.trust_env = False
    return collection


@dataclass
class Publisher:
    """Publishes fresh indicators in envelopes of ``batch`` through taxii2-client."""

    collection: Collection
    identity: str
    batch: int = 5
    acknowledged: list[str] = field(default_factory=list)
    retries: list[int] = field(default_factory=lambda: [0])
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish_once(self) -> None:
        objects = [indicator(self.identity) for _ in range(self.batch)]
        status = with_retries(
            "publish",
            lambda: self.collection.add_objects({"objects": objects}, wait_for_completion=False),
            self.retries,
        )
        assert status.failure_count == 0, status.failures
        assert status.success_count == len(objects), status
        with self.lock:
            self.acknowledged.extend(obj["id"] for obj in objects)

    def run_until(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.publish_once()

    def count(self) -> int:
        with self.lock:
            return len(self.acknowledged)


@dataclass
class TaxiiPoller:
    """A partner's sync loop with taxii2-client: ``next`` while ``more``, then ``added_after``."""

    collection: Collection
    limit: int = 50
    received: list[tuple[str, str]] = field(default_factory=list)
    retries: list[int] = field(default_factory=lambda: [0])
    pages: int = 0
    added_after: str | None = None
    _headers: Any = None

    def __post_init__(self) -> None:
        self.collection._conn.session.hooks["response"].append(self._remember)

    def _remember(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        self._headers = response.headers

    def round(self) -> int:
        """Read until caught up (``more`` false); how many objects this round brought."""
        got = 0
        token: str | None = None
        while True:
            filters: dict[str, Any] = {"limit": self.limit}
            if token is not None:
                filters["next"] = token
            elif self.added_after is not None:
                filters["added_after"] = self.added_after
            envelope = with_retries(
                "poll", lambda f=filters: self.collection.get_objects(**f), self.retries
            )
            objects = envelope.get("objects") or []
            self.pages += 1
            self.received.extend((obj["id"], obj["modified"]) for obj in objects)
            got += len(objects)
            if objects:
                self.added_after = self._headers["X-TAXII-Date-Added-Last"]
            if not envelope.get("more"):
                return got
            token = envelope["next"]

    def run_until(self, stop: threading.Event) -> None:
        """Rounds until ``stop``, then one more: everything acknowledged before it is read."""
        while not stop.is_set():
            if self.round() == 0:
                stop.wait(0.1)  # the poll interval when caught up
        self.round()


def write_lab_config(
    directory: Path, api_root: str, partner_id: str, api_key: str, collection: str, ca: Path
) -> Path:
    """A consumer's lab.toml trusting the test CA (``verify_tls``, relative to the file)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "api.key").write_text(api_key + "\n", encoding="utf-8")
    (directory / "ca.pem").write_bytes(ca.read_bytes())
    config = directory / "lab.toml"
    config.write_text(
        "[server]\n"
        f'api_root = "{api_root}"\n'
        f'partner_id = "{partner_id}"\n'
        'api_key_file = "api.key"\n'
        f'collections = ["{collection}"]\n'
        "timeout_seconds = 20\n"
        'verify_tls = "ca.pem"\n'
        "[local]\n"
        'store = "feed.sqlite3"\n'
        'artifacts = "artifacts"\n',
        encoding="utf-8",
    )
    return config


def dx_poll_env() -> dict[str, str]:
    """The environment of a ``dx poll`` run, with a CA bundle variable that lacks the test CA.

    Many hosts set REQUESTS_CA_BUNDLE; the lab's ``verify_tls`` must win over it.
    """
    import certifi

    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
        "REQUESTS_CA_BUNDLE": certifi.where(),
    }


POLL_RETRIES = ("--attempts", "10", "--backoff", "0.2")


class FollowingDxPoll:
    """``dx poll --follow`` in the background, as its systemd unit runs it; SIGTERM ends it."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.log_path = config.parent / "poll.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> FollowingDxPoll:
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "exchange.commands.poll",
                    "--config",
                    str(self.config),
                    "--follow",
                    "--interval",
                    "0.5",
                    "--quiet",
                    *POLL_RETRIES,
                ],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dx_poll_env(),
                start_new_session=True,
            )
        return self

    def stop(self) -> int:
        """SIGTERM (finish the page in hand, exit 0); the exit status."""
        assert self._process is not None
        if self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGTERM)
        try:
            return self._process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=30)
            raise AssertionError(f"dx poll --follow ignored SIGTERM:\n{self.log()}") from None

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def dx_poll_once(config: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "exchange.commands.poll",
            "--config",
            str(config),
            "--once",
            "--quiet",
            *POLL_RETRIES,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=dx_poll_env(),
    )
    assert done.returncode == 0, f"dx poll --once exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done


def feed_store_versions(config: Path, collection: str) -> list[tuple[str, str]]:
    """(stix_id, version) of every version in a lab's local feed store, duplicates included."""
    with sqlite3.connect(config.parent / "feed.sqlite3") as conn:
        return conn.execute(
            "SELECT stix_id, version FROM object_versions WHERE collection = ?", (collection,)
        ).fetchall()


def wait_for(what: str, condition: Callable[[], bool], timeout_s: float = 120.0) -> None:
    """Until ``condition()`` holds; fails naming ``what`` after the hang guard."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"hang guard: {what} did not happen within {timeout_s} s")
        time.sleep(0.02)
