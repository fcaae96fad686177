"""Malformed requests: each gets the right 4xx with a TAXII error body, never a 5xx.

The table below is sent with ``requests`` directly (taxii2-client refuses to
send most of these). Each row says what the client does wrong and which status
the server must answer; every answer must also carry the TAXII media type and
a TAXII error body whose ``http_status`` matches. A final check asks the server
log for tracebacks: a client's mistake must never reach the error handler for
unexpected failures.
"""

from __future__ import annotations

import base64
import http.client
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import orjson
import pytest
import requests

from server.store.types import CollectionInfo
from tests.support.server import (
    TAXII,
    PartnerSpec,
    Served,
    assert_taxii_error,
    basic,
    indicator,
    new_id,
    served,
)

LAB = "lab-a"
LAB_IDENTITY = "identity--8f6b6a4e-3c1f-4d1e-9a53-5b1c9e0d2a11"
COLLECTION = str(uuid.uuid4())
OTHER = str(uuid.uuid4())
MAX_BODY = 4096


@dataclass
class Context:
    running: Served
    object_id: str
    next_token: str
    other_next_token: str

    @property
    def key(self) -> str:
        return self.running.keys[LAB]

    def url(self, path: str) -> str:
        return self.running.base_url + path


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    directory = tmp_path_factory.mktemp("malformed")
    collections = [
        CollectionInfo(COLLECTION, "exchange", "Target"),
        CollectionInfo(OTHER, "exchange", "Other"),
    ]
    partners = [PartnerSpec(LAB, LAB_IDENTITY, {COLLECTION: (True, True), OTHER: (True, True)})]
    with served(directory, "sqlite", collections, partners, max_content_length=MAX_BODY) as running:
        client = running.client(LAB)
        objects = [indicator(LAB_IDENTITY) for _ in range(3)]
        for collection in (COLLECTION, OTHER):
            assert (
                client.post_objects(
                    f"/exchange/collections/{collection}/objects/", objects
                ).status_code
                == 202
            )
        token = client.get(f"/exchange/collections/{COLLECTION}/objects/", {"limit": 1}).json()[
            "next"
        ]
        other = client.get(f"/exchange/collections/{OTHER}/objects/", {"limit": 1}).json()["next"]
        yield Context(running, objects[0]["id"], token, other)
        log = running.server.log()
    assert "Traceback" not in log, log


OBJECTS = f"/exchange/collections/{COLLECTION}/objects/"
MANIFEST = f"/exchange/collections/{COLLECTION}/manifest/"


def _tampered(token: str) -> str:
    """The same token with its position moved back to the start, and the old MAC.

    Only the position changes (the payload's date_added and seq), so the token
    still decodes, names the same scope and filters: without the MAC check the
    server would happily serve the listing again from the start (200).
    """
    body, mac = token.split(".")
    payload = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert isinstance(payload[4], int) and isinstance(payload[5], int), payload
    payload[4], payload[5] = 0, 0  # date_added_us, seq
    forged = base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode()
    return forged + "." + mac


def _nested(depth: int) -> bytes:
    return b'{"objects":[' + b"[" * depth + b"]" * depth + b"]}"


@dataclass(frozen=True)
class Case:
    name: str
    status: int
    method: str = "GET"
    path: str | Callable[[Context], str] = OBJECTS
    params: dict | list | Callable[[Context], dict] | None = None
    headers: dict | None = None  # replaces/extends the valid default headers
    body: bytes | Callable[[], Iterator[bytes]] | None = None  # a callable: sent chunked
    auth: str | bool | None = True  # True: valid credentials; str: raw header; None: none


def post(
    name: str,
    status: int,
    body: bytes | Callable[[], Iterator[bytes]],
    content_type: str = TAXII,
    **kw,
) -> Case:
    return Case(name, status, "POST", body=body, headers={"Content-Type": content_type}, **kw)


VALID_ENVELOPE = orjson.dumps({"objects": [indicator(LAB_IDENTITY)]})

