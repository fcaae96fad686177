"""Hypothesis strategies for hostile TAXII requests, built from docs/openapi.yaml.

Each drawn request starts from one operation of the description: its path
template, method, path and query parameters, whether it takes a body. Every
part is then either valid (the description's examples and patterns, and ids
that really exist on the target) or hostile: injection strings (SQL, LIKE
wildcards, NUL, format strings), unicode confusables, invalid UTF-8, huge
values; path tricks (dot segments, encoded and double-encoded slashes,
missing or doubled slashes, very long paths); wrong methods; broken or huge
headers; bodies that are huge, deeply nested, not UTF-8, not JSON, NaN,
duplicate keys or the wrong types. Mostly-valid requests matter as much as
garbage: they reach the store, where the interesting failures live.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from urllib.parse import quote

import orjson
from hypothesis import strategies as st

from tests.reliability.fuzz_http import RawRequest
from tests.reliability.fuzz_openapi import TAXII, Operation, Parameter, operations
from tests.reliability.fuzz_target import (
    API_ROOT,
    COLLECTIONS,
    FUZZER,
    FUZZER_IDENTITY,
    MAX_CONTENT_LENGTH,
    OWNER,
    OWNER_IDENTITY,
    OWNER_OBJECT_IDS,
    OWNER_OBJECTS,
    PLAYGROUND,
    PLAYGROUND_ALIAS,
    Live,
)

INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE objects; --",
    '" OR ""="',
    "1) OR (1=1",
    "x' UNION SELECT api_key_hash FROM partners --",
    "%",
    "_",
    "%%",
    "%_%",
    "indicator--%",
    "indicator--________-____-____-____-____________",
    "*",
    "\\",
    "\\'",
    "\x00",
    "a\x00b",
    "indicator--\x00",
    "..",
    "../",
    "..\\..\\",
    "%2e%2e",
    "%252e%252e%252f",
    "/etc/passwd",
    "${jndi:ldap://127.0.0.1/x}",
    "{{7*7}}",
    "%s%s%s%n",
    "<script>alert(1)</script>",
    "\u202eexchange",
    "\u0435\u0445change",  # Cyrillic e and kha
    "\uff45\uff58\uff43\uff48\uff41\uff4e\uff47\uff45",  # fullwidth "exchange"
    "exchange\u200b",
    "İndicator",
    "\ufeff",
    "\ud800",  # a lone surrogate: not encodable as UTF-8, sent as its raw bytes
    "\U0001f600",
    "null",
    "true",
    "-1",
    "0",
    "1e309",
    "NaN",
    "9" * 40,
    "",
    " ",
    "\t\r\n",
]

PLAYGROUND_OWNER_IDS = sorted({o["id"] for o in OWNER_OBJECTS[PLAYGROUND]})
UNKNOWN_OBJECT_ID = f"indicator--{uuid.UUID(int=404, version=4)}"
UNKNOWN_STATUS_ID = str(uuid.UUID(int=4040, version=4))
CONFUSABLE_ALPHABET = (
    "aeoxcpiIlL10-_.%'\"\\/\x00\u0430\u0435\u043e\u0445\u0441\u0440\u0456\u200b\u202e"
)


def encode_text(value: str) -> bytes:
    """UTF-8, keeping lone surrogates as their (invalid) three bytes."""
    return value.encode("utf-8", "surrogatepass")


@cache
def hostile_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(INJECTIONS),
        st.text(alphabet=CONFUSABLE_ALPHABET, max_size=40),
        st.text(max_size=30),
        st.integers(min_value=300, max_value=12_000).map(lambda n: "A" * n),
    )


def _mutated(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A valid value with something hostile spliced in."""
    return st.tuples(valid, st.sampled_from(INJECTIONS), st.integers(0, 60)).map(
        lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :]
    )


STIX_TYPES = (
    "indicator",
    "identity",
    "ipv4-addr",
    "attack-pattern",
    "x-custom",
    "marking-definition",
)


