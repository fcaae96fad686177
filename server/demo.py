"""``dx server demo``: a ready-to-poll exchange with sample partners and data.

Creates (or reuses) ``var/demo.sqlite3`` and ``var/demo-server.toml``, the
``exchange`` API root, two collections and the sample partner labs of
``SAMPLE_PARTNERS``, and loads ``samples/bundle.json`` if present. The demo's
API keys are kept in ``var/demo-credentials.json`` (mode 0600) so that a second
run prints the same keys; this file exists only for the demo, real partners'
keys are shown once and stored only as hashes. Re-running keeps all data:
every step is an upsert and loading the bundle again stores nothing twice.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from server.config import SAMPLE_PARTNERS, ServerConfig, load_config, write_new_config
from server.loading import load_objects, read_objects_file
from server.store import Store
from server.store.types import ApiRootInfo, CollectionInfo, StatusRecord, Tlp

DEMO_DIR = Path("var")
DEMO_DATABASE_URL = "sqlite:///var/demo.sqlite3"
DEMO_CONFIG = DEMO_DIR / "demo-server.toml"
DEMO_CREDENTIALS = DEMO_DIR / "demo-credentials.json"
SAMPLE_BUNDLE = Path("samples/bundle.json")

_NAMESPACE = uuid.UUID("6a1f3c52-8d0e-4f7b-9c21-3e5d7a9b0c14")


@dataclass(frozen=True)
class DemoCollection:
    alias: str
    title: str
    description: str
    max_tlp: Tlp | None

    @property
    def id(self) -> str:
        """Stable across runs and machines, so docs and scripts can name it."""
        return str(uuid.uuid5(_NAMESPACE, self.alias))


DEMO_COLLECTIONS = (
    DemoCollection(
        "distillation-indicators",
        "Distillation indicators",
        "Account clusters, prompt fingerprints and proxy ranges shared by partner labs.",
        None,
    ),
    DemoCollection(
        "tlp-clear-public",
        "TLP:CLEAR public feed",
        "Indicators cleared for public sharing; anything above TLP:CLEAR is refused.",
        Tlp.CLEAR,
    ),
)


@dataclass
class DemoSetup:
    config: ServerConfig
    api_keys: dict[str, str]
    collections: tuple[DemoCollection, ...] = DEMO_COLLECTIONS
    loaded: list[StatusRecord] = field(default_factory=list)


def demo_config(directory: Path = DEMO_DIR) -> ServerConfig:
    path = directory / DEMO_CONFIG.name
    if not path.exists():
        database = (directory / "demo.sqlite3").as_posix()
        return write_new_config(path, database_url=f"sqlite:///{database}")
    return load_config(path)


def _saved_keys(path: Path) -> dict[str, str]:
    try:
        saved = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return (
        {k: v for k, v in saved.items() if isinstance(k, str) and isinstance(v, str)}
        if isinstance(saved, dict)
        else {}
    )


def _save_keys(path: Path, keys: dict[str, str]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(orjson.dumps(keys, option=orjson.OPT_INDENT_2))


def _partner_keys(store: Store, credentials: Path) -> dict[str, str]:
    saved = _saved_keys(credentials)
    keys: dict[str, str] = {}
    for sample in SAMPLE_PARTNERS:
        partner_id = sample["id"]
        key = saved.get(partner_id)
        if key is not None and store.authenticate(partner_id, key) is not None:
            keys[partner_id] = key
        elif store.get_partner(partner_id) is None:
            keys[partner_id] = store.add_partner(partner_id, sample["name"], sample["identity_ref"])
        else:
            keys[partner_id] = store.rotate_key(partner_id)
            store.reactivate_partner(partner_id)
    _save_keys(credentials, keys)
    return keys


def _catalog(store: Store, config: ServerConfig) -> None:
    root = config.default_api_root
    if store.get_api_root(root) is None:
        store.add_api_root(
            ApiRootInfo(
                root, "Distillation-defence exchange", "Sample API root of the demo exchange."
            )
        )
    for demo in DEMO_COLLECTIONS:
        store.add_collection(
            CollectionInfo(
                id=demo.id,
                api_root=root,
                title=demo.title,
                description=demo.description,
                alias=demo.alias,
                max_tlp=demo.max_tlp,
            )
        )


def _grants(store: Store) -> None:
    for demo in DEMO_COLLECTIONS:
        for sample in SAMPLE_PARTNERS:
            store.set_grant(sample["id"], demo.id, True, True)


def _load_sample_bundle(store: Store, config: ServerConfig, bundle: Path) -> list[StatusRecord]:
    """Each object goes in as the sample partner whose identity created it."""
    objects = read_objects_file(bundle)
    by_identity = {sample["identity_ref"]: sample["id"] for sample in SAMPLE_PARTNERS}
    batches: dict[str, list[object]] = {}
    for obj in objects:
        creator = obj.get("created_by_ref") if isinstance(obj, dict) else None
        partner_id = by_identity.get(creator or "", SAMPLE_PARTNERS[0]["id"])
        batches.setdefault(partner_id, []).append(obj)
    target = store.get_collection(config.default_api_root, DEMO_COLLECTIONS[0].id)
    assert target is not None
    statuses = []
    for partner_id, batch in batches.items():
        partner = store.get_partner(partner_id)
        assert partner is not None
        statuses.append(load_objects(store, target, partner, batch))
    return statuses


def set_up_demo(directory: Path = DEMO_DIR, bundle: Path = SAMPLE_BUNDLE) -> DemoSetup:
    """Create or refresh the demo's database, catalog, partners and data (idempotent)."""
    config = demo_config(directory)
    store = Store(config.database_url, status_retention_hours=config.status_retention_hours)
    try:
        store.migrate()
        _catalog(store, config)
        keys = _partner_keys(store, directory / DEMO_CREDENTIALS.name)
        _grants(store)
        loaded = _load_sample_bundle(store, config, bundle) if bundle.exists() else []
    finally:
        store.close()
    return DemoSetup(config, keys, loaded=loaded)