CASES = [
    # authentication
    Case("no credentials", 401, auth=None),
    Case("wrong api key", 401, auth="wrong"),
    Case("unknown partner", 401, auth=basic("lab-zz", "whatever")),
    Case("basic not base64", 401, auth="Basic %%%not-base64%%%"),
    Case("basic without colon", 401, auth="Basic " + base64.b64encode(b"lab-a").decode()),
    Case("basic empty key", 401, auth=basic("lab-a", "")),
    Case("bearer scheme", 401, auth="Bearer abc.def"),
    Case("basic not utf-8", 401, auth="Basic " + base64.b64encode(b"lab-a:\xff\xfe").decode()),
    # content negotiation
    Case("accept application/json", 406, headers={"Accept": "application/json"}),
    Case("accept taxii 2.0", 406, headers={"Accept": "application/taxii+json;version=2.0"}),
    Case("accept missing", 406, headers={"Accept": None}),
    Case("accept */* only", 406, headers={"Accept": "*/*"}),
    Case("accept taxii with q=0", 406, headers={"Accept": "application/taxii+json;q=0"}),
    Case("accept stix only", 406, headers={"Accept": "application/stix+json;version=2.1"}),
    post("content-type json", 415, VALID_ENVELOPE, "application/json"),
    post("content-type taxii 2.0", 415, VALID_ENVELOPE, "application/taxii+json;version=2.0"),
    post("content-type missing", 415, VALID_ENVELOPE, ""),
    post("content-type latin-1", 415, VALID_ENVELOPE, TAXII + ";charset=latin-1"),
    # filters
    Case("added_after not a timestamp", 400, params={"added_after": "yesterday"}),
    Case("added_after month 13", 400, params={"added_after": "2026-13-01T00:00:00Z"}),
    Case("added_after date only", 400, params={"added_after": "2026-01-01"}),
    Case("added_after with offset", 400, params={"added_after": "2026-01-01T00:00:00+01:00"}),
    Case(
        "added_after 41 fraction digits",  # STIX allows any number; the store keeps up to 40
        400,
        params={"added_after": "2026-01-01T00:00:00." + "1" * 41 + "Z"},
    ),
    Case("limit zero", 400, params={"limit": "0"}),
    Case("limit negative", 400, params={"limit": "-1"}),
    Case("limit not a number", 400, params={"limit": "abc"}),
    Case("limit huge", 400, params={"limit": str(10**20)}),
    Case("limit fractional", 400, params={"limit": "1.5"}),
    Case("limit empty", 400, params={"limit": ""}),
    Case("limit repeated", 400, params=[("limit", "1"), ("limit", "2")]),
    Case("added_after repeated", 400, params=[("added_after", "2026-01-01T00:00:00Z")] * 2),
    Case(
        "match[type] repeated",
        400,
        params=[("match[type]", "indicator"), ("match[type]", "malware")],
    ),
    Case("next repeated", 400, params=lambda c: [("next", c.next_token), ("next", c.next_token)]),
    Case("match[version] all with first", 400, params={"match[version]": "all,first"}),
    Case("match[version] duplicate", 400, params={"match[version]": "last,last"}),
    Case(
        "match[version] same instant twice",
        400,
        params={"match[version]": "2026-01-01T00:00:00Z,2026-01-01T00:00:00.000Z"},
    ),
    Case("match[version] garbage", 400, params={"match[version]": "newest"}),
    Case("match[id] not a STIX id", 400, params={"match[id]": "not-an-id"}),
    Case("match[id] bad uuid", 400, params={"match[id]": "indicator--1234"}),
    Case("match[type] bad characters", 400, params={"match[type]": "Bad_Type"}),
    Case("match[type] empty element", 400, params={"match[type]": "indicator,,malware"}),
    Case("match[spec_version] not a version", 400, params={"match[spec_version]": "two"}),
    Case("manifest bad limit", 400, path=MANIFEST, params={"limit": "x"}),
    Case(
        "versions with match[type]",
        400,
        path=lambda c: f"{OBJECTS}{c.object_id}/versions/",
        params={"match[type]": "indicator"},
    ),
    Case(
        "object with match[id]",
        400,
        path=lambda c: f"{OBJECTS}{c.object_id}/",
        params={"match[id]": new_id("indicator")},
    ),
    # next tokens
    Case("next garbage", 400, params={"next": "garbage"}),
    Case("next empty", 400, params={"next": ""}),
    Case("next bad base64", 400, params={"next": "!!!!.????"}),
    Case("next tampered", 400, params=lambda c: {"next": _tampered(c.next_token)}),
    Case(
        "next forged mac",
        400,
        params=lambda c: {"next": c.next_token.split(".")[0] + ".AAAAAAAAAAAAAAAAAAAAAA"},
    ),
    Case("next from another collection", 400, params=lambda c: {"next": c.other_next_token}),
    Case(
        "next on the manifest endpoint", 400, path=MANIFEST, params=lambda c: {"next": c.next_token}
    ),
    Case(
        "next with other filters",
        400,
        params=lambda c: {"next": c.next_token, "match[type]": "malware"},
    ),
    # bodies
    post("body over max_content_length", 413, b'{"objects":[' + b" " * MAX_BODY + b"]}"),
    post(
        "chunked body over max_content_length (no Content-Length)",
        413,
        lambda: iter([b'{"objects":[', b" " * MAX_BODY, b"]}"]),  # type: ignore[arg-type]
    ),
    post("invalid json", 400, b'{"objects": [}'),
    post("invalid utf-8", 400, b'{"objects": [{"type": "\xff"}]}'),
    post("lone surrogate", 400, b'{"objects": [{"type": "\\ud800"}]}'),
    post("empty body", 400, b""),
    post("deeply nested", 400, _nested(1500)),
    post("json array", 422, b"[]"),
    post("json string", 422, b'"objects"'),
    post("no objects key", 422, b'{"more": false}'),
    post("objects not a list", 422, b'{"objects": {"type": "indicator"}}'),
    post("objects empty", 422, b'{"objects": []}'),
    post("objects holds a number", 422, b'{"objects": [1]}'),
    # methods
    Case("put on objects", 405, "PUT"),
    Case("patch on objects", 405, "PATCH"),
    Case("options on objects", 405, "OPTIONS"),
    Case("post on collections", 405, "POST", path="/exchange/collections/"),
    Case("delete on a collection", 405, "DELETE", path=f"/exchange/collections/{COLLECTION}/"),
    Case("post on discovery", 405, "POST", path="/taxii2/"),
    Case("post on manifest", 405, "POST", path=MANIFEST),
    # unknown things
    Case("unknown api root", 404, path="/nowhere/"),
    Case("unknown collection", 404, path=f"/exchange/collections/{uuid.uuid4()}/objects/"),
    Case("collection id not a uuid", 404, path="/exchange/collections/../objects/"),
    Case("unknown object", 404, path=f"{OBJECTS}{new_id('indicator')}/"),
    Case("object id malformed", 404, path=f"{OBJECTS}not-an-id/"),
    Case("unknown object versions", 404, path=f"{OBJECTS}{new_id('indicator')}/versions/"),
    Case("delete unknown object", 404, "DELETE", path=f"{OBJECTS}{new_id('indicator')}/"),
    Case("unknown status", 404, path=f"/exchange/status/{uuid.uuid4()}/"),
    Case("status id malformed", 404, path="/exchange/status/12345/"),
    Case("unknown endpoint", 404, path=f"/exchange/collections/{COLLECTION}/everything/"),
    Case("empty path segment", 404, path="/exchange//collections/"),
    Case("encoded dot segments", 404, path=f"/exchange/collections/%2e%2e/{COLLECTION}/objects/"),
    Case(
        "encoded traversal into another collection",
        404,
        path=f"/exchange/collections/{OTHER}/objects/..%2F..%2F{COLLECTION}/objects/",
    ),
    Case("nul byte in path", 404, path="/exchange/collections/%00/"),
    Case("invalid utf-8 in path", 404, path="/exchange/collections/%ff%fe/"),
]


