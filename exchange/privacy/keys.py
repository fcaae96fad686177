"""Keys for pseudonymisation and fingerprinting, and the key file that holds them.

Every hash and signature the exchange shares is keyed: without the key, a
partner (or anyone who obtains a bundle) cannot test guesses such as "is
alice@example.com in this cluster?" or "is this the prompt 'solve step by
step...'?". The key id travels with every hash so keys can be rotated: a hash
is only ever compared with hashes made under the same key id.

A lab normally holds two keys:

* the **consortium key**, shared by all member labs out of band. Everything
  the lab publishes (account hashes, prompt fingerprints) is keyed with it,
  because a partner must be able to compute the same hash of the same e-mail
  address to match it against its own accounts;
* optionally a **local key**, known only to the lab, for pseudonymised data
  that never leaves it (internal analytics, a local hash -> account map).
  Hashes made with it are useless to partners, so they must never be
  published; the key id makes such a mistake detectable.

Both are ``ConsortiumKey`` values; the name says what the exchange cares about.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from exchange.atomic import OutputError, OutputExists, write_atomically
from exchange.errors import DxError

MIN_SECRET_BYTES = 32
"""A shorter secret could be brute-forced from published hashes; 32 bytes = 256 bits."""

MAX_SECRET_BYTES = 1024
"""Anything longer is almost certainly the wrong file pasted in, not a key."""

GENERATED_SECRET_BYTES = 32

KEY_FILE_ENV = "DX_CONSORTIUM_KEY_FILE"
"""Environment variable naming the consortium key file when no path is given."""

LOCAL_KEY_FILE_ENV = "DX_LOCAL_KEY_FILE"
"""Environment variable naming the lab's local (never shared) key file."""

_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_KEY_FILE_FIELDS = frozenset({"key_id", "secret_b64"})


class KeyFileError(DxError, ValueError):
    """A key file is missing or malformed; the message is one line naming file and field."""


@dataclass(frozen=True)
class ConsortiumKey:
    """A named secret. ``repr`` never shows the secret, so keys can be logged safely.

    ``key_id`` is public (it is published next to every hash); ``secret`` is not.
    """

    key_id: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key_id, str) or not _KEY_ID.match(self.key_id):
            raise ValueError(
                "key_id must be 1-64 characters of letters, digits and . _ : - "
                "starting with a letter or digit"
            )
        if not isinstance(self.secret, bytes):
            raise ValueError("secret must be bytes")
        if len(self.secret) < MIN_SECRET_BYTES:
            raise ValueError(
                f"secret is {len(self.secret)} bytes; at least {MIN_SECRET_BYTES} are required"
            )
        if len(self.secret) > MAX_SECRET_BYTES:
            raise ValueError(
                f"secret is {len(self.secret)} bytes; at most {MAX_SECRET_BYTES} are accepted"
            )

    @property
    def check_value(self) -> str:
        """A short public tag of the secret, so two labs can confirm they hold the same key.

        It is an HMAC of a fixed label, so it reveals nothing usable about the secret.
        """
        return hmac.new(self.secret, b"dx-key-check-v1", hashlib.sha256).hexdigest()[:16]


def generate_key(key_id: str) -> ConsortiumKey:
    """A fresh random key (32 bytes from the OS's cryptographic generator)."""
    return ConsortiumKey(key_id=key_id, secret=secrets.token_bytes(GENERATED_SECRET_BYTES))


def key_to_json(key: ConsortiumKey) -> str:
    """The key file text: ``{"key_id": ..., "secret_b64": ...}`` (standard base64)."""
    payload = {"key_id": key.key_id, "secret_b64": base64.b64encode(key.secret).decode("ascii")}
    return json.dumps(payload, indent=2) + "\n"


def save_key(key: ConsortiumKey, path: str | os.PathLike[str]) -> Path:
    """Write a key file readable only by its owner; refuse to overwrite an existing one.

    Overwriting a key file loses the old secret, and with it the ability to
    match anything hashed under it, so that is never done silently.
    """
    target = Path(path)
    try:
        write_atomically(target, key_to_json(key).encode("utf-8"), mode=0o600, exclusive=True)
    except OutputExists:
        raise KeyFileError(f"{target}: already exists; refusing to overwrite a key") from None
    except OutputError as exc:
        raise KeyFileError(str(exc)) from None
    return target


def key_from_json(text: str, source: str = "<key>") -> ConsortiumKey:
    """Parse key file text; ``source`` names the file in error messages."""
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeyFileError(f"{source}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(payload, dict):
        raise KeyFileError(f"{source}: expected a JSON object with key_id and secret_b64")
    unknown = sorted(set(payload) - _KEY_FILE_FIELDS)
    if unknown:
        raise KeyFileError(f"{source}: field {unknown[0]!r}: unknown field")
    for name in ("key_id", "secret_b64"):
        if name not in payload:
            raise KeyFileError(f"{source}: field {name!r}: missing")
        if not isinstance(payload[name], str):
            raise KeyFileError(f"{source}: field {name!r}: must be a string")
    key_id = payload["key_id"]
    if not _KEY_ID.match(key_id):
        raise KeyFileError(
            f"{source}: field 'key_id': must be 1-64 characters of letters, digits and . _ : -"
        )
    try:
        secret = base64.b64decode(payload["secret_b64"].strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"{source}: field 'secret_b64': not valid base64") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise KeyFileError(
            f"{source}: field 'secret_b64': secret is {len(secret)} bytes; "
            f"at least {MIN_SECRET_BYTES} are required"
        )
    if len(secret) > MAX_SECRET_BYTES:
        raise KeyFileError(
            f"{source}: field 'secret_b64': secret is {len(secret)} bytes; "
            f"at most {MAX_SECRET_BYTES} are accepted"
        )
    return ConsortiumKey(key_id=key_id, secret=secret)


def load_key(
    path: str | os.PathLike[str] | None = None, *, env_var: str = KEY_FILE_ENV
) -> ConsortiumKey:
    """Load a key file from ``path``, or from the file named by ``env_var`` when path is None.

    Use ``env_var=LOCAL_KEY_FILE_ENV`` for the lab's local key.
    """
    if path is None:
        from_env = os.environ.get(env_var, "").strip()
        if not from_env:
            raise KeyFileError(f"no key file given: pass a path or set {env_var}")
        path = from_env
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyFileError(f"{source}: key file not found") from None
    except IsADirectoryError:
        raise KeyFileError(f"{source}: is a directory, not a key file") from None
    except UnicodeDecodeError:
        raise KeyFileError(f"{source}: not UTF-8 text") from None
    except OSError as exc:
        raise KeyFileError(f"{source}: cannot read key file ({exc.strerror})") from None
    return key_from_json(text, str(source))
