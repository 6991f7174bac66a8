"""The shared PostgreSQL secret store against a real server: the interface, encryption at rest, rotation,
tampering, concurrent writers, and messages that never carry a password."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from pydantic import SecretStr
from secret_helpers import make_ring

from activities import secret_store_pg
from activities.secret_envelope import SecretDecryptionError
from activities.secret_store_pg import TABLE, PostgresSecretStore, redact_url
from activities.secrets import MissingSecretError, SecretStoreError, SecretStoreUnavailableError
from codec.keys import KeyRing
from devstack.ports import free_port
from devstack.postgres import PostgresServer

KEY = "rm_" + "k" * 40
PASSWORD = "correct horse battery staple"


def raw_rows(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            f"SELECT account_ref, name, key_id, wrapped_key, nonce, ciphertext FROM {TABLE} ORDER BY 1, 2"
        ).fetchall()


async def test_put_get_require_has_names_delete(pg_store: PostgresSecretStore) -> None:
    assert await pg_store.get("acct", "api_key") is None
    assert not await pg_store.has("acct", "api_key")
    await pg_store.put("acct", "api_key", KEY)
    await pg_store.put("acct", "password", SecretStr(PASSWORD))
    value = await pg_store.get("acct", "api_key")
    assert isinstance(value, SecretStr) and value.get_secret_value() == KEY
    assert (await pg_store.require("acct", "password")).get_secret_value() == PASSWORD
    assert await pg_store.has("acct", "password")
    assert await pg_store.names("acct") == ["api_key", "password"]
    assert await pg_store.names("other") == []
    await pg_store.put("acct", "api_key", "rm_replaced")
    assert (await pg_store.require("acct", "api_key")).get_secret_value() == "rm_replaced"
    assert await pg_store.delete("acct", "api_key") is True
    assert await pg_store.delete("acct", "api_key") is False
    with pytest.raises(MissingSecretError, match="run onboarding"):
        await pg_store.require("acct", "api_key", hint="run onboarding")


async def test_update_sets_several_deletes_none_and_refuses_bad_names(pg_store: PostgresSecretStore) -> None:
    await pg_store.update("acct", {"jwt": "a.b.c", "user_id": "u1"})
    await pg_store.update("acct", {"jwt": None, "api_key": KEY})
    assert await pg_store.names("acct") == ["api_key", "user_id"]
    with pytest.raises(SecretStoreError):
        await pg_store.put("../escape", "api_key", KEY)
    with pytest.raises(SecretStoreError):
        await pg_store.update("acct", {"fine": "x", "Bad Name": "y"})
    assert await pg_store.names("acct") == ["api_key", "user_id"]


async def test_an_update_is_one_transaction(pg_store: PostgresSecretStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while storing the second name leaves the first one unwritten too."""
    real_seal = secret_store_pg.seal

    def seal_then_fail(ring: KeyRing, account_ref: str, name: str, value: str) -> object:
        if name == "user_id":
            raise RuntimeError("crash between two rows")
        return real_seal(ring, account_ref, name, value)

    monkeypatch.setattr(secret_store_pg, "seal", seal_then_fail)
    with pytest.raises(RuntimeError):
        await pg_store.update("acct", {"jwt": "a.b.c", "user_id": "u1"})
    monkeypatch.undo()
    assert await pg_store.names("acct") == []


async def test_the_table_holds_ciphertext_only(pg_store: PostgresSecretStore, pg_url: str) -> None:
    await pg_store.update("acct", {"api_key": KEY, "password": PASSWORD})
    rows = raw_rows(pg_url)
    assert [(r[0], r[1], r[2]) for r in rows] == [("acct", "api_key", "k1"), ("acct", "password", "k1")]
    dump = repr(rows).encode() + b"".join(bytes(part) for row in rows for part in row[3:])  # type: ignore[arg-type]
    assert KEY.encode() not in dump and PASSWORD.encode() not in dump
    assert rows[0][4] != rows[1][4], "every secret has its own nonce"


async def test_rotation_old_key_reads_new_key_writes_rewrap_moves_everything(pg_url: str) -> None:
    old = make_ring("a")
    first = await PostgresSecretStore.open(pg_url, old)
    await first.update("acct", {"api_key": KEY, "password": PASSWORD})
    await first.aclose()

    rotated = KeyRing((make_ring("b").current, old.current))  # step 2 of a rotation: b first, a kept
    store = await PostgresSecretStore.open(pg_url, rotated)
    try:
        assert (await store.require("acct", "api_key")).get_secret_value() == KEY
        await store.put("acct", "jwt", "x.y.z")
        assert await store.key_ids_in_use() == {"a": 2, "b": 1}

        new_only = KeyRing((rotated.current,))
        early = await PostgresSecretStore.open(pg_url, new_only)
        try:
            with pytest.raises(SecretDecryptionError, match="key id 'a', which is not configured"):
                await early.get("acct", "api_key")
        finally:
            await early.aclose()

        assert await store.rewrap() == 2
        assert await store.rewrap() == 0
        assert await store.key_ids_in_use() == {"b": 3}
    finally:
        await store.aclose()

    after = await PostgresSecretStore.open(pg_url, new_only)
    try:
        assert (await after.require("acct", "api_key")).get_secret_value() == KEY
        assert (await after.require("acct", "password")).get_secret_value() == PASSWORD
    finally:
        await after.aclose()


