"""Reading a POSTed envelope safely: size first, then UTF-8 JSON, then shape.

The size check happens before the body is read (Content-Length against the API
root's ``max_content_length``) and reading is capped anyway, so a client that
lies about or omits Content-Length cannot make a worker buffer more than the
limit. The envelope's shape is checked here (``objects`` a non-empty list of
JSON objects, at most ``max_objects`` of them, refused as a whole past that
with 413, before any per-object work); the objects themselves are checked one
by one later (``stix_checks``), so one bad object does not sink the others.

Numbers outside the signed 64-bit range anywhere in the objects refuse the
request with 422 (``number_out_of_range``). They are found by the per-object
checks' walk of every value (``stix_checks``), chunk by chunk, rather than by
a walk of the whole envelope here: a chunk already handed to the store is
rolled back when a later one holds such a number.

A client that stops sending mid-body is cut off by the server's read timeout
(see ``server.buffering``); the read then fails here and the answer is 408,
never a 5xx.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Request
from gunicorn.http.errors import NoMoreData
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.exceptions import ClientDisconnected

from server.taxii.errors import TaxiiError

DEFAULT_MAX_OBJECTS = 10_000
MAX_BRACES_PER_OBJECT = 50
MIN_INTEGER = -(2**63)
MAX_INTEGER = 2**63 - 1


def number_out_of_range(index: int, where: str) -> TaxiiError:
    """The 422 for a number past signed 64 bits in ``objects[index]``, at ``where`` inside it.

    The JSON parser turns integers past 64 bits into floats and keeps unsigned
    64-bit ones as ints; either way the value would not survive a round trip
    through another lab's parser.
    """
    return TaxiiError(
        422,
        f"objects[{index}]{where[:200]}: a number outside the signed 64-bit range; "
        "JSON parsers disagree on such numbers, so this server refuses them.",
        error_code="number-out-of-range",
    )


# Where a value sits in a document: (parent path, key) links, None at the top.
JsonPath = tuple[Any, str | int] | None


def is_out_of_range(value: Any) -> bool:
    """An integer past signed 64 bits (one past 63 bits is parsed as a float)."""
    kind = type(value)
    return (kind is float and abs(value) >= 2**63) or (
        kind is int and not MIN_INTEGER <= value <= MAX_INTEGER
    )


def spell_path(path: JsonPath) -> str:
    """``[3].x.y[0]`` from the (parent, key) links."""
    parts: list[str] = []
    while path is not None:
        path, key = path
        parts.append(f".{key}" if isinstance(key, str) else f"[{key}]")
    return "".join(reversed(parts))


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
    try:
        data = request.stream.read(max_bytes + 1)
    except (OSError, NoMoreData, ClientDisconnected):
        raise TaxiiError(
            408,
            "The request body did not arrive in time (or the client went away).",
            error_code="body-timeout",
        ) from None
    if len(data) > max_bytes:
        raise TaxiiError(
            413, f"The body exceeds this API root's max_content_length of {max_bytes} bytes."
        )
    return data


def parse_envelope(data: bytes, max_objects: int = DEFAULT_MAX_OBJECTS) -> Envelope:
    if not data:
        raise TaxiiError(
            400, "The request body is empty; send a TAXII envelope.", error_code="invalid-json"
        )
    # Parsing costs memory per JSON container, not per byte: 10 MiB of "{}," is
    # 3.5 million dicts (over 300 MiB). Every "{" or "[" may open one, so their
    # count bounds the parse before it starts; real STIX objects hold a handful.
    braces = data.count(b"{") + data.count(b"[")
    if braces > max_objects * MAX_BRACES_PER_OBJECT:
        raise TaxiiError(
            413,
            f"The envelope holds up to {braces} JSON objects and arrays; this server parses "
            f"at most {max_objects * MAX_BRACES_PER_OBJECT} per request "
            f"({MAX_BRACES_PER_OBJECT} per allowed STIX object). Split it.",
            error_code="too-many-objects",
        )
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise TaxiiError(
            400, f"The body is not valid UTF-8 JSON: {exc}.", error_code="invalid-json"
        ) from None
    if not isinstance(document, dict):
        raise _not_an_envelope("The body must be a TAXII envelope: a JSON object with 'objects'.")
    objects = document.get("objects")
    if not isinstance(objects, list) or not objects:
        raise _not_an_envelope(
            "Not a valid TAXII envelope: objects: must be a non-empty list of JSON objects."
        )
    if len(objects) > max_objects:
        raise TaxiiError(
            413,
            f"The envelope holds {len(objects)} objects; this server accepts at most "
            f"{max_objects} per request (max_objects_per_request). Split it.",
            error_code="too-many-objects",
        )
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise _not_an_envelope(
                f"Not a valid TAXII envelope: objects.{index}: not a JSON object."
            )
    # Already checked: build without pydantic copying every object.
    return Envelope.model_construct(**document)


def _not_an_envelope(description: str) -> TaxiiError:
    return TaxiiError(422, description, error_code="not-an-envelope")
