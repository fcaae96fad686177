"""The analyst console: a browser view of the exchange, served by the same app at ``/console/``.

``init_app(app)`` registers the blueprint and the hook that records when each
partner last published and polled (feed health). The console authenticates
people (analyst accounts, ``server.store.analysts``) with a session cookie,
then authorises every request as the analyst's partner through the TAXII
side's own access checks (``server.taxii.access``), so an analyst sees exactly
what the partner's API key sees.
"""

from __future__ import annotations

from flask import Flask

from server.console.activity import record_partner_activity
from server.console.views import blueprint

CONSOLE_PREFIX = "/console"


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint, url_prefix=CONSOLE_PREFIX)
    app.after_request(record_partner_activity)


def is_console_path(path: str) -> bool:
    """True for URLs the console answers (they skip TAXII's Basic auth and Accept checks)."""
    return path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")
