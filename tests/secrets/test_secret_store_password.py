"""The shared store's database password comes from the URL, PGPASSWORD or a passfile (libpq reads the last
two itself), against a server that demands it; a wrong one is one line that does not repeat it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from secret_helpers import make_ring

from activities.secret_store_pg import PostgresSecretStore
from activities.secrets import SecretStoreUnavailableError
from devstack.postgres import PostgresServer, find_postgres_bin_dir

PASSWORD = "db-pass-9f3a"


@pytest.fixture(scope="module")
def guarded() -> Iterator[PostgresServer]:
    if find_postgres_bin_dir() is None:
        pytest.skip("PostgreSQL server binaries are not installed: apt-get install postgresql")
    with PostgresServer(password=PASSWORD) as server:
        yield server


@pytest.fixture(autouse=True)
def no_ambient_password(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("PGPASSWORD", "PGPASSFILE"):
        monkeypatch.delenv(variable, raising=False)


async def round_trip(url: str) -> str:
    store = await PostgresSecretStore.open(url, make_ring("k1"))
    try:
        await store.put("acct", "api_key", "rm_" + "p" * 40)
        assert await store.names("acct") == ["api_key"]
        return repr(store) + store.describe()
    finally:
        await store.aclose()


async def test_the_password_in_the_url(guarded: PostgresServer) -> None:
    shown = await round_trip(guarded.url().replace("app@", f"app:{PASSWORD}@"))
    assert PASSWORD not in shown


async def test_the_password_from_pgpassword(guarded: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    await round_trip(guarded.url())


async def test_the_password_from_a_passfile(
    guarded: PostgresServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{guarded.port}:*:{guarded.user}:{PASSWORD}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    await round_trip(guarded.url())


async def test_a_wrong_password_is_one_line_without_it(guarded: PostgresServer) -> None:
    with pytest.raises(SecretStoreUnavailableError) as info:
        await PostgresSecretStore.open(guarded.url().replace("app@", "app:n0t-it@"), make_ring("k1"))
    text = str(info.value)
    assert "password authentication failed" in text
    assert "n0t-it" not in text and "\n" not in text
