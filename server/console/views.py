"""The console's pages: login/logout, overview, search, object, campaign, export.

Each request after login runs as the analyst's partner: ``g.dx_partner`` is
set to it and collections are reached only through ``server.taxii.access``
(``visible_api_root_names``, ``visible_collection``, ``require_read``), the
functions the TAXII endpoints use, so grants and 404s are the same by
construction. Every state-changing request (login, logout, export) is a POST
carrying a CSRF token; everything rendered goes through Jinja autoescaping;
responses carry a Content-Security-Policy that allows no script at all.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from server.console import queries
from server.console.activity import last_activity
from server.console.diff import version_changes
from server.console.index import catch_up_all, references
from server.console.pictures import activity_plot, graph_layout
from server.ratelimit import ACCESS_EXTENSION_KEY, AccessControl, client_address, retry_after_header
from server.store import analysts
from server.store.timestamps import format_timestamp_us, now_us, version_key
from server.store.types import CollectionInfo, ObjectQuery, Tlp
from server.taxii.access import require_read, visible_api_root_names, visible_collection
from server.taxii.context import server_context
from server.taxii.errors import TaxiiError

blueprint = Blueprint("console", __name__, template_folder="templates", static_folder="static")

SESSION_COOKIE = "dx_console"
LOGIN_COOKIE = "dx_console_login"
CSP = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
TLP_NAMES = {int(t): t.name.lower().replace("_", "+") for t in Tlp}
_OPEN_ENDPOINTS = {"console.login", "console.static"}


# -- request plumbing -----------------------------------------------------------------


def _secure() -> bool:
    return request.is_secure or server_context().config.tls_certfile is not None


def _address() -> str:
    access: AccessControl = current_app.extensions[ACCESS_EXTENSION_KEY]
    return client_address(
        request.remote_addr, request.headers.get("X-Forwarded-For"), access.trusted_proxies
    )


def _same_origin() -> bool:
    origin = request.headers.get("Origin")
    return origin is None or origin == request.host_url.rstrip("/")


@blueprint.before_request
def _load_session() -> BaseResponse | None:
    g.console_session = None
    if request.endpoint in _OPEN_ENDPOINTS:
        return None
    session = analysts.session_for(
        server_context().store, request.cookies.get(SESSION_COOKIE), analysts.SessionLimits()
    )
    if session is None:
        if request.method == "POST":
            abort(403)
        return redirect(url_for("console.login"), 303)
    g.console_session = session
    g.dx_partner = session.partner  # from here on, the TAXII access checks apply to the partner
    if request.method == "POST" and (
        not analysts.csrf_matches(session, request.form.get("csrf_token")) or not _same_origin()
    ):
        abort(403)
    store = server_context().store
    catch_up_all(store, [c.id for c in readable_collections()], budget=2000)
    # The page's own queries then share one read transaction (see queries.one_snapshot).
    snapshot = ExitStack()
    snapshot.enter_context(queries.one_snapshot(store))
    g.console_snapshot = snapshot
    return None


@blueprint.teardown_request
def _end_snapshot(_error: BaseException | None) -> None:
    snapshot = g.pop("console_snapshot", None)
    if snapshot is not None:
        snapshot.close()


@blueprint.after_request
def _security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"  # Origin is then sent on our POSTs
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.errorhandler(TaxiiError)
def _taxii_error(error: TaxiiError) -> tuple[str, int]:
    # 403 (a visible collection without read right) is shown as 404 too: nothing to see here.
    status = 404 if error.status in (403, 404) else error.status
    return _error_page(status), status


@blueprint.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[str, int]:
    status = error.code or 500
    return _error_page(status), status


def _error_page(status: int) -> str:
    messages = {
        403: "Refused: the request did not carry this session's CSRF token.",
        404: "Not found (or you have no access to it).",
        405: "Method not allowed.",
        429: "Too many failed logins; try again later.",
    }
    return render_template(
        "error.html", status=status, message=messages.get(status, "The request failed.")
    )


def _render(template: str, **context: Any) -> str:
    session = g.get("console_session")
    return render_template(
        template,
        session=session,
        csrf_token=session.csrf_token if session else "",
        tlp_names=TLP_NAMES,
        when=_when,
        ref_url=_ref_url(),
        **context,
    )


def _ref_url() -> Callable[[str, str], str]:
    """Links to ``console.resolve`` by string formatting: a campaign page has hundreds, and
    ``url_for`` with a query string costs half a millisecond each."""
    prefix = url_for("console.resolve", stix_id="ID").removesuffix("ID")

    def ref_url(stix_id: str, near: str) -> str:
        return f"{prefix}{quote(stix_id, safe='')}?near={quote(near, safe='')}"

    return ref_url


def _when(microseconds: int) -> str:
    if not microseconds:
        return "never"
    return format_timestamp_us(microseconds)[:19].replace("T", " ") + " UTC"


# -- access: the TAXII side's own checks --------------------------------------------------


def readable_collections() -> list[CollectionInfo]:
    """Collections this partner may read, found exactly as its TAXII requests would."""
    cached = g.get("console_collections")
    if cached is not None:
        return cached
    store = server_context().store
    found = []
    for root in visible_api_root_names():
        for collection in store.list_collections(root):
            try:
                access = visible_collection(root, collection.id)
                require_read(access)
            except TaxiiError:
                continue
            found.append(access.collection)
    g.console_collections = found
    return found


def readable_collection(collection_ref: str) -> CollectionInfo:
    """The collection by id or alias if readable, else 404; the final word is
    ``visible_collection``'s, as for a TAXII request naming it."""
    for collection in readable_collections():
        if collection_ref in (collection.id, collection.alias):
            access = visible_collection(collection.api_root, collection.id)
            require_read(access)
            return access.collection
    raise TaxiiError(404, "no such collection", error_code="collection-not-found")


