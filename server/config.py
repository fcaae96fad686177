"""The server's settings: one TOML file, overridable by environment variables.

A server is configured once by its operator and then run by gunicorn, systemd
or a container, so the settings live in a file that can be reviewed and
versioned, and the few that differ per deployment (the database URL, the cursor
secret, the port) can come from the environment instead (``DX_DATABASE_URL``,
``DX_CURSOR_SECRET``, ``DX_PORT``...), which keeps secrets out of the file when
the platform prefers that. See ``server/example-config.toml`` for every key.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_CONFIG_PATH = Path("var/dx-server.toml")
CONFIG_PATH_ENV = "DX_CONFIG"
ENV_PREFIX = "DX_"

# The sample partner labs of ``dx server demo``: the one place their ids and
# STIX identities are written down. The identities are those of the sample
# producers in samples/lab-*/producer.toml (``mappings.producer.Producer(key,
# name).identity_id``; a test keeps the two in step).
SAMPLE_PARTNERS: tuple[dict[str, str], ...] = (
    {
        "id": "lab-a",
        "name": "Lab A",
        "producer_key": "lab-a.example",
        "identity_ref": "identity--28d44c39-6065-5dc2-a4a8-28d2ba077bde",
    },
    {
        "id": "lab-b",
        "name": "Lab B",
        "producer_key": "lab-b.example",
        "identity_ref": "identity--9462e710-e71f-5dbc-95aa-877ffa73d0fd",
    },
)

_API_ROOT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ConfigError(ValueError):
    """A config problem, phrased as one line naming the file and the field."""


class DiscoverySettings(BaseModel):
    """What ``GET /taxii2/`` says about this server."""

    model_config = ConfigDict(extra="forbid")

    title: str = "Distillation-defence indicator exchange"
    description: str = "TAXII 2.1 exchange of model-distillation indicators between AI labs."
    contact: str = ""


class RequestRate(BaseModel):
    """A token bucket: ``per_second`` requests sustained, bursts of up to ``burst``."""

    model_config = ConfigDict(extra="forbid")

    per_second: Annotated[float, Field(ge=0, le=1_000_000)]
    burst: Annotated[int, Field(ge=1, le=1_000_000)]


class ServerConfig(BaseModel):
    """Every setting of the TAXII server; defaults suit a single-machine deployment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    database_url: str = "sqlite:///var/dx.sqlite3"
    # A read-only replica (PostgreSQL streaming standby) for the TAXII read endpoints;
    # writes and status resources stay on database_url (docs/server.md, "Read replicas").
    replica_database_url: str | None = None
    # A replica node is ready (/-/readyz) only while the replica's replay lag is at most
    # this many seconds (docs/server.md, "Read replicas"); ignored without a replica.
    replica_max_lag_seconds: Annotated[float, Field(gt=0, le=86_400)] = 30.0
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8470
    workers: Annotated[int, Field(ge=1, le=64)] = 2
    threads: Annotated[int, Field(ge=1, le=64)] = 4
    timeout_seconds: Annotated[int, Field(ge=5, le=3600)] = 60
    default_page_size: Annotated[int, Field(ge=1, le=10_000)] = 100
    max_page_size: Annotated[int, Field(ge=1, le=10_000)] = 1000
    cursor_secret: str | None = None
    status_retention_hours: Annotated[int, Field(ge=24, le=24 * 365)] = 48
    default_api_root: Annotated[str, Field(pattern=_API_ROOT_NAME)] = "exchange"
    auth_realm: str = "dx-exchange"
    # Failed logins allowed per window, counted in the database (so across every
    # worker and host) per partner id and per client address; 0 turns a limit off.
    login_failures_per_partner: Annotated[int, Field(ge=0, le=1_000_000)] = 20
    login_failures_per_address: Annotated[int, Field(ge=0, le=1_000_000)] = 50
    login_failure_window_seconds: Annotated[int, Field(ge=1, le=86_400)] = 300
    # Requests per authenticated partner, enforced by each worker process on its own.
    request_rate_per_second: Annotated[float, Field(ge=0, le=1_000_000)] = 500
    request_burst: Annotated[int, Field(ge=1, le=1_000_000)] = 2000
    partner_request_rates: dict[str, RequestRate] = Field(default_factory=dict)
    # Bounded work per request (docs/server.md, "Limits"): objects per POST envelope,
    # how far created/modified may lie ahead of the server clock, and how long a
    # client may take to send its request headers, then its body (the worker buffers
    # the request before a thread takes it, so slow clients hold no thread).
    max_objects_per_request: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    max_future_skew_seconds: Annotated[int, Field(ge=0, le=7 * 86_400)] = 300
    request_header_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 10
    request_body_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 120
    # Each request on one line: "-" stdout, or a file; "" turns it off. "json": the
    # app's structured line (request id, partner); "text": gunicorn's classic line.
    access_log: str = "-"
    access_log_format: Literal["json", "text"] = "json"
    trusted_proxies: list[str] = Field(default_factory=list)
    # Who may read /-/metrics (it names partners and their activity).
    metrics_networks: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1"])
    tls_certfile: str | None = None
    tls_keyfile: str | None = None
    discovery: DiscoverySettings = Field(default_factory=DiscoverySettings)
    source: Path | None = Field(default=None, exclude=True)

    @field_validator("cursor_secret")
    @classmethod
    def _secret_long_enough(cls, value: str | None) -> str | None:
        # A short secret makes `next` tokens forgeable by brute force.
        if value is not None and len(value) < 16:
            raise ValueError("must be at least 16 characters (use `dx server init`)")
        return value

    @field_validator("trusted_proxies", "metrics_networks")
    @classmethod
    def _proxies_are_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return [entry.strip() for entry in value]

    @model_validator(mode="after")
    def _tls_needs_both_files(self) -> ServerConfig:
        # Half a TLS setup would silently serve plain HTTP; refuse it instead.
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("tls_certfile and tls_keyfile must be set together")
        return self

    @field_validator("max_page_size")
    @classmethod
    def _max_not_below_default(cls, value: int, info: Any) -> int:
        default = info.data.get("default_page_size")
        if default is not None and value < default:
            raise ValueError("must be >= default_page_size")
        return value

    @property
    def explicit_discovery_fields(self) -> set[str]:
        """Discovery fields the operator set, which win over imported medallion values."""
        return set(self.discovery.model_fields_set)


