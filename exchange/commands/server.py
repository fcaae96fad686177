"""``dx server ...``: create, administer and run the TAXII 2.1 exchange server.

Every command reads the server config (``--config FILE``, else ``$DX_CONFIG``,
else ``var/dx-server.toml``, else built-in defaults with ``DX_*`` environment
overrides) and talks to the database directly: administration has no HTTP
identity, whoever can run these commands on the server host is the admin.
Secrets (API keys) are printed once, on stdout alone, so that
``KEY=$(dx server add-partner ...)`` works; explanations go to stderr.
"""

from __future__ import annotations

import getpass
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError

from exchange.commands.failures import DxGroup
from exchange.commands.params import SINCE
from server.config import (
    DEFAULT_CONFIG_PATH,
    ConfigError,
    ServerConfig,
    is_valid_api_root_name,
    load_config,
    with_overrides,
    write_new_config,
)
from server.loading import LoadError, find_collection, load_objects, read_objects_file
from server.store import Store
from server.store.backup import FORMATS as BACKUP_FORMATS
from server.store.backup import backup as backup_database
from server.store.backup import restore as restore_database
from server.store.errors import StoreError
from server.store.timestamps import format_timestamp_us
from server.store.types import ApiRootInfo, CollectionInfo, StatusRecord, Tlp

F = TypeVar("F", bound=Callable[..., Any])

# The consortium key the sample labs share (demo only; real keys never sit in a repository).
DEMO_CONSORTIUM_KEY = Path("samples/keys/demo-consortium-key.json")

TLP_CHOICES = {
    "clear": Tlp.CLEAR,
    "green": Tlp.GREEN,
    "amber": Tlp.AMBER,
    "amber+strict": Tlp.AMBER_STRICT,
    "red": Tlp.RED,
}


def _config_option(command: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=f"Server config file (default: $DX_CONFIG or {DEFAULT_CONFIG_PATH}).",
    )(command)


def _api_root_option(command: F) -> F:
    return click.option(
        "--api-root", default=None, help="API root name (default: the config's default_api_root)."
    )(command)


def _fail(message: str) -> click.ClickException:
    return click.ClickException(message)


def _config(path: Path | None) -> ServerConfig:
    try:
        return load_config(path)
    except ConfigError as error:
        raise _fail(str(error)) from None


def _database_problem(config: ServerConfig, error: SQLAlchemyError) -> click.ClickException:
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    return _fail(f"database {config.database_url}: {reason}")


@contextmanager
def _open_store(config: ServerConfig, *, migrate: bool = False) -> Iterator[Store]:
    try:
        store = Store(config.database_url, status_retention_hours=config.status_retention_hours)
    except StoreError as error:
        raise _fail(str(error)) from None
    try:
        if migrate:
            store.migrate()
        yield store
    except StoreError as error:
        raise _fail(str(error)) from None
    except SQLAlchemyError as error:
        raise _database_problem(config, error) from None
    finally:
        store.close()


