"""Running real server processes for the HTTP tests, on SQLite or PostgreSQL.

Tests start ``python -m server.wsgi`` as a subprocess on a free port, exactly
as production does (gunicorn, several workers), wait until it answers, and
talk to it over HTTP. Databases are real: a SQLite file in the test's temp
directory, or a uniquely named PostgreSQL database created for the test module
and dropped afterwards.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import requests
from sqlalchemy.engine import make_url

from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
TAXII = "application/taxii+json;version=2.1"
PG_URL_ENV = "DX_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"
# Hang guard only: a server that has not bound its port by then is not going to.
START_TIMEOUT_S = 120.0

# The backends the HTTP tests run against (``pytest.mark.parametrize("backend", BACKENDS)``).
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def _admin_conninfo() -> tuple[str, object]:
    url = make_url(os.environ.get(PG_URL_ENV, DEFAULT_PG_URL))
    return url.render_as_string(hide_password=False).replace("+psycopg", ""), url


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database; dropped afterwards.

    PostgreSQL tests are never skipped silently: if the server is unreachable
    the test fails, unless DX_SKIP_PG=1 says to skip them.
    """
    conninfo, url = _admin_conninfo()
    try:
        admin = psycopg.connect(conninfo, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        if os.environ.get("DX_SKIP_PG") == "1":
            pytest.skip(f"PostgreSQL unreachable and DX_SKIP_PG=1: {error}")
        pytest.fail(f"PostgreSQL unreachable at {conninfo} (set DX_SKIP_PG=1 to skip): {error}")
    name = f"dx_test_http_{os.getpid()}_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield url.set(drivername="postgresql+psycopg", database=name).render_as_string(
                hide_password=False
            )
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database(backend: str, directory: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'exchange.sqlite3'}"
    else:
        with postgres_database() as url:
            yield url


def write_config(path: Path, database_url: str, **settings: object) -> Path:
    """A server config file; a fixed random secret unless the test passes one."""
    values: dict[str, object] = {
        "database_url": database_url,
        "cursor_secret": secrets.token_urlsafe(32),
        "port": free_port(),
        "workers": 2,
        "threads": 2,
        **settings,
    }
    lines = []
    for key, value in values.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, int):
            lines.append(f"{key} = {value}")
        else:
            lines.append(f'{key} = "{value}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def config_port(path: Path) -> int:
    import tomllib

    return int(tomllib.loads(path.read_text(encoding="utf-8"))["port"])


class ServerProcess:
    """``python -m server.wsgi --config FILE`` in its own process group."""

    def __init__(
        self,
        config_path: Path,
        log_path: Path,
        *,
        argv: list[str] | None = None,
        port: int | None = None,
        cwd: Path = REPO,
    ) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.port = port if port is not None else config_port(config_path)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.argv = argv or [sys.executable, "-m", "server.wsgi", "--config", str(config_path)]
        self.cwd = cwd
        self.verify: bool | str | Path = True  # TLS trust for the readiness probe
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def start(self) -> ServerProcess:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self._process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
        log.close()
        self._wait_until_ready()
        return self

    def listening(self) -> bool:
        """Whether this start's gunicorn has bound the port (its "Listening at" line)."""
        if not self.log_path.exists():
            return False
        with open(self.log_path, "rb") as log:
            log.seek(self._log_offset)
            return f"127.0.0.1:{self.port} (".encode() in log.read()

    def _wait_until_ready(self) -> None:
        """Ready when this process has bound the port and answers (a 401 without a key).

        Waiting on the log line, not only on an answer, means a port some
        other process took is an error, not a test talking to a stranger.
        """
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise AssertionError(f"server exited at start:\n{self.log()}")
            if self.listening():
                with suppress(requests.RequestException):
                    probe = requests.get(f"{self.base_url}/taxii2/", timeout=5, verify=self.verify)
                    if probe.status_code == 401:
                        return
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"server not ready after {START_TIMEOUT_S} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-5000:]

    def _signal(self, signum: int, wait_s: float) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
        try:
            process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def stop(self) -> None:
        """Gunicorn's quick shutdown (SIGINT): tests need not wait for idle keep-alives."""
        self._signal(signal.SIGINT, 15)

    def kill(self) -> None:
        """Abrupt stop, as in a crash: SIGKILL to master and workers."""
        self._signal(signal.SIGKILL, 10)


def basic(partner_id: str, api_key: str) -> str:
    return "Basic " + base64.b64encode(f"{partner_id}:{api_key}".encode()).decode()


@dataclass
class Client:
    """A partner's view of a server through ``requests`` (for raw status codes and headers)."""

    base_url: str
    partner_id: str
    api_key: str
    session: requests.Session = field(default_factory=requests.Session)

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": basic(self.partner_id, self.api_key), "Accept": TAXII, **extra}

    def get(self, path: str, params: object = None, **headers: str) -> requests.Response:
        return self.session.get(
            self.base_url + path, params=params, headers=self.headers(**headers), timeout=30
        )

    def post_objects(self, path: str, objects: list[dict]) -> requests.Response:
        import orjson

        return self.session.post(
            self.base_url + path,
            data=orjson.dumps({"objects": objects}),
            headers=self.headers(**{"Content-Type": TAXII}),
            timeout=60,
        )

    def delete(self, path: str, params: object = None) -> requests.Response:
        return self.session.delete(
            self.base_url + path, params=params, headers=self.headers(), timeout=30
        )


def new_id(stix_type: str) -> str:
    return f"{stix_type}--{uuid.uuid4()}"


def indicator(
    creator: str | None,
    *,
    stix_id: str | None = None,
    created: str = "2026-01-01T00:00:00Z",
    modified: str | None = None,
    marking: str | None = None,
    name: str = "proxy range",
) -> dict:
    obj = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": stix_id or new_id("indicator"),
        "created": created,
        "modified": modified or created,
        "name": name,
        "pattern": "[ipv4-addr:value ISSUBSET '203.0.113.0/24']",
        "pattern_type": "stix",
        "valid_from": created,
    }
    if creator is not None:
        obj["created_by_ref"] = creator
    if marking is not None:
        obj["object_marking_refs"] = [marking]
    return obj