async def test_a_tampered_or_copied_row_is_refused(pg_store: PostgresSecretStore, pg_url: str) -> None:
    await pg_store.update("acct", {"api_key": KEY, "password": PASSWORD})
    with psycopg.connect(pg_url) as conn:
        conn.execute(
            f"UPDATE {TABLE} SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1) "
            "WHERE account_ref = 'acct' AND name = 'password'"
        )
        conn.execute(
            f"INSERT INTO {TABLE} (account_ref, name, key_id, wrapped_key, nonce, ciphertext) "
            f"SELECT 'thief', name, key_id, wrapped_key, nonce, ciphertext FROM {TABLE} "
            "WHERE account_ref = 'acct' AND name = 'api_key'"
        )
    with pytest.raises(SecretDecryptionError) as altered:
        await pg_store.get("acct", "password")
    with pytest.raises(SecretDecryptionError) as copied:
        await pg_store.get("thief", "api_key")
    for info in (altered, copied):
        assert "fails authentication" in str(info.value)
        assert KEY not in str(info.value) and PASSWORD not in str(info.value)
    assert (await pg_store.require("acct", "api_key")).get_secret_value() == KEY


async def test_two_workers_writing_different_secrets_of_one_account_lose_nothing(pg_url: str, ring: KeyRing) -> None:
    """Two stores (two pools, as on two hosts) write interleaved; every write of both survives."""
    first = await PostgresSecretStore.open(pg_url, ring)
    second = await PostgresSecretStore.open(pg_url, ring)
    rounds, names = 15, 4

    async def writer(store: PostgresSecretStore, tag: str) -> None:
        for round_ in range(rounds):
            for n in range(names):
                await store.put("shared", f"{tag}_{n}", f"{tag}-{n}-{round_}")

    try:
        await asyncio.gather(writer(first, "one"), writer(second, "two"))
        stored = {name: await first.get("shared", name) for name in await first.names("shared")}
    finally:
        await first.aclose()
        await second.aclose()
    expected = {f"{tag}_{n}": f"{tag}-{n}-{rounds - 1}" for tag in ("one", "two") for n in range(names)}
    assert {name: value.get_secret_value() for name, value in stored.items() if value} == expected


async def test_overlapping_updates_neither_deadlock_nor_mix(pg_url: str, ring: KeyRing) -> None:
    """Two writers update the same two names, listed in opposite orders: each update lands whole."""
    first = await PostgresSecretStore.open(pg_url, ring)
    second = await PostgresSecretStore.open(pg_url, ring)

    async def writer(store: PostgresSecretStore, tag: str, order: tuple[str, str]) -> None:
        for round_ in range(20):
            await store.update("shared", {name: f"{tag}-{round_}" for name in order})

    try:
        await asyncio.gather(writer(first, "one", ("jwt", "user_id")), writer(second, "two", ("user_id", "jwt")))
        jwt, user_id = await first.require("shared", "jwt"), await first.require("shared", "user_id")
    finally:
        await first.aclose()
        await second.aclose()
    assert jwt.get_secret_value() == user_id.get_secret_value()
    assert jwt.get_secret_value() in {"one-19", "two-19"}


async def test_several_workers_opening_at_once_create_the_table_once(pg_url: str, ring: KeyRing) -> None:
    stores = await asyncio.gather(*(PostgresSecretStore.open(pg_url, ring) for _ in range(4)))
    try:
        await stores[0].put("acct", "api_key", KEY)
        assert (await stores[3].require("acct", "api_key")).get_secret_value() == KEY
    finally:
        for store in stores:
            await store.aclose()


async def test_an_unreachable_server_is_one_line_without_the_password(ring: KeyRing) -> None:
    url = f"postgresql://app:hunter2@127.0.0.1:{free_port()}/reelmirror"
    with pytest.raises(SecretStoreUnavailableError) as info:
        await PostgresSecretStore.open(url, ring)
    text = str(info.value)
    assert "\n" not in text
    assert "hunter2" not in text
    assert "postgresql://app:***@127.0.0.1" in text


async def test_a_server_lost_after_start_is_a_retryable_error(ring: KeyRing) -> None:
    with PostgresServer() as server:
        url = server.url().replace("app@", "app:hunter2@")  # trust auth ignores the password
        store = await PostgresSecretStore.open(url, ring, pool_wait_seconds=1)
        await store.put("acct", "api_key", KEY)
    try:
        with pytest.raises(SecretStoreUnavailableError) as info:
            await store.get("acct", "api_key")
    finally:
        await store.aclose()
    assert "hunter2" not in str(info.value) and "app:***@" in str(info.value)


async def test_repr_and_describe_hide_the_password(pg_url: str, ring: KeyRing) -> None:
    url = pg_url.replace("app@", "app:hunter2@")
    store = await PostgresSecretStore.open(url, ring)
    try:
        for text in (repr(store), store.describe()):
            assert "hunter2" not in text and "app:***@" in text
    finally:
        await store.aclose()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://bot:s3cret@db:5432/rm", "postgresql://bot:***@db:5432/rm"),
        ("postgresql://bot@db/rm", "postgresql://bot@db/rm"),
        ("postgresql://db/rm?password=s3cret&sslmode=require", "postgresql://db/rm?password=***&sslmode=require"),
        ("postgres://b%40t:p%3Aw@[::1]:5432/rm", "postgres://b%40t:***@[::1]:5432/rm"),
        ("postgresql:///rm?host=/run/postgresql", "postgresql:///rm?host=/run/postgresql"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected
