"""Errors the store raises for requests it cannot honour.

They carry a message meant for an administrator or an API client, so the CLI
can print it on one line and the HTTP layer can put it in a TAXII error body.
Database failures that are not the caller's fault stay SQLAlchemy errors.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error the store raises on purpose."""


class NotFoundError(StoreError, LookupError):
    """A named API root, collection or partner does not exist."""


class AlreadyExistsError(StoreError):
    """Something that must be unique (a partner id, a collection alias) is taken."""


class InvalidInputError(StoreError, ValueError):
    """An argument or an imported file is malformed; the message names the field."""