def assert_taxii_error(response: requests.Response, status: int) -> dict:
    """The response has ``status``, the TAXII media type and a TAXII error body."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["Content-Type"] == TAXII
    body = response.json()
    assert isinstance(body.get("title"), str) and body["title"]
    assert body.get("http_status") == str(status)
    assert isinstance(body.get("description"), str) and body["description"]
    return body


@dataclass
class Served:
    """A running server over a seeded database."""

    server: ServerProcess
    database_url: str
    config_path: Path
    api_root: str
    keys: dict[str, str]

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def root_url(self) -> str:
        return f"{self.server.base_url}/{self.api_root}/"

    def collection_url(self, collection_id: str) -> str:
        return f"{self.root_url}collections/{collection_id}/"

    def client(self, partner_id: str) -> Client:
        return Client(self.base_url, partner_id, self.keys[partner_id])


@dataclass(frozen=True)
class PartnerSpec:
    id: str
    identity_ref: str
    grants: dict[str, tuple[bool, bool]]  # collection id -> (can_read, can_write)


def seed(
    database_url: str,
    api_root: str,
    collections: list[object],
    partners: list[PartnerSpec],
    max_content_length: int = 10 * 1024 * 1024,
) -> dict[str, str]:
    """Create the schema, API root, collections, partners and grants; return API keys."""
    from server.store import Store
    from server.store.types import ApiRootInfo

    store = Store(database_url)
    try:
        store.migrate()
        store.add_api_root(
            ApiRootInfo(api_root, f"{api_root} root", max_content_length=max_content_length)
        )
        for collection in collections:
            store.add_collection(collection)  # type: ignore[arg-type]
        keys = {}
        for partner in partners:
            keys[partner.id] = store.add_partner(
                partner.id, partner.id.upper(), partner.identity_ref
            )
            for collection_id, (can_read, can_write) in partner.grants.items():
                store.set_grant(partner.id, collection_id, can_read, can_write)
        return keys
    finally:
        store.close()


@contextmanager
def served(
    directory: Path,
    backend: str,
    collections: list[object],
    partners: list[PartnerSpec],
    *,
    api_root: str = "exchange",
    max_content_length: int = 10 * 1024 * 1024,
    **settings: object,
) -> Iterator[Served]:
    """Database + seed + config + running server; everything torn down afterwards."""
    with database(backend, directory) as url:
        keys = seed(url, api_root, collections, partners, max_content_length)
        config = write_config(directory / "server.toml", url, default_api_root=api_root, **settings)
        process = ServerProcess(config, directory / "server.log").start()
        try:
            yield Served(process, url, config, api_root, keys)
        finally:
            process.kill()  # teardown: a graceful stop only waits out keep-alives


def run_cli(*args: str, cwd: Path = REPO, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``python -m exchange.commands.server ARGS`` (the ``dx server`` group), as a user runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "exchange.commands.server", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, (
            f"{args}: {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result
