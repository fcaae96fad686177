"""The server config file: the documented example loads, the environment overrides it."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import (
    SAMPLE_PARTNERS,
    ConfigError,
    ServerConfig,
    load_config,
    with_overrides,
    write_new_config,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "server" / "example-config.toml"


def test_example_config_documents_every_key_with_its_default():
    example = load_config(EXAMPLE, environ={})
    defaults = ServerConfig()
    assert example.model_dump() == defaults.model_dump()
    text = EXAMPLE.read_text()
    for key in ServerConfig.model_fields:
        if key != "source":
            assert key in text, key


def test_environment_overrides_the_file(tmp_path):
    path = tmp_path / "server.toml"
    write_new_config(path, database_url="sqlite:///x.db")
    config = load_config(
        path, environ={"DX_PORT": "9000", "DX_DATABASE_URL": "postgresql+psycopg://h/db"}
    )
    assert (config.port, config.database_url) == (9000, "postgresql+psycopg://h/db")
    assert config.cursor_secret and len(config.cursor_secret) >= 32
    assert with_overrides(config, port=9100, workers=None).port == 9100
    replica = load_config(path, environ={"DX_REPLICA_DATABASE_URL": "postgresql+psycopg://r/db"})
    assert replica.replica_database_url == "postgresql+psycopg://r/db"
    assert load_config(path, environ={}).replica_database_url is None
    lag = load_config(path, environ={"DX_REPLICA_MAX_LAG_SECONDS": "2.5"})
    assert lag.replica_max_lag_seconds == 2.5
    assert load_config(path, environ={}).replica_max_lag_seconds == 30


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("port = 0\n", {}, "server.toml: port:"),
        ("max_page_size = 5\ndefault_page_size = 10\n", {}, "server.toml: max_page_size:"),
        ("cursor_secret = 'short'\n", {}, "server.toml: cursor_secret:"),
        ("colour = 'blue'\n", {}, "server.toml: colour:"),
        ("", {"DX_WORKERS": "many"}, "environment (DX_* variables): workers:"),
        ("port = \n", {}, "server.toml: not valid TOML"),
        ("replica_max_lag_seconds = 0\n", {}, "server.toml: replica_max_lag_seconds:"),
        ("replica_max_lag_seconds = -5\n", {}, "server.toml: replica_max_lag_seconds:"),
        ("replica_max_lag_seconds = 'soon'\n", {}, "server.toml: replica_max_lag_seconds:"),
        ("replica_max_lag_seconds = nan\n", {}, "server.toml: replica_max_lag_seconds:"),
        ("replica_max_lag_seconds = 1e9\n", {}, "server.toml: replica_max_lag_seconds:"),
        (
            "",
            {"DX_REPLICA_MAX_LAG_SECONDS": "30s"},
            "environment (DX_* variables): replica_max_lag_seconds:",
        ),
    ],
)
def test_problems_are_one_line_naming_file_and_field(tmp_path, text, env, message):
    path = tmp_path / "server.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(path, environ=env)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_new_config_never_overwrites(tmp_path):
    path = tmp_path / "server.toml"
    write_new_config(path)
    before = path.read_text()
    with pytest.raises(ConfigError):
        write_new_config(path)
    assert path.read_text() == before


def test_sample_partners_are_the_sample_producers():
    from mappings.producer import Producer

    for sample in SAMPLE_PARTNERS:
        producer = Producer(sample["producer_key"], sample["name"])
        assert sample["identity_ref"] == producer.identity_id