def _actor() -> str:
    """Who ran the command, for the audit log."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _say(message: str) -> None:
    click.echo(message, err=True)


def _print_status(label: str, status: StatusRecord) -> None:
    _say(
        f"{label}: {len(status.successes)} stored or already present, "
        f"{len(status.failures)} refused (status {status.id})"
    )
    for failure in status.failures:
        _say(f"{label}: refused {failure.id or '(no id)'} {failure.version}: {failure.message}")


@click.group("server", cls=DxGroup)
def server() -> None:
    """Create, administer and run the TAXII 2.1 exchange server.

    \b
    Example:
      dx server init
      dx server add-partner lab-b --name "Lab B" --identity identity--<uuid>
      dx server add-collection --title "Indicators" --alias indicators
      dx server grant lab-b indicators --read --write
      dx server serve            # http://127.0.0.1:8470/taxii2/
      dx server rotate-key lab-b
      dx server revoke lab-b
      dx server add-analyst lab-b alice          # a console login under lab-b
      dx server rotate-analyst lab-b alice
      dx server revoke-analyst lab-b alice
      dx server import-medallion medallion-data.json
      dx server load bundle.json --collection indicators --as lab-a
      dx server check
      dx server backup backups/exchange.bak
      dx server restore backups/exchange.bak --config new-server.toml
      dx server audit --since 7d
      dx server demo             # sample partners and data, ready to poll
    """


@server.command("init")
@_config_option
@click.option("--database-url", default=None, help="Database URL to write into a new config file.")
@_api_root_option
@click.option(
    "--title", default="Distillation-defence exchange", show_default=True, help="API root title."
)
def init_command(
    config_path: Path | None, database_url: str | None, api_root: str | None, title: str
) -> None:
    """Write a config (with a random cursor secret) if missing; create the database and API root."""
    path = config_path or DEFAULT_CONFIG_PATH
    try:
        if path.exists():
            config = load_config(path)
            _say(f"{path}: using the existing config")
            if database_url is not None:
                config = with_overrides(config, database_url=database_url)
        else:
            config = write_new_config(path, database_url=database_url)
            _say(f"{path}: wrote a new config with a random cursor_secret")
    except ConfigError as error:
        raise _fail(str(error)) from None
    if config.cursor_secret is None:
        _say(f"{path}: warning: no cursor_secret; set one so `next` tokens survive restarts")
    name = api_root or config.default_api_root
    if not is_valid_api_root_name(name):
        raise _fail(f"--api-root: {name!r} is not a valid API root name")
    with _open_store(config, migrate=True) as store:
        if store.get_api_root(name) is None:
            store.add_api_root(ApiRootInfo(name, title))
            _say(f"created API root /{name}/")
        else:
            _say(f"API root /{name}/ already exists")
    _say(f"database ready: {config.database_url}")


@server.command("serve")
@_config_option
@click.option(
    "--host", default=None, help="Interface to listen on (config: host, default 127.0.0.1)."
)
@click.option("--port", type=int, default=None, help="Port (config: port, default 8470).")
@click.option("--workers", type=int, default=None, help="Worker processes (config: workers).")
@click.option("--threads", type=int, default=None, help="Threads per worker (config: threads).")
def serve_command(
    config_path: Path | None,
    host: str | None,
    port: int | None,
    workers: int | None,
    threads: int | None,
) -> None:
    """Migrate the database if needed and serve TAXII 2.1 with gunicorn until interrupted."""
    from server.wsgi import serve

    try:
        config = with_overrides(
            _config(config_path), host=host, port=port, workers=workers, threads=threads
        )
    except ConfigError as error:
        raise _fail(str(error)) from None
    scheme = "https" if config.tls_certfile else "http"
    _say(
        f"serving {scheme}://{config.host}:{config.port}/taxii2/ "
        f"({config.workers} workers) from {config.database_url}"
    )
    _say(
        f"operator URLs: /-/healthz, /-/readyz, /-/metrics "
        f"(metrics for {', '.join(config.metrics_networks) or 'nobody'})"
    )
    try:
        serve(config)
    except ConfigError as error:
        raise _fail(str(error)) from None
    except StoreError as error:
        raise _fail(str(error)) from None
    except SQLAlchemyError as error:
        raise _database_problem(config, error) from None


@server.command("add-partner")
@_config_option
@click.argument("partner_id")
@click.option("--name", required=True, help="Human-readable name of the lab.")
@click.option(
    "--identity",
    "identity_ref",
    required=True,
    help="The lab's STIX identity id (identity--<uuid>).",
)
def add_partner_command(
    config_path: Path | None, partner_id: str, name: str, identity_ref: str
) -> None:
    """Add a partner lab and print its API key (shown once: store it now)."""
    with _open_store(_config(config_path)) as store:
        key = store.add_partner(partner_id, name, identity_ref, actor=_actor())
    _say(f"partner {partner_id} added; its API key follows (shown once, stored only as a hash):")
    click.echo(key)


@server.command("rotate-key")
@_config_option
@click.argument("partner_id")
@click.option("--reactivate", is_flag=True, help="Also lift a revocation.")
def rotate_key_command(config_path: Path | None, partner_id: str, reactivate: bool) -> None:
    """Give a partner a new API key (the old one stops working at once) and print it."""
    with _open_store(_config(config_path)) as store:
        key = store.rotate_key(partner_id, actor=_actor())
        if reactivate:
            store.reactivate_partner(partner_id, actor=_actor())
        active = store.get_partner(partner_id)
    _say(f"new API key for {partner_id} follows (the previous key no longer works):")
    if active is not None and not active.active:
        _say(f"note: {partner_id} is revoked; add --reactivate to let it in again")
    click.echo(key)


@server.command("revoke")
@_config_option
@click.argument("partner_id")
def revoke_command(config_path: Path | None, partner_id: str) -> None:
    """Deactivate a partner: its key stops working at once on every server process."""
    with _open_store(_config(config_path)) as store:
        store.deactivate_partner(partner_id, actor=_actor())
    _say(f"partner {partner_id} revoked; `rotate-key {partner_id} --reactivate` lets it back in")


@server.command("add-analyst")
@_config_option
@click.argument("partner_id")
@click.argument("name")
def add_analyst_command(config_path: Path | None, partner_id: str, name: str) -> None:
    """Add an analyst (a console login) under a partner and print the password once.

    The analyst sees in the console at /console/ exactly what the partner's API key sees.
    """
    from server.store.analysts import add_analyst

    with _open_store(_config(config_path)) as store:
        password = add_analyst(store, partner_id, name, actor=_actor())
    _say(f"analyst {name} of {partner_id} added; the password follows (shown once, stored hashed):")
    click.echo(password)


@server.command("rotate-analyst")
@_config_option
@click.argument("partner_id")
@click.argument("name")
def rotate_analyst_command(config_path: Path | None, partner_id: str, name: str) -> None:
    """Give an analyst a new password (ends its sessions, lifts a revocation) and print it."""
    from server.store.analysts import rotate_password

    with _open_store(_config(config_path)) as store:
        password = rotate_password(store, partner_id, name, actor=_actor())
    _say(f"new password for analyst {name} of {partner_id} follows (open sessions ended):")
    click.echo(password)


@server.command("revoke-analyst")
@_config_option
@click.argument("partner_id")
@click.argument("name")
def revoke_analyst_command(config_path: Path | None, partner_id: str, name: str) -> None:
    """Stop an analyst logging in; its open console sessions end at once."""
    from server.store.analysts import revoke_analyst

    with _open_store(_config(config_path)) as store:
        revoke_analyst(store, partner_id, name, actor=_actor())
    _say(f"analyst {name} of {partner_id} revoked; `rotate-analyst` lets it back in")


@server.command("add-collection")
@_config_option
@_api_root_option
@click.option("--title", required=True, help="Collection title.")
@click.option(
    "--id", "collection_id", default=None, help="Collection UUID (default: a new random one)."
)
@click.option("--alias", default=None, help="Short unique name usable in URLs instead of the id.")
@click.option("--description", default="", help="Collection description.")
@click.option(
    "--max-tlp",
    type=click.Choice(sorted(TLP_CHOICES)),
    default=None,
    help="Refuse objects marked above this TLP.",
)
@click.option(
    "--provenance/--no-provenance",
    default=True,
    show_default=True,
    help="Require created_by_ref (where present) to be the publishing partner's identity.",
)
def add_collection_command(
    config_path: Path | None,
    api_root: str | None,
    title: str,
    collection_id: str | None,
    alias: str | None,
    description: str,
    max_tlp: str | None,
    provenance: bool,
) -> None:
    """Create (or update, with --id) a collection and print its id."""
    config = _config(config_path)
    root = api_root or config.default_api_root
    if collection_id is None:
        collection_id = str(uuid.uuid4())
    else:
        try:
            collection_id = str(uuid.UUID(collection_id))
        except ValueError:
            raise _fail(f"--id: {collection_id!r} is not a UUID") from None
    with _open_store(config) as store:
        if store.get_api_root(root) is None:
            raise _fail(
                f"--api-root: no API root {root!r} (run `dx server init --api-root {root}`)"
            )
        store.add_collection(
            CollectionInfo(
                id=collection_id,
                api_root=root,
                title=title,
                description=description,
                alias=alias,
                max_tlp=None if max_tlp is None else TLP_CHOICES[max_tlp],
                enforce_provenance=provenance,
            )
        )
    _say(f"collection {title!r} ready in /{root}/")
    click.echo(collection_id)


@server.command("grant")
@_config_option
@_api_root_option
@click.argument("partner_id")
@click.argument("collection")
@click.option("--read", is_flag=True, help="Allow reading objects, manifest and versions.")
@click.option(
    "--write", is_flag=True, help="Allow publishing (and, with --read, deleting its own objects)."
)
@click.option(
    "--revoke", "revoke_access", is_flag=True, help="Remove all access to the collection."
)
def grant_command(
    config_path: Path | None,
    api_root: str | None,
    partner_id: str,
    collection: str,
    read: bool,
    write: bool,
    revoke_access: bool,
) -> None:
    """Set a partner's access to a collection (by id or alias); replaces the previous grant."""
    if revoke_access == (read or write):
        raise _fail("give --read and/or --write, or --revoke alone")
    config = _config(config_path)
    root = api_root or config.default_api_root
    with _open_store(config) as store:
        found = find_collection(store, root, collection)
        if found is None:
            raise _fail(f"no collection {collection!r} in API root {root!r}")
        if store.get_partner(partner_id) is None:
            raise _fail(f"no partner {partner_id!r} (add it with `dx server add-partner`)")
        store.set_grant(partner_id, found.id, read, write, actor=_actor())
    rights = (
        "no access"
        if revoke_access
        else "+".join(r for r, on in (("read", read), ("write", write)) if on)
    )
    _say(f"{partner_id} on {found.title!r} ({found.id}): {rights}")


