"""`python -m activities.secret_rotation`: which codec keys seal the shared store, and moving them all to the
current key so an old key can leave the ring."""

from __future__ import annotations

import asyncio

import pytest
from secret_helpers import make_ring

from activities.secret_rotation import main
from activities.secret_store_pg import PostgresSecretStore
from codec.keys import KeyRing


def seed(url: str, ring: KeyRing) -> None:
    async def put() -> None:
        store = await PostgresSecretStore.open(url, ring)
        try:
            await store.update("acct", {"api_key": "rm_" + "r" * 40, "password": "pw"})
        finally:
            await store.aclose()

    asyncio.run(put())


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], keys: str, *argv: str) -> str:
    monkeypatch.setenv("REELMIRROR_CODEC_KEYS", keys)
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_status_then_rewrap_moves_every_secret_to_the_current_key(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = make_ring("old"), make_ring("new")
    seed(pg_url, old)
    monkeypatch.setenv("REELMIRROR_SECRETS_URL", pg_url)
    both = f"{new.current.spec()},{old.current.spec()}"

    assert "NOT CONFIGURED" in run(monkeypatch, capsys, new.current.spec(), "status")
    assert run(monkeypatch, capsys, both, "status").splitlines() == ["current key: new", "old: 2 secrets"]
    out = run(monkeypatch, capsys, both, "rewrap").splitlines()
    assert out == ["re-sealed 2 data keys under new", "current key: new", "new: 2 secrets"]
    assert run(monkeypatch, capsys, new.current.spec(), "status").splitlines() == ["current key: new", "new: 2 secrets"]


def test_without_the_shared_store_it_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REELMIRROR_SECRETS_URL", raising=False)
    assert main(["status"]) == 2
    assert capsys.readouterr().err.startswith("error: REELMIRROR_SECRETS_URL is not set")
