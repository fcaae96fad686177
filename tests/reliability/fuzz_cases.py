"""Hand-picked hostile requests the fuzz always sends, besides what hypothesis draws.

Each names one attack from the brief (or one failure the fuzz once found, marked
"regression"), so that it is tried on every run whatever the random budget
reaches. Cases named "regression: ..." once made the server fail (a 500 on
PostgreSQL, where text cannot hold NUL) before the fix that came with them.
``@fuzzer`` in an Authorization header stands for the fuzzing
partner's valid credentials (only known once the server runs).
"""

from __future__ import annotations

import base64
from urllib.parse import quote

import orjson

from tests.reliability.fuzz_http import RawRequest
from tests.reliability.fuzz_target import (
    FUZZER_IDENTITY,
    GUARDED,
    HIDDEN,
    MAX_CONTENT_LENGTH,
    OWNER_OBJECTS,
    PLAYGROUND,
)
from tests.support.server import TAXII, indicator

CREDENTIALS_PLACEHOLDER = b"@fuzzer"
UNKNOWN_STATUS = b"5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
OK = ((b"Authorization", CREDENTIALS_PLACEHOLDER), (b"Accept", TAXII.encode()))
POSTING = (*OK, (b"Content-Type", TAXII.encode()))
OBJECTS = f"/exchange/collections/{PLAYGROUND}/objects/".encode()
GUARDED_OBJECTS = f"/exchange/collections/{GUARDED}/objects/".encode()
# An owner's object in the playground, where the fuzzer may write and delete its own.
OWNER_OBJECT = OWNER_OBJECTS[PLAYGROUND][0]["id"].encode()


def with_credentials(request: RawRequest, header: bytes) -> RawRequest:
    """``request`` with the credentials placeholder replaced by a real Authorization value."""
    headers = tuple(
        (name, header if value == CREDENTIALS_PLACEHOLDER else value)
        for name, value in request.headers
    )
    return RawRequest(
        request.method,
        request.target,
        headers,
        request.body,
        request.content_length,
        request.chunked,
        request.operation,
        request.pristine,
        request.label,
        request.expect,
    )


def get(label: str, target: bytes, expect: int | None = None, headers=OK) -> RawRequest:
    return RawRequest("GET", target, tuple(headers), label=label, expect=expect)


def post(label: str, body: bytes, expect: int | None = None, **kw) -> RawRequest:
    return RawRequest(
        "POST", OBJECTS, kw.pop("headers", POSTING), body, label=label, expect=expect, **kw
    )


def _basic(raw: bytes) -> bytes:
    return b"Basic " + base64.b64encode(raw)


def _envelope_with(**fields: object) -> bytes:
    return orjson.dumps({"objects": [dict(indicator(FUZZER_IDENTITY), **fields)]})


