"""The server's durable store: SQLite or PostgreSQL behind one code path.

Use ``Store(url)`` (see ``server.store.store``); values in and out are the
dataclasses of ``server.store.types``; timestamps helpers are in
``server.store.timestamps``.
"""

from server.store.errors import (
    AlreadyExistsError,
    InvalidInputError,
    NotFoundError,
    StoreError,
)
from server.store.store import Store

__all__ = [
    "AlreadyExistsError",
    "InvalidInputError",
    "NotFoundError",
    "Store",
    "StoreError",
]
