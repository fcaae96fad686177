"""A real exchange for the feed tests: `dx server` admin commands and a gunicorn process.

Everything goes through the server's own command line (run as subprocesses,
exactly as an operator would) and HTTP; nothing of the server is imported.
Two partners: lab-a publishes into the "feed" collection, lab-b reads it.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
LAB_A_IDENTITY = "identity--8f6b6a4e-3c1f-4d1e-9a53-5b1c9e0d2a11"
LAB_B_IDENTITY = "identity--2d7c1b9e-6a44-4b0e-8f1a-7e3d5c2b9f22"
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

    def add_collection(self, title: str, alias: str) -> str:
        collection_id = self.admin("add-collection", "--title", title, "--alias", alias)
        self.admin("grant", "lab-a", collection_id, "--read", "--write")
        self.admin("grant", "lab-b", collection_id, "--read")
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
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def server_log(self) -> str:
        path = self.directory / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


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
    exchange.admin("init")
    exchange.keys["lab-a"] = exchange.admin(
        "add-partner", "lab-a", "--name", "Lab A", "--identity", LAB_A_IDENTITY
    )
    exchange.keys["lab-b"] = exchange.admin(
        "add-partner", "lab-b", "--name", "Lab B", "--identity", LAB_B_IDENTITY
    )
    exchange.collection_id = exchange.add_collection("Distillation feed", "feed")
    return exchange
