"""A real exchange and real labs for the lab-side tests.

The server is configured with its own `dx server` admin commands (run in a
subprocess) and served by gunicorn (`python -m server.wsgi`); labs run the
`dx` commands as subprocesses with their own lab.toml, API key file, local
store and artifacts directory, exactly as a lab's cron jobs would. Nothing
of the server is imported.

Two partners, lab-a and lab-b, with the sample producers' identities, both
allowed to read and publish in the "distillation-indicators" collection
(a lab publishes its detections and its sightings in the same place).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from exchange.id_secret import load_id_secret
from mappings.producer import Producer

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
DEMO_KEY = SAMPLES / "keys" / "demo-consortium-key.json"


def _demo_id_secret(partner: str) -> Path:
    """The sample lab's public demo id secret (the samples are made with it)."""
    return SAMPLES / "keys" / f"demo-{partner}-id-secret.json"


PRODUCERS = {
    partner: Producer(key, name, load_id_secret(_demo_id_secret(partner), key))
    for partner, key, name in (
        ("lab-a", "lab-a.example", "Lab A"),
        ("lab-b", "lab-b.example", "Lab B"),
    )
}
COLLECTION_ALIAS = "distillation-indicators"
START_TIMEOUT_S = 30.0
FAST_RETRIES = ("--attempts", "3", "--backoff", "0.05")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_dx(
    command: str, *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run one `dx` command module as a subprocess (``dx <command> ...`` once registered)."""
    completed = subprocess.run(
        [sys.executable, "-m", f"exchange.commands.{command}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    if check and completed.returncode != 0:
        raise AssertionError(
            f"dx {command} {' '.join(args)} exited {completed.returncode}:\n"
            f"{completed.stderr[-4000:]}"
        )
    return completed


def human_lines(stderr: str) -> list[str]:
    """stderr without the JSON log lines: what a person reads."""
    return [line for line in stderr.splitlines() if line and not line.startswith("{")]


def log_events(stderr: str, event: str) -> list[dict[str, Any]]:
    found = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == event:
                found.append(record)
    return found


_ADMIN_BATCH = """
import contextlib, io, json, sys
from exchange.commands.server import server
outputs = []
for args in json.loads(sys.argv[1]):
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        server.main(args, prog_name="dx server", standalone_mode=False)
    outputs.append(captured.getvalue().strip())
print(json.dumps(outputs))
"""


@dataclass
class Exchange:
    """A configured exchange server (SQLite) and the partners' API keys."""

    directory: Path
    server_config: Path
    port: int
    collection_id: str = ""
    keys: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def admin(self, *commands: list[str]) -> list[str]:
        """Several `dx server` admin commands in one interpreter; their stdout each."""
        config = ["--config", str(self.server_config)]
        calls = [[command[0], *config, *command[1:]] for command in commands]
        done = subprocess.run(
            [sys.executable, "-c", _ADMIN_BATCH, json.dumps(calls)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise AssertionError(f"dx server {calls} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout)

    def add_collection(self, title: str, alias: str) -> str:
        collection_id = str(uuid.uuid4())
        self.admin(
            ["add-collection", "--id", collection_id, "--title", title, "--alias", alias],
            ["grant", "lab-a", collection_id, "--read", "--write"],
            ["grant", "lab-b", collection_id, "--read", "--write"],
        )
        return collection_id

    def start(self) -> None:
        log = open(self.directory / "server.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server.wsgi", "--config", str(self.server_config)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited at start:\n{self.server_log()}")
            with suppress(requests.RequestException):
                if requests.get(f"{self.url}/taxii2/", timeout=1).status_code == 401:
                    return
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"server not ready in {START_TIMEOUT_S} s:\n{self.server_log()}")

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        # SIGKILL, not a graceful stop: gunicorn waits out idle keep-alive
        # connections for up to graceful_timeout (10 s), and a test server holds
        # nothing that a kill could lose (every answer was committed first).
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def server_log(self) -> str:
        path = self.directory / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def lab(self, name: str, partner: str, **server: Any) -> Lab:
        """A lab directory with its lab.toml, API key file, store and artifacts."""
        directory = self.directory / name
        directory.mkdir(exist_ok=True)
        (directory / "api.key").write_text(self.keys[partner] + "\n", encoding="utf-8")
        settings: dict[str, Any] = {
            "api_root": f"{self.url}/exchange/",
            "partner_id": partner,
            "api_key_file": "api.key",
            "collections": [self.collection_id],
            "timeout_seconds": 10.0,
            **server,
        }
        producer = PRODUCERS[partner]
        lines = ["[server]", *(_toml_line(key, value) for key, value in settings.items())]
        lines += [
            "[producer]",
            _toml_line("key", producer.key),
            _toml_line("name", producer.name),
            _toml_line("id_secret_file", str(_demo_id_secret(partner))),
            "[local]",
            'store = "feed.sqlite3"',
            'artifacts = "artifacts"',
            _toml_line("consortium_key_file", str(DEMO_KEY)),
        ]
        config = directory / "lab.toml"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return Lab(name=name, directory=directory, config=config, producer=producer)


@dataclass(frozen=True)
class Lab:
    name: str
    directory: Path
    config: Path
    producer: Producer

    def dx(self, command: str, *args: str, check: bool = True, timeout: float = 120):
        """`dx <command> [sub] --config <lab.toml> ...`: sub-commands go before --config."""
        return run_dx(
            *command.split(), "--config", str(self.config), *args, check=check, timeout=timeout
        )

    @property
    def artifacts(self) -> Path:
        return self.directory / "artifacts"

    @property
    def store(self) -> Path:
        return self.directory / "feed.sqlite3"


def _toml_line(key: str, value: Any) -> str:
    if isinstance(value, list):
        return f"{key} = [{', '.join(json.dumps(str(item)) for item in value)}]"
    if isinstance(value, bool):
        return f"{key} = {'true' if value else 'false'}"
    if isinstance(value, int | float):
        return f"{key} = {value}"
    return f"{key} = {json.dumps(str(value))}"


def build_exchange(directory: Path, **settings: Any) -> Exchange:
    """Configure (not start) a SQLite-backed exchange with lab-a and lab-b in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = directory / "server.toml"
    values = {
        "database_url": f"sqlite:///{directory / 'exchange.sqlite3'}",
        "cursor_secret": secrets.token_urlsafe(32),
        "port": port,
        "workers": 1,
        "threads": 4,
        **settings,
    }
    config.write_text("".join(_toml_line(k, v) + "\n" for k, v in values.items()), "utf-8")
    exchange = Exchange(directory=directory, server_config=config, port=port)
    _, key_a, key_b = exchange.admin(
        ["init"],
        ["add-partner", "lab-a", "--name", "Lab A", "--identity", PRODUCERS["lab-a"].identity_id],
        ["add-partner", "lab-b", "--name", "Lab B", "--identity", PRODUCERS["lab-b"].identity_id],
    )
    exchange.keys.update({"lab-a": key_a, "lab-b": key_b})
    exchange.collection_id = exchange.add_collection("Distillation indicators", COLLECTION_ALIAS)
    return exchange
