"""The lab's id secret: what makes the ids of the objects it authors unpredictable.

Every object a lab publishes gets a deterministic id (re-publishing a record
makes a new version, never a duplicate). If those ids were computed from public
facts only (the producer key), any partner could compute the ids of objects
the lab has not published yet and post them first: the exchange gives an id to
whoever publishes it first, so the lab's real objects would then be refused.
The ids are therefore derived from a per-lab secret (``mappings.ids.
producer_namespace``), held in a small JSON file that never leaves the lab:

    {"purpose": "dx-authored-ids", "producer_key": "lab-a.example",
     "secret_b64": "<32 random bytes, base64>"}

It must not be the consortium key: every partner holds that one. The file
names the producer key it belongs to, so a lab cannot use another lab's file
by mistake. Create one with::

    python3 -m exchange.id_secret lab-a.example secrets/lab-a-id-secret.json

Losing the file loses the ability to publish new versions of the lab's
objects under their ids (a new secret names new objects), so back it up with
the lab's other secrets.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Final

from exchange.errors import DxError
from mappings.ids import ID_SECRET_MIN_BYTES
from mappings.producer import Producer

PURPOSE: Final = "dx-authored-ids"
ID_SCHEMES: Final = ("keyed", "legacy")
"""``keyed``: ids from the lab's id secret (the default); ``legacy``: the public ids of
earlier versions, for a lab that has not moved over yet (see docs/stix-mapping.md)."""
GENERATED_BYTES: Final = 32
_MAX_FILE_BYTES: Final = 4096
_FIELDS: Final = frozenset({"purpose", "producer_key", "secret_b64"})


class IdSecretError(DxError, ValueError):
    """The id secret file is unusable; one line naming the file and field."""


def load_id_secret(path: str | os.PathLike[str], producer_key: str) -> bytes:
    """The secret bytes of ``path``, which must be ``producer_key``'s id secret file."""
    source = Path(path)
    try:
        with source.open("rb") as handle:
            raw = handle.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise IdSecretError(f"{source}: cannot read the id secret file: {exc.strerror}") from None
    if len(raw) > _MAX_FILE_BYTES:
        raise IdSecretError(f"{source}: too large for an id secret file")
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise IdSecretError(f"{source}: not a JSON id secret file") from None
    if not isinstance(payload, dict):
        raise IdSecretError(
            f"{source}: expected a JSON object with purpose, producer_key, secret_b64"
        )
    if "purpose" not in payload and "key_id" in payload:
        raise IdSecretError(
            f"{source}: this is a consortium key file, which every partner holds; "
            "give the lab's own id secret file (python3 -m exchange.id_secret --help)"
        )
    unknown = sorted(set(payload) - _FIELDS)
    if unknown:
        raise IdSecretError(f"{source}: {unknown[0]}: unknown field")
    if payload.get("purpose") != PURPOSE:
        raise IdSecretError(f"{source}: purpose: must be {PURPOSE!r}")
    if payload.get("producer_key") != producer_key:
        raise IdSecretError(
            f"{source}: producer_key: the file is for {payload.get('producer_key')!r}, "
            f"not for this lab's producer key {producer_key!r}"
        )
    encoded = payload.get("secret_b64")
    try:
        secret = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
    except binascii.Error:
        raise IdSecretError(f"{source}: secret_b64: not valid base64") from None
    if len(secret) < ID_SECRET_MIN_BYTES:
        raise IdSecretError(
            f"{source}: secret_b64: at least {ID_SECRET_MIN_BYTES} bytes of secret are required"
        )
    return secret


def build_producer(
    key: str, name: str, *, id_secret_file: Path | None, id_scheme: str, where: str
) -> Producer:
    """The lab's producer, with its id secret read from ``id_secret_file``.

    ``where`` prefixes error lines (the config file or the option names).
    Raises IdSecretError for a missing or bad secret, ValueError for a bad key or name.
    """
    if id_scheme not in ID_SCHEMES:
        raise IdSecretError(f"{where}: id_scheme: must be one of {', '.join(ID_SCHEMES)}")
    if id_scheme == "legacy":
        if id_secret_file is not None:
            raise IdSecretError(
                f'{where}: id_secret_file: not used with id_scheme "legacy"; drop one of them'
            )
        return Producer(key, name)
    if id_secret_file is None:
        raise IdSecretError(
            f"{where}: id_secret_file: required: the lab's id secret makes the ids of its "
            f"objects unpredictable to partners (create it with: python3 -m exchange.id_secret "
            f'{key} FILE); id_scheme "legacy" keeps the old public ids, see docs/stix-mapping.md'
        )
    return Producer(key, name, load_id_secret(id_secret_file, key))


def id_secret_json(producer_key: str, secret: bytes) -> str:
    payload = {
        "purpose": PURPOSE,
        "producer_key": producer_key,
        "secret_b64": base64.b64encode(secret).decode("ascii"),
    }
    return json.dumps(payload, indent=2) + "\n"


def create_id_secret_file(path: str | os.PathLike[str], producer_key: str) -> Path:
    """Write a new random id secret file, readable by its owner only; never overwrite one."""
    target = Path(path)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise IdSecretError(
            f"{target}: already exists; refusing to overwrite an id secret"
        ) from None
    except OSError as exc:
        raise IdSecretError(f"{target}: cannot create the id secret file: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(id_secret_json(producer_key, secrets.token_bytes(GENERATED_BYTES)))
    return target


def main(argv: list[str] | None = None) -> int:
    """``python3 -m exchange.id_secret PRODUCER_KEY FILE``: create the lab's id secret file."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] in ("-h", "--help"):
        print(
            "usage: python3 -m exchange.id_secret PRODUCER_KEY FILE\n"
            "Create a new id secret file for the lab with this producer key (mode 0600).",
            file=sys.stderr,
        )
        return 0 if args[:1] in (["-h"], ["--help"]) else 2
    try:
        written = create_id_secret_file(args[1], args[0])
    except IdSecretError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{written}: id secret for {args[0]} written; keep it with the lab's secrets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
