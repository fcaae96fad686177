"""Several server nodes behind nginx with TLS, on a test-owned PostgreSQL primary and replica.

The scale-out deployment of docs/server.md ("Several nodes behind nginx"),
started on this machine the way separate hosts would run it:

* a PostgreSQL **primary** cluster made with ``initdb`` in a temporary
  directory, on its own port (replication allowed from 127.0.0.1), and
  optionally a streaming **replica** made from it with ``pg_basebackup -R``;
  both are the test's own, so a test may pause replay or stop the primary
  without disturbing the machine's PostgreSQL at 5432 (whose ``pg_hba.conf``
  allows no replication anyway);
* N server **nodes**, each ``python -m server.wsgi`` (``dx server serve``) in
  its own process group on its own port, sharing one database and one
  ``cursor_secret`` (so a ``next`` token made by one node is honoured by any);
* **nginx** (Debian's ``/usr/sbin/nginx``, in the foreground, with its own
  prefix, pid file and logs under the test's directory) rendering exactly
  ``deploy/nginx/dx-exchange.conf``, terminating TLS with a test CA.

Use::

    from tests.support.topology import topology, require_topology_tools

    require_topology_tools()                     # fails without nginx or PostgreSQL binaries
    with topology(tmp_path, nodes=3, partners=[PartnerSpec(...)], collections=[info]) as t:
        t.base_url                               # "https://127.0.0.1:PORT/" (nginx)
        t.api_root_url                           # base_url + "exchange/"
        t.collection_url(collection_id)          # api_root_url + "collections/ID/"
        t.ca_file                                # the CA to trust: verify=t.ca_file
        t.keys["lab-a"]                          # API keys of the seeded partners
        t.add_partner(PartnerSpec(...))          # one more partner, returns its key
        t.nodes[0].url                           # "http://127.0.0.1:NODE_PORT" (a node directly)
        t.kill_node(1); t.restart_node(1)        # SIGKILL the node's process group; same port again
        t.primary.sql("SELECT count(*) FROM objects")   # rows, on the primary
        t.primary.stop("fast"); t.primary.start()       # the database away, and back
        t.replica.sql("SELECT pg_wal_replay_pause()")   # with replica=True
        t.wait_replica_caught_up()
        t.nginx.access_log()                     # nginx's log: upstream=, request_id= per request

``replica=True`` makes the streaming replica; ``read_from_replica=True`` also
points every node's ``replica_database_url`` at it (the node serves TAXII
reads from the replica and writes to the primary). ``workers`` and
``threads`` size each node (2 x 2 by default); ``node_settings`` are extra
server config keys (scalars) for every node. Everything is stopped on exit:
nodes by SIGKILL to their process groups, nginx by SIGTERM (then SIGKILL),
clusters by ``pg_ctl stop -m immediate``, and the clusters' directory
removed.

Start-up waits on observed readiness (``pg_ctl -w``, gunicorn's "Listening
at" line and a 401 from each node, nginx answering through TLS), with
generous hang guards for a busy machine.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from tests.support.ports import free_port
from tests.support.server import REPO, PartnerSpec, ServerProcess, seed, write_config
from tests.support.tls import make_ca_and_server_cert

NGINX = Path("/usr/sbin/nginx")
NGINX_TEMPLATE = REPO / "deploy" / "nginx" / "dx-exchange.conf"
API_ROOT = "exchange"
DATABASE = "dx"
# Hang guards only: each wait ends as soon as the thing waited for is observed.
PG_START_TIMEOUT_S = 120
NGINX_START_TIMEOUT_S = 60.0
REPLICA_CATCH_UP_TIMEOUT_S = 120.0


def postgres_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's binaries (Debian: /usr/lib/postgresql/VERSION/bin)."""
    found = [
        path.parent
        for path in Path("/usr/lib/postgresql").glob("*/bin/initdb")
        if path.parent.name == "bin"
    ]
    if not found:
        return None
    return max(found, key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0)


