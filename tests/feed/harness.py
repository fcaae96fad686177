"""A real exchange for the feed tests: `dx server` admin commands and a gunicorn process.

Everything goes through the server's own command line (run as subprocesses,
exactly as an operator would) and HTTP; nothing of the server is imported.
Two partners: lab-a publishes into the "feed" collection, lab-b reads it.
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

import requests

from mappings.producer import Producer

REPO = Path(__file__).resolve().parents[2]
LAB_A = Producer("lab-a.example", "Lab A")
LAB_B = Producer("lab-b.example", "Lab B")
LAB_A_IDENTITY = LAB_A.identity_id
LAB_B_IDENTITY = LAB_B.identity_id
START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_dx(*args: str, check: bool = True, env: dict | None = None, timeout: float = 120):
    """Run a `dx` command module in a subprocess (the lead registers them under `dx`)."""
    module, *rest = args
    command = [sys.executable, "-m", f"exchange.commands.{module}", *rest]
    completed = subprocess.run(
        command,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if check and completed.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {completed.returncode}:\n{completed.stderr[-3000:]}"
        )
    return completed


@dataclass
class Exchange:
    """A running server with one collection and two partners."""

    directory: Path
    server_config: Path
    port: int
    collection_id: str = ""
    keys: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def api_root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/exchange/"

    def admin(self, *args: str) -> str:
        command, *rest = args
        return run_dx("server", command, "--config", str(self.server_config), *rest).stdout.strip()

    def admin_batch(self, *commands: list[str]) -> list[str]:
        """Several `dx server` commands in one interpreter (start-up is most of their cost)."""
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
            raise AssertionError(f"dx server batch {calls} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout)

    def add_collection(self, title: str, alias: str) -> str:
        collection_id = str(uuid.uuid4())
        self.admin_batch(
            ["add-collection", "--id", collection_id, "--title", title, "--alias", alias],
            ["grant", "lab-a", collection_id, "--read", "--write"],
            ["grant", "lab-b", collection_id, "--read"],
        )
        return collection_id

    def load(self, bundle_path: Path, collection: str | None = None, partner: str = "lab-a"):
        self.admin(
            "load",
            str(bundle_path),
            "--collection",
            collection or self.collection_id,
            "--as",
            partner,
        )

    def lab_config(self, name: str, partner: str = "lab-b", **server: object) -> Path:
        """A lab.toml for ``partner`` with its own store and artifacts directory."""
        lab_dir = self.directory / name
        lab_dir.mkdir(exist_ok=True)
        key_file = lab_dir / "api.key"
        key_file.write_text(self.keys[partner] + "\n", encoding="utf-8")
        settings = {
            "api_root": self.api_root_url,
            "partner_id": partner,
            "api_key_file": "api.key",
            "collections": [self.collection_id],
            "timeout_seconds": 10.0,
            **server,
        }
        lines = ["[server]"]
        for key, value in settings.items():
            if isinstance(value, list):
                lines.append(f"{key} = [{', '.join(repr(str(v)) for v in value)}]")
            elif isinstance(value, float | int):
                lines.append(f"{key} = {value}")
            else:
                lines.append(f'{key} = "{value}"')
        lines += [
            "[local]",
            'store = "feed.sqlite3"',
            'artifacts = "artifacts"',
        ]
        path = lab_dir / "lab.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

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
                answer = requests.get(f"http://127.0.0.1:{self.port}/taxii2/", timeout=1)
                if answer.status_code == 401:
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


def build_exchange(directory: Path, **settings: object) -> Exchange:
    """Configure (not start) a SQLite-backed exchange in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = directory / "server.toml"
    values = {
        "database_url": f"sqlite:///{directory / 'exchange.sqlite3'}",
        "cursor_secret": secrets.token_urlsafe(32),
        "port": port,
        "workers": 1,
        "threads": 4,
        "max_page_size": 5000,
        **settings,
    }
    config.write_text(
        "".join(
            f"{k} = {v}\n" if isinstance(v, int) else f'{k} = "{v}"\n' for k, v in values.items()
        ),
        encoding="utf-8",
    )
    exchange = Exchange(directory=directory, server_config=config, port=port)
    _, key_a, key_b = exchange.admin_batch(
        ["init"],
        ["add-partner", "lab-a", "--name", "Lab A", "--identity", LAB_A_IDENTITY],
        ["add-partner", "lab-b", "--name", "Lab B", "--identity", LAB_B_IDENTITY],
    )
    exchange.keys.update({"lab-a": key_a, "lab-b": key_b})
    exchange.collection_id = exchange.add_collection("Distillation feed", "feed")
    return exchange
