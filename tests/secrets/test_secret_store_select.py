"""Choosing the store: files by default, PostgreSQL when REELMIRROR_SECRETS_URL is set; every refusal is one
line that names the setting and never the password."""

from __future__ import annotations

from pathlib import Path

import pytest
from secret_helpers import make_ring

from activities.secret_store_pg import PostgresSecretStore
from activities.secret_store_select import open_secret_store
from activities.secrets import FileSecretStore
from activities.settings import ActivitySettings, SettingsError
from devstack.ports import free_port

KEYS = {"REELMIRROR_CODEC_KEYS": make_ring("k1").current.spec()}


async def test_no_url_selects_the_file_store(tmp_path: Path) -> None:
    settings = ActivitySettings.from_env({"REELMIRROR_SECRETS_DIR": str(tmp_path)})
    store = await open_secret_store(settings, env={})
    assert isinstance(store, FileSecretStore) and store.root == tmp_path
    await store.aclose()


async def test_a_url_selects_the_shared_store_sealed_with_the_codec_key(pg_url: str) -> None:
    settings = ActivitySettings.from_env({"REELMIRROR_SECRETS_URL": pg_url})
    store = await open_secret_store(settings, env=KEYS)
    try:
        assert isinstance(store, PostgresSecretStore)
        assert store.ring.current.id == "k1"
        await store.put("acct", "api_key", "rm_x")
    finally:
        await store.aclose()


async def test_the_shared_store_without_a_codec_key_is_refused(pg_url: str) -> None:
    settings = ActivitySettings.from_env({"REELMIRROR_SECRETS_URL": pg_url})
    with pytest.raises(SettingsError) as info:
        await open_secret_store(settings, env={})
    text = str(info.value)
    assert "\n" not in text
    assert "REELMIRROR_SECRETS_URL" in text and "REELMIRROR_CODEC_KEYS" in text


async def test_an_unreachable_database_names_the_setting_not_the_password() -> None:
    url = f"postgresql://bot:hunter2@127.0.0.1:{free_port()}/reelmirror"
    settings = ActivitySettings.from_env({"REELMIRROR_SECRETS_URL": url})
    with pytest.raises(SettingsError) as info:
        await open_secret_store(settings, env=KEYS)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith("REELMIRROR_SECRETS_URL: ")
    assert "hunter2" not in text and "bot:***@127.0.0.1" in text
