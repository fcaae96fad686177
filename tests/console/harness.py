"""A console under test: a real server process over a seeded database, analysts made with
``dx server add-analyst``, and a real headless Chromium driven by Playwright.

The feed holds the sample campaign (loaded as the labs that created it), a
second version of one indicator, a sighting from another lab, and objects
whose every displayed string is a script/HTML/SVG/``javascript:`` payload.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from server.config import SAMPLE_PARTNERS
from server.loading import load_objects, read_objects_file
from server.store import Store
from server.store.types import CollectionInfo
from tests.support.server import REPO, PartnerSpec, Served, run_cli, served

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1440, "height": 900}
SCREENSHOTS = REPO / "docs" / "console"

SHARED = CollectionInfo(
    id="6f1c2a9e-3b4d-4e5f-8a7b-1c2d3e4f5a6b",
    api_root="exchange",
    title="Shared distillation feed",
    alias="shared-feed",
)
LAB_C_ONLY = CollectionInfo(
    id="0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d",
    api_root="exchange",
    title="Lab C private",
    alias="lab-c-private",
)
LAB_A, LAB_B = SAMPLE_PARTNERS[0], SAMPLE_PARTNERS[1]
LAB_C_IDENTITY = "identity--5d1e8c3a-2b7f-4c9d-8e6a-0f1b2c3d4e5f"
SAMPLE_BUNDLE = REPO / "samples" / "bundle.json"

# Each payload would set window.__dx_pwned or open a dialog if it ever ran.
PAYLOADS = [
    "<script>window.__dx_pwned=1;alert(1)</script>",
    '<img src=x onerror="window.__dx_pwned=2;alert(2)">',
    '<svg onload="window.__dx_pwned=3"><script>window.__dx_pwned=3</script></svg>',
    "javascript:window.__dx_pwned=4;alert(4)",
    '"><iframe src="javascript:alert(5)"></iframe>',
    '</title><style>body{display:none}</style><a href="javascript:alert(6)">click</a>',
]
HOSTILE_INDICATOR = "indicator--0d15ea5e-0000-4bad-8bad-000000000001"
HOSTILE_CAMPAIGN = "campaign--0d15ea5e-0000-4bad-8bad-000000000002"


def sample_objects() -> list[dict]:
    import orjson

    return orjson.loads(SAMPLE_BUNDLE.read_bytes())["objects"]


# Found by content, not by id: the sample's ids follow the mappings' id scheme.
SAMPLE_CAMPAIGN = next(o["id"] for o in sample_objects() if o["type"] == "campaign")
VERSIONED_INDICATOR = next(
    o["id"]
    for o in sample_objects()
    if o["type"] == "indicator" and o.get("name") == "AS64510 EXAMPLE-HOSTING-EU"
)


@dataclass
class Console:
    served: Served
    passwords: dict[tuple[str, str], str]

    @property
    def url(self) -> str:
        return f"{self.served.base_url}/console/"


def hostile_objects() -> list[dict]:
    """Objects by lab A whose names, descriptions, labels and extension properties attack."""
    created = "2026-04-20T00:00:00.000Z"
    extension = f"extension-definition--{uuid.UUID(int=0xD15EA5E)}"
    indicator = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": HOSTILE_INDICATOR,
        "created": created,
        "modified": created,
        "created_by_ref": LAB_A["identity_ref"],
        "name": PAYLOADS[0],
        "description": " ".join(PAYLOADS[1:]),
        "labels": PAYLOADS[2:],
        "pattern": "[ipv4-addr:value = '203.0.113.7']",
        "pattern_type": "stix",
        "valid_from": created,
        "external_references": [{"source_name": PAYLOADS[1], "url": PAYLOADS[3]}],
        "extensions": {
            extension: {
                "extension_type": "property-extension",
                "note": PAYLOADS[2],
                "link": PAYLOADS[3],
                "nested": {"html": PAYLOADS[5]},
            }
        },
    }
    campaign = {
        "type": "campaign",
        "spec_version": "2.1",
        "id": HOSTILE_CAMPAIGN,
        "created": created,
        "modified": created,
        "created_by_ref": LAB_A["identity_ref"],
        "name": PAYLOADS[1],
        "description": PAYLOADS[0],
        "labels": [PAYLOADS[4]],
    }
    relationship = {
        "type": "relationship",
        "spec_version": "2.1",
        "id": "relationship--0d15ea5e-0000-4bad-8bad-000000000003",
        "created": created,
        "modified": created,
        "created_by_ref": LAB_A["identity_ref"],
        "relationship_type": "indicates",
        "source_ref": HOSTILE_INDICATOR,
        "target_ref": HOSTILE_CAMPAIGN,
        "description": PAYLOADS[5],
    }
    return [indicator, campaign, relationship]


def _sample_version_2() -> dict:
    original = next(o for o in sample_objects() if o["id"] == VERSIONED_INDICATOR)
    return {**original, "modified": "2026-05-02T10:00:00.000Z", "confidence": 95}


def _sighting() -> dict:
    return {
        "type": "sighting",
        "spec_version": "2.1",
        "id": "sighting--5e1e5e1e-1111-4222-8333-444455556666",
        "created": "2026-05-03T00:00:00.000Z",
        "modified": "2026-05-03T00:00:00.000Z",
        "created_by_ref": LAB_B["identity_ref"],
        "sighting_of_ref": VERSIONED_INDICATOR,
        "count": 42,
        "first_seen": "2026-05-01T00:00:00.000Z",
        "last_seen": "2026-05-02T00:00:00.000Z",
    }


def _load_sample(database_url: str) -> None:
    store = Store(database_url)
    try:
        collection = store.get_collection("exchange", SHARED.id)
        by_identity = {p["identity_ref"]: p["id"] for p in SAMPLE_PARTNERS}
        batches: dict[str, list] = {}
        for obj in read_objects_file(SAMPLE_BUNDLE):
            owner = by_identity.get(obj.get("created_by_ref"), LAB_A["id"])
            batches.setdefault(owner, []).append(obj)
        for partner_id, batch in batches.items():
            partner = store.get_partner(partner_id)
            status = load_objects(store, collection, partner, batch)
            assert not status.failures, status.failures
    finally:
        store.close()


def add_analyst(config: Path, partner_id: str, name: str) -> str:
    result = run_cli("add-analyst", "--config", str(config), partner_id, name)
    password = result.stdout.strip()
    assert password and "\n" not in password
    return password


@contextmanager
def console(directory: Path, backend: str, **settings: object) -> Iterator[Console]:
    partners = [
        PartnerSpec(LAB_A["id"], LAB_A["identity_ref"], {SHARED.id: (True, True)}),
        PartnerSpec(LAB_B["id"], LAB_B["identity_ref"], {SHARED.id: (True, True)}),
        PartnerSpec("lab-c", LAB_C_IDENTITY, {LAB_C_ONLY.id: (True, True)}),
    ]
    with served(directory, backend, [SHARED, LAB_C_ONLY], partners, **settings) as running:
        # The schema is migrated by seed(); the sample goes in as its creators, like the demo.
        _load_sample(running.database_url)
        lab_a = running.client(LAB_A["id"])
        for objects in (hostile_objects(), [_sample_version_2()]):
            response = lab_a.post_objects(f"/exchange/collections/{SHARED.id}/objects/", objects)
            assert response.status_code == 202 and response.json()["failure_count"] == 0, (
                response.text
            )
        response = running.client(LAB_B["id"]).post_objects(
            f"/exchange/collections/{SHARED.id}/objects/", [_sighting()]
        )
        assert response.json()["failure_count"] == 0, response.text
        poll = running.client(LAB_B["id"]).get(f"/exchange/collections/{SHARED.id}/objects/")
        assert poll.status_code == 200  # lab B polls: feed health shows it
        passwords = {
            (LAB_B["id"], "alice"): add_analyst(running.config_path, LAB_B["id"], "alice"),
            ("lab-c", "carol"): add_analyst(running.config_path, "lab-c", "carol"),
        }
        yield Console(running, passwords)


def login_session(console_: Console, partner_id: str, name: str) -> requests.Session:
    """A logged-in ``requests`` session (for checks the browser cannot make: raw statuses)."""
    session = requests.Session()
    page = session.get(console_.url + "login", timeout=30)
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)
    response = session.post(
        console_.url + "login",
        data={
            "login_token": token,
            "partner": partner_id,
            "analyst": name,
            "password": console_.passwords[(partner_id, name)],
        },
        timeout=30,
    )
    assert response.status_code == 200 and response.url == console_.url, response.text[:500]
    return session


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@contextmanager
def browser(directory: Path) -> Iterator[object]:
    """A fresh headless Chromium (own profile directory), as a Playwright browser context."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "install Debian's chromium (apt-get install chromium)"
    profile = directory / "chromium-profile"
    shutil.rmtree(profile, ignore_errors=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport=VIEWPORT,
            accept_downloads=True,
        )
        try:
            yield context
        finally:
            context.close()
