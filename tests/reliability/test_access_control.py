"""Access control, proven over HTTP against gunicorn with several workers.

* API keys: 256 random bits each, and nothing but their SHA-256 in the database
  (read back from the database itself, every table and, for SQLite, the raw
  file bytes); the hashes are compared with ``hmac.compare_digest``.
* A rotated or revoked key is refused at once by every worker: many
  connections, warmed up before the change, all get 401 afterwards.
* Failed logins are limited per client address and per partner id with
  counters in the shared store: exactly ``limit`` failures get 401 however
  many workers the requests spread over, then 429 with ``Retry-After`` and a
  TAXII error body until the window ends, even with the right key.
* ``X-Forwarded-For`` is believed only from a trusted proxy.
* Per-partner request rates: 429 + ``Retry-After`` past the burst, other
  partners unaffected, per-partner overrides honoured.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from server.store import Store
from server.store.rate_limits import LoginLimits
from server.store.schema import metadata
from server.store.types import CollectionInfo
from tests.reliability.load_http import fan_out, get, session_from, statuses
from tests.support.server import (
    PartnerSpec,
    ServerProcess,
    assert_taxii_error,
    database,
    run_cli,
    seed,
    write_config,
)

COLLECTION = str(uuid.uuid4())
IDENTITIES = {p: f"identity--{uuid.uuid4()}" for p in ("pa", "pb", "pc")}
PARTNERS = [PartnerSpec(p, IDENTITIES[p], {COLLECTION: (True, True)}) for p in IDENTITIES]
KEY_ALPHABET = re.compile(r"[A-Za-z0-9_-]{43}")


def _start(
    directory: Path, url: str, workers: int = 4, extra_toml: str = "", **settings: object
) -> ServerProcess:
    """Seed, configure (``extra_toml`` for lists and tables) and start a server."""
    keys = seed(url, "exchange", [CollectionInfo(COLLECTION, "exchange", "C")], PARTNERS)
    config = write_config(directory / "server.toml", url, workers=workers, threads=2, **settings)
    config.write_text(config.read_text(encoding="utf-8") + extra_toml, encoding="utf-8")
    (directory / "keys.txt").write_text(
        "\n".join(f"{p} {k}" for p, k in keys.items()), encoding="utf-8"
    )
    return ServerProcess(config, directory / "server.log").start()


def _keys(directory: Path) -> dict[str, str]:
    lines = (directory / "keys.txt").read_text(encoding="utf-8").splitlines()
    return dict(line.split(" ", 1) for line in lines)


def _collections_url(server: ServerProcess) -> str:
    return f"{server.base_url}/exchange/collections/"


def _retry_after(response) -> int:
    assert_taxii_error(response, 429)
    value = int(response.headers["Retry-After"])
    assert value >= 1
    return value


# -- keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_keys_are_256_random_bits_stored_only_as_sha256(tmp_path, backend):
    with database(backend, tmp_path) as url:
        store = Store(url)
        store.migrate()
        keys = {f"lab-{n}": store.add_partner(f"lab-{n}", "L", IDENTITIES["pa"]) for n in range(40)}
        keys["lab-0"] = store.rotate_key("lab-0")
        cli_key = run_cli(
            "add-partner",
            "lab-cli",
            "--name",
            "CLI",
            "--identity",
            IDENTITIES["pb"],
            "--config",
            str(write_config(tmp_path / "cli.toml", url)),
        ).stdout.strip()
        keys["lab-cli"] = cli_key
        assert len(set(keys.values())) == len(keys)
        for key in keys.values():
            assert KEY_ALPHABET.fullmatch(key), key
            assert len(base64.urlsafe_b64decode(key + "=")) == 32  # 256 bits from secrets
        dumped = []
        with store._engine.connect() as connection:
            for table in metadata.sorted_tables:
                for row in connection.execute(select(table)):
                    dumped.append(repr(tuple(row)))
            hashes = dict(connection.execute(select(metadata.tables["partners"].c[0, 4])).all())
        store.close()
    everything = "\n".join(dumped)
    for partner_id, key in keys.items():
        assert key not in everything, f"{partner_id}'s key is stored in clear"
        assert hashes[partner_id] == hashlib.sha256(key.encode()).hexdigest()
    if backend == "sqlite":
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("exchange.sqlite3*"))
        assert raw, "no database file read"
        for key in keys.values():
            assert key.encode() not in raw
            assert hashlib.sha256(key.encode()).hexdigest().encode() in raw


def test_keys_are_compared_in_constant_time(tmp_path, monkeypatch):
    """Every key check goes through hmac.compare_digest on two 64-character digests."""
    import server.store.accounts as accounts

    calls: list[tuple[str, str]] = []
    real_compare = hmac.compare_digest

    def recording_compare(a, b):
        calls.append((a, b))
        return real_compare(a, b)

    with Store(f"sqlite:///{tmp_path / 'k.sqlite3'}") as store:
        store.migrate()
        key = store.add_partner("pa", "PA", IDENTITIES["pa"])
        monkeypatch.setattr(accounts.hmac, "compare_digest", recording_compare)
        limits = LoginLimits(per_partner=5, per_address=5, window_us=60_000_000)
        right = store.check_login("pa", key, "192.0.2.1", limits).partner
        wrong = store.check_login("pa", key[:-1] + ("A" if key[-1] != "A" else "B"), "x", limits)
        unknown = store.check_login("nobody", key, "192.0.2.1", limits).partner
        plain = store.authenticate("pa", key)
    assert right is not None and plain is not None
    assert wrong.partner is None and unknown is None
    assert len(calls) == 4
    for given, stored in calls:
        assert len(given) == len(stored) == 64
    assert calls[0] == (hashlib.sha256(key.encode()).hexdigest(),) * 2


# -- rotation and revocation --------------------------------------------------------------


def test_rotated_and_revoked_keys_fail_at_once_on_every_worker(tmp_path):
    # SQLite only, for CI time: the property is "no per-worker state", not the backend.
    with database("sqlite", tmp_path) as url:
        server = _start(tmp_path, url, login_failures_per_partner=0, login_failures_per_address=0)
        try:
            keys = _keys(tmp_path)
            config = ("--config", str(server.config_path))
            url_ = _collections_url(server)
            # Warm many kept-alive connections (spread over the 4 workers) with the old key.
            sessions = [session_from() for _ in range(16)]
            for session in sessions:
                assert get(session, url_, "pa", keys["pa"]).status_code == 200

            new_key = run_cli("rotate-key", "pa", *config).stdout.strip()
            old = [get(s, url_, "pa", keys["pa"]).status_code for s in sessions for _ in range(5)]
            fresh = statuses(fan_out(url_, [("pa", keys["pa"])] * 80))
            assert set(old) == {401} and fresh == {401: 80}, (old, fresh)
            assert {get(s, url_, "pa", new_key).status_code for s in sessions} == {200}

            run_cli("revoke", "pa", *config)
            revoked = [get(s, url_, "pa", new_key).status_code for s in sessions for _ in range(5)]
            fresh = statuses(fan_out(url_, [("pa", new_key)] * 80))
            assert set(revoked) == {401} and fresh == {401: 80}, (revoked, fresh)
            assert get(sessions[0], url_, "pb", keys["pb"]).status_code == 200
        finally:
            server.kill()  # stop() waits ~12 s for gunicorn; nothing here needs a clean exit


# -- failed logins ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_failed_logins_are_limited_per_address_across_workers(tmp_path, backend):
    limit, window = 12, 4
    with database(backend, tmp_path) as url:
        server = _start(
            tmp_path,
            url,
            login_failures_per_address=limit,
            login_failures_per_partner=0,
            login_failure_window_seconds=window,
        )
        try:
            keys = _keys(tmp_path)
            url_ = _collections_url(server)
            guesses = [(f"guess-{n}", "not-a-key") for n in range(4 * limit)]
            responses = fan_out(url_, guesses, threads=12)
            # Exactly `limit` failures were let through, however the requests spread over workers.
            assert statuses(responses) == {401: limit, 429: 3 * limit}, statuses(responses)
            waits = [_retry_after(r) for r in responses if r.status_code == 429]
            assert max(waits) <= window
            assert all(
                r.json()["error_code"] == "too-many-failed-logins"
                for r in responses
                if r.status_code == 429
            )
            # The right key from the blocked address is refused too; another address is not.
            blocked = get(session_from(), url_, "pa", keys["pa"])
            wait = _retry_after(blocked)
            assert get(session_from("127.0.0.2"), url_, "pa", keys["pa"]).status_code == 200
            time.sleep(wait + 0.2)
            assert get(session_from(), url_, "pa", keys["pa"]).status_code == 200
            # After the window a new allowance starts.
            again = statuses(fan_out(url_, guesses[: limit + 2], threads=4))
            assert again == {401: limit, 429: 2}, again
        finally:
            server.kill()  # stop() waits ~12 s for gunicorn; nothing here needs a clean exit


def test_failed_logins_are_limited_per_partner_id_from_any_address(tmp_path):
    limit, window = 5, 3
    with database("sqlite", tmp_path) as url:
        server = _start(
            tmp_path,
            url,
            login_failures_per_partner=limit,
            login_failures_per_address=0,
            login_failure_window_seconds=window,
        )
        try:
            keys = _keys(tmp_path)
            url_ = _collections_url(server)
            sources = [session_from(f"127.0.0.{n}") for n in range(2, 2 + 2 * limit)]
            codes = [get(s, url_, "pa", f"wrong-{n}", close=True) for n, s in enumerate(sources)]
            assert [r.status_code for r in codes] == [401] * limit + [429] * limit
            # Wrong keys from yet another address wait for the window to end, uncounted...
            wait = _retry_after(get(session_from("127.0.0.99"), url_, "pa", "wrong-again"))
            # ...but the right key still gets in: strangers who know a partner id must not be
            # able to lock the partner out of its own feed. Other partners are unaffected.
            assert get(session_from("127.0.0.99"), url_, "pa", keys["pa"]).status_code == 200
            assert get(session_from("127.0.0.99"), url_, "pb", keys["pb"]).status_code == 200
            time.sleep(wait + 0.2)
            assert get(session_from("127.0.0.99"), url_, "pa", "wrong-later").status_code == 401
        finally:
            server.kill()  # stop() waits ~12 s for gunicorn; nothing here needs a clean exit


@contextmanager
def _behind_trusted_proxy(
    tmp_path: Path, limit: int
) -> Iterator[tuple[dict[str, str], str, Callable[..., int]]]:
    """A server limiting failed logins per address, with 127.0.0.1 and 10/8 as trusted
    proxies: yields the keys, the collections URL and ``through_proxy(forwarded, key)``."""
    with database("sqlite", tmp_path) as url:
        server = _start(
            tmp_path,
            url,
            workers=2,
            login_failures_per_address=limit,
            login_failures_per_partner=0,
            extra_toml='trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]\n',
        )
        try:
            url_ = _collections_url(server)
            proxy = session_from("127.0.0.1")

            def through_proxy(forwarded: str, key: str = "wrong") -> int:
                return get(proxy, url_, "pa", key, forwarded_for=forwarded).status_code

            yield _keys(tmp_path), url_, through_proxy
        finally:
            server.kill()


def test_forwarded_for_is_believed_only_from_trusted_proxies(tmp_path):
    limit = 3
    with _behind_trusted_proxy(tmp_path, limit) as (keys, url_, through_proxy):
        # Behind the trusted proxy, each client address has its own allowance...
        assert [through_proxy("198.51.100.1") for _ in range(limit + 1)] == [401] * limit + [429]
        assert through_proxy("198.51.100.2") == 401
        assert through_proxy("198.51.100.2", keys["pa"]) == 200
        # ...the right-most untrusted hop is the client (a forged left part changes nothing)...
        assert through_proxy("203.0.113.7, 198.51.100.1, 10.1.2.3", keys["pa"]) == 429
        # ...but from an untrusted peer the header is ignored: spoofing does not escape.
        direct = session_from("127.0.0.3")
        spoofed = [
            get(direct, url_, "pa", "wrong", forwarded_for=f"192.0.2.{n}").status_code
            for n in range(limit + 2)
        ]
        assert spoofed == [401] * limit + [429, 429]
        assert get(direct, url_, "pa", keys["pa"], forwarded_for="192.0.2.200").status_code == 429


# -- request rates ------------------------------------------------------------------------------


def test_request_rate_is_limited_per_partner_with_overrides(tmp_path):
    rate, burst = 5, 10
    with database("sqlite", tmp_path) as url:
        server = _start(
            tmp_path,
            url,
            workers=2,
            request_rate_per_second=rate,
            request_burst=burst,
            extra_toml="[partner_request_rates]\npb = { per_second = 1000, burst = 1000 }\n",
        )
        try:
            keys = _keys(tmp_path)
            url_ = _collections_url(server)
            session = session_from()  # one kept-alive connection: one worker's bucket
            started = time.monotonic()
            answers = [get(session, url_, "pa", keys["pa"]) for _ in range(60)]
            elapsed = time.monotonic() - started
            codes = [a.status_code for a in answers]
            served = codes.count(200)
            assert codes[:burst] == [200] * burst
            assert served <= burst + rate * elapsed + 1, (served, elapsed)
            assert codes.count(429) == len(codes) - served > 0
            limited = next(a for a in answers if a.status_code == 429)
            assert _retry_after(limited) <= 1
            assert limited.json()["error_code"] == "too-many-requests"
            # Another partner, with its own higher limit, is not held back.
            other = session_from()
            assert {get(other, url_, "pb", keys["pb"]).status_code for _ in range(60)} == {200}
            time.sleep(1.0)
            assert get(session, url_, "pa", keys["pa"]).status_code == 200
        finally:
            server.kill()  # stop() waits ~12 s for gunicorn; nothing here needs a clean exit


# -- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("trusted_proxies = ['nope']\n", {}, "server.toml: trusted_proxies: "),
        ("", {"DX_TRUSTED_PROXIES": "10.0.0.1,bad"}, "trusted_proxies: "),
        ("tls_certfile = '/x.pem'\n", {}, "tls_certfile and tls_keyfile must be set together"),
        ("request_burst = 0\n", {}, "server.toml: request_burst: "),
        ("login_failures_per_address = -1\n", {}, "server.toml: login_failures_per_address: "),
        ("[partner_request_rates]\nlab = { per_second = 1 }\n", {}, "partner_request_rates"),
    ],
)
def test_access_settings_are_checked_with_one_line_errors(tmp_path, text, env, message):
    from server.config import ConfigError, load_config

    path = tmp_path / "server.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path, environ=env)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_trusted_proxies_come_from_the_environment_as_a_list(tmp_path):
    from server.config import load_config

    path = tmp_path / "server.toml"
    path.write_text("", encoding="utf-8")
    config = load_config(path, environ={"DX_TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16"})
    assert config.trusted_proxies == ["10.0.0.1", "192.168.0.0/16"]


def test_ipv6_clients_are_counted_by_their_64_prefix(tmp_path):
    """One subscriber holds a whole /64: each of its addresses must share one allowance."""
    limit = 3
    with _behind_trusted_proxy(tmp_path, limit) as (keys, _url, from_address):
        one_prefix = [from_address(f"2001:db8:0:1::{n:x}") for n in range(1, limit + 3)]
        assert one_prefix == [401] * limit + [429, 429]
        assert from_address("2001:db8:0:1:ffff::1", keys["pa"]) == 429
        assert from_address("2001:db8:0:2::1") == 401  # the next /64 has its own allowance
        assert from_address("192.0.2.1") == 401