@server.command("import-medallion")
@_config_option
@click.argument("data_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_medallion_command(config_path: Path | None, data_file: Path) -> None:
    """Import a medallion data file: API roots, collections, objects (with date_added), statuses."""
    with _open_store(_config(config_path), migrate=True) as store:
        summary = store.import_medallion(data_file)
    _say(
        f"{data_file}: {summary.api_roots} API roots, {summary.collections} collections, "
        f"{summary.objects_added} object versions added "
        f"({summary.objects_already_present} already present), "
        f"{summary.statuses_added} statuses added "
        f"({summary.statuses_already_present} already present)"
    )


@server.command("load")
@_config_option
@_api_root_option
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--collection", required=True, help="Target collection id or alias.")
@click.option("--as", "partner_id", required=True, help="Partner the objects are published as.")
def load_command(
    config_path: Path | None, api_root: str | None, bundle: Path, collection: str, partner_id: str
) -> None:
    """Publish a bundle file into a collection as a partner, with the same checks as a POST."""
    config = _config(config_path)
    root = api_root or config.default_api_root
    try:
        objects = read_objects_file(bundle)
    except LoadError as error:
        raise _fail(str(error)) from None
    with _open_store(config) as store:
        target = find_collection(store, root, collection)
        if target is None:
            raise _fail(f"--collection: no collection {collection!r} in API root {root!r}")
        partner = store.get_partner(partner_id)
        if partner is None:
            raise _fail(f"--as: no partner {partner_id!r}")
        status = load_objects(store, target, partner, objects)
    _print_status(str(bundle), status)
    if status.failures:
        sys.exit(1)


@server.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8470, show_default=True)
@click.option("--workers", type=int, default=2, show_default=True)
@click.option(
    "--setup-only",
    is_flag=True,
    help="Create or refresh the demo data, print the keys, do not serve.",
)
def demo_command(host: str, port: int, workers: int, setup_only: bool) -> None:
    """Run a ready-to-poll exchange: sample partners, collections and the sample bundle (var/)."""
    from exchange.demo_labs import write_demo_lab_configs
    from server.config import SAMPLE_PARTNERS
    from server.demo import DEMO_DIR, set_up_demo
    from server.wsgi import serve

    try:
        setup = set_up_demo()
        config = with_overrides(setup.config, host=host, port=port, workers=workers)
    except (ConfigError, LoadError) as error:
        raise _fail(str(error)) from None
    except StoreError as error:
        raise _fail(str(error)) from None
    for status in setup.loaded:
        _print_status("samples/bundle.json", status)
    base = f"http://{host}:{port}"
    root = config.default_api_root
    click.echo(f"TAXII 2.1 exchange: {base}/taxii2/   (data: {config.database_url})")
    for demo in setup.collections:
        click.echo(f"collection {demo.alias}: {base}/{root}/collections/{demo.id}/")
    for partner_id, key in setup.api_keys.items():
        click.echo(f"partner {partner_id}: API key {key}")
    first_id, first_key = next(iter(setup.api_keys.items()))
    collection_url = f"{base}/{root}/collections/{setup.collections[0].id}/"
    click.echo("\nTry:")
    click.echo(
        f"  curl -u {first_id}:{first_key} -H 'Accept: application/taxii+json;version=2.1' "
        f"{collection_url}objects/"
    )
    click.echo(
        '  python3 -c "from taxii2client.v21 import Collection, as_pages; '
        f"c = Collection('{collection_url}', user='{first_id}', password='{first_key}'); "
        "print(sum(len(p.get('objects', [])) for p in as_pages(c.get_objects, per_request=1000)),"
        " 'objects')\""
    )
    lab_configs = write_demo_lab_configs(
        DEMO_DIR,
        api_root_url=f"{base}/{root}/",
        api_keys=setup.api_keys,
        partners=list(SAMPLE_PARTNERS),
        collection=setup.collections[0].alias,
        consortium_key_file=DEMO_CONSORTIUM_KEY,
    )
    for lab_config in lab_configs:
        click.echo(f"  lab config: {lab_config} (key beside it, mode 0600)")
    if lab_configs:
        last = lab_configs[-1]
        click.echo(f"  dx poll --config {last} --once && dx act --config {last}")
    _print_demo_console(config, base, list(setup.api_keys)[-1])
    if setup_only:
        return
    serve(config)


