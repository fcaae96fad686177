"""Who gets in and what they see: CSRF, grants and 404s, cookies, login limits, sessions, CLI.

Real server processes over HTTP (``requests``), real databases on both backends.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from server.store import Store
from server.store.analysts import SessionLimits, log_in, session_for
from server.store.rate_limits import LoginLimits
from tests.console.conftest import BACKENDS
from tests.console.harness import (
    LAB_B,
    LAB_C_ONLY,
    SAMPLE_CAMPAIGN,
    SHARED,
    VERSIONED_INDICATOR,
    console,
    csrf_of,
    login_session,
)
from tests.support.server import assert_taxii_error, run_cli

pytestmark = pytest.mark.timeout(600)


def _guessed_urls(url: str) -> list[str]:
    """Everything an analyst of another partner might try for the shared collection."""
    return [
        f"{url}object/{SHARED.id}/{VERSIONED_INDICATOR}",
        f"{url}object/{SHARED.alias}/{VERSIONED_INDICATOR}",
        f"{url}campaign/{SHARED.id}/{SAMPLE_CAMPAIGN}",
        f"{url}campaign/{SHARED.alias}/{SAMPLE_CAMPAIGN}",
        f"{url}id/{VERSIONED_INDICATOR}",
        f"{url}id/{VERSIONED_INDICATOR}?near={SHARED.id}",
        f"{url}search?collection={SHARED.id}",
        f"{url}object/{LAB_C_ONLY.id}/{VERSIONED_INDICATOR}",
        f"{url}object/no-such-collection/{VERSIONED_INDICATOR}",
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_grants_csrf_cookies_and_audit(tmp_path: Path, backend: str) -> None:
    with console(tmp_path, backend) as console_:
        url = console_.url
        alice = login_session(console_, LAB_B["id"], "alice")
        carol = login_session(console_, "lab-c", "carol")

        # Cookies: HttpOnly, SameSite=Strict, scoped to the console; not Secure over plain HTTP.
        fresh = requests.Session()
        login_page = fresh.get(url + "login", timeout=30)
        response = fresh.post(
            url + "login",
            data={
                "login_token": re.search(r'name="login_token" value="([^"]+)"', login_page.text)[1],
                "partner": LAB_B["id"],
                "analyst": "alice",
                "password": console_.passwords[(LAB_B["id"], "alice")],
            },
            allow_redirects=False,
            timeout=30,
        )
        assert response.status_code == 303
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith("dx_console=")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console/" in cookie
        assert "Secure" not in cookie

        # Every page carries the strict policy.
        page = alice.get(url, timeout=30)
        policy = page.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'none'" in policy
        assert "frame-ancestors 'none'" in policy
        assert page.headers["X-Frame-Options"] == "DENY"

        # Lab B's analyst reads the shared object; lab C's analyst gets 404 on every guess,
        # exactly like lab C's API key on the TAXII side.
        assert alice.get(_guessed_urls(url)[0], timeout=30).status_code == 200
        for guess in _guessed_urls(url):
            answer = carol.get(guess, timeout=30)
            assert answer.status_code == 404, (guess, answer.status_code)
            assert VERSIONED_INDICATOR not in answer.text
        taxii = console_.served.client("lab-c")
        assert_taxii_error(taxii.get(f"/exchange/collections/{SHARED.id}/"), 404)
        overview = carol.get(url, timeout=30).text
        assert "Lab C private" in overview and "Shared distillation feed" not in overview
        assert "AS64510" not in carol.get(url + "search?q=as64510", timeout=30).text
        export = carol.post(
            url + "export",
            data={"csrf_token": csrf_of(overview), "collection": SHARED.id},
            timeout=60,
        )
        assert export.status_code == 404

        # State-changing requests without the session's CSRF token are refused.
        token = csrf_of(alice.get(url + "search", timeout=30).text)
        for data in (
            {},
            {"csrf_token": ""},
            {"csrf_token": "x" * 43},
            {"csrf_token": csrf_of(overview)},
        ):
            assert (
                alice.post(
                    url + "export", data={**data, "type": "indicator"}, timeout=60
                ).status_code
                == 403
            )
            assert alice.post(url + "logout", data=data, timeout=30).status_code == 403
        assert alice.get(url, timeout=30).url == url  # still logged in
        # A cross-site form post (a foreign Origin) is refused even with the token.
        foreign = alice.post(
            url + "export",
            data={"csrf_token": token, "type": "indicator"},
            headers={"Origin": "https://evil.example"},
            timeout=60,
        )
        assert foreign.status_code == 403
        # Login without the login form's token (login CSRF) is refused too.
        assert (
            requests.post(url + "login", data={"partner": "lab-b"}, timeout=30).status_code == 403
        )
        exported = alice.post(
            url + "export", data={"csrf_token": token, "type": "campaign"}, timeout=60
        )
        assert exported.status_code == 200
        assert exported.headers["Content-Disposition"].startswith("attachment;")

        # Logout ends the session on the server: the old cookie no longer opens anything.
        old_cookie = alice.cookies.get("dx_console")
        assert alice.post(url + "logout", data={"csrf_token": token}, timeout=30).status_code == 200
        replay = requests.get(url, cookies={"dx_console": old_cookie}, timeout=30)
        assert replay.url.endswith("/console/login")

        # Logins and exports are in the audit log.
        audit = run_cli("audit", "--config", str(console_.served.config_path), "--json").stdout
        assert '"console.login"' in audit and '"console.export"' in audit
        assert '"analyst.add"' in audit


@pytest.mark.parametrize("backend", BACKENDS)
def test_failed_logins_count_with_the_taxii_side(tmp_path: Path, backend: str) -> None:
    with console(tmp_path, backend, login_failures_per_partner=3) as console_:
        url = console_.url

        def attempt(password: str) -> int:
            session = requests.Session()
            page = session.get(url + "login", timeout=30)
            token = re.search(r'name="login_token" value="([^"]+)"', page.text)[1]
            return session.post(
                url + "login",
                data={
                    "login_token": token,
                    "partner": "lab-c",
                    "analyst": "carol",
                    "password": password,
                },
                timeout=30,
            ).status_code

        assert attempt("wrong-1") == 401
        # Two wrong API keys for the same partner id on the TAXII side use up the rest.
        wrong_key = console_.served.client("lab-c")
        wrong_key.api_key = "not-the-key"
        assert wrong_key.get("/taxii2/").status_code == 401
        assert wrong_key.get("/taxii2/").status_code in (401, 429)
        assert attempt("wrong-2") == 429
        assert wrong_key.get("/taxii2/").status_code == 429
        # The partner id is blocked, yet its right password still gets in (as a right key does).
        assert attempt(console_.passwords[("lab-c", "carol")]) == 200


@pytest.mark.parametrize("backend", BACKENDS)
def test_analyst_commands_and_session_expiry(tmp_path: Path, backend: str) -> None:
    with console(tmp_path, backend) as console_:
        config = str(console_.served.config_path)
        url = console_.url
        session = login_session(console_, LAB_B["id"], "alice")

        again = run_cli("add-analyst", "--config", config, LAB_B["id"], "alice", check=False)
        assert again.returncode == 1 and again.stdout == ""
        assert len(again.stderr.strip().splitlines()) == 1 and "already exists" in again.stderr
        bad = run_cli("add-analyst", "--config", config, "no-such-lab", "bob", check=False)
        assert bad.returncode == 1 and "no partner" in bad.stderr

        # Revocation ends open sessions at once and stops logins.
        run_cli("revoke-analyst", "--config", config, LAB_B["id"], "alice")
        assert session.get(url, timeout=30).url.endswith("/console/login")
        with pytest.raises(AssertionError):
            login_session(console_, LAB_B["id"], "alice")
        # Rotation lets the analyst back in with the new password only.
        old = console_.passwords[(LAB_B["id"], "alice")]
        new = run_cli("rotate-analyst", "--config", config, LAB_B["id"], "alice").stdout.strip()
        assert new and new != old
        console_.passwords[(LAB_B["id"], "alice")] = new
        login_session(console_, LAB_B["id"], "alice")

        # Idle and absolute expiry, checked by the store against the real database.
        limits = LoginLimits(per_partner=0, per_address=0, window_us=1)
        with Store(console_.served.database_url) as store:
            token = log_in(store, LAB_B["id"], "alice", new, "127.0.0.1", limits).token
            assert token is not None
            assert session_for(store, token, SessionLimits()) is not None
            assert session_for(store, token, SessionLimits(idle_us=10**12, absolute_us=-1)) is None
            assert session_for(store, token, SessionLimits()) is None  # the expired row is gone
            token = log_in(store, LAB_B["id"], "alice", new, "127.0.0.1", limits).token
            assert session_for(store, token, SessionLimits(idle_us=-1)) is None
