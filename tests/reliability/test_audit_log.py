"""The audit log says who published, deleted, rotated keys, revoked and changed grants, and when.

Everything is done the way it happens in production: partners publish and
delete through a real server over HTTP (taxii2-client, ``requests``), the
administrator uses ``dx server`` commands; then ``dx server audit`` is read
back, as JSON lines and as text, with each of its filters.
"""

from __future__ import annotations

import getpass
import json
import time
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from taxii2client.v21 import Collection

from exchange.commands.server import server as server_group
from server.store.types import CollectionInfo
from tests.support.server import (
    BACKENDS,
    Client,
    PartnerSpec,
    indicator,
    run_cli,
    seed,
    served,
    write_config,
)

FEED = "2f2f2f2f-0000-4000-8000-00000000002f"
LAB_A = ("lab-a", "identity--aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa")
LAB_B = ("lab-b", "identity--bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb")


def _audit(config, *args: str) -> list[dict]:
    """``dx server audit --json`` in-process (the same click command, no interpreter start)."""
    result = CliRunner().invoke(server_group, ["audit", "--config", str(config), "--json", *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def _at_us(entry: dict) -> int:
    moment = datetime.strptime(entry["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


def _one(entries: list[dict], **fields: object) -> dict:
    found = [e for e in entries if all(e.get(k) == v for k, v in fields.items())]
    assert len(found) == 1, (fields, entries)
    return found[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_audit_log_records_who_did_what_and_when(tmp_path, backend):
    collections = [CollectionInfo(FEED, "exchange", "Feed", alias="feed")]
    partners = [
        PartnerSpec(LAB_A[0], LAB_A[1], {FEED: (True, True)}),
        PartnerSpec(LAB_B[0], LAB_B[1], {FEED: (True, True)}),
    ]
    with served(tmp_path, backend, collections, partners) as server:
        config = str(server.config_path)
        started_us = time.time_ns() // 1000
        feed_url = server.collection_url(FEED)
        by_a = [indicator(LAB_A[1], name=f"a{n}") for n in range(3)]
        status_a = Collection(feed_url, user=LAB_A[0], password=server.keys[LAB_A[0]]).add_objects(
            {"objects": by_a}
        )
        forged = indicator(LAB_A[1], name="claims to be lab-a")  # refused: provenance
        status_b = Collection(feed_url, user=LAB_B[0], password=server.keys[LAB_B[0]]).add_objects(
            {"objects": [indicator(LAB_B[1]), forged]}
        )
        deleted = server.client(LAB_A[0]).delete(
            f"/exchange/collections/{FEED}/objects/{by_a[0]['id']}/"
        )
        assert deleted.status_code == 200
        for admin_command in (
            ["rotate-key", LAB_B[0]],
            ["revoke", LAB_B[0]],
            ["grant", LAB_A[0], "feed", "--read"],
        ):
            done = CliRunner().invoke(server_group, [*admin_command, "--config", config])
            assert done.exit_code == 0, done.output
            if admin_command[0] == "rotate-key":
                rotated_key = done.stdout.strip().splitlines()[-1]
        finished_us = time.time_ns() // 1000

        entries = _audit(config, "--limit", "0")
        # No key, of any partner, old or new, anywhere in any entry.
        every_key = [*server.keys.values(), rotated_key]
        assert len(set(every_key)) == 3 and all(len(key) >= 40 for key in every_key)
        for entry in entries:
            text = json.dumps(entry)
            assert not [key for key in every_key if key in text], entry
        admin = f"cli:{getpass.getuser()}"
        publish_a = _one(entries, action="objects.publish", actor=LAB_A[0])
        assert publish_a["target"] == FEED
        assert publish_a["detail"] == {
            "added": 3,
            "already_present": 0,
            "failed": 0,
            "status_id": status_a.id,
        }
        publish_b = _one(entries, action="objects.publish", actor=LAB_B[0])
        assert publish_b["detail"]["added"] == 1 and publish_b["detail"]["failed"] == 1
        assert publish_b["detail"]["status_id"] == status_b.id
        delete = _one(entries, action="objects.delete")
        assert (delete["actor"], delete["target"]) == (LAB_A[0], f"{FEED} {by_a[0]['id']}")
        assert delete["detail"]["deleted"] == 1
        assert _one(entries, action="partner.rotate_key")["actor"] == admin
        assert _one(entries, action="partner.revoke")["target"] == LAB_B[0]
        grant = _one(entries, action="grant.set", target=f"{LAB_A[0]} {FEED}", actor=admin)
        assert grant["detail"] == {"can_read": True, "can_write": False}

        # When: in order, each within the time the test did it.
        recent = [e for e in entries if e["actor"] != "admin"]  # seed entries came earlier
        assert len(recent) == 6
        assert all(started_us <= _at_us(e) <= finished_us for e in recent)
        assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
        assert [_at_us(e) for e in recent] == sorted(_at_us(e) for e in recent)

        # Filters.
        about_b = _audit(config, "--partner", LAB_B[0], "--limit", "0")
        assert {e["action"] for e in about_b} == {
            "partner.add",
            "grant.set",
            "objects.publish",
            "partner.rotate_key",
            "partner.revoke",
        }
        assert all(LAB_B[0] in (e["actor"], e["target"].split(" ")[0]) for e in about_b)
        assert [e["action"] for e in _audit(config, "--action", "objects.publish")] == [
            "objects.publish",
            "objects.publish",
        ]
        family = _audit(config, "--action", "partner", "--limit", "0")
        assert {e["action"] for e in family} == {
            "partner.add",
            "partner.rotate_key",
            "partner.revoke",
        }
        since = datetime.fromtimestamp(started_us / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert _audit(config, "--since", since, "--limit", "0") == recent
        assert _audit(config, "--since", "1h", "--limit", "0") == entries
        assert _audit(config, "--since", "2999-01-01") == []
        assert _audit(config, "--limit", "2") == entries[-2:]

        # As a user runs it (a separate process), in text form.
        text = run_cli("audit", "--config", config, "--action", "objects.delete").stdout
        assert text.count("\n") == 1 and "objects.delete" in text and by_a[0]["id"] in text

        # The revoked partner is really out, and the log says why.
        refused = Client(server.base_url, LAB_B[0], server.keys[LAB_B[0]]).get("/taxii2/")
        assert refused.status_code == 401


def test_audit_command_refuses_bad_filters_in_one_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'exchange.sqlite3'}"
    seed(url, "exchange", [], [])
    config = write_config(tmp_path / "server.toml", url)
    for args, option in (
        (("--since", "last tuesday"), "--since"),
        (("--since", "12x"), "--since"),
        (("--limit", "-1"), "--limit"),
    ):
        result = CliRunner().invoke(server_group, ["audit", "--config", str(config), *args])
        assert (result.exit_code != 0 and result.exception is None) or isinstance(
            result.exception, SystemExit
        )
        assert option in result.stderr and "Traceback" not in result.stderr