def _send(ctx: Context, case: Case) -> requests.Response:
    headers: dict[str, str | None] = {"Accept": TAXII}
    if case.auth is True:
        headers["Authorization"] = basic(LAB, ctx.key)
    elif case.auth == "wrong":
        headers["Authorization"] = basic(LAB, "not-the-key")
    elif isinstance(case.auth, str):
        headers["Authorization"] = case.auth
    headers.update(case.headers or {})
    path = case.path(ctx) if callable(case.path) else case.path
    params = case.params(ctx) if callable(case.params) else case.params
    if "%" in path or "//" in path:
        # Send the path byte for byte: requests would normalise it.
        request = requests.Request(
            case.method, ctx.url("/"), headers=headers, data=case.body
        ).prepare()
        request.url = ctx.url(path)
        return requests.Session().send(request, timeout=30)
    body = case.body() if callable(case.body) else case.body
    return requests.request(
        case.method, ctx.url(path), params=params, headers=headers, data=body, timeout=30
    )


def test_the_table_is_long_enough():
    assert len(CASES) >= 40
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_malformed_request_gets_taxii_4xx(ctx, case):
    response = _send(ctx, case)
    body = assert_taxii_error(response, case.status)
    if case.status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    if case.status == 405:
        assert response.headers["Allow"]
        assert case.method not in response.headers["Allow"].split(", ")
    assert body["error_code"]


def test_invalid_stix_objects_are_status_failures_not_errors(ctx):
    """A well-formed envelope whose objects are all invalid: 202, every object a failure."""
    client = ctx.running.client(LAB)
    objects = [
        {"type": "indicator"},
        {"type": "Indicator!", "id": new_id("indicator")},
        dict(indicator(LAB_IDENTITY), id="indicator--" + "0" * 36),
        dict(indicator(LAB_IDENTITY), created_by_ref="lab-a"),
        dict(indicator(LAB_IDENTITY), object_marking_refs="tlp-red"),
    ]
    response = client.post_objects(OBJECTS, objects)
    assert response.status_code == 202
    status = response.json()
    assert (status["total_count"], status["success_count"], status["failure_count"]) == (5, 0, 5)
    assert all(failure["message"] for failure in status["failures"])


def test_protocol_garbage_gets_a_taxii_error(ctx):
    """Even errors gunicorn answers itself (before the app runs) are TAXII 4xx bodies."""
    connection = http.client.HTTPConnection("127.0.0.1", ctx.running.server.port, timeout=10)
    connection.putrequest("GET", "/taxii2/" + "a" * 9000, skip_accept_encoding=True)
    connection.endheaders()
    response = connection.getresponse()
    assert 400 <= response.status < 500
    assert response.getheader("Content-Type") == TAXII
    assert orjson.loads(response.read())["http_status"] == str(response.status)


def test_head_of_an_error_has_no_body_but_the_status(ctx):
    response = requests.head(
        ctx.url("/nowhere/"),
        headers={"Accept": TAXII, "Authorization": basic(LAB, ctx.key)},
        timeout=10,
    )
    assert response.status_code == 404
    assert response.headers["Content-Type"] == TAXII
