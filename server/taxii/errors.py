"""TAXII error bodies for every failure, so clients never see HTML or a stack trace.

TAXII 2.1 section 3.6.1 defines the error message (``title``, ``description``,
``http_status`` as a string, ``error_code``, ``error_id``...). Every 4xx and 5xx
this server sends carries one, including the ones Flask/Werkzeug raise on their
own (unknown route, wrong method, oversize body) and unexpected exceptions.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping

import orjson
from flask import Flask, Response
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from server.store.errors import InvalidInputError, NotFoundError
from server.taxii.media import TAXII_CONTENT_TYPE

log = logging.getLogger(__name__)

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class TaxiiError(Exception):
    """An error to answer with a TAXII error body; raise it anywhere in a request."""

    def __init__(
        self,
        status: int,
        description: str,
        *,
        error_code: str | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.error_code = error_code or _default_code(status)
        self.title = title or _TITLES.get(status, "Error")
        self.headers = dict(headers or {})
        self.details = dict(details) if details else None


def _default_code(status: int) -> str:
    return _TITLES.get(status, "error").lower().replace(" ", "-")


def error_response(error: TaxiiError) -> Response:
    body: dict[str, object] = {
        "title": error.title,
        "description": error.description,
        "http_status": str(error.status),
        "error_code": error.error_code,
    }
    if error.status >= 500:
        body["error_id"] = str(uuid.uuid4())
    if error.details:
        body["details"] = error.details
    headers = {"Content-Type": TAXII_CONTENT_TYPE, **error.headers}
    return Response(orjson.dumps(body), status=error.status, headers=headers)


def _from_http_exception(exc: HTTPException) -> TaxiiError:
    """Werkzeug's own errors (routing, 405, 413...) re-dressed as TAXII errors."""
    status = exc.code or 500
    headers: dict[str, str] = {}
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        allowed = sorted(set(exc.valid_methods) - {"OPTIONS"})
        headers["Allow"] = ", ".join(allowed)
        description = f"This endpoint allows only: {', '.join(allowed)}."
    elif status == 404:
        description = "No TAXII endpoint at this URL (TAXII 2.1 URLs end with '/')."
    elif status == 413:
        description = "The request body is larger than this server accepts."
    else:
        description = exc.description or _TITLES.get(status, "Error")
    return TaxiiError(status, description, headers=headers)


def register_error_handlers(app: Flask) -> None:
    """Route every exception, expected or not, to a TAXII error body."""

    @app.errorhandler(TaxiiError)
    def _taxii(error: TaxiiError) -> Response:
        return error_response(error)

    @app.errorhandler(NotFoundError)
    def _store_not_found(error: NotFoundError) -> Response:
        # E.g. a collection removed between our lookup and the write.
        return error_response(TaxiiError(404, str(error), error_code="not-found"))

    @app.errorhandler(InvalidInputError)
    def _store_invalid(error: InvalidInputError) -> Response:
        return error_response(TaxiiError(400, str(error), error_code="invalid-input"))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return error_response(_from_http_exception(exc))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if isinstance(exc, HTTPException):  # pragma: no cover - handled above
            return _http(exc)
        if isinstance(exc, OperationalError):
            # The database is busy or briefly unreachable: the client can retry.
            log.warning("storage unavailable: %s", exc.orig)
            return error_response(
                TaxiiError(
                    503,
                    "The store is temporarily unavailable; retry shortly.",
                    headers={"Retry-After": "1"},
                )
            )
        error = TaxiiError(500, "The server failed to handle this request; it has been logged.")
        response = error_response(error)
        body = orjson.loads(response.get_data())
        log.exception("unhandled error %s", body.get("error_id"))
        return response
