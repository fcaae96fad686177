"""Every TAXII 2.1 endpoint and filter, over HTTP, driven by taxii2-client.

One server per backend (SQLite, PostgreSQL) serves a collection filled through
the API at the start of the module. Expected answers are computed from what
was posted (date_added order is posting order, because every version gets a
strictly increasing date_added), never hard-coded.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

import orjson
import pytest
import requests
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from server.store.timestamps import stix_timestamp_us, version_key
from server.store.types import CollectionInfo
from tests.support.server import (
    BACKENDS,
    TAXII,
    PartnerSpec,
    Served,
    assert_taxii_error,
    indicator,
    new_id,
    served,
)

LAB = "lab-a"
LAB_IDENTITY = "identity--8f6b6a4e-3c1f-4d1e-9a53-5b1c9e0d2a11"
MAIN = str(uuid.uuid4())
SCRATCH = str(uuid.uuid4())
DEFAULT_PAGE = 4
MAX_PAGE = 6


@dataclass(frozen=True)
class Posted:
    """One posted object version, in posting (= date_added) order."""

    stix_id: str
    type: str
    version: str
    body: dict


def _dataset() -> list[list[dict]]:
    """Batches to POST, in order; includes an older version posted after a newer one."""
    ind1, ind2 = new_id("indicator"), new_id("indicator")
    created = "2026-01-01T00:00:00Z"
    return [
        [
            indicator(LAB_IDENTITY, stix_id=ind1, created=created),
            indicator(LAB_IDENTITY, stix_id=ind2, created="2026-02-01T00:00:00.000Z"),
        ],
        [
            indicator(
                LAB_IDENTITY,
                stix_id=ind1,
                created=created,
                modified="2026-01-03T00:00:00.123456789Z",
            ),
            {
                "type": "malware",
                "spec_version": "2.1",
                "id": new_id("malware"),
                "created": "2026-03-01T00:00:00Z",
                "modified": "2026-03-01T00:00:00Z",
                "name": "distiller",
                "is_family": False,
                "created_by_ref": LAB_IDENTITY,
            },
            {
                "type": "ipv4-addr",
                "spec_version": "2.1",
                "id": new_id("ipv4-addr"),
                "value": "203.0.113.9",
            },
        ],
        [
            indicator(
                LAB_IDENTITY, stix_id=ind1, created=created, modified="2026-01-02T00:00:00.1Z"
            ),
            indicator(
                LAB_IDENTITY,
                stix_id=ind2,
                created="2026-02-01T00:00:00.000Z",
                modified="2026-02-02T00:00:00.000Z",
            ),
            {
                "type": "marking-definition",
                "spec_version": "2.1",
                "id": new_id("marking-definition"),
                "created": "2026-01-05T00:00:00.000Z",
                "definition_type": "statement",
                "definition": {"statement": "Shared under the exchange agreement."},
                "created_by_ref": LAB_IDENTITY,
            },
        ],
        [indicator(LAB_IDENTITY, name=f"extra {n}") for n in range(4)],
    ]


def _version_of(obj: dict) -> str:
    return obj.get("modified") or obj.get("created") or "1970-01-01T00:00:00.000Z"


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp(f"endpoints-{request.param}")
    collections = [
        CollectionInfo(MAIN, "exchange", "Main", description="Read-mostly data", alias="main"),
        CollectionInfo(SCRATCH, "exchange", "Scratch"),
    ]
    partners = [PartnerSpec(LAB, LAB_IDENTITY, {MAIN: (True, True), SCRATCH: (True, True)})]
    with served(
        directory,
        request.param,
        collections,
        partners,
        default_page_size=DEFAULT_PAGE,
        max_page_size=MAX_PAGE,
    ) as running:
        posted: list[Posted] = []
        collection = _collection(running, MAIN)
        for batch in _dataset():
            status = collection.add_objects({"objects": batch})
            assert status.status == "complete"
            assert status.failure_count == 0, status.failures
            posted.extend(Posted(o["id"], o["type"], _version_of(o), o) for o in batch)
        yield running, posted


def _collection(running: Served, collection_id: str) -> Collection:
    return Collection(running.collection_url(collection_id), user=LAB, password=running.keys[LAB])


def _latest(rows: list[Posted]) -> list[Posted]:
    best: dict[str, Posted] = {}
    for row in rows:
        if row.stix_id not in best or version_key(row.version) > version_key(
            best[row.stix_id].version
        ):
            best[row.stix_id] = row
    return [row for row in rows if best[row.stix_id] is row]


def _first(rows: list[Posted]) -> list[Posted]:
    best: dict[str, Posted] = {}
    for row in rows:
        if row.stix_id not in best or version_key(row.version) < version_key(
            best[row.stix_id].version
        ):
            best[row.stix_id] = row
    return [row for row in rows if best[row.stix_id] is row]


def _expected(rows: list[Posted], versions: tuple[str, ...] = (), types=(), ids=()) -> list[Posted]:
    rows = [r for r in rows if (not types or r.type in types) and (not ids or r.stix_id in ids)]
    if not versions or versions == ("last",):
        return _latest(rows)
    if "all" in versions:
        return rows
    chosen: set[int] = set()
    if "last" in versions:
        chosen |= {id(r) for r in _latest(rows)}
    if "first" in versions:
        chosen |= {id(r) for r in _first(rows)}
    keys = {version_key(v) for v in versions if v not in ("first", "last")}
    chosen |= {id(r) for r in rows if version_key(r.version) in keys}
    return [r for r in rows if id(r) in chosen]


def _pairs(objects: list[dict]) -> list[tuple[str, str]]:
    return [(o["id"], version_key(_version_of(o))) for o in objects]


def _expected_pairs(rows: list[Posted]) -> list[tuple[str, str]]:
    return [(r.stix_id, version_key(r.version)) for r in rows]


def _all_objects(collection: Collection, per_request: int = 0, **filters) -> list[dict]:
    objects: list[dict] = []
    for page in as_pages(collection.get_objects, per_request=per_request, **filters):
        objects.extend(page.get("objects", []))
    return objects


def test_discovery_lists_the_api_root(world):
    running, _ = world
    server = Server(f"{running.base_url}/taxii2/", user=LAB, password=running.keys[LAB])
    assert server.title
    assert [root.url for root in server.api_roots] == [running.root_url]
    assert server.default.url == running.root_url


def test_api_root_information(world):
    running, _ = world
    root = ApiRoot(running.root_url, user=LAB, password=running.keys[LAB])
    assert root.title == "exchange root"
    assert root.versions == [TAXII]
    assert root.max_content_length == 10 * 1024 * 1024


def test_collections_and_collection(world):
    running, _ = world
    root = ApiRoot(running.root_url, user=LAB, password=running.keys[LAB])
    by_id = {c.id: c for c in root.collections}
    assert set(by_id) == {MAIN, SCRATCH}
    main = _collection(running, MAIN)
    assert (main.title, main.description, main.alias) == ("Main", "Read-mostly data", "main")
    assert main.can_read and main.can_write
    assert main.media_types == ["application/stix+json;version=2.1"]
    by_alias = running.client(LAB).get("/exchange/collections/main/")
    assert by_alias.status_code == 200 and by_alias.json()["id"] == MAIN


def test_objects_default_is_latest_version_in_date_added_order(world):
    running, posted = world
    objects = _all_objects(_collection(running, MAIN), per_request=MAX_PAGE)
    assert _pairs(objects) == _expected_pairs(_expected(posted))
    stored = {o["id"]: o for o in objects}
    for row in _expected(posted):
        assert stored[row.stix_id] == row.body  # served exactly as posted


@pytest.mark.parametrize(
    "versions",
    [
        ("last",),
        ("first",),
        ("all",),
        ("first", "last"),
        ("2026-01-02T00:00:00.100Z",),
        ("first", "2026-01-03T00:00:00.123456789Z"),
        ("2026-02-02T00:00:00Z", "2026-01-01T00:00:00.0Z"),
    ],
)
def test_version_filter(world, versions):
    running, posted = world
    objects = _all_objects(
        _collection(running, MAIN), per_request=MAX_PAGE, version=",".join(versions)
    )
    assert _pairs(objects) == _expected_pairs(_expected(posted, versions))


@pytest.mark.parametrize(
    ("types", "versions"),
    [
        (("indicator",), ()),
        (("malware", "ipv4-addr"), ()),
        (("indicator",), ("all",)),
        (("marking-definition", "indicator"), ("first",)),
        (("campaign",), ("all",)),
    ],
)
def test_type_filter_alone_and_with_versions(world, types, versions):
    running, posted = world
    filters = {"type": ",".join(types)}
    if versions:
        filters["version"] = ",".join(versions)
    objects = _all_objects(_collection(running, MAIN), per_request=MAX_PAGE, **filters)
    assert _pairs(objects) == _expected_pairs(_expected(posted, versions, types=types))


def test_id_filter_with_types_and_versions(world):
    running, posted = world
    ids = sorted({r.stix_id for r in posted})[:3]
    collection = _collection(running, MAIN)
    for versions, types in itertools.product([(), ("all",), ("first",)], [(), ("indicator",)]):
        filters = {"id": ",".join(ids)}
        if versions:
            filters["version"] = ",".join(versions)
        if types:
            filters["type"] = ",".join(types)
        objects = _all_objects(collection, per_request=2, **filters)
        assert _pairs(objects) == _expected_pairs(_expected(posted, versions, types, ids))


def test_spec_version_filter(world):
    running, posted = world
    collection = _collection(running, MAIN)
    assert _pairs(_all_objects(collection, spec_version="2.1", version="all")) == _expected_pairs(
        posted
    )
    assert _all_objects(collection, spec_version="2.0") == []
    assert _pairs(_all_objects(collection, spec_version="2.0,2.1")) == _expected_pairs(
        _expected(posted)
    )


def _manifest(running: Served, **params) -> list[dict]:
    response = running.client(LAB).get(
        f"/exchange/collections/{MAIN}/manifest/", params={"limit": MAX_PAGE, **params}
    )
    assert response.status_code == 200
    records = response.json().get("objects", [])
    assert not response.json().get("more", False) or len(records) == MAX_PAGE
    return records


def test_manifest_matches_objects_and_added_after_cuts_by_date_added(world):
    running, posted = world
    collection = _collection(running, MAIN)
    records = []
    for page in as_pages(collection.get_manifest, per_request=3, version="all"):
        records.extend(page.get("objects", []))
    assert [(r["id"], version_key(r["version"])) for r in records] == _expected_pairs(posted)
    assert all(r["media_type"] == "application/stix+json;version=2.1" for r in records)
    added = [stix_timestamp_us(r["date_added"]) for r in records]
    assert added == sorted(added) and len(set(added)) == len(added)
    for cut in range(len(records)):
        after = records[cut]["date_added"]
        objects = _all_objects(collection, per_request=MAX_PAGE, version="all", added_after=after)
        assert _pairs(objects) == _expected_pairs(posted[cut + 1 :])
    # added_after in other STIX timestamp forms (no fraction, 3 and 9 digits)
    whole_second = records[0]["date_added"][:19] + "Z"
    expected = [
        r for r, a in zip(posted, added, strict=True) if a > stix_timestamp_us(whole_second)
    ]
    for form in (whole_second, whole_second[:-1] + ".000Z", whole_second[:-1] + ".000000000Z"):
        objects = _all_objects(collection, per_request=MAX_PAGE, version="all", added_after=form)
        assert _pairs(objects) == _expected_pairs(expected)


def test_date_added_headers_on_every_listing(world):
    running, posted = world
    client = running.client(LAB)
    records = _manifest(running, **{"match[version]": "all"})
    first, last = records[0]["date_added"], records[-1]["date_added"]
    ind1 = posted[0].stix_id
    for path, params in [
        (
            f"/exchange/collections/{MAIN}/objects/",
            {"match[version]": "all", "limit": len(records)},
        ),
        (
            f"/exchange/collections/{MAIN}/manifest/",
            {"match[version]": "all", "limit": len(records)},
        ),
    ]:
        response = client.get(path, params=params)
        assert response.headers["X-TAXII-Date-Added-First"] == first
        assert response.headers["X-TAXII-Date-Added-Last"] == last
    ind1_dates = [r["date_added"] for r in records if r["id"] == ind1]
    for path in (
        f"/exchange/collections/{MAIN}/objects/{ind1}/versions/",
        f"/exchange/collections/{MAIN}/objects/{ind1}/",
    ):
        response = client.get(
            path, params={"match[version]": "all"} if path.endswith(f"{ind1}/") else None
        )
        assert response.status_code == 200
        assert response.headers["X-TAXII-Date-Added-First"] == ind1_dates[0]
        assert response.headers["X-TAXII-Date-Added-Last"] == ind1_dates[-1]


FUTURE = "2999-01-01T00:00:00.000Z"


def test_nothing_to_list_is_an_empty_object_without_date_headers(world):
    """TAXII 2.1 sections 5.3.1 and 5.8.1: an empty manifest, envelope or versions is `{}`."""
    running, posted = world
    client = running.client(LAB)
    ind1 = posted[0].stix_id
    base = f"/exchange/collections/{MAIN}"
    for path, params in [
        (f"{base}/objects/", {"added_after": FUTURE}),
        (f"{base}/manifest/", {"added_after": FUTURE}),
        (f"{base}/objects/{ind1}/", {"match[version]": "2020-01-01T00:00:00Z"}),
        (f"{base}/objects/{ind1}/versions/", {"added_after": FUTURE}),
    ]:
        response = client.get(path, params=params)
        assert response.status_code == 200, (path, response.text)
        assert response.content == b"{}", path
        assert response.headers["Content-Type"].startswith("application/taxii+json")
        assert "X-TAXII-Date-Added-First" not in response.headers, path
        assert "X-TAXII-Date-Added-Last" not in response.headers, path
    # A page with content still says whether more follows.
    assert client.get(f"{base}/objects/", params={"limit": 1}).json()["more"] is True
    # taxii2-client reads `{}` as the last page.
    collection = _collection(running, MAIN)
    assert collection.get_manifest(added_after=FUTURE) == {}
    assert collection.object_versions(ind1, added_after=FUTURE) == {}
    assert _all_objects(collection, per_request=2, added_after=FUTURE) == []


@pytest.mark.parametrize("per_request", [0, 1, 2, 3, 5, MAX_PAGE, 50])
def test_pagination_with_every_page_size(world, per_request):
    running, posted = world
    objects = _all_objects(_collection(running, MAIN), per_request=per_request, version="all")
    assert _pairs(objects) == _expected_pairs(posted)


def test_page_size_default_and_cap(world):
    running, _ = world
    client = running.client(LAB)
    path = f"/exchange/collections/{MAIN}/objects/"
    default = client.get(path, params={"match[version]": "all"}).json()
    assert len(default["objects"]) == DEFAULT_PAGE and default["more"] is True
    capped = client.get(path, params={"match[version]": "all", "limit": 1000}).json()
    assert len(capped["objects"]) == MAX_PAGE and capped["more"] is True


def test_next_with_or_without_repeating_limit_and_filters(world):
    running, posted = world
    client = running.client(LAB)
    path = f"/exchange/collections/{MAIN}/objects/"
    filters = {"match[type]": "indicator", "match[version]": "all"}
    expected = _expected_pairs(_expected(posted, ("all",), types=("indicator",)))
    for repeat_filters, repeat_limit in itertools.product([True, False], [True, False]):
        page = client.get(path, params={**filters, "limit": 2}).json()
        seen = _pairs(page["objects"])
        while page["more"]:
            params = {"next": page["next"]}
            if repeat_filters:
                params.update(filters)
            if repeat_limit:
                params["limit"] = 2
            response = client.get(path, params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            seen += _pairs(page.get("objects", []))
        assert seen == expected, (repeat_filters, repeat_limit)
    # The token binds its filters: different ones are refused.
    token = client.get(path, params={**filters, "limit": 2}).json()["next"]
    refused = client.get(path, params={"next": token, "match[type]": "malware"})
    assert_taxii_error(refused, 400)


def test_get_object_versions_and_filters(world):
    running, posted = world
    collection = _collection(running, MAIN)
    ind1 = posted[0].stix_id
    mine = [r for r in posted if r.stix_id == ind1]
    latest = collection.get_object(ind1)["objects"]
    assert _pairs(latest) == _expected_pairs(_latest(mine))
    every = collection.get_object(ind1, version="all")["objects"]
    assert _pairs(every) == _expected_pairs(mine)
    first = collection.get_object(ind1, version="first")["objects"]
    assert _pairs(first) == _expected_pairs(_first(mine))
    exact = collection.get_object(ind1, version="2026-01-02T00:00:00.100000Z")["objects"]
    assert _pairs(exact) == [(ind1, version_key("2026-01-02T00:00:00.1Z"))]
    assert collection.get_object(ind1, version="2020-01-01T00:00:00Z").get("objects") is None
    paged = (
        running.client(LAB)
        .get(
            f"/exchange/collections/{MAIN}/objects/{ind1}/",
            params={"match[version]": "all", "limit": 1},
        )
        .json()
    )
    assert paged["more"] is True and len(paged["objects"]) == 1 and "next" in paged
    with pytest.raises(requests.HTTPError) as missing:
        collection.get_object(new_id("indicator"))
    assert missing.value.response.status_code == 404


def test_versions_endpoint_lists_every_version(world):
    running, posted = world
    collection = _collection(running, MAIN)
    ind1 = posted[0].stix_id
    versions = collection.object_versions(ind1)["versions"]
    assert [version_key(v) for v in versions] == [
        version_key(r.version) for r in posted if r.stix_id == ind1
    ]
    sco = next(r for r in posted if r.type == "ipv4-addr")
    assert collection.object_versions(sco.stix_id)["versions"] == ["1970-01-01T00:00:00.000Z"]
    marking = next(r for r in posted if r.type == "marking-definition")
    assert collection.object_versions(marking.stix_id)["versions"] == [marking.body["created"]]
    with pytest.raises(requests.HTTPError) as missing:
        collection.object_versions(new_id("indicator"))
    assert missing.value.response.status_code == 404


def test_post_reports_duplicates_as_successes_and_bad_objects_as_failures(world):
    running, _ = world
    collection = _collection(running, SCRATCH)
    good = indicator(LAB_IDENTITY)
    bad_id = dict(indicator(LAB_IDENTITY), id="indicator--not-a-uuid")
    wrong_prefix = dict(indicator(LAB_IDENTITY), id=new_id("malware"))
    backwards = indicator(
        LAB_IDENTITY, created="2026-02-01T00:00:00Z", modified="2026-01-01T00:00:00Z"
    )
    bad_time = indicator(LAB_IDENTITY, created="2026-02-30T00:00:00Z")
    old_spec = dict(indicator(LAB_IDENTITY), spec_version="2.0")
    status = collection.add_objects(
        {"objects": [good, bad_id, wrong_prefix, backwards, bad_time, old_spec]}
    )
    assert (status.total_count, status.success_count, status.failure_count) == (6, 1, 5)
    assert all(f["message"] for f in status.failures)
    again = collection.add_objects({"objects": [good, good]})
    assert (again.success_count, again.failure_count) == (2, 0)
    assert len(collection.get_object(good["id"], version="all")["objects"]) == 1
    status.refresh()  # taxii2-client builds this status URL without a trailing slash
    assert (status.status, status.failure_count) == ("complete", 5)
    root = ApiRoot(running.root_url, user=LAB, password=running.keys[LAB])
    fetched = root.get_status(status.id)
    assert (fetched.id, fetched.status, fetched.failure_count) == (status.id, "complete", 5)


def test_post_with_chunked_body_and_size_limit(world):
    """Without Content-Length the body is still read (and capped) correctly."""
    running, _ = world
    client = running.client(LAB)
    objects = [indicator(LAB_IDENTITY) for _ in range(3)]
    payload = orjson.dumps({"objects": objects})

    def chunks():
        for start in range(0, len(payload), 100):
            yield payload[start : start + 100]

    response = client.session.post(
        running.collection_url(SCRATCH) + "objects/",
        data=chunks(),
        headers=client.headers(**{"Content-Type": TAXII}),
        timeout=30,
    )
    assert response.status_code == 202, response.text
    assert response.json()["success_count"] == 3


def test_delete_all_versions_or_one_version(world):
    running, _ = world
    collection = _collection(running, SCRATCH)
    target = new_id("indicator")
    versions = ["2026-05-01T00:00:00Z", "2026-05-02T00:00:00Z", "2026-05-03T00:00:00Z"]
    collection.add_objects(
        {
            "objects": [
                indicator(LAB_IDENTITY, stix_id=target, created=versions[0], modified=v)
                for v in versions
            ]
        }
    )
    collection.delete_object(target, version="2026-05-03T00:00:00.000Z")
    remaining = collection.object_versions(target)["versions"]
    assert remaining == versions[:2]
    assert _pairs(collection.get_object(target)["objects"]) == [(target, version_key(versions[1]))]
    collection.delete_object(target)
    with pytest.raises(requests.HTTPError) as gone:
        collection.get_object(target)
    assert gone.value.response.status_code == 404
    with pytest.raises(requests.HTTPError) as twice:
        collection.delete_object(target)
    assert twice.value.response.status_code == 404
