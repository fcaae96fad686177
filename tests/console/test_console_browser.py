"""The console in a real headless Chromium against a real server process, on both backends.

Walks an analyst's session end to end (log in, overview, filter, object and
its versions, campaign, export and validate, log out), takes the README's
screenshots at 1440x900 on the SQLite run (into the test's own directory; with
``DX_UPDATE_SCREENSHOTS=1`` into docs/console/, so a test run never rewrites
tracked files by itself), and shows that hostile content published by a
partner renders as text: no script runs, no dialog opens.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mappings.validation import validate_bundle
from tests.console.conftest import BACKENDS
from tests.console.harness import (
    HOSTILE_CAMPAIGN,
    HOSTILE_INDICATOR,
    LAB_A,
    LAB_B,
    PAYLOADS,
    SAMPLE_CAMPAIGN,
    SCREENSHOTS,
    SHARED,
    VERSIONED_INDICATOR,
    browser,
    console,
    sample_objects,
)

pytestmark = pytest.mark.timeout(600)


def _log_in(page, console_, partner_id: str, name: str) -> None:
    page.goto(console_.url)
    assert page.url.endswith("/console/login")
    page.fill("#partner", partner_id)
    page.fill("#analyst", name)
    page.fill("#password", console_.passwords[(partner_id, name)])
    page.click("#login")
    page.wait_for_url(console_.url)


def _shot(page, name: str, directory: Path | None) -> None:
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(directory / f"{name}.png"))
        assert (directory / f"{name}.png").stat().st_size > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_analyst_session_end_to_end(tmp_path: Path, backend: str) -> None:
    shots = None
    if backend == "sqlite":
        update = os.environ.get("DX_UPDATE_SCREENSHOTS") == "1"
        shots = SCREENSHOTS if update else tmp_path / "screenshots"
    with console(tmp_path, backend) as console_, browser(tmp_path) as context:
        page = context.pages[0] if context.pages else context.new_page()
        _log_in(page, console_, LAB_B["id"], "alice")

        # Overview: collections, counts by type and producer, the activity plot, feed health.
        assert "Shared distillation feed" in page.inner_text("main")
        assert "Lab C private" not in page.inner_text("main")
        by_type = page.inner_text("#by-type")
        assert "indicator" in by_type and "campaign" in by_type
        assert "Lab A" in page.inner_text("#by-producer")
        assert page.locator("svg.plot rect").count() >= 1
        health = page.inner_text("#health")
        assert "lab-a" in health and "lab-b" in health and "lab-c" not in health
        # Lab A published over HTTP in the fixture: feed health saw it.
        lab_a_row = page.locator("#health tbody tr", has_text="lab-a").locator("td")
        assert lab_a_row.nth(1).inner_text() != "never"
        _shot(page, "overview", shots)

        # Search and filter: indicators by Lab A with confidence >= 80, then page on.
        page.click("text=Search")
        page.select_option("#f-type", "indicator")
        page.select_option("#f-producer", LAB_A["identity_ref"])
        page.fill("#f-confidence", "80")
        page.click("#apply")
        page.wait_for_url("**/console/search?*")
        rows = page.locator("#results tbody tr")
        assert rows.count() == 25 and page.locator("#next").count() == 1
        for i in range(rows.count()):
            cells = rows.nth(i).locator("td")
            assert cells.nth(1).inner_text() == "indicator"
            assert cells.nth(3).inner_text() == "Lab A"
            assert int(cells.nth(5).inner_text()) >= 80
        first_page = set(page.locator("#results a.obj").all_inner_texts())
        _shot(page, "search", shots)
        page.click("#next")
        page.wait_for_load_state()
        second = page.locator("#results tbody tr")
        assert second.count() >= 1
        assert "indicator" in second.first.locator("td").nth(1).inner_text()
        page.go_back()

        # Free text narrows to the ranges of one AS.
        page.fill("#f-q", "as64510")
        page.fill("#f-confidence", "")
        page.click("#apply")
        page.wait_for_load_state()
        names = page.locator("#results a.obj").all_inner_texts()
        assert names and all("64510" in name for name in names)
        assert first_page

        # The object with two versions: properties, timeline with the change, relationships.
        page.goto(f"{console_.url}object/{SHARED.id}/{VERSIONED_INDICATOR}")
        assert "AS64510 EXAMPLE-HOSTING-EU" in page.inner_text("#object-title")
        assert page.locator("#object-title .tlp").count() == 1
        versions = page.inner_text("#versions")
        original = next(o for o in sample_objects() if o["id"] == VERSIONED_INDICATOR)
        assert original["modified"] in versions and "2026-05-02T10:00:00.000Z" in versions
        changes = page.locator("#versions table.changes").inner_text()
        assert "confidence" in changes and str(original["confidence"]) in changes
        assert "95" in changes
        assert "indicates" in page.inner_text("#refs-in")
        assert "seen 42 times" in page.inner_text("#feedback")
        _shot(page, "object", shots)
        page.click("#refs-in a >> nth=0")
        page.wait_for_load_state()
        assert "/console/object/" in page.url

        # The campaign page: the graph picture and the labs behind each observable.
        page.goto(f"{console_.url}object/{SHARED.id}/{SAMPLE_CAMPAIGN}")
        page.click("#campaign-link")
        page.wait_for_url(f"**/console/campaign/{SHARED.id}/{SAMPLE_CAMPAIGN}")
        assert page.locator("#graph circle").count() > 20
        assert page.locator("#graph line").count() > 20
        graph_text = page.text_content("#graph")
        assert "Lab A" in graph_text
        shared = page.inner_text("#shared")
        assert "prompt-fingerprint" in shared and "Lab A" in shared
        _shot(page, "campaign", shots)

        # Export the current filter: a download, a bundle the project's validator accepts.
        page.goto(
            f"{console_.url}search?type=indicator&producer={LAB_A['identity_ref']}&confidence=50"
        )
        with page.expect_download() as download_info:
            page.click("#export")
        bundle = json.loads(Path(download_info.value.path()).read_text(encoding="utf-8"))
        assert bundle["type"] == "bundle"
        exported = {o["id"]: o for o in bundle["objects"]}
        indicators = [o for o in exported.values() if o["type"] == "indicator"]
        expected = [
            o
            for o in sample_objects()
            if o["type"] == "indicator"
            and o.get("created_by_ref") == LAB_A["identity_ref"]
            and o.get("confidence", -1) >= 50
            and not o.get("revoked")
        ]
        assert len(indicators) == len(expected)  # the hostile one has no confidence
        assert exported[VERSIONED_INDICATOR]["confidence"] == 95  # latest version
        assert LAB_A["identity_ref"] in exported  # the creator travels with its objects
        report = validate_bundle(bundle)
        assert report.ok, report.errors[:5]

        # Log out: back to the login page, and the console is closed again.
        page.click("#logout")
        page.wait_for_url("**/console/login")
        _shot(page, "login", shots)
        page.goto(console_.url)
        assert page.url.endswith("/console/login")


@pytest.mark.parametrize("backend", BACKENDS)
def test_hostile_content_renders_as_text_and_runs_nothing(tmp_path: Path, backend: str) -> None:
    with console(tmp_path, backend) as console_, browser(tmp_path) as context:
        page = context.pages[0] if context.pages else context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        _log_in(page, console_, LAB_B["id"], "alice")
        visits = [
            console_.url,
            f"{console_.url}search?q=script",
            f"{console_.url}search?type=campaign&revoked=include",
            f"{console_.url}object/{SHARED.id}/{HOSTILE_INDICATOR}",
            f"{console_.url}object/{SHARED.id}/{HOSTILE_CAMPAIGN}",
            f"{console_.url}campaign/{SHARED.id}/{HOSTILE_CAMPAIGN}",
        ]
        for url in visits:
            page.goto(url)
            page.wait_for_load_state("load")
            assert page.evaluate("() => window.__dx_pwned === undefined"), url
            assert page.locator("script").count() == 0, url
            assert page.locator("main iframe, main img").count() == 0, url
            assert page.locator("main").is_visible(), url  # the injected style hid nothing
            # No link the content could choose: every href stays inside the console.
            hrefs = page.eval_on_selector_all(
                "a[href]", "els => els.map(e => e.getAttribute('href'))"
            )
            assert hrefs and all(h.startswith("/console/") for h in hrefs), (url, hrefs)

        page.goto(f"{console_.url}object/{SHARED.id}/{HOSTILE_INDICATOR}")
        text = page.inner_text("main")
        for payload in PAYLOADS:
            assert payload in text  # shown literally, as the partner wrote it
        assert PAYLOADS[0] in page.inner_text("#object-title")
        page.goto(f"{console_.url}search?q=script")
        assert PAYLOADS[0] in page.inner_text("#results")
        page.goto(f"{console_.url}campaign/{SHARED.id}/{HOSTILE_CAMPAIGN}")
        assert PAYLOADS[1] in page.inner_text("#campaign-title")
        assert dialogs == []
        assert page.evaluate("() => window.__dx_pwned === undefined")
