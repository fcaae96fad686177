"""``dx server demo`` serves the console and prints a login that works, the same on every run."""

from __future__ import annotations

import re
import shutil
import sys

import requests

from tests.support.server import REPO, ServerProcess, free_port, run_cli


def test_demo_prints_a_working_console_login(tmp_path):
    (tmp_path / "samples").mkdir()
    shutil.copy(REPO / "samples" / "bundle.json", tmp_path / "samples" / "bundle.json")
    first = run_cli("demo", "--setup-only", cwd=tmp_path).stdout
    second = run_cli("demo", "--setup-only", cwd=tmp_path).stdout
    login = re.search(r"log in as partner (\S+), analyst (\S+), password (\S+)", first)
    assert login and login[0] in second  # the same login again
    assert "Analyst console: http://127.0.0.1:8470/console/" in first
    assert ((tmp_path / "var" / "demo-analyst.json").stat().st_mode & 0o777) == 0o600
    partner, analyst, password = login.groups()
    port = free_port()
    server = ServerProcess(
        tmp_path / "var" / "demo-server.toml",
        tmp_path / "demo.log",
        argv=[sys.executable, "-m", "exchange.commands.server", "demo", "--port", str(port)],
        port=port,
        cwd=tmp_path,
    ).start()
    try:
        session = requests.Session()
        base = f"{server.base_url}/console/"
        page = session.get(base, timeout=30)
        assert page.url == base + "login"
        token = re.search(r'name="login_token" value="([^"]+)"', page.text)[1]
        overview = session.post(
            base + "login",
            data={
                "login_token": token,
                "partner": partner,
                "analyst": analyst,
                "password": password,
            },
            timeout=30,
        )
        assert overview.status_code == 200 and overview.url == base
        assert "Distillation indicators" in overview.text and "campaign" in overview.text
    finally:
        server.stop()
