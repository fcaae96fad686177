"""A lab's settings for talking to the exchange, in one TOML file.

Every lab-side command (publish, poll, act, match, feedback, export) needs the
same handful of facts: where the server is, who the lab is, where its secrets
and local state live. Keeping them in one validated file means a cron job and
an analyst's shell run with identical settings, and secrets can stay out of
command lines (the API key may come from a file or the environment instead).

This module is the one way the lab's TOML is read: ``load_lab_config`` for a
full ``lab.toml``, ``load_producer_settings`` for ``dx convert --producer-config``
(a file with just the ``[producer]`` table, or a whole ``lab.toml``), both on
``read_toml`` and the same validation and error lines.

Example ``lab.toml``::

    [server]
    api_root = "http://127.0.0.1:8470/exchange/"
    partner_id = "lab-b"
    api_key_file = "secrets/lab-b.key"      # or env DX_API_KEY
    verify_tls = "secrets/exchange-ca.pem"  # optional: a private CA (default: system CAs)
    collections = ["3b3a1a4e-..."]          # ids or titles/aliases to sync

    [producer]
    key = "lab-b.example"
    name = "Lab B"
    id_secret_file = "secrets/lab-b-id-secret.json"   # never shared (exchange.id_secret)

    [local]
    store = "var/lab-b-feed.sqlite3"
    artifacts = "var/artifacts"
    consortium_key_file = "samples/keys/demo-consortium-key.json"
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from exchange.errors import DxError
from exchange.id_secret import IdSecretError, build_producer
from mappings.producer import Producer

API_KEY_ENV = "DX_API_KEY"

_M = TypeVar("_M", bound=BaseModel)


class LabConfigError(DxError, ValueError):
    """A lab config problem, phrased as one line a user can act on."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSection(_Section):
    api_root: Annotated[str, Field(pattern=r"^https?://")]
    partner_id: str
    api_key: str | None = None
    api_key_file: Path | None = None
    collections: list[str] = Field(default_factory=list)
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    # true: the system's CA bundle; a path: trust the CA certificates in that PEM
    # file (a private CA in front of the exchange); false: no check (never in use).
    verify_tls: bool | str = True


_NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class ProducerSection(_Section):
    key: _NonEmpty
    name: _NonEmpty
    id_secret_file: Path | None = None
    id_scheme: Literal["keyed", "legacy"] = "keyed"

    def producer(self, source: Path | str | None, id_secret_path: Path | None) -> Producer:
        """The producer these settings name, with its id secret; LabConfigError if unusable.

        ``id_secret_path`` is ``id_secret_file`` resolved against the config file's folder.
        """
        where = f"{source or 'lab config'}: producer"
        try:
            return build_producer(
                self.key,
                self.name,
                id_secret_file=id_secret_path,
                id_scheme=self.id_scheme,
                where=where,
            )
        except IdSecretError as exc:
            raise LabConfigError(str(exc)) from None
        except ValueError as exc:
            raise LabConfigError(f"{where}: {exc}") from None


class _ProducerOnly(BaseModel):
    """A producer config file: the ``[producer]`` table; other tables are ignored."""

    model_config = ConfigDict(extra="ignore")
    producer: ProducerSection


class LocalSection(_Section):
    store: Path = Path("var/feed.sqlite3")
    artifacts: Path = Path("var/artifacts")
    consortium_key_file: Path | None = None


class LabConfig(_Section):
    server: ServerSection
    producer: ProducerSection | None = None
    local: LocalSection = Field(default_factory=LocalSection)
    source: Path | None = Field(default=None, exclude=True)

    def api_key(self) -> str:
        """The partner's API key: environment first, then the key file, then inline."""
        from_env = os.environ.get(API_KEY_ENV)
        if from_env:
            return from_env.strip()
        if self.server.api_key_file is not None:
            path = self._resolve(self.server.api_key_file)
            try:
                return path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise LabConfigError(
                    f"{path}: cannot read the API key file: {exc.strerror}"
                ) from None
        if self.server.api_key:
            return self.server.api_key
        raise LabConfigError(
            f"{self.source or 'lab config'}: no API key: set {API_KEY_ENV}, "
            "server.api_key_file or server.api_key"
        )

    def producer_identity(self) -> Producer | None:
        """The lab's producer from its ``[producer]`` table, if the config has one."""
        if self.producer is None:
            return None
        return self.producer.producer(self.source, self.id_secret_path)

    def _resolve(self, path: Path) -> Path:
        """Paths in the file are relative to the file, so a config can move with its data."""
        if path.is_absolute() or self.source is None:
            return path
        return self.source.parent / path

    @property
    def tls_verify(self) -> bool | str:
        """``verify_tls`` for requests: a CA file path is relative to the config file."""
        verify = self.server.verify_tls
        if isinstance(verify, bool):
            return verify
        return str(self._resolve(Path(verify)))

    @property
    def store_path(self) -> Path:
        return self._resolve(self.local.store)

    @property
    def artifacts_dir(self) -> Path:
        return self._resolve(self.local.artifacts)

    @property
    def id_secret_path(self) -> Path | None:
        if self.producer is None or self.producer.id_secret_file is None:
            return None
        return self._resolve(self.producer.id_secret_file)

    @property
    def consortium_key_path(self) -> Path | None:
        key_file = self.local.consortium_key_file
        return None if key_file is None else self._resolve(key_file)


def read_toml(path: str | Path) -> dict[str, Any]:
    """The tables of a TOML file; every problem becomes one LabConfigError line."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise LabConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise LabConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise LabConfigError(f"{path}: not valid TOML: {exc}") from None


_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "string_too_short": "required non-empty string",
}


def _validated(model: type[_M], raw: dict[str, Any], path: Path) -> _M:
    """``raw`` as ``model``; the first problem becomes ``FILE: FIELD: MESSAGE``."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(top level)"
        message = _MESSAGES.get(first["type"], first["msg"])
        raise LabConfigError(f"{path}: {field}: {message}") from None


def load_lab_config(path: str | Path) -> LabConfig:
    """Read and validate a lab config; every problem becomes one LabConfigError line."""
    path = Path(path)
    config = _validated(LabConfig, read_toml(path), path)
    return config.model_copy(update={"source": path.resolve()})


def load_producer_settings(path: str | Path) -> tuple[ProducerSection, Path | None]:
    """The ``[producer]`` table of a TOML file and its id secret file, resolved.

    A full lab config works too: other tables are ignored, so one file can
    serve every lab-side command. ``id_secret_file`` is relative to the file.
    """
    path = Path(path)
    section = _validated(_ProducerOnly, read_toml(path), path).producer
    secret = section.id_secret_file
    if secret is not None and not secret.is_absolute():
        secret = path.parent / secret
    return section, secret
