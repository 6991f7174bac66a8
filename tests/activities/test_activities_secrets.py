"""The worker's secret store: permissions, atomic writes, refusal of unsafe files, no secret in text."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from activities import secrets as secrets_module
from activities.secrets import FileSecretStore, MissingSecretError, SecretStoreError, fingerprint

KEY = "rm_" + "k" * 32
PASSWORD = "correct horse battery staple"


@pytest.fixture
def store(tmp_path: Path) -> FileSecretStore:
    return FileSecretStore(tmp_path / "secrets")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_put_get_has_delete(store: FileSecretStore) -> None:
    assert await store.get("acct", "api_key") is None
    assert not await store.has("acct", "api_key")
    await store.put("acct", "api_key", KEY)
    await store.put("acct", "password", SecretStr(PASSWORD))
    value = await store.get("acct", "api_key")
    assert isinstance(value, SecretStr)
    assert value.get_secret_value() == KEY
    assert await store.has("acct", "password")
    assert await store.names("acct") == ["api_key", "password"]
    assert await store.delete("acct", "api_key") is True
    assert await store.delete("acct", "api_key") is False
    assert await store.names("acct") == ["password"]
    assert await store.get("other", "password") is None


async def test_update_sets_several_and_none_deletes(store: FileSecretStore) -> None:
    await store.update("acct", {"jwt": "a.b.c", "user_id": "u1"})
    await store.update("acct", {"jwt": None, "api_key": KEY})
    assert await store.names("acct") == ["api_key", "user_id"]


async def test_directory_0700_and_file_0600(store: FileSecretStore) -> None:
    old_umask = os.umask(0o022)
    try:
        await store.put("acct", "api_key", KEY)
    finally:
        os.umask(old_umask)
    assert _mode(store.root) == 0o700
    assert _mode(store.root / "acct.json") == 0o600


async def test_file_is_json_per_account(store: FileSecretStore) -> None:
    await store.put("acct-1", "api_key", KEY)
    await store.put("acct-2", "api_key", "rm_other")
    assert json.loads((store.root / "acct-1.json").read_text())["secrets"] == {"api_key": KEY}
    assert json.loads((store.root / "acct-2.json").read_text())["secrets"] == {"api_key": "rm_other"}


async def test_refuses_a_world_readable_file(store: FileSecretStore) -> None:
    await store.put("acct", "api_key", KEY)
    path = store.root / "acct.json"
    os.chmod(path, 0o644)
    with pytest.raises(SecretStoreError) as info:
        await store.get("acct", "api_key")
    text = str(info.value)
    assert "readable by group or others" in text
    assert "chmod 600" in text
    assert KEY not in text


async def test_refuses_a_group_readable_file(store: FileSecretStore) -> None:
    await store.put("acct", "api_key", KEY)
    os.chmod(store.root / "acct.json", 0o640)
    with pytest.raises(SecretStoreError):
        await store.has("acct", "api_key")


async def test_refuses_a_symlink(store: FileSecretStore, tmp_path: Path) -> None:
    await store.put("acct", "api_key", KEY)
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"secrets": {"api_key": KEY}}))
    os.chmod(target, 0o600)
    link = store.root / "linked.json"
    link.symlink_to(target)
    with pytest.raises(SecretStoreError):
        await store.get("linked", "api_key")


async def test_corrupt_file_error_holds_no_content(store: FileSecretStore) -> None:
    await store.put("acct", "api_key", KEY)
    path = store.root / "acct.json"
    path.write_text('{"secrets": {"api_key": "' + KEY)  # truncated JSON
    with pytest.raises(SecretStoreError) as info:
        await store.get("acct", "api_key")
    assert KEY not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


async def test_write_is_atomic_when_the_replace_fails(
    store: FileSecretStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between writing the temp file and the rename leaves the old file intact and no debris."""
    await store.put("acct", "api_key", KEY)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(secrets_module.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        await store.put("acct", "api_key", "rm_new")
    monkeypatch.undo()
    assert (await store.require("acct", "api_key")).get_secret_value() == KEY
    assert sorted(p.name for p in store.root.iterdir() if p.suffix == ".tmp") == []


async def test_invalid_account_ref_and_name(store: FileSecretStore) -> None:
    with pytest.raises(SecretStoreError):
        await store.put("../escape", "api_key", KEY)
    with pytest.raises(SecretStoreError):
        await store.put("acct", "Bad Name", KEY)


async def test_require_names_the_secret_not_the_value(store: FileSecretStore) -> None:
    with pytest.raises(MissingSecretError) as info:
        await store.require("acct", "api_key", hint="run onboarding")
    assert info.value.account_ref == "acct"
    assert info.value.name == "api_key"
    assert "run onboarding" in str(info.value)
    await store.put("acct", "api_key", KEY)
    assert (await store.require("acct", "api_key")).get_secret_value() == KEY


def test_fingerprint_is_short_stable_and_hides_the_value() -> None:
    fp = fingerprint(KEY)
    assert fp.startswith("sha256:")
    assert len(fp) == len("sha256:") + 12
    assert fp == fingerprint(SecretStr(KEY))
    assert fp != fingerprint(KEY + "x")
    assert KEY not in fp
    assert int(fp.removeprefix("sha256:"), 16) >= 0


async def test_no_secret_in_repr(store: FileSecretStore) -> None:
    await store.put("acct", "api_key", KEY)
    value = await store.get("acct", "api_key")
    assert KEY not in repr(value) and KEY not in str(value)
    assert KEY not in repr(store)
