"""``dx server`` administration commands, run as a user runs them (subprocesses).

The commands write the real config file and database; their effect is then
checked through a real server over HTTP: keys work, rotation and revocation
take effect at once, grants open exactly the collections they name, a loaded
bundle is served, and the demo is repeatable.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tomllib
import uuid

import orjson
import requests
from click.testing import CliRunner
from taxii2client.v21 import Collection

from exchange.commands.server import server as server_group
from server.config import SAMPLE_PARTNERS
from tests.support.server import (
    TAXII,
    Client,
    ServerProcess,
    free_port,
    indicator,
    run_cli,
)

IDENTITY = "identity--5b0c9a7e-1d2f-4e3a-8b6c-0f9e8d7c6b5a"


def _bundle(objects: list[dict]) -> bytes:
    return orjson.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects})


def test_init_writes_a_private_config_with_a_secret_and_is_idempotent(tmp_path):
    config = tmp_path / "conf" / "server.toml"
    url = f"sqlite:///{tmp_path / 'db' / 'dx.sqlite3'}"
    first = run_cli("init", "--config", str(config), "--database-url", url, cwd=tmp_path)
    assert "created API root /exchange/" in first.stderr
    settings = tomllib.loads(config.read_text())
    assert settings["database_url"] == url and len(settings["cursor_secret"]) >= 32
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    second = run_cli("init", "--config", str(config), cwd=tmp_path)
    assert "already exists" in second.stderr
    assert tomllib.loads(config.read_text()) == settings  # never rewritten


def test_administration_end_to_end(tmp_path):
    config = tmp_path / "server.toml"
    port = free_port()
    run_cli(
        "init", "--config", str(config), "--database-url", f"sqlite:///{tmp_path / 'dx.sqlite3'}"
    )
    cfg = ["--config", str(config)]
    added = run_cli("add-partner", "lab-q", "--name", "Lab Q", "--identity", IDENTITY, *cfg)
    key = added.stdout.strip()
    assert len(key.splitlines()) == 1 and len(key) >= 40 and "shown once" in added.stderr
    collection_id = run_cli(
        "add-collection", "--title", "Feed", "--alias", "feed", "--max-tlp", "amber", *cfg
    ).stdout.strip()
    hidden_id = run_cli("add-collection", "--title", "Hidden", *cfg).stdout.strip()
    assert uuid.UUID(collection_id) and uuid.UUID(hidden_id)
    run_cli("grant", "lab-q", "feed", "--read", "--write", *cfg)

    good = [indicator(IDENTITY, name=f"good {n}") for n in range(3)]
    forged = indicator("identity--99999999-9999-4999-8999-999999999999")
    red = indicator(IDENTITY, marking="marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1")
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(_bundle([*good, forged, red]))
    loaded = run_cli(
        "load", str(bundle), "--collection", "feed", "--as", "lab-q", *cfg, check=False
    )
    assert loaded.returncode == 1
    assert "3 stored or already present, 2 refused" in loaded.stderr
    assert f"refused {forged['id']}" in loaded.stderr and "not your identity" in loaded.stderr
    assert f"refused {red['id']}" in loaded.stderr and "TLP:RED" in loaded.stderr

    server = ServerProcess(
        config,
        tmp_path / "server.log",
        argv=[
            *_cli_argv(),
            "serve",
            *cfg,
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        port=port,
    ).start()
    try:
        url = f"{server.base_url}/exchange/collections/{collection_id}/"
        served = Collection(url, user="lab-q", password=key).get_objects()["objects"]
        assert sorted(o["id"] for o in served) == sorted(o["id"] for o in good)
        client = Client(server.base_url, "lab-q", key)
        listed = client.get("/exchange/collections/").json()["collections"]
        assert [c["id"] for c in listed] == [collection_id]
        assert client.get(f"/exchange/collections/{hidden_id}/").status_code == 404

        new_key = run_cli("rotate-key", "lab-q", *cfg).stdout.strip()
        assert client.get("/exchange/collections/").status_code == 401
        client.api_key = new_key
        assert client.get("/exchange/collections/").status_code == 200
        run_cli("revoke", "lab-q", *cfg)
        assert client.get("/exchange/collections/").status_code == 401
        client.api_key = run_cli("rotate-key", "lab-q", "--reactivate", *cfg).stdout.strip()
        assert client.get("/exchange/collections/").status_code == 200

        run_cli("grant", "lab-q", "feed", "--revoke", *cfg)
    finally:
        server.stop()


def _cli_argv() -> list[str]:
    return [sys.executable, "-m", "exchange.commands.server"]


def test_mistakes_get_one_line_errors_and_a_nonzero_exit(tmp_path):
    config = tmp_path / "server.toml"
    run_cli(
        "init", "--config", str(config), "--database-url", f"sqlite:///{tmp_path / 'dx.sqlite3'}"
    )
    cfg = ["--config", str(config)]
    bad_json = tmp_path / "broken.json"
    bad_json.write_text('{"type": "bundle", "objects": [}')
    not_bundle = tmp_path / "list.json"
    not_bundle.write_text('{"type": "bundle"}')
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text('port = "eighty"\n')
    broken_toml = tmp_path / "broken.toml"
    broken_toml.write_text("port = \n")
    unreachable = tmp_path / "unreachable.toml"
    unreachable.write_text('database_url = "postgresql+psycopg://nobody@127.0.0.1:1/none"\n')
    cases = [
        (["grant", "nobody", "x", "--read", *cfg], "no collection 'x'"),
        (
            ["load", str(bad_json), "--collection", "x", "--as", "y", *cfg],
            f"{bad_json}: not valid UTF-8 JSON",
        ),
        (
            ["load", str(not_bundle), "--collection", "x", "--as", "y", *cfg],
            f"{not_bundle}: line 1:",
        ),
        (
            ["add-collection", "--title", "T", "--id", "not-a-uuid", *cfg],
            "--id: 'not-a-uuid' is not a UUID",
        ),
        (["add-partner", "p", "--name", "P", "--identity", "lab-p", *cfg], "identity"),
        (["rotate-key", "nobody", *cfg], "nobody"),
        (["serve", "--config", str(bad_config)], f"{bad_config}: port:"),
        (["serve", "--config", str(broken_toml)], f"{broken_toml}: not valid TOML"),
        (["serve", "--config", str(tmp_path / "missing.toml")], "no such config file"),
        (["grant", "p", "x", *cfg], "give --read and/or --write, or --revoke alone"),
        (
            [
                "add-partner",
                "p",
                "--name",
                "P",
                "--identity",
                IDENTITY,
                "--config",
                str(unreachable),
            ],
            "database postgresql+psycopg://nobody@127.0.0.1:1/none:",
        ),
    ]
    runner = CliRunner()  # in-process: the same click commands, without 11 interpreter starts
    for args, expected in cases:
        result = runner.invoke(server_group, args)
        assert result.exit_code != 0, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (args, result.stderr)
        prefix = f"dx server {args[0]}: error: "
        assert lines[0].startswith(prefix) and expected in lines[0], (args, lines[0])
        assert "Traceback" not in result.stderr


def test_demo_is_repeatable_and_serves_the_sample_bundle(tmp_path):
    lab_a, lab_b = SAMPLE_PARTNERS[0], SAMPLE_PARTNERS[1]
    objects = [
        indicator(lab_a["identity_ref"], name="from a"),
        indicator(lab_b["identity_ref"], name="from b"),
    ]
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "bundle.json").write_bytes(_bundle(objects))
    first = run_cli("demo", "--setup-only", cwd=tmp_path)
    second = run_cli("demo", "--setup-only", cwd=tmp_path)
    keys = [line for line in first.stdout.splitlines() if "API key" in line]
    assert len(keys) == 2 and keys == [
        line for line in second.stdout.splitlines() if "API key" in line
    ]
    assert (tmp_path / "var" / "demo.sqlite3").exists()
    key_b = keys[1].rsplit(" ", 1)[1]
    port = free_port()
    server = ServerProcess(
        tmp_path / "var" / "demo-server.toml",
        tmp_path / "demo.log",
        argv=[*_cli_argv(), "demo", "--port", str(port), "--workers", "1"],
        port=port,
        cwd=tmp_path,
    ).start()
    try:
        collections = (
            Client(server.base_url, lab_b["id"], key_b).get("/exchange/collections/").json()
        )
        by_alias = {c["alias"]: c for c in collections["collections"]}
        assert set(by_alias) == {"distillation-indicators", "tlp-clear-public"}
        feed = by_alias["distillation-indicators"]
        response = requests.get(
            f"{server.base_url}/exchange/collections/{feed['id']}/objects/",
            auth=(lab_b["id"], key_b),
            headers={"Accept": TAXII},
            timeout=10,
        )
        assert sorted(o["id"] for o in response.json()["objects"]) == sorted(
            o["id"] for o in objects
        )
        # The demo hands each sample lab a working lab.toml: lab B polls with it as printed.
        lab_config = tmp_path / "var" / "demo-lab-b.toml"
        assert (lab_config.stat().st_mode & 0o777) == 0o600
        assert key_b not in lab_config.read_text()
        poll = subprocess.run(
            [sys.executable, "-m", "exchange", "poll", "--config", str(lab_config), "--once"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert poll.returncode == 0, poll.stderr
        synced = [json.loads(line) for line in poll.stderr.splitlines() if '"synced"' in line]
        assert [event["objects"] for event in synced] == [len(objects)]
    finally:
        server.stop()