def require_topology_tools() -> None:
    """Fail the calling test, saying what to install, without nginx or PostgreSQL's binaries.

    Like the console's browser, the scale tests are skipped nowhere by default:
    a CI machine missing a package must fail, not pass with fewer tests. A
    machine without PostgreSQL skips them with ``DX_SKIP_PG=1``, as it skips
    the other PostgreSQL tests.
    """
    missing = None
    if not os.access(NGINX, os.X_OK):
        missing = f"{NGINX} not installed (Debian's nginx package; .ci/run installs it)"
    elif postgres_bin_dir() is None:
        missing = "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
    elif os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing = "running as root without a postgres user to own the test clusters"
    if missing is None:
        return
    if os.environ.get("DX_SKIP_PG") == "1":
        pytest.skip(f"{missing}; DX_SKIP_PG=1")
    pytest.fail(f"{missing} (set DX_SKIP_PG=1 to skip the scale tests)")


def _as_cluster_owner(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its tools as the postgres user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _run(argv: list[str], what: str, timeout: float = 180) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd="/")
    if done.returncode != 0:
        raise AssertionError(f"{what} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


@dataclass
class PgCluster:
    """One test-owned PostgreSQL cluster (primary or replica) on its own port."""

    bin_dir: Path
    data_dir: Path
    port: int

    @property
    def admin_conninfo(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def database_url(self, database: str = DATABASE) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def conninfo(self, database: str = DATABASE) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def tool(self, name: str, *args: str) -> list[str]:
        return _as_cluster_owner([str(self.bin_dir / name), *args])

    def start(self) -> None:
        """Start and wait until it accepts connections (``pg_ctl -w``; a hang guard of 120 s)."""
        log = self.data_dir.parent / f"{self.data_dir.name}.log"
        _run(
            self.tool(
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-l",
                str(log),
                "-w",
                "-t",
                str(PG_START_TIMEOUT_S),
                "start",
            ),
            f"pg_ctl start {self.data_dir.name}",
            timeout=PG_START_TIMEOUT_S + 30,
        )

    def stop(self, mode: str = "immediate") -> None:
        """Stop (``immediate`` by default: tests need not wait for a checkpoint)."""
        subprocess.run(
            self.tool("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop"),
            capture_output=True,
            timeout=120,
            cwd="/",
        )

    def sql(self, statement: str, params: Sequence[object] = (), database: str = DATABASE):
        """Run one statement in autocommit; the rows it returns (empty list if none)."""
        with psycopg.connect(self.conninfo(database), autocommit=True, connect_timeout=10) as conn:
            cursor = conn.execute(statement, params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []


def _make_primary(bin_dir: Path, directory: Path) -> PgCluster:
    cluster = PgCluster(bin_dir, directory / "primary", free_port())
    _run(
        cluster.tool(
            "initdb",
            "-D",
            str(cluster.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ),
        "initdb",
    )
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(cluster.port),
        "unix_socket_directories": f"'{directory}'",
        "max_connections": "300",
        "shared_buffers": "64MB",
        "wal_level": "replica",
        "max_wal_senders": "5",
        "hot_standby": "on",
        # The test never crashes the machine, only processes: skip the disk flushes.
        "fsync": "off",
        "full_page_writes": "off",
        "logging_collector": "off",
    }
    with open(cluster.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
        conf.write("".join(f"{key} = {value}\n" for key, value in settings.items()))
    (cluster.data_dir / "pg_hba.conf").write_text(
        "local all all trust\n"
        "host all all 127.0.0.1/32 trust\n"
        "host replication all 127.0.0.1/32 trust\n",
        encoding="utf-8",
    )
    cluster.start()
    with psycopg.connect(cluster.admin_conninfo, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    return cluster


def _make_replica(primary: PgCluster, directory: Path) -> PgCluster:
    """A streaming replica of ``primary`` (``pg_basebackup -R`` writes its primary_conninfo)."""
    replica = PgCluster(primary.bin_dir, directory / "replica", free_port())
    _run(
        primary.tool(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "postgres",
            "-D",
            str(replica.data_dir),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        ),
        "pg_basebackup",
    )
    with open(replica.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
        conf.write(f"port = {replica.port}\n")
    replica.start()
    return replica


@dataclass
class Node:
    """One server node: its config, its process, its URL (plain HTTP, as nginx reaches it)."""

    index: int
    config_path: Path
    process: ServerProcess

    @property
    def port(self) -> int:
        return self.process.port

    @property
    def url(self) -> str:
        return self.process.base_url


@dataclass
class Nginx:
    """nginx in the foreground (``daemon off``) with its own prefix, config, pid and logs."""

    prefix: Path
    port: int
    ca_file: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/"

    def start(self) -> None:
        log = open(self.prefix / "nginx.out", "ab")  # noqa: SIM115 - closed below
        try:
            self.process = subprocess.Popen(
                [
                    str(NGINX),
                    "-p",
                    str(self.prefix),
                    "-c",
                    str(self.prefix / "nginx.conf"),
                    "-e",
                    str(self.prefix / "error.log"),
                    "-g",
                    "daemon off;",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.prefix,
            )
        finally:
            log.close()
        deadline = time.monotonic() + NGINX_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"nginx exited at start:\n{self.log()}")
            with suppress(requests.RequestException):
                # Through TLS to a node: 401 without credentials proves the whole path.
                probe = requests.get(self.base_url + "taxii2/", timeout=5, verify=self.ca_file)
                if probe.status_code == 401:
                    return
            time.sleep(0.05)
        raise AssertionError(f"nginx not answering after {NGINX_START_TIMEOUT_S} s:\n{self.log()}")

    def log(self) -> str:
        parts = []
        for name in ("nginx.out", "error.log"):
            path = self.prefix / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-3000:])
        return "\n".join(parts)

    def access_log(self) -> str:
        path = self.prefix / "logs" / "dx-exchange.access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """SIGTERM (nginx's fast shutdown: the master reaps its worker), SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=15)
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(timeout=30)


def render_nginx_site(
    template: str,
    *,
    nodes: Sequence[str],
    listen: str,
    server_name: str,
    cert: Path,
    key: Path,
    log_dir: Path,
) -> str:
    """``deploy/nginx/dx-exchange.conf`` with its @...@ values filled in; @NODE@ lines repeat."""
    lines = []
    for line in template.splitlines():
        if "@NODE@" in line:
            lines.extend(line.replace("@NODE@", node) for node in nodes)
        else:
            lines.append(line)
    text = "\n".join(lines) + "\n"
    for marker, value in (
        ("@LISTEN@", listen),
        ("@SERVER_NAME@", server_name),
        ("@CERT@", str(cert)),
        ("@KEY@", str(key)),
        ("@LOG_DIR@", str(log_dir)),
    ):
        text = text.replace(marker, value)
    leftover = re.findall(r"@[A-Z_]+@", text)
    assert not leftover, f"unrendered values in {NGINX_TEMPLATE}: {leftover}"
    return text


def _nginx_main_conf(prefix: Path, site: Path) -> str:
    """The minimal nginx.conf around the site file: every path under ``prefix``."""
    temp = {name: prefix / "temp" / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(parents=True, exist_ok=True)
    # As root, nginx would switch its workers to `nobody`, who cannot read the test's files.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\n"
        f"pid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} notice;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"    client_body_temp_path {temp['body']};\n"
        f"    proxy_temp_path {temp['proxy']};\n"
        f"    fastcgi_temp_path {temp['fastcgi']};\n"
        f"    uwsgi_temp_path {temp['uwsgi']};\n"
        f"    scgi_temp_path {temp['scgi']};\n"
        f"    access_log {prefix / 'logs' / 'other.access.log'};\n"
        f"    include {site};\n"
        "}\n"
    )


@dataclass
class Topology:
    """A running topology; see the module docstring for the API."""

    directory: Path
    primary: PgCluster
    replica: PgCluster | None
    nodes: list[Node]
    nginx: Nginx
    keys: dict[str, str]
    cursor_secret: str
    node_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return self.nginx.base_url

    @property
    def api_root_url(self) -> str:
        return f"{self.base_url}{API_ROOT}/"

    @property
    def ca_file(self) -> Path:
        return self.nginx.ca_file

    @property
    def database_url(self) -> str:
        """The primary's database (what every node writes to)."""
        return self.primary.database_url()

    def collection_url(self, collection_id: str) -> str:
        return f"{self.api_root_url}collections/{collection_id}/"

    def add_partner(self, partner: PartnerSpec) -> str:
        """Create a partner with its grants on the primary; its API key (also in ``keys``)."""
        from server.store import Store

        store = Store(self.database_url)
        try:
            key = store.add_partner(partner.id, partner.id.upper(), partner.identity_ref)
            for collection_id, (can_read, can_write) in partner.grants.items():
                store.set_grant(partner.id, collection_id, can_read, can_write)
        finally:
            store.close()
        self.keys[partner.id] = key
        return key

    def kill_node(self, index: int) -> None:
        """SIGKILL the node's gunicorn master and workers (its process group), as a crash."""
        with self.node_lock:
            self.nodes[index].process.kill()

    def restart_node(self, index: int) -> None:
        """Start the node again on the same port; returns once it answers."""
        with self.node_lock:
            self.nodes[index].process.start()

    def wait_replica_caught_up(self) -> None:
        """Until the replica has replayed everything the primary has written so far."""
        assert self.replica is not None, "topology started without replica=True"
        (target,) = self.primary.sql("SELECT pg_current_wal_lsn()::text")[0]
        deadline = time.monotonic() + REPLICA_CATCH_UP_TIMEOUT_S
        while time.monotonic() < deadline:
            rows = self.replica.sql(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,), database="postgres"
            )
            if rows[0][0]:
                return
            time.sleep(0.05)
        raise AssertionError(f"replica did not replay up to {target} within the hang guard")


def _start_nodes(nodes: list[Node]) -> None:
    """Start every node at once (each waits for its own readiness); fail if any failed."""
    errors: list[BaseException] = []

    def start(node: Node) -> None:
        try:
            node.process.start()
        except BaseException as error:  # re-raised in the caller's thread
            errors.append(error)

    threads = [threading.Thread(target=start, args=(node,)) for node in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


@contextmanager
def topology(
    directory: Path,
    *,
    nodes: int = 3,
    partners: Sequence[PartnerSpec] = (),
    collections: Sequence[object] = (),
    replica: bool = False,
    read_from_replica: bool = False,
    workers: int = 2,
    threads: int = 2,
    node_settings: dict[str, Any] | None = None,
) -> Iterator[Topology]:
    """Start primary (+ replica), seed, start ``nodes`` nodes and nginx; stop everything after."""
    require_topology_tools()
    bin_dir = postgres_bin_dir()
    assert bin_dir is not None
    directory.mkdir(parents=True, exist_ok=True)
    # The clusters live where the postgres user can reach (pytest's tmp_path is 0700 root).
    pg_directory = Path(tempfile.mkdtemp(prefix="dx-pg-"))
    if os.geteuid() == 0:
        shutil.chown(pg_directory, "postgres", "postgres")
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, pg_directory, ignore_errors=True)
        primary = _make_primary(bin_dir, pg_directory)
        cleanup.callback(primary.stop)
        keys = seed(primary.database_url(), API_ROOT, list(collections), list(partners))
        standby = None
        if replica or read_from_replica:
            standby = _make_replica(primary, pg_directory)
            cleanup.callback(standby.stop)
        cursor_secret = secrets.token_urlsafe(32)
        settings: dict[str, Any] = {
            "default_api_root": API_ROOT,
            **(node_settings or {}),
        }
        if read_from_replica:
            assert standby is not None
            settings["replica_database_url"] = standby.database_url()
        node_list = []
        for index in range(nodes):
            node_dir = directory / f"node{index}"
            node_dir.mkdir(exist_ok=True)
            config = write_config(
                node_dir / "server.toml",
                primary.database_url(),
                cursor_secret=cursor_secret,
                workers=workers,
                threads=threads,
                **settings,
            )
            with open(config, "a", encoding="utf-8") as handle:
                # nginx reaches the nodes from 127.0.0.1: believe its X-Forwarded-For.
                handle.write('trusted_proxies = ["127.0.0.1"]\n')
            process = ServerProcess(config, node_dir / "server.log")
            node_list.append(Node(index, config, process))
        for node in node_list:
            cleanup.callback(node.process.kill)
        _start_nodes(node_list)

        prefix = directory / "nginx"
        (prefix / "logs").mkdir(parents=True, exist_ok=True)
        ca, cert, key = make_ca_and_server_cert(prefix)
        port = free_port()
        site = prefix / "dx-exchange.conf"
        site.write_text(
            render_nginx_site(
                NGINX_TEMPLATE.read_text(encoding="utf-8"),
                nodes=[f"127.0.0.1:{node.port}" for node in node_list],
                listen=f"127.0.0.1:{port}",
                server_name="localhost",
                cert=cert,
                key=key,
                log_dir=prefix / "logs",
            ),
            encoding="utf-8",
        )
        (prefix / "nginx.conf").write_text(_nginx_main_conf(prefix, site), encoding="utf-8")
        nginx = Nginx(prefix, port, ca)
        cleanup.callback(nginx.stop)
        nginx.start()
        yield Topology(directory, primary, standby, node_list, nginx, keys, cursor_secret)
