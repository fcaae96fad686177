"""The files under deploy/ are valid as shipped: systemd units, their commands, nginx's site.

The nginx site is run for real by every topology test (tests/support/topology.py
renders it); here it is also checked by ``nginx -t`` alone, quickly, and for
the retry policy that must never change: no POST is passed to a second node.
The systemd units are checked by ``systemd-analyze verify`` with the ``dx``
of this environment in place of the install path, and their ``ExecStart``
options by the ``dx`` commands' own parsers.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import REPO
from tests.support.tls import make_ca_and_server_cert
from tests.support.topology import NGINX, NGINX_TEMPLATE, render_nginx_site

UNITS = sorted((REPO / "deploy" / "systemd").glob("*.service"))
INSTALLED_DX = "/opt/dx/venv/bin/dx"


def _exec_start(unit: Path) -> list[str]:
    lines = [line for line in unit.read_text().splitlines() if line.startswith("ExecStart=")]
    assert len(lines) == 1, unit
    return shlex.split(lines[0].removeprefix("ExecStart="))


def _our_dx() -> str:
    found = Path(sys.executable).parent / "dx"
    return str(found) if found.exists() else shutil.which("dx") or ""


def test_both_units_are_shipped() -> None:
    assert [unit.name for unit in UNITS] == ["dx-poll.service", "dx-server.service"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_unit_verifies(unit: Path, tmp_path: Path) -> None:
    text = unit.read_text()
    for section in ("[Unit]", "[Service]", "[Install]"):
        assert section in text
    assert _exec_start(unit)[0] == INSTALLED_DX
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (the structure was checked)")
    dx = _our_dx()
    assert dx, "the dx entry point is not installed in this environment"
    copy = tmp_path / unit.name
    copy.write_text(text.replace(INSTALLED_DX, dx))
    done = subprocess.run(
        [analyze, "verify", "--man=no", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    # Complaints about the unit itself name it; the host's own units are not ours to judge.
    ours = [line for line in done.stderr.splitlines() if unit.name in line]
    assert not ours, done.stderr


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_unit_command_line_is_accepted_by_dx(unit: Path) -> None:
    """Every option the unit passes exists (``--help`` after them: parsed, nothing run)."""
    argv = _exec_start(unit)
    command = argv[1:]
    module = "exchange.commands.server" if command[0] == "server" else "exchange.commands.poll"
    args = command[1:]
    done = subprocess.run(
        [sys.executable, "-m", module, *args, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr


def test_nginx_site_passes_nginx_t(tmp_path: Path) -> None:
    if not os.access(NGINX, os.X_OK):
        pytest.skip(f"{NGINX} not installed")
    _, cert, key = make_ca_and_server_cert(tmp_path)
    (tmp_path / "logs").mkdir()
    site = tmp_path / "site.conf"
    site.write_text(
        render_nginx_site(
            NGINX_TEMPLATE.read_text(),
            nodes=["127.0.0.1:18470", "127.0.0.1:18471"],
            listen="127.0.0.1:18443",
            server_name="localhost",
            cert=cert,
            key=key,
            log_dir=tmp_path / "logs",
        )
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\n"
        f"events {{}}\nhttp {{ include {site}; }}\n"
    )
    done = subprocess.run(
        [str(NGINX), "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "e.log")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


def test_nginx_never_passes_a_post_to_a_second_node() -> None:
    directives = [
        line.split("#")[0].split()
        for line in NGINX_TEMPLATE.read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    retry = [words for words in directives if words[0] == "proxy_next_upstream"]
    assert len(retry) == 1
    assert "non_idempotent" not in retry[0][1:]
    assert {"error", "timeout"} <= set(word.rstrip(";") for word in retry[0][1:])
