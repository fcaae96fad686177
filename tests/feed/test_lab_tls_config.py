"""``verify_tls`` in lab.toml: true, false, or a CA file relative to the config file.

That the CA file is really used through nginx, with REQUESTS_CA_BUNDLE naming
another bundle, is shown by ``dx poll`` in tests/scale/test_nodes_behind_nginx.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.lab_config import load_lab_config


def _config(directory: Path, verify_line: str) -> Path:
    path = directory / "lab.toml"
    path.write_text(
        "[server]\n"
        'api_root = "https://exchange.example.org/exchange/"\n'
        'partner_id = "lab-b"\n'
        f"{verify_line}\n",
        encoding="utf-8",
    )
    return path


def test_a_relative_ca_file_is_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    config = load_lab_config(_config(tmp_path / "conf", 'verify_tls = "tls/ca.pem"'))
    assert config.tls_verify == str((tmp_path / "conf" / "tls" / "ca.pem").resolve())


def test_an_absolute_ca_file_is_kept(tmp_path: Path) -> None:
    config = load_lab_config(_config(tmp_path, 'verify_tls = "/etc/dx/ca.pem"'))
    assert config.tls_verify == "/etc/dx/ca.pem"


@pytest.mark.parametrize(("line", "expected"), [("", True), ("verify_tls = false", False)])
def test_booleans_pass_through(tmp_path: Path, line: str, expected: bool) -> None:
    assert load_lab_config(_config(tmp_path, line)).tls_verify is expected