def _timestamp(moment: datetime, digits: int) -> str:
    fraction = f"{moment.microsecond:06d}000"[:digits]
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if digits else "") + "Z"


TIMESTAMPS = st.builds(
    _timestamp,
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    st.integers(0, 9),
)
STIX_IDS = st.builds(lambda t, u: f"{t}--{u}", st.sampled_from(STIX_TYPES), st.uuids())


def _comma_list(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(values, min_size=1, max_size=6).map(",".join)


# Valid values by query parameter, beyond the description's examples. Written out
# rather than drawn from the description's regular expressions: hypothesis's
# regex generation costs tens of milliseconds per draw for these list patterns.
VALID_VALUES: dict[str, st.SearchStrategy[str]] = {
    "added_after": TIMESTAMPS,
    "limit": st.integers(1, 2**53 - 1).map(str),
    "next": st.just("QUJD.REVG"),  # well-formed, never issued
    "match[id]": _comma_list(STIX_IDS),
    "match[type]": _comma_list(st.sampled_from(STIX_TYPES)),
    "match[version]": _comma_list(st.one_of(st.sampled_from(["first", "last"]), TIMESTAMPS)),
    "match[spec_version]": _comma_list(st.sampled_from(["2.0", "2.1", "2.2", "999.999"])),
}


@cache
def _from_schema(parameter: Parameter) -> st.SearchStrategy[str]:
    choices: list[st.SearchStrategy[str]] = []
    if parameter.examples:
        choices.append(st.sampled_from(parameter.examples))
    if parameter.name in VALID_VALUES:
        choices.append(VALID_VALUES[parameter.name])
    return st.one_of(*choices) if choices else st.text(max_size=20)


@dataclass(frozen=True)
class Known:
    """Values that exist on the target, so that valid-looking requests reach the store."""

    live: Live

    def path_values(self, name: str) -> list[str]:
        if name == "api_root":
            return [API_ROOT]
        # The playground and its owner's objects are listed twice: the fuzzer may
        # write and delete there, so that is where a broken ownership check would show.
        if name == "collection_id":
            return [c.id for c in COLLECTIONS] + [PLAYGROUND, PLAYGROUND_ALIAS]
        if name == "object_id":
            return [
                *OWNER_OBJECT_IDS,
                *PLAYGROUND_OWNER_IDS,
                self.live.fuzzer_object_id,
                UNKNOWN_OBJECT_ID,
            ]
        if name == "status_id":
            return [self.live.owner_status_id, self.live.fuzzer_status_id, UNKNOWN_STATUS_ID]
        return []

    def query_values(self, name: str) -> list[str]:
        if name == "next":
            return [self.live.next_token]
        if name == "match[id]":
            return [*OWNER_OBJECT_IDS, ",".join(OWNER_OBJECT_IDS[:3])]
        return []


@cache
def parameter_value(known: Known, parameter: Parameter) -> st.SearchStrategy[str]:
    known_values = (
        known.path_values(parameter.name)
        if parameter.location == "path"
        else known.query_values(parameter.name)
    )
    valid = st.sampled_from(known_values) if known_values else _from_schema(parameter)
    if known_values and parameter.location == "query":
        valid = st.one_of(valid, _from_schema(parameter))
    return st.one_of(valid, valid, valid, hostile_text(), _mutated(valid))


def _encode_segment(value: str, how: str) -> bytes:
    raw = encode_text(value)
    if how == "quoted":
        return quote(raw, safe="").encode()
    if how == "slashes-kept":
        return quote(raw, safe="/").encode()
    if how == "double":
        return quote(quote(raw, safe=""), safe="").encode()
    return raw  # "raw": whatever bytes the value has, spaces and all


def _encode_query(pairs: list[tuple[str, str]], how: str) -> bytes:
    if not pairs:
        return b""
    if how == "raw":
        return b"?" + b"&".join(encode_text(k) + b"=" + encode_text(v) for k, v in pairs)
    safe = ",[]" if how == "brackets-kept" else ""
    return b"?" + b"&".join(
        quote(encode_text(k), safe="[]").encode() + b"=" + quote(encode_text(v), safe=safe).encode()
        for k, v in pairs
    )


PATH_TRICKS = [
    "none",
    "no-trailing-slash",
    "double-slash",
    "dot-dot",
    "dot",
    "encoded-slash",
    "double-encoded-slash",
    "extra-segment",
    "very-long",
    "upper-case",
    "semicolon",
    "backslash",
]


def _apply_trick(path: bytes, trick: str) -> bytes:
    if trick == "no-trailing-slash":
        return path.rstrip(b"/") or b"/"
    if trick == "double-slash":
        return path.replace(b"/", b"//", 2)
    if trick == "dot-dot":
        return path + b"../" + path.lstrip(b"/")
    if trick == "dot":
        return path.replace(b"/", b"/./", 1)
    if trick == "encoded-slash":
        return path.rstrip(b"/").replace(b"/", b"%2F") + b"/"
    if trick == "double-encoded-slash":
        return path.rstrip(b"/").replace(b"/", b"%252F") + b"/"
    if trick == "extra-segment":
        return path + b"extra/"
    if trick == "very-long":
        return path + b"a" * 9000 + b"/"
    if trick == "upper-case":
        return path.upper()
    if trick == "semicolon":
        return path.rstrip(b"/") + b";jsessionid=1/"
    if trick == "backslash":
        return path.replace(b"/", b"\\")
    return path


def _basic(user: bytes, password: bytes) -> bytes:
    return b"Basic " + base64.b64encode(user + b":" + password)


@cache
def authorization(known: Known) -> st.SearchStrategy[bytes | None]:
    good = _basic(FUZZER.encode(), known.live.fuzzer_key.encode())
    hostile_user = hostile_text().map(encode_text)
    bad = st.one_of(
        st.none(),
        st.just(_basic(FUZZER.encode(), b"not-the-key")),
        st.just(_basic(OWNER.encode(), known.live.fuzzer_key.encode())),
        st.tuples(hostile_user, hostile_user).map(lambda t: _basic(*t)),
        st.tuples(st.just(FUZZER.encode()), hostile_user).map(lambda t: _basic(*t)),
        st.sampled_from(
            [
                b"Bearer abc.def",
                b"Basic",
                b"Basic ===",
                b"Basic \xff\xfe",
                b"basic " + base64.b64encode(b"\x00:\x00"),
                good + b" trailing",
                good.lower(),
                b'Digest username="lab-fuzz"',
            ]
        ),
        st.integers(1_000, 20_000).map(lambda n: b"Basic " + b"A" * n),
    )
    return st.one_of(st.just(good), st.just(good), st.just(good), st.just(good), bad)


ACCEPTS = [
    TAXII.encode(),
    b"application/taxii+json",
    b"application/taxii+json; version=2.1; q=0.5, */*;q=0.1",
]
BAD_ACCEPTS = [
    b"*/*",
    b"application/json",
    b"application/taxii+json;version=2.0",
    b"application/taxii+json;q=0",
    b"application/taxii+json;q=nan",
    b"application/taxii+json;q=-1",
    b"application/taxii+json;version",
    b"application/taxii+json;" * 500,
    b",".join([b"text/html"] * 300),
    b"\xff\xfe",
    b"application/stix+json;version=2.1",
]
CONTENT_TYPES = [TAXII.encode(), b"application/taxii+json", TAXII.encode() + b";charset=utf-8"]
BAD_CONTENT_TYPES = [
    b"application/json",
    b"text/plain",
    b"application/taxii+json;version=2.0",
    TAXII.encode() + b";charset=latin-1",
    TAXII.encode() + b", application/json",
    b"multipart/form-data; boundary=x",
    b"application/x-www-form-urlencoded",
    b"",
]


@cache
def _header_value(
    good: tuple[bytes, ...], bad: tuple[bytes, ...]
) -> st.SearchStrategy[bytes | None]:
    return st.one_of(
        st.sampled_from(good),
        st.sampled_from(good),
        st.sampled_from(good),
        st.sampled_from(bad),
        st.none(),
        hostile_text().map(lambda s: encode_text(s).replace(b"\r", b"").replace(b"\n", b"")),
    )


EXTRA_HEADERS = st.sampled_from(
    [
        [],
        [],
        [],
        [(b"X-Forwarded-For", b"' OR 1=1 --, 127.0.0.1")],
        [(b"X-Forwarded-For", b"999.999.999.999")],
        [(b"X-Huge", b"x" * 9000)],
        [(b"X-Many-%d" % i, b"v") for i in range(120)],
        [(b"X-Nul", b"a\x00b")],
        [(b"Bad Header", b"v")],
        [(b"X-Obs-Fold", b"a\r\n b")],
        [(b"Expect", b"100-continue")],
        [(b"Transfer-Encoding", b"gzip")],
        [(b"Transfer-Encoding", b"chunked, chunked")],
        [(b"Content-Encoding", b"gzip")],
        [(b"Range", b"bytes=0-10")],
        [(b"If-None-Match", b"*")],
        [(b"Authorization", b"Basic Zm9vOmJhcg==")],  # a second, different Authorization
        [(b"Accept", b"application/json")],  # a second Accept
    ]
)


def _new_object(identity: str, uid: uuid.UUID, stix_type: str = "indicator") -> dict:
    return {
        "type": stix_type,
        "spec_version": "2.1",
        "id": f"{stix_type}--{uid}",
        "created": "2026-03-01T00:00:00.000Z",
        "modified": "2026-03-01T00:00:00.000Z",
        "created_by_ref": identity,
        "name": "fuzzed",
        "pattern": "[ipv4-addr:value = '198.51.100.1']",
        "pattern_type": "stix",
        "valid_from": "2026-03-01T00:00:00Z",
    }


JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(INJECTIONS).filter(lambda s: "\ud800" not in s),
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=15,
)
FIELDS = [
    "type",
    "id",
    "spec_version",
    "created",
    "modified",
    "created_by_ref",
    "object_marking_refs",
    "name",
    "pattern",
    "revoked",
    "labels",
    "extensions",
]