def new_cursor_secret() -> str:
    """A fresh random secret for MACing `next` tokens (256 bits)."""
    return secrets.token_urlsafe(32)


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """``DX_<FIELD>`` for every top-level scalar field, e.g. ``DX_DATABASE_URL``."""
    overrides: dict[str, Any] = {}
    for name in ServerConfig.model_fields:
        if name in ("discovery", "source", "partner_request_rates"):
            continue
        value = environ.get(ENV_PREFIX + name.upper())
        if value is not None and value != "":
            # Lists (trusted_proxies) come as comma-separated values.
            overrides[name] = (
                [p for p in value.split(",") if p.strip()] if name in _LIST_KEYS else value
            )
    return overrides


_LIST_KEYS = ("trusted_proxies", "metrics_networks")


def _one_line(error: ValidationError, origin: str) -> ConfigError:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(top level)"
    return ConfigError(f"{origin}: {field}: {first['msg']}")


def load_config(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    must_exist: bool = False,
) -> ServerConfig:
    """Read the TOML file (if any), apply environment overrides, validate.

    ``path`` None means ``$DX_CONFIG`` or ``var/dx-server.toml``; a missing
    default file is not an error (built-in defaults apply) unless ``must_exist``.
    """
    environ = os.environ if environ is None else environ
    explicit = path is not None or bool(environ.get(CONFIG_PATH_ENV))
    chosen = (
        Path(path)
        if path is not None
        else Path(environ.get(CONFIG_PATH_ENV) or DEFAULT_CONFIG_PATH)
    )
    raw: dict[str, Any] = {}
    if chosen.exists():
        try:
            raw = tomllib.loads(chosen.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{chosen}: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{chosen}: not UTF-8 text") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{chosen}: not valid TOML: {exc}") from None
    elif explicit or must_exist:
        raise ConfigError(f"{chosen}: no such config file (create one with `dx server init`)")
    try:
        config = ServerConfig.model_validate(raw)
    except ValidationError as exc:
        raise _one_line(exc, str(chosen)) from None
    overrides = _env_overrides(environ)
    if overrides:
        try:
            config = ServerConfig.model_validate({**raw, **overrides})
        except ValidationError as exc:
            raise _one_line(exc, "environment (DX_* variables)") from None
    source = chosen.resolve() if chosen.exists() else None
    return config.model_copy(update={"source": source})


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def write_new_config(path: Path, *, database_url: str | None = None) -> ServerConfig:
    """Write a minimal config file with a fresh cursor secret; never overwrites.

    The secret goes into the file (mode 0600) because every worker process and
    every restart must share it for `next` tokens to stay valid.
    """
    if path.exists():
        raise ConfigError(f"{path}: already exists; not overwriting it")
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# dx TAXII server settings; every key is documented in server/example-config.toml",
        f"database_url = {_toml_string(database_url or ServerConfig().database_url)}",
        f"cursor_secret = {_toml_string(new_cursor_secret())}",
        "",
    ]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    return load_config(path)


def is_valid_api_root_name(name: str) -> bool:
    """API root names are single URL path segments; keep them boring and safe.

    A name starts with a letter or digit, so none can be ``-``, the first
    segment of the operator URLs (``/-/metrics``, ``/-/healthz``, ``/-/readyz``).
    """
    return bool(re.fullmatch(_API_ROOT_NAME, name)) and name != "taxii2"


def with_overrides(config: ServerConfig, **updates: Any) -> ServerConfig:
    """A validated copy with command-line overrides (None values are ignored)."""
    chosen = {name: value for name, value in updates.items() if value is not None}
    if not chosen:
        return config
    try:
        updated = ServerConfig.model_validate({**config.model_dump(exclude_unset=True), **chosen})
    except ValidationError as exc:
        raise _one_line(exc, "command line") from None
    return updated.model_copy(update={"source": config.source})
