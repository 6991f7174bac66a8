"""deploy/postgres/init-reelmirror.sh, run as the postgres image runs it on a new volume: it creates the role
and database that the prod compose file's REELMIRROR_SECRETS_URL names, and the workers' store works there
with that role's rights alone (it creates its table in its own database)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from secret_helpers import make_ring

from activities.secret_store_pg import PostgresSecretStore
from devstack.postgres import PostgresServer

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "postgres" / "init-reelmirror.sh"


async def test_the_init_script_makes_the_database_the_workers_use(postgres: PostgresServer) -> None:
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed: apt-get install postgresql-client")
    env = {
        "PATH": "/usr/bin:/bin",
        "POSTGRES_USER": postgres.user,
        "REELMIRROR_DB_PASSWORD": "from-the-env-file",
        "PGHOST": "127.0.0.1",
        "PGPORT": str(postgres.port),
    }
    argv = ["sh", str(SCRIPT)]
    result = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "from-the-env-file" not in result.stdout + result.stderr

    with psycopg.connect(postgres.url()) as conn:
        role = conn.execute(
            "SELECT rolcanlogin, rolsuper, rolpassword IS NOT NULL FROM pg_authid WHERE rolname = 'reelmirror'"
        ).fetchone()
    assert role == (True, False, True)

    url = f"postgresql://reelmirror@127.0.0.1:{postgres.port}/reelmirror"  # the prod URL's user and database
    store = await PostgresSecretStore.open(url, make_ring("k1"))
    try:
        await store.put("main", "api_key", "rm_" + "d" * 40)
        assert await store.names("main") == ["api_key"]
    finally:
        await store.aclose()
