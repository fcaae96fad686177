"""Reading a POSTed envelope safely: size first, then UTF-8 JSON, then shape.

The size check happens before the body is read (Content-Length against the API
root's ``max_content_length``) and reading is capped anyway, so a client that
lies about or omits Content-Length cannot make a worker buffer more than the
limit. The envelope's shape is validated with pydantic; the objects themselves
are checked one by one later (``stix_checks``), so one bad object does not
sink the others.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.taxii.errors import TaxiiError


class Envelope(BaseModel):
    """A TAXII 2.1 envelope as posted: ``objects`` must be a non-empty list of JSON objects."""

    model_config = ConfigDict(extra="allow")

    objects: list[dict[str, Any]] = Field(min_length=1)


def read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise TaxiiError(
            413,
            f"The body is {declared} bytes; this API root accepts at most {max_bytes} "
            "(max_content_length).",
        )
    data = request.stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise TaxiiError(
            413, f"The body exceeds this API root's max_content_length of {max_bytes} bytes."
        )
    return data


def parse_envelope(data: bytes) -> Envelope:
    if not data:
        raise TaxiiError(
            400, "The request body is empty; send a TAXII envelope.", error_code="invalid-json"
        )
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise TaxiiError(
            400, f"The body is not valid UTF-8 JSON: {exc}.", error_code="invalid-json"
        ) from None
    if not isinstance(document, dict):
        raise TaxiiError(
            422,
            "The body must be a TAXII envelope: a JSON object with 'objects'.",
            error_code="not-an-envelope",
        )
    try:
        return Envelope.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "envelope"
        raise TaxiiError(
            422,
            f"Not a valid TAXII envelope: {where}: {first['msg']}.",
            error_code="not-an-envelope",
        ) from None
