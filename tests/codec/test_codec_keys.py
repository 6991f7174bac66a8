"""Key settings: every mistake is refused with one line that names the setting and says what to do."""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

import pytest

from codec.converter import COMPRESS_ENV, codec_from_env, compression_from_env
from codec.keys import (
    KEY_BYTES,
    KEY_FILE_ENV,
    KEYS_ENV,
    CodecConfigError,
    Key,
    KeyRing,
    generate_key,
    key_ring_from_env,
    parse_key,
)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def key_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "codec.keys"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_generated_key_parses_back_and_keys_differ() -> None:
    first, second = generate_key("a"), generate_key("b")
    ring = key_ring_from_env({KEYS_ENV: f"{first},{second}"})
    assert ring is not None and ring.ids == ("a", "b")
    assert ring.current.spec() == first
    assert len(ring.current.secret) == KEY_BYTES
    assert ring.keys[0].secret != ring.keys[1].secret


def test_generated_key_gets_a_dated_id_by_default() -> None:
    key_id = generate_key().partition(":")[0]
    assert len(key_id) == len("20250614-3fa2")
    parse_key(generate_key(), KEYS_ENV)


def test_secret_never_in_repr() -> None:
    spec = generate_key("a")
    key = parse_key(spec, KEYS_ENV)
    ring = KeyRing((key,))
    assert spec.partition(":")[2] not in repr(key) + repr(ring) + str(ring)


def test_whitespace_and_trailing_comma_are_tolerated() -> None:
    spec_a, spec_b = generate_key("a"), generate_key("b")
    ring = key_ring_from_env({KEYS_ENV: f"  {spec_a} , {spec_b} ,"})
    assert ring is not None and ring.ids == ("a", "b")


def test_key_file_with_comments_keeps_order(tmp_path: Path) -> None:
    spec_a, spec_b = generate_key("new"), generate_key("old")
    path = key_file(tmp_path, f"# rotated 2025-06-14\n{spec_a}\n\n{spec_b}  # retire after 90 days\n")
    ring = key_ring_from_env({KEY_FILE_ENV: str(path)})
    assert ring is not None and ring.ids == ("new", "old")


def test_nothing_set_is_none_unless_required() -> None:
    assert key_ring_from_env({}) is None
    assert key_ring_from_env({KEYS_ENV: "  ", KEY_FILE_ENV: ""}) is None
    assert codec_from_env({}) is None
    with pytest.raises(CodecConfigError, match=f"{KEYS_ENV}.*{KEY_FILE_ENV}.*python -m codec keygen"):
        codec_from_env({}, required=True)


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEYS_ENV, generate_key("env"))
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    codec = codec_from_env()
    assert codec is not None and codec.keys.ids == ("env",)


GOOD = b64(os.urandom(32))  # generated per run: no key is ever committed


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f"a:{GOOD}!", f"{KEYS_ENV}: key 'a' is not valid base64"),
        ("a:not base64 at all", f"{KEYS_ENV}: key 'a' is not valid base64"),
        (f"a:{b64(b'x' * 16)}", f"{KEYS_ENV}: key 'a' decodes to 16 bytes, AES-256 needs exactly 32"),
        (f"a:{b64(b'x' * 33)}", f"{KEYS_ENV}: key 'a' decodes to 33 bytes"),
        (f"a:{GOOD},a:{GOOD}", f"{KEYS_ENV} entry 2: key id 'a' already used \\({KEYS_ENV} entry 1\\)"),
        (f":{GOOD}", f"{KEYS_ENV}: empty key id"),
        (f"a:b:{GOOD}", f"{KEYS_ENV}: key id contains ':'"),
        (f"a,b:{GOOD}", f"{KEYS_ENV} entry 1: entry has no ':'; write it as id:base64key"),
        (GOOD, f"{KEYS_ENV}: entry has no ':'"),
        ("a:", f"{KEYS_ENV}: key 'a' has no key after ':'"),
        (f"key id:{GOOD}", f"{KEYS_ENV}: key id must be 1-64 ASCII letters"),
        (f"{'k' * 65}:{GOOD}", f"{KEYS_ENV}: key id must be 1-64"),
        (f"{GOOD}:a", f"{KEYS_ENV}: key id must be 1-64 .*id first"),
        (",", f"{KEYS_ENV} holds no keys"),
    ],
)
def test_bad_inline_keys(value: str, message: str) -> None:
    with pytest.raises(CodecConfigError, match=message) as caught:
        key_ring_from_env({KEYS_ENV: value})
    text = str(caught.value)
    assert "\n" not in text
    assert GOOD not in text, "an error message must not echo key material"