EXPLICIT: list[RawRequest] = [
    # headers
    get("huge header value", b"/taxii2/", 431, (*OK, (b"X-Huge", b"x" * 20_000))),
    get("too many headers", b"/taxii2/", 431, (*OK, *((b"X-%d" % i, b"v") for i in range(200)))),
    get("huge authorization", b"/taxii2/", None, ((b"Authorization", b"Basic " + b"Q" * 8000),)),
    get("nul in header", b"/taxii2/", 400, (*OK, (b"X-Nul", b"a\x00b"))),
    get("accept q=nan", b"/taxii2/", None, ((OK[0]), (b"Accept", b"application/taxii+json;q=nan"))),
    get(
        "regression: credentials with nul",
        b"/taxii2/",
        401,
        ((b"Authorization", _basic(b"lab\x00fuzz:k\x00")),),
    ),
    get(
        "credentials sql",
        b"/taxii2/",
        401,
        ((b"Authorization", _basic(b"' OR 1=1 --:x' OR '1'='1")),),
    ),
    get("credentials latin-1", b"/taxii2/", 401, ((b"Authorization", b"Basic \xe9\xe9\xe9"),)),
    # filters and ids
    get("sql in match[id]", OBJECTS + b"?match[id]=indicator--'%20OR%201=1--", 400),
    get("sql in match[type]", OBJECTS + b"?match[type]=indicator'%20OR%20'1'='1", 400),
    get("like wildcard in match[type]", OBJECTS + b"?match[type]=%25", 400),
    get("like wildcard in match[id]", OBJECTS + b"?match[id]=indicator--%25", 400),
    get("underscore id", OBJECTS + b"?match[id]=indicator--" + b"_" * 36, 400),
    get("nul in match[version]", OBJECTS + b"?match[version]=last%00", 400),
    get("nul in added_after", OBJECTS + b"?added_after=2026-01-01T00:00:00Z%00", 400),
    get("confusable digits in limit", OBJECTS + b"?limit=%EF%BC%91", 400),  # fullwidth 1
    get("arabic digits in added_after", OBJECTS + b"?added_after=%D9%A2026-01-01T00:00:00Z", 400),
    get("regression: nul in collection id", b"/exchange/collections/%00/", 404),
    get("regression: nul in api root", b"/exch%00ange/collections/", 404),
    get(
        "regression: nul in a status's api root",
        b"/exch%00ange/status/" + UNKNOWN_STATUS + b"/",
        404,
    ),
    get("regression: nul in objects' collection", b"/exchange/collections/a%00/objects/", 404),
    get("nul in status id", b"/exchange/status/%00/", 404),
    get("nul in object id", OBJECTS + b"indicator--%00/", 404),
    get("like wildcard collection", b"/exchange/collections/%25/", 404),
    get("underscore collection", b"/exchange/collections/" + b"_" * 36 + b"/", 404),
    get("cyrillic api root", quote("/\u0435\u0445change/collections/").encode(), 404),
    get(
        "fullwidth collection alias",
        quote("/exchange/collections/\uff50\uff4c\uff41\uff59ground/").encode(),
        404,
    ),
    get(
        "alias with trailing zero-width",
        quote("/exchange/collections/playground\u200b/").encode(),
        404,
    ),
    get("hidden collection by id", f"/exchange/collections/{HIDDEN}/objects/".encode(), 404),
    get("invalid utf-8 in query", OBJECTS + b"?match[type]=%ff%fe", 400),
    get("raw invalid utf-8 in path", b"/exchange/collections/\xff\xfe/", None),
    # path tricks
    get(
        "dot-dot to a hidden collection", OBJECTS + b"../../" + HIDDEN.encode() + b"/objects/", 404
    ),
    # WSGI decodes %2F before routing, so this is /exchange/collections// (served).
    get("encoded slash", b"/exchange%2Fcollections%2F/"),
    get("double-encoded slash", b"/exchange%252Fcollections/", 404),
    get("no trailing slash", OBJECTS.rstrip(b"/"), 200),
    get("two trailing slashes", OBJECTS + b"/"),
    get("very long path", b"/exchange/collections/" + b"a" * 9000 + b"/", 414),
    get("long but allowed path", b"/exchange/collections/" + b"a" * 7000 + b"/", 404),
    get("backslashes", b"\\exchange\\collections\\", None),
    get("absolute-form target", b"http://127.0.0.1/taxii2/", None),
    get("asterisk target", b"*", None),
    # bodies
    post("huge body", b'{"objects":[' + b" " * (MAX_CONTENT_LENGTH + 10) + b"]}", 413),
    post("deeply nested arrays", b'{"objects":[{"x":' + b"[" * 5000 + b"]" * 5000 + b"}]}", 400),
    post("deeply nested objects", b'{"objects":[' + b'{"a":' * 1100 + b"1" + b"}" * 1101 + b"]}"),
    post("nesting just allowed", b'{"objects":[{"x":' + b"[" * 1000 + b"]" * 1000 + b"}]}"),
    post("invalid utf-8", b'{"objects":[{"type":"\xc3\x28"}]}', 400),
    post("nan", b'{"objects":[{"x":NaN}]}', 400),
    post("infinity", b'{"objects":[{"x":-Infinity}]}', 400),
    post("duplicate keys", b'{"objects":[],"objects":[{"type":"indicator","type":"x"}]}', 202),
    post("wrong types", b'{"objects":[{"type":1,"id":[],"created":{}}]}', 202),
    post("huge integer", b'{"objects":[{"n":123456789012345678901234567890}]}'),
    post(
        "huge integer in a valid object",
        _envelope_with(x_n=123454321).replace(b"123454321", b"1" * 40),
    ),
    post("nul in an object string", _envelope_with(name="a\x00b"), 202),
    post("nul in an object id", _envelope_with(id="indicator--\x00"), 202),
    post("nul in a key", _envelope_with(**{"x_\x00": 1}), 202),
    post("lone surrogate escape", b'{"objects":[{"type":"\\udc00"}]}', 400),
    post("someone else's object id", _envelope_with(id=OWNER_OBJECT.decode()), 202),
    post("chunked", _envelope_with(), 202, chunked=True),
    post("content-length short", _envelope_with(), None, content_length=b"10"),
    post("content-length long", _envelope_with(), None, content_length=b"100000"),
    post("content-length negative", _envelope_with(), 400, content_length=b"-5"),
    post("content-length junk", _envelope_with(), 400, content_length=b"5x"),
    RawRequest(
        "POST", GUARDED_OBJECTS, POSTING, _envelope_with(), label="read-only post", expect=403
    ),
    RawRequest(
        "DELETE",
        OBJECTS + OWNER_OBJECT + b"/",
        OK,
        label="delete someone else's object",
        expect=403,
    ),
    RawRequest(
        "DELETE",
        OBJECTS + OWNER_OBJECT + b"/?match[version]=%25",
        OK,
        label="delete with wildcard version",
        expect=400,
    ),
    RawRequest(
        "DELETE", GUARDED_OBJECTS + OWNER_OBJECT + b"/", OK, label="delete read-only", expect=403
    ),
    RawRequest("PUT", OBJECTS, POSTING, _envelope_with(), label="put", expect=405),
    RawRequest("FOO", OBJECTS, OK, label="unknown method"),
    RawRequest("TRACE", b"/taxii2/", OK, label="trace", expect=405),
    RawRequest("HEAD", OBJECTS, OK, label="head", expect=200),
]
