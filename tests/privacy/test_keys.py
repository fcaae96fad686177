"""Key files: loading, saving, and refusing bad ones with one-line messages."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from exchange.privacy import (
    KEY_FILE_ENV,
    LOCAL_KEY_FILE_ENV,
    ConsortiumKey,
    KeyFileError,
    generate_key,
    key_from_json,
    load_key,
    save_key,
)

SECRET = bytes(range(1, 33))


def write_key_file(path: Path, payload: object) -> Path:
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def test_repr_and_str_never_show_the_secret() -> None:
    key = ConsortiumKey("lab-a-2026", SECRET)
    for text in (repr(key), str(key), f"{key}", repr([key])):
        assert "lab-a-2026" in text
        assert SECRET.hex() not in text
        assert repr(SECRET) not in text
        assert base64.b64encode(SECRET).decode() not in text


def test_generate_save_and_load_round_trip(tmp_path: Path) -> None:
    key = generate_key("consortium-2026-05")
    assert len(key.secret) == 32
    path = save_key(key, tmp_path / "consortium.key")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = load_key(path)
    assert loaded == key
    assert loaded.check_value == key.check_value
    assert len(key.check_value) == 16


def test_generated_keys_differ() -> None:
    assert generate_key("a").secret != generate_key("a").secret


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    path = save_key(generate_key("first"), tmp_path / "k.json")
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        save_key(generate_key("second"), path)
    assert path.read_bytes() == before


def test_load_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    consortium = write_key_file(
        tmp_path / "c.json", {"key_id": "c1", "secret_b64": base64.b64encode(SECRET).decode()}
    )
    local = write_key_file(
        tmp_path / "l.json", {"key_id": "l1", "secret_b64": base64.b64encode(SECRET[::-1]).decode()}
    )
    monkeypatch.setenv(KEY_FILE_ENV, str(consortium))
    monkeypatch.setenv(LOCAL_KEY_FILE_ENV, str(local))
    assert load_key().key_id == "c1"
    assert load_key(env_var=LOCAL_KEY_FILE_ENV).key_id == "l1"


def test_no_path_and_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    with pytest.raises(KeyFileError, match=KEY_FILE_ENV):
        load_key()


def _one_line_error(path: Path) -> str:
    with pytest.raises(KeyFileError) as caught:
        load_key(path)
    message = str(caught.value)
    assert "\n" not in message
    assert isinstance(caught.value, ValueError)
    return message


def test_missing_file(tmp_path: Path) -> None:
    message = _one_line_error(tmp_path / "nope.json")
    assert "nope.json" in message and "not found" in message


def test_directory_instead_of_file(tmp_path: Path) -> None:
    assert "directory" in _one_line_error(tmp_path)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"key_id": "k", "secret_b64": "not base64!!"}, "secret_b64': not valid base64"),
        ({"key_id": "k", "secret_b64": base64.b64encode(b"short").decode()}, "5 bytes"),
        ({"key_id": "k", "secret_b64": base64.b64encode(bytes(31)).decode()}, "31 bytes"),
        ({"key_id": "k"}, "'secret_b64': missing"),
        ({"secret_b64": base64.b64encode(SECRET).decode()}, "'key_id': missing"),
        ({"key_id": 5, "secret_b64": base64.b64encode(SECRET).decode()}, "must be a string"),
        ({"key_id": "bad id!", "secret_b64": base64.b64encode(SECRET).decode()}, "'key_id'"),
        (
            {"key_id": "k", "secret": "x", "secret_b64": base64.b64encode(SECRET).decode()},
            "'secret': unknown field",
        ),
        (["not", "an", "object"], "expected a JSON object"),
    ],
)
def test_bad_key_files(tmp_path: Path, payload: object, expected: str) -> None:
    path = write_key_file(tmp_path / "bad.json", payload)
    message = _one_line_error(path)
    assert expected in message
    assert str(path) in message


def test_malformed_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "key_id": "k",\n  "secret_b64": \n}\n', encoding="utf-8")
    message = _one_line_error(path)
    assert "line 4" in message and "not valid JSON" in message


def test_constructor_validates() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        ConsortiumKey("k", bytes(16))
    with pytest.raises(ValueError, match="key_id"):
        ConsortiumKey("", SECRET)
    with pytest.raises(ValueError, match="bytes"):
        ConsortiumKey("k", "a string secret" * 4)  # type: ignore[arg-type]


def test_key_from_json_accepts_what_generate_writes() -> None:
    text = json.dumps({"key_id": "x", "secret_b64": base64.b64encode(SECRET).decode()})
    assert key_from_json(text).secret == SECRET
