"""A lab's settings for talking to the exchange, in one TOML file.

Every lab-side command (publish, poll, act, match, feedback, export) needs the
same handful of facts: where the server is, who the lab is, where its secrets
and local state live. Keeping them in one validated file means a cron job and
an analyst's shell run with identical settings, and secrets can stay out of
command lines (the API key may come from a file or the environment instead).

Example ``lab.toml``::

    [server]
    api_root = "http://127.0.0.1:8470/exchange/"
    partner_id = "lab-b"
    api_key_file = "secrets/lab-b.key"      # or env DX_API_KEY
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
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

API_KEY_ENV = "DX_API_KEY"


class LabConfigError(ValueError):
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
    verify_tls: bool | str = True


class ProducerSection(_Section):
    key: str
    name: str
    id_secret_file: Path | None = None
    id_scheme: Literal["keyed", "legacy"] = "keyed"


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

    def _resolve(self, path: Path) -> Path:
        """Paths in the file are relative to the file, so a config can move with its data."""
        if path.is_absolute() or self.source is None:
            return path
        return self.source.parent / path

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


def load_lab_config(path: str | Path) -> LabConfig:
    """Read and validate a lab config; every problem becomes one LabConfigError line."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LabConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise LabConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        config = LabConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise LabConfigError(f"{path}: {field}: {first['msg']}") from None
    return config.model_copy(update={"source": path.resolve()})