@st.composite
def _tampered_object(draw: st.DrawFn) -> dict:
    """A plausible object with a few fields set to hostile values or wrong types."""
    identity = draw(st.sampled_from([FUZZER_IDENTITY, FUZZER_IDENTITY, OWNER_IDENTITY]))
    obj = _new_object(
        identity,
        draw(st.uuids(version=4)),
        draw(st.sampled_from(["indicator", "identity", "x-custom"])),
    )
    if draw(st.booleans()):
        obj["id"] = draw(st.sampled_from(OWNER_OBJECT_IDS))  # someone else's object
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
        obj[name] = draw(st.one_of(JSON_VALUES, hostile_text()))
    return obj


def _nested(depth: int, opener: bytes = b"[") -> bytes:
    closer = b"]" if opener == b"[" else b"}"
    if opener == b"{":
        return b'{"objects":[' + b'{"a":' * depth + b"1" + closer * depth + b"]}"
    return b'{"objects":[{"x":' + opener * depth + closer * depth + b"}]}"


def _envelope(objects: list[dict]) -> bytes:
    return _safe_dumps({"objects": objects})


def _safe_dumps(value: object) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return b'{"objects":[{"n":123456789012345678901234567890}]}'  # ints orjson cannot write


@cache
def valid_bodies() -> st.SearchStrategy[bytes]:
    """Envelopes that reach the object checks and the store: valid, or with tampered objects."""
    valid = st.lists(st.uuids(version=4), min_size=1, max_size=5).map(
        lambda uids: _envelope([_new_object(FUZZER_IDENTITY, uid) for uid in uids])
    )
    tampered = st.lists(_tampered_object(), min_size=1, max_size=4).map(_envelope)
    return st.one_of(valid, tampered)