def _print_demo_console(config: ServerConfig, base: str, partner_id: str) -> None:
    """The console's address and the sample analyst's login (server.console.demo)."""
    from server.console.demo import demo_analyst
    from server.demo import DEMO_DIR

    with _open_store(config) as store:
        analyst = demo_analyst(store, partner_id, DEMO_DIR)
    click.echo(f"\nAnalyst console: {base}/console/")
    click.echo(
        f"  log in as partner {analyst.partner_id}, analyst {analyst.name}, "
        f"password {analyst.password}"
    )


# -- data safety: integrity check, backups, audit log ------------------------------------


@server.command("check")
@_config_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def check_command(config_path: Path | None, as_json: bool) -> None:
    """Check the database and the store's invariants (safe while serving); exit 1 on a problem.

    \b
    Checks: SQLite integrity_check and foreign_key_check; rows pointing at
    missing parents; the schema migration; exactly one latest version per
    object; date_added unique and increasing per collection; statuses that
    agree with the stored objects and the audit log.
    """
    config = _config(config_path)
    with _open_store(config) as store:
        report = store.check_integrity()
    if as_json:
        click.echo(json.dumps({"ok": report.ok, "problems": report.problems, **report.checked}))
    else:
        checked = ", ".join(f"{count} {name}" for name, count in report.checked.items())
        for problem in report.problems:
            _say(f"{config.database_url}: {problem}")
        _say(f"{config.database_url}: {'ok' if report.ok else 'PROBLEMS FOUND'} ({checked})")
    if not report.ok:
        sys.exit(1)


