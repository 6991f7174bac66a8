"""Fixtures of the secret store tests: one real PostgreSQL server per session, an empty database per test.

The server comes from the distribution's binaries (`devstack.postgres`); without them the tests that need
it are skipped with a message saying what to install (`make test` installs it, so CI never skips).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from secret_helpers import make_ring

from activities.secret_store_pg import PostgresSecretStore
from codec.keys import KeyRing
from devstack.postgres import PostgresServer, find_postgres_bin_dir


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    if find_postgres_bin_dir() is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, postgres) are not installed: "
            "apt-get install postgresql (make test installs it)"
        )
    with PostgresServer() as server:
        yield server


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """The URL of a fresh, empty database on the session's server."""
    return postgres.create_database()


@pytest.fixture
def ring() -> KeyRing:
    return make_ring("k1")


@pytest.fixture
async def pg_store(pg_url: str, ring: KeyRing) -> AsyncIterator[PostgresSecretStore]:
    store = await PostgresSecretStore.open(pg_url, ring)
    yield store
    await store.aclose()
