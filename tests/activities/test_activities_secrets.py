"""The worker's secret store: permissions, atomic writes, refusal of unsafe files, no secret in text."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from activities import secrets as secrets_module
from activities.secrets import MissingSecretError, SecretStore, SecretStoreError, fingerprint

KEY = "rm_" + "k" * 32
PASSWORD = "correct horse battery staple"


@pytest.fixture
def store(tmp_path: Path) -> SecretStore:
    return SecretStore(tmp_path / "secrets")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_put_get_has_delete(store: SecretStore) -> None:
    assert store.get("acct", "api_key") is None
    assert not store.has("acct", "api_key")
    store.put("acct", "api_key", KEY)
    store.put("acct", "password", SecretStr(PASSWORD))
    value = store.get("acct", "api_key")
    assert isinstance(value, SecretStr)
    assert value.get_secret_value() == KEY
    assert store.has("acct", "password")
    assert store.names("acct") == ["api_key", "password"]
    assert store.delete("acct", "api_key") is True
    assert store.delete("acct", "api_key") is False
    assert store.names("acct") == ["password"]
    assert store.get("other", "password") is None


def test_update_sets_several_and_none_deletes(store: SecretStore) -> None:
    store.update("acct", {"jwt": "a.b.c", "user_id": "u1"})
    store.update("acct", {"jwt": None, "api_key": KEY})
    assert store.names("acct") == ["api_key", "user_id"]


def test_directory_0700_and_file_0600(store: SecretStore) -> None:
    old_umask = os.umask(0o022)
    try:
        store.put("acct", "api_key", KEY)
    finally:
        os.umask(old_umask)
    assert _mode(store.root) == 0o700
    assert _mode(store.root / "acct.json") == 0o600


def test_file_is_json_per_account(store: SecretStore) -> None:
    store.put("acct-1", "api_key", KEY)
    store.put("acct-2", "api_key", "rm_other")
    assert json.loads((store.root / "acct-1.json").read_text())["secrets"] == {"api_key": KEY}
    assert json.loads((store.root / "acct-2.json").read_text())["secrets"] == {"api_key": "rm_other"}


def test_refuses_a_world_readable_file(store: SecretStore) -> None:
    store.put("acct", "api_key", KEY)
    path = store.root / "acct.json"
    os.chmod(path, 0o644)
    with pytest.raises(SecretStoreError) as info:
        store.get("acct", "api_key")
    text = str(info.value)
    assert "readable by group or others" in text
    assert "chmod 600" in text
    assert KEY not in text


def test_refuses_a_group_readable_file(store: SecretStore) -> None:
    store.put("acct", "api_key", KEY)
    os.chmod(store.root / "acct.json", 0o640)
    with pytest.raises(SecretStoreError):
        store.has("acct", "api_key")


def test_refuses_a_symlink(store: SecretStore, tmp_path: Path) -> None:
    store.put("acct", "api_key", KEY)
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"secrets": {"api_key": KEY}}))
    os.chmod(target, 0o600)
    link = store.root / "linked.json"
    link.symlink_to(target)
    with pytest.raises(SecretStoreError):
        store.get("linked", "api_key")


def test_corrupt_file_error_holds_no_content(store: SecretStore) -> None:
    store.put("acct", "api_key", KEY)
    path = store.root / "acct.json"
    path.write_text('{"secrets": {"api_key": "' + KEY)  # truncated JSON
    with pytest.raises(SecretStoreError) as info:
        store.get("acct", "api_key")
    assert KEY not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_write_is_atomic_when_the_replace_fails(store: SecretStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash between writing the temp file and the rename leaves the old file intact and no debris."""
    store.put("acct", "api_key", KEY)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(secrets_module.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        store.put("acct", "api_key", "rm_new")
    monkeypatch.undo()
    assert store.get("acct", "api_key").get_secret_value() == KEY  # type: ignore[union-attr]
    assert sorted(p.name for p in store.root.iterdir() if p.suffix == ".tmp") == []


def test_invalid_account_ref_and_name(store: SecretStore) -> None:
    with pytest.raises(SecretStoreError):
        store.put("../escape", "api_key", KEY)
    with pytest.raises(SecretStoreError):
        store.put("acct", "Bad Name", KEY)


def test_require_names_the_secret_not_the_value(store: SecretStore) -> None:
    with pytest.raises(MissingSecretError) as info:
        store.require("acct", "api_key", hint="run onboarding")
    assert info.value.account_ref == "acct"
    assert info.value.name == "api_key"
    assert "run onboarding" in str(info.value)
    store.put("acct", "api_key", KEY)
    assert store.require("acct", "api_key").get_secret_value() == KEY


def test_fingerprint_is_short_stable_and_hides_the_value() -> None:
    fp = fingerprint(KEY)
    assert fp.startswith("sha256:")
    assert len(fp) == len("sha256:") + 12
    assert fp == fingerprint(SecretStr(KEY))
    assert fp != fingerprint(KEY + "x")
    assert KEY not in fp
    assert int(fp.removeprefix("sha256:"), 16) >= 0


def test_no_secret_in_repr(store: SecretStore) -> None:
    store.put("acct", "api_key", KEY)
    value = store.get("acct", "api_key")
    assert KEY not in repr(value) and KEY not in str(value)
    assert KEY not in repr(store)