# -- login and logout ---------------------------------------------------------------------


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | tuple[str, int] | str:
    store = server_context().store
    if request.method == "GET":
        token = secrets.token_urlsafe(32)
        page = Response(_render("login.html", login_token=token, failed=False))
        page.set_cookie(
            LOGIN_COOKIE,
            token,
            httponly=True,
            samesite="Strict",
            secure=_secure(),
            path="/console/",
        )
        return page
    sent = request.form.get("login_token", "")
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not sent or not secrets.compare_digest(sent, expected) or not _same_origin():
        abort(403)
    access: AccessControl = current_app.extensions[ACCESS_EXTENSION_KEY]
    outcome = analysts.log_in(
        store,
        request.form.get("partner", "").strip(),
        request.form.get("analyst", "").strip(),
        request.form.get("password", ""),
        _address(),
        access.login_limits,
    )
    if outcome.blocked_until_us:
        page = Response(_error_page(429), 429)
        page.headers.update(retry_after_header((outcome.blocked_until_us - now_us()) / 1e6))
        return page
    if outcome.token is None:
        token = secrets.token_urlsafe(32)
        page = Response(_render("login.html", login_token=token, failed=True), 401)
        page.set_cookie(
            LOGIN_COOKIE,
            token,
            httponly=True,
            samesite="Strict",
            secure=_secure(),
            path="/console/",
        )
        return page
    response = redirect(url_for("console.overview"), 303)
    response.set_cookie(
        SESSION_COOKIE,
        outcome.token,
        httponly=True,
        samesite="Strict",
        secure=_secure(),
        path="/console/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/console/")
    return response


@blueprint.route("/logout", methods=["POST"])
def logout() -> BaseResponse:
    analysts.end_session(server_context().store, g.console_session.token_hash)
    response = redirect(url_for("console.login"), 303)
    response.delete_cookie(SESSION_COOKIE, path="/console/")
    return response


# -- pages --------------------------------------------------------------------------------


@blueprint.route("/", methods=["GET"])
def overview() -> str:
    store = server_context().store
    collections = readable_collections()
    ids = [c.id for c in collections]
    summary = queries.overview(store, collections)
    producer_names = queries.producer_names(store, ids, [p for p, _ in summary.by_producer])
    partners = queries.readers_of(store, ids)
    activity = last_activity(store, partners)
    health = []
    for partner_id in partners:
        partner = store.get_partner(partner_id)
        published, polled = activity.get(partner_id, (0, 0))
        health.append((partner.name if partner else partner_id, partner_id, published, polled))
    return _render(
        "overview.html",
        collections=collections,
        summary=summary,
        producer_names=producer_names,
        plot=activity_plot(summary.activity),
        health=health,
    )


def _int_arg(name: str, low: int, high: int) -> int | None:
    value = request.values.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        abort(400)
    return int(value)


def _date_arg(name: str, end_of_day: bool = False) -> int | None:
    value = request.values.get(name, "").strip()
    if not value:
        return None
    try:
        moment = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        abort(400)
    us = int(moment.timestamp()) * 1_000_000
    return us + 86_400_000_000 if end_of_day else us


def _filter_from_request() -> queries.SearchFilter:
    tlp = request.values.get("tlp", "").strip()
    max_tlp = None
    if tlp:
        ranks = {name: rank for rank, name in TLP_NAMES.items()}
        if tlp not in ranks:
            abort(400)
        max_tlp = ranks[tlp]
    revoked = request.values.get("revoked", "exclude")
    if revoked not in ("exclude", "include", "only"):
        abort(400)
    text = request.values.get("q", "").strip()
    if len(text) > 200:
        abort(400)
    return queries.SearchFilter(
        collection=request.values.get("collection", "").strip()[:64],
        obj_type=request.values.get("type", "").strip()[:250],
        producer=request.values.get("producer", "").strip()[:300],
        since_us=_date_arg("since"),
        until_us=_date_arg("until", end_of_day=True),
        max_tlp=max_tlp,
        min_confidence=_int_arg("confidence", 0, 100),
        revoked=revoked,
        text=text.replace("\x00", ""),
    )


@blueprint.route("/search", methods=["GET"])
def search() -> str:
    store = server_context().store
    collections = readable_collections()
    flt = _filter_from_request()
    if flt.collection and flt.collection not in {c.id for c in collections}:
        readable_collection(flt.collection)  # 404 exactly as the TAXII side would
    cursor_text = request.args.get("cursor", "")
    cursor = queries.Cursor.decode(cursor_text) if cursor_text else None
    if cursor_text and cursor is None:
        abort(400)
    page = queries.search(store, collections, flt, cursor)
    ids = [c.id for c in collections]
    summary = queries.overview(store, collections, days=1)
    producers = queries.producer_names(store, ids, [p for p, _ in summary.by_producer])
    query_args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "cursor" and v}
    return _render(
        "search.html",
        collections=collections,
        collection_titles={c.id: c.title for c in collections},
        flt=flt,
        args=request.args,
        page=page,
        types=[t for t, _ in summary.by_type],
        producers=[(p, producers.get(p, p)) for p, _ in summary.by_producer if p],
        producer_names=producers,
        next_url=url_for("console.search", cursor=page.next_cursor, **query_args)
        if page.next_cursor
        else None,
    )


def _versions(collection: CollectionInfo, stix_id: str) -> list[dict[str, Any]]:
    store = server_context().store
    if not queries.STIX_ID.fullmatch(stix_id):
        raise TaxiiError(404, "no such object")
    page = store.query_objects(
        collection.id, ObjectQuery(ids=(stix_id,), versions=("all",), limit=1000)
    )
    import orjson

    versions = [
        {"obj": orjson.loads(row.body or "{}"), "version": row.version, "added": row.date_added_us}
        for row in page.rows
    ]
    versions = [v for v in versions if isinstance(v["obj"], dict)]
    if not versions:
        raise TaxiiError(404, "no such object")
    versions.sort(key=lambda v: (_version_order(v["version"]), v["added"]))
    return versions


def _version_order(version: str) -> str:
    try:
        return version_key(version)
    except ValueError:
        return ""