@server.command("backup")
@_config_option
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", *BACKUP_FORMATS]),
    default="auto",
    show_default=True,
    help="auto: SQLite online backup on SQLite; pg_dump custom format on PostgreSQL "
    "(logical if pg_dump is missing). logical: JSON lines, restorable on either database.",
)
def backup_command(config_path: Path | None, destination: Path, fmt: str) -> None:
    """Back up the database to a file while the server keeps serving (one consistent snapshot).

    \b
    Example:
      dx server backup backups/exchange-$(date +%F).bak
      dx server restore backups/exchange-2026-12-01.bak --config new-server.toml
    """
    config = _config(config_path)
    try:
        summary = backup_database(config.database_url, destination, fmt=fmt)
    except StoreError as error:
        raise _fail(str(error)) from None
    except SQLAlchemyError as error:
        raise _database_problem(config, error) from None
    _say(
        f"{destination}: {summary.fmt} backup of {config.database_url}, "
        f"{summary.bytes} bytes in {summary.seconds:.2f} s"
    )


@server.command("restore")
@_config_option
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def restore_command(config_path: Path | None, source: Path) -> None:
    """Restore a backup into the config's database, which must be new and empty; then check it.

    Stop the server first. The format (SQLite file, pg_dump custom, logical) is
    recognised from the file; a logical backup restores into either database.
    """
    config = _config(config_path)
    try:
        fmt = restore_database(source, config.database_url)
    except StoreError as error:
        raise _fail(str(error)) from None
    except SQLAlchemyError as error:
        raise _database_problem(config, error) from None
    with _open_store(config) as store:
        report = store.check_integrity()
    for problem in report.problems:
        _say(f"{config.database_url}: {problem}")
    if not report.ok:
        raise _fail(f"{source}: restored, but the integrity check failed (see above)")
    checked = ", ".join(f"{count} {name}" for name, count in report.checked.items())
    _say(f"{source}: {fmt} backup restored into {config.database_url} ({checked})")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _iso(at_us: int) -> str:
    return format_timestamp_us(at_us)