def test_id_with_comma_in_key_file(tmp_path: Path) -> None:
    path = key_file(tmp_path, f"a,b:{GOOD}\n")
    with pytest.raises(CodecConfigError, match=f"{KEY_FILE_ENV} {path} line 1: key id contains ','"):
        key_ring_from_env({KEY_FILE_ENV: str(path)})


def test_duplicate_id_in_key_file_names_both_lines(tmp_path: Path) -> None:
    path = key_file(tmp_path, f"a:{GOOD}\n# comment\na:{GOOD}\n")
    with pytest.raises(CodecConfigError, match=f"line 3: key id 'a' already used \\({KEY_FILE_ENV} {path} line 1\\)"):
        key_ring_from_env({KEY_FILE_ENV: str(path)})


def test_both_settings(tmp_path: Path) -> None:
    path = key_file(tmp_path, generate_key("a"))
    with pytest.raises(CodecConfigError, match=f"both {KEYS_ENV} and {KEY_FILE_ENV} are set; set only one"):
        key_ring_from_env({KEYS_ENV: generate_key("b"), KEY_FILE_ENV: str(path)})


def test_missing_and_unreadable_key_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.keys"
    with pytest.raises(CodecConfigError, match=f"{KEY_FILE_ENV}: cannot read {missing}: No such file"):
        key_ring_from_env({KEY_FILE_ENV: str(missing)})
    with pytest.raises(CodecConfigError, match=f"{KEY_FILE_ENV}: cannot read {tmp_path}: Is a directory"):
        key_ring_from_env({KEY_FILE_ENV: str(tmp_path)})
    binary = tmp_path / "binary.keys"
    binary.write_bytes(b"\xff\xfe\x00")
    binary.chmod(0o600)
    with pytest.raises(CodecConfigError, match=f"{KEY_FILE_ENV}: cannot read {binary}: UnicodeDecodeError"):
        key_ring_from_env({KEY_FILE_ENV: str(binary)})


def test_empty_key_file(tmp_path: Path) -> None:
    path = key_file(tmp_path, "# nothing here yet\n\n")
    with pytest.raises(CodecConfigError, match=f"{KEY_FILE_ENV} {path} holds no keys"):
        key_ring_from_env({KEY_FILE_ENV: str(path)})


def test_bad_line_in_key_file_names_the_line(tmp_path: Path) -> None:
    path = key_file(tmp_path, f"{generate_key('a')}\nb:{b64(b'short')}\n")
    with pytest.raises(CodecConfigError, match=f"{KEY_FILE_ENV} {path} line 2: key 'b' decodes to 5 bytes"):
        key_ring_from_env({KEY_FILE_ENV: str(path)})


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_key_file_writable_by_others_is_refused(tmp_path: Path) -> None:
    for mode in (0o620, 0o602, 0o666):
        path = key_file(tmp_path, generate_key("a"), mode)
        with pytest.raises(CodecConfigError, match=f"{KEY_FILE_ENV}: {path} is writable by group or others.*chmod 600"):
            key_ring_from_env({KEY_FILE_ENV: str(path)})


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_key_file_readable_by_others_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = key_file(tmp_path, generate_key("a"), 0o644)
    with caplog.at_level(logging.WARNING, logger="codec"):
        ring = key_ring_from_env({KEY_FILE_ENV: str(path)})
    assert ring is not None and ring.ids == ("a",)
    assert f"{KEY_FILE_ENV}: {path} is readable by group or others; run chmod 600" in caplog.text
    caplog.clear()
    path.chmod(0o400)
    with caplog.at_level(logging.WARNING, logger="codec"):
        key_ring_from_env({KEY_FILE_ENV: str(path)})
    assert caplog.text == ""


def test_key_ring_checks_keys_built_in_code() -> None:
    with pytest.raises(CodecConfigError, match="empty"):
        KeyRing(())
    with pytest.raises(CodecConfigError, match="appears twice"):
        KeyRing((Key("a", bytes(32)), Key("a", bytes(32))))
    with pytest.raises(CodecConfigError, match="is 16 bytes"):
        KeyRing((Key("a", bytes(16)),))
    with pytest.raises(CodecConfigError, match="contains ':'"):
        KeyRing((Key("a:b", bytes(32)),))


def test_compression_setting() -> None:
    assert compression_from_env({}) is True
    assert compression_from_env({COMPRESS_ENV: "off"}) is False
    assert compression_from_env({COMPRESS_ENV: " 1 "}) is True
    with pytest.raises(CodecConfigError, match=f"{COMPRESS_ENV}='maybe' is not a boolean; set it to 1 or 0"):
        compression_from_env({COMPRESS_ENV: "maybe"})
    codec = codec_from_env({KEYS_ENV: generate_key("a"), COMPRESS_ENV: "0"})
    assert codec is not None and codec.compress is False