@cache
def bodies() -> st.SearchStrategy[bytes]:
    valid = st.lists(st.uuids(version=4), min_size=1, max_size=5).map(
        lambda uids: _envelope([_new_object(FUZZER_IDENTITY, uid) for uid in uids])
    )
    near_limit = st.uuids(version=4).map(
        lambda uid: _envelope(
            [dict(_new_object(FUZZER_IDENTITY, uid), description="d" * (MAX_CONTENT_LENGTH - 600))]
        )
    )
    raw = st.sampled_from(
        [
            b"",
            b"{",
            b"null",
            b"[]",
            b"{}",
            b'{"objects": []}',
            b'{"objects": null}',
            b'{"objects": "x"}',
            b'{"objects": [1, "a", null]}',
            b'{"objects": [{"x": NaN}]}',
            b'{"objects": [{"x": Infinity, "y": -Infinity}]}',
            b'{"objects": [{"n": 1e99999}]}',
            b'{"objects": [{"n": 123456789012345678901234567890}]}',
            b'{"objects": [{"n": -123456789012345678901234567890}]}',
            b'{"objects": [{"type": "\\ud800"}]}',
            b'{"objects": [{"type": "indicator\\u0000"}]}',
            b'{"objects": [{"type": "\xff\xfe"}]}',
            b'\xef\xbb\xbf{"objects": [{}]}',
            b'\xff\xfe{\x00"\x00',
            b'{"objects": [{}], "objects": [{"type": 1}]}',
            b'{"objects": [{"id": "a", "id": "b", "type": "indicator", "type": 2}]}',
            b'{"objects": [{}]} trailing',
            b"\x00" * 64,
            b"A" * (MAX_CONTENT_LENGTH + 1),
            b'{"objects": [' + b"{}," * 30_000 + b"{}]}",
        ]
    )
    tampered = st.lists(_tampered_object(), min_size=1, max_size=4).map(_envelope)
    shaped = JSON_VALUES.map(
        lambda v: _safe_dumps({"objects": [v] if not isinstance(v, list) else v})
    )
    nested = st.tuples(st.integers(100, 3000), st.sampled_from([b"[", b"{"])).map(
        lambda t: _nested(*t)
    )
    invalid_utf8 = st.tuples(
        valid, st.integers(0, 200), st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"])
    ).map(lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :])
    return st.one_of(
        valid, valid, near_limit, raw, tampered, tampered, shaped, nested, invalid_utf8
    )


