"""Per-app state reachable from a request: the store, the config, the cursor codec.

``create_app`` builds one ``ServerContext`` and keeps it in
``app.extensions["dx"]``; nothing lives in module globals, so several apps
(tests, or two API processes in one interpreter) never share state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app, g

from server.config import ServerConfig
from server.store.types import Partner
from server.taxii.cursor import CursorCodec

if TYPE_CHECKING:
    from server.store import Store

EXTENSION_KEY = "dx"


@dataclass
class ServerContext:
    config: ServerConfig
    store: Store
    cursors: CursorCodec

    def page_size(self, requested: int | None) -> int:
        """The client's limit, or the default, never above the server maximum."""
        size = self.config.default_page_size if requested is None else requested
        return min(size, self.config.max_page_size)


def server_context() -> ServerContext:
    return current_app.extensions[EXTENSION_KEY]


def current_partner() -> Partner:
    """The partner authenticated for this request (set before any endpoint runs)."""
    return g.dx_partner