@blueprint.route("/object/<collection_ref>/<stix_id>", methods=["GET"])
def object_page(collection_ref: str, stix_id: str) -> str:
    store = server_context().store
    collection = readable_collection(collection_ref)
    versions = _versions(collection, stix_id)
    latest = versions[-1]["obj"]
    timeline = [
        {
            "version": v["version"],
            "added": v["added"],
            "changes": version_changes(versions[i - 1]["obj"] if i else None, v["obj"]),
        }
        for i, v in enumerate(versions)
    ]
    ids = [c.id for c in readable_collections()]
    out_refs = references(latest)
    meta = [r for r in (latest.get("created_by_ref"),) if isinstance(r, str)]
    incoming_rows = queries.incoming(store, collection.id, stix_id)
    in_ids = [r.source_id for r in incoming_rows]
    rel_ends = {
        row.source_id + " " + row.prop: row.target_id
        for row in queries.outgoing_many(store, [collection.id], in_ids)
        if row.prop in ("source_ref", "target_ref")
    }
    names = queries.names_of(
        store,
        ids,
        [r for _, r in out_refs] + in_ids + meta + list(rel_ends.values()),
    )
    incoming: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    for row in incoming_rows:
        info = names.get(row.source_id)
        kind = row.source_id.split("--")[0]
        other = None
        if kind == "relationship":
            source = rel_ends.get(row.source_id + " source_ref")
            target = rel_ends.get(row.source_id + " target_ref")
            other = source if target == stix_id else target
        entry = {
            "id": row.source_id,
            "type": kind,
            "name": info.name if info else row.source_id,
            "prop": row.prop,
            "other": other,
            "other_name": names[other].name if other in names else other,
        }
        (feedback if kind in ("sighting", "opinion", "note") else incoming).append(entry)
    feedback_bodies = queries.latest_bodies(store, collection.id, [f["id"] for f in feedback[:50]])
    creator = latest.get("created_by_ref")
    labs = queries.producer_names(
        store,
        ids,
        [
            c
            for c in [creator, *(b.get("created_by_ref") for b in feedback_bodies.values())]
            if isinstance(c, str)
        ],
    )
    for entry in feedback:
        entry["obj"] = feedback_bodies.get(entry["id"], {})
        entry["by"] = labs.get(entry["obj"].get("created_by_ref"), "")
    from server.taxii.stix_checks import tlp_of

    tlp = tlp_of(latest)
    return _render(
        "object.html",
        collection=collection,
        obj=latest,
        stix_id=stix_id,
        timeline=timeline,
        out_refs=[(p, r, names.get(r)) for p, r in out_refs],
        incoming=incoming,
        feedback=feedback,
        creator_name=names[creator].name
        if isinstance(creator, str) and creator in names
        else creator,
        tlp=TLP_NAMES[int(tlp)] if tlp is not None else None,
        is_id=queries.STIX_ID.fullmatch,
    )


@blueprint.route("/campaign/<collection_ref>/<stix_id>", methods=["GET"])
def campaign_page(collection_ref: str, stix_id: str) -> str:
    store = server_context().store
    collection = readable_collection(collection_ref)
    versions = _versions(collection, stix_id)
    latest = versions[-1]["obj"]
    ids = [c.id for c in readable_collections()]
    picture = queries.campaign_graph(store, ids, stix_id)
    return _render(
        "campaign.html",
        collection=collection,
        obj=latest,
        stix_id=stix_id,
        layout=graph_layout(picture.nodes, picture.edges),
        shared=picture.shared,
        node_count=len(picture.nodes),
    )


@blueprint.route("/export", methods=["POST"])
def export() -> Response | tuple[str, int]:
    from server.console.export import export_bundle

    store = server_context().store
    collections = readable_collections()
    flt = _filter_from_request()
    if flt.collection and flt.collection not in {c.id for c in collections}:
        readable_collection(flt.collection)
    outcome = export_bundle(store, collections, flt, TLP_NAMES)
    analysts.record_export(
        store,
        g.console_session,
        {
            "objects": outcome.count,
            "valid": outcome.ok,
            "truncated": outcome.truncated,
            "filter": {k: v for k, v in request.form.items() if k != "csrf_token" and v},
        },
    )
    if not outcome.ok:
        return _render("export_failed.html", errors=outcome.errors[:50]), 422
    response = Response(outcome.body, mimetype="application/stix+json;version=2.1")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    response.headers["Content-Disposition"] = f'attachment; filename="dx-export-{stamp}.json"'
    return response


@blueprint.route("/id/<stix_id>", methods=["GET"])
def resolve(stix_id: str) -> BaseResponse:
    """A reference followed from a page: the object in the nearest readable collection holding
    it (``near`` first), else 404."""
    if not queries.STIX_ID.fullmatch(stix_id):
        raise TaxiiError(404, "no such object")
    collections = readable_collections()
    near = request.args.get("near", "")
    ordered = sorted(collections, key=lambda c: c.id != near)
    found = queries.names_of(server_context().store, [c.id for c in ordered], [stix_id])
    if stix_id not in found:
        raise TaxiiError(404, "no such object")
    holder = found[stix_id].collection_id
    if near in {c.id for c in collections} and queries.names_of(
        server_context().store, [near], [stix_id]
    ):
        holder = near
    return redirect(url_for("console.object_page", collection_ref=holder, stix_id=stix_id), 303)
