"""Ready-to-use ``lab.toml`` files for the sample partner labs of ``dx server demo``.

The demo prints API keys; turning them into a working lab configuration by
hand is the first thing every new user would have to do before ``dx poll``
could run. Writing one config per sample lab next to the demo's data makes the
lab-side walkthrough copy-and-paste. Keys go into their own files (mode 0600)
so that the configs can be shown and shared without the secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from exchange.atomic import write_atomically
from exchange.lab_config import load_lab_config


def _toml_string(value: str) -> str:
    """A TOML basic string (the values here are URLs, ids and relative paths)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by the owner only, replacing any earlier file."""
    write_atomically(path, text.encode("utf-8"), mode=0o600)


def demo_lab_config_text(
    *,
    api_root_url: str,
    partner_id: str,
    producer_key: str,
    producer_name: str,
    collection: str,
    consortium_key_file: Path,
    id_secret_file: Path | None = None,
) -> str:
    """The ``lab.toml`` of one sample lab; paths are relative to the config's directory.

    ``id_secret_file`` is the sample lab's public demo id secret; without one the
    lab uses the legacy public ids (fine for a demo, never for a real lab)."""
    ids = (
        f"id_secret_file = {_toml_string(id_secret_file.as_posix())}"
        if id_secret_file is not None
        else 'id_scheme = "legacy"'
    )
    return "\n".join(
        [
            f"# Written by `dx server demo` for the sample partner {partner_id}.",
            "[server]",
            f"api_root = {_toml_string(api_root_url)}",
            f"partner_id = {_toml_string(partner_id)}",
            f"api_key_file = {_toml_string(f'demo-{partner_id}.key')}",
            f"collections = [{_toml_string(collection)}]",
            "",
            "[producer]",
            f"key = {_toml_string(producer_key)}",
            f"name = {_toml_string(producer_name)}",
            ids,
            "",
            "[local]",
            f"store = {_toml_string(f'demo-{partner_id}-feed.sqlite3')}",
            f"artifacts = {_toml_string(f'demo-{partner_id}-artifacts')}",
            f"consortium_key_file = {_toml_string(consortium_key_file.as_posix())}",
            "",
        ]
    )


def _demo_id_secret(consortium_key_file: Path, partner_id: str, directory: Path) -> Path | None:
    """The sample lab's demo id secret beside the demo consortium key, relative to ``directory``."""
    secret = Path(consortium_key_file).parent / f"demo-{partner_id}-id-secret.json"
    if not secret.is_file():
        return None
    return Path(os.path.relpath(os.path.abspath(secret), os.path.abspath(directory)))


def write_demo_lab_configs(
    directory: Path,
    *,
    api_root_url: str,
    api_keys: Mapping[str, str],
    partners: list[Mapping[str, str]],
    collection: str,
    consortium_key_file: Path,
) -> list[Path]:
    """Write ``demo-<partner>.toml`` and ``demo-<partner>.key`` for each sample partner.

    Each config is read back with the lab-side loader before it is reported,
    so a demo never hands out a config that ``dx poll`` would refuse.
    """
    directory.mkdir(parents=True, exist_ok=True)
    key_file = Path(
        os.path.relpath(os.path.abspath(consortium_key_file), os.path.abspath(directory))
    )
    written = []
    for partner in partners:
        partner_id = partner["id"]
        if partner_id not in api_keys:
            continue
        _write_private(directory / f"demo-{partner_id}.key", api_keys[partner_id] + "\n")
        config_path = directory / f"demo-{partner_id}.toml"
        _write_private(
            config_path,
            demo_lab_config_text(
                api_root_url=api_root_url,
                partner_id=partner_id,
                producer_key=partner["producer_key"],
                producer_name=partner["name"],
                collection=collection,
                consortium_key_file=key_file,
                id_secret_file=_demo_id_secret(consortium_key_file, partner_id, directory),
            ),
        )
        load_lab_config(config_path).api_key()
        written.append(config_path)
    return written