@server.command("audit")
@_config_option
@click.option("--partner", default=None, help="Entries made by or about this partner.")
@click.option(
    "--action",
    default=None,
    help="An action (objects.publish, objects.delete, partner.rotate_key, grant.set, ...) "
    "or a family (objects, partner, grant).",
)
@click.option(
    "--since",
    type=SINCE,
    default=None,
    help="Only entries since then: 30m, 24h, 7d, a date or a time.",
)
@click.option("--limit", type=click.IntRange(min=0), default=100, show_default=True, help="0: all.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines, one entry per line.")
def audit_command(
    config_path: Path | None,
    partner: str | None,
    action: str | None,
    since: datetime | None,
    limit: int,
    as_json: bool,
) -> None:
    """List the audit log, oldest first: who published, deleted, rotated keys, changed grants.

    \b
    Example:
      dx server audit --partner lab-b --since 7d
      dx server audit --action objects.delete --json | jq .
    """
    since_us = None if since is None else (since - _EPOCH) // timedelta(microseconds=1)
    with _open_store(_config(config_path)) as store:
        entries = store.audit_entries(
            limit or None, partner=partner, action=action, since_us=since_us
        )
    for entry in reversed(entries):
        if as_json:
            line = {
                "seq": entry.seq,
                "at": _iso(entry.at_us),
                "actor": entry.actor,
                "action": entry.action,
                "target": entry.target,
                "detail": entry.detail,
            }
            click.echo(json.dumps(line, sort_keys=True))
        else:
            detail = " ".join(f"{key}={value}" for key, value in sorted(entry.detail.items()))
            click.echo(
                f"{_iso(entry.at_us)}  {entry.actor}  {entry.action}  {entry.target}  {detail}"
            )


if __name__ == "__main__":
    server()