OTHER_METHODS = [
    "GET",
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "HEAD",
    "OPTIONS",
    "TRACE",
    "get",
    "FOO",
    "CONNECT",
]


ASPECTS = (
    "path",
    "encoding",
    "trick",
    "query",
    "query-extra",
    "method",
    "auth",
    "accept",
    "content-type",
    "headers",
    "body",
    "framing",
)


@cache
def _valid_parameter(known: Known, parameter: Parameter) -> st.SearchStrategy[str]:
    known_values = (
        known.path_values(parameter.name)
        if parameter.location == "path"
        else known.query_values(parameter.name)
    )
    if known_values and parameter.location == "path":
        return st.sampled_from(known_values)
    schema = _from_schema(parameter)
    return st.one_of(st.sampled_from(known_values), schema) if known_values else schema


@st.composite
def requests_for(draw: st.DrawFn, known: Known, operation: Operation) -> RawRequest:
    """A request for ``operation``, valid except in the (0 to 3) aspects drawn for attack.

    Attacking a few aspects at a time keeps most of the request valid, so the
    hostile part gets past authentication and negotiation into the endpoint
    and the store instead of being refused at the door every time.
    """
    attacked = draw(st.sets(st.sampled_from(ASPECTS), max_size=3), label="attacked")

    def pick(aspect: str, valid: st.SearchStrategy, hostile: st.SearchStrategy):
        return draw(hostile if aspect in attacked else valid)

    path_values = {
        p.name: pick("path", _valid_parameter(known, p), parameter_value(known, p))
        for p in operation.params("path")
    }
    segment_encoding = pick(
        "encoding", st.just("quoted"), st.sampled_from(["slashes-kept", "double", "raw"])
    )
    path = operation.path.encode()
    for name, value in path_values.items():
        path = path.replace(b"{" + name.encode() + b"}", _encode_segment(value, segment_encoding))
    trick = pick(
        "trick",
        st.sampled_from(["none", "none", "no-trailing-slash"]),
        st.sampled_from(PATH_TRICKS),
    )
    path = _apply_trick(path, trick)

    pairs: list[tuple[str, str]] = []
    for parameter in operation.params("query"):
        if draw(st.integers(0, 2)) == 0:
            value = pick(
                "query", _valid_parameter(known, parameter), parameter_value(known, parameter)
            )
            pairs.append((parameter.name, value))
            if "query" in attacked and draw(st.integers(0, 4)) == 0:
                pairs.append((parameter.name, value))  # repeated
    if "query-extra" in attacked:
        pairs.append(
            (
                draw(st.sampled_from(["match[foo]", "foo", "match[", "match[id", "", "limit[]"])),
                draw(hostile_text()),
            )
        )
    query_encoding = pick(
        "query", st.sampled_from(["quoted", "brackets-kept"]), st.sampled_from(["quoted", "raw"])
    )
    target = path + _encode_query(pairs, query_encoding)

    method = pick("method", st.just(operation.method), st.sampled_from(OTHER_METHODS))
    headers: list[tuple[bytes, bytes]] = []
    good_auth = _basic(FUZZER.encode(), known.live.fuzzer_key.encode())
    auth = pick("auth", st.just(good_auth), authorization(known))
    if auth is not None:
        headers.append((b"Authorization", auth))
    accept = pick(
        "accept", st.sampled_from(ACCEPTS), _header_value(tuple(ACCEPTS), tuple(BAD_ACCEPTS))
    )
    if accept is not None:
        headers.append((b"Accept", accept))
    body = None
    if operation.has_body or ("body" in attacked and draw(st.booleans())):
        content_type = pick(
            "content-type",
            st.sampled_from(CONTENT_TYPES),
            _header_value(tuple(CONTENT_TYPES), tuple(BAD_CONTENT_TYPES)),
        )
        if content_type is not None:
            headers.append((b"Content-Type", content_type))
        body = pick("body", valid_bodies(), bodies())
    if "headers" in attacked:
        headers += draw(EXTRA_HEADERS)
    length = None
    chunked = False
    if body is not None:
        framing = pick(
            "framing",
            st.just("true"),
            st.sampled_from(["chunked", "short", "long", "negative", "junk"]),
        )
        chunked = framing == "chunked"
        length = {
            "short": str(max(len(body) - 5, 0)).encode(),
            "long": str(len(body) + 100).encode(),
            "negative": b"-1",
            "junk": b"12abc",
        }.get(framing)
    return RawRequest(
        method=method,
        target=target,
        headers=tuple(headers),
        body=body,
        content_length=length,
        chunked=chunked,
        operation=operation,
        pristine=(
            method == operation.method
            and trick in ("none", "no-trailing-slash")
            and all(v in known.path_values(k) for k, v in path_values.items())
        ),
    )


@cache
def fuzz_requests(known: Known) -> st.SearchStrategy[RawRequest]:
    """Any operation of the description, drawn evenly, as a possibly hostile request."""
    return st.one_of(*(requests_for(known, op) for op in operations()))
