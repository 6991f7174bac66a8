"""The shared secret store: one PostgreSQL table that every worker host reads and writes.

Why a table and not a shared directory: workers on different hosts see one truth without a network file
system, and PostgreSQL gives a transaction per change. One row per (account, secret name) and an upsert
per row means two workers storing different secrets of one account at once (the JWT on one, the key on
the other) never overwrite each other; several names in one `update` are one transaction, taken in name
order so two overlapping updates cannot deadlock.

Values are sealed by `activities.secret_envelope` under the codec key ring before they leave the process,
so the database, its replicas and its backups hold ciphertext only. The URL's password (or PGPASSWORD, or
a passfile, which libpq reads itself) never appears in a message: every message shows `redact_url`.
Database trouble after start (a restart, a failover) raises `SecretStoreUnavailableError`, which the
activities' error table retries; only a secret that cannot be opened needs an operator.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import SecretStr

from activities.secret_envelope import SealedSecret, open_secret, rewrap, seal
from activities.secrets import (
    SecretStore,
    SecretStoreUnavailableError,
    SecretValues,
    check_account_ref,
    check_secret_name,
    secret_text,
)
from codec.keys import KeyRing

__all__ = ["TABLE", "PostgresSecretStore", "redact_url"]

TABLE = "reelmirror_secrets"
URL_SCHEMES = ("postgresql", "postgres")
CONNECT_TIMEOUT_SECONDS = 5
POOL_WAIT_SECONDS = 10.0
POOL_SIZE = 8
_SCHEMA_LOCK = 0x7265656C6D697272  # pg_advisory_xact_lock id: "reelmirr"

_SCHEMA = f"""
CREATE TABLE {TABLE} (
    account_ref text NOT NULL,
    name text NOT NULL,
    key_id text NOT NULL,
    wrapped_key bytea NOT NULL,
    nonce bytea NOT NULL,
    ciphertext bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_ref, name)
)
"""
_UPSERT = f"""
INSERT INTO {TABLE} (account_ref, name, key_id, wrapped_key, nonce, ciphertext)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (account_ref, name) DO UPDATE SET
    key_id = EXCLUDED.key_id, wrapped_key = EXCLUDED.wrapped_key, nonce = EXCLUDED.nonce,
    ciphertext = EXCLUDED.ciphertext, updated_at = now()
"""


def redact_url(url: str) -> str:
    """The URL with its password (in the user part or a `password=` parameter) replaced by `***`."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hosts = netloc.rpartition("@")
            user, colon, _ = userinfo.partition(":")
            netloc = f"{user}{':***' if colon else ''}@{hosts}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in pairs], safe="*/")
    except ValueError:
        return "<unparsable URL>"
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def _passwords(url: str) -> set[str]:
    """Every form in which the URL carries a password (user part or `password=`, encoded or not)."""
    parts = urlsplit(url)
    found = {parts.password or ""} | {v for k, v in parse_qsl(parts.query) if k.lower() == "password"}
    return {form for value in found if value for form in (value, unquote(value))}


def _one_line(exc: BaseException, secrets: set[str]) -> str:
    """A database error as one line, with the password scrubbed should libpq ever quote it."""
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip()) or type(exc).__name__
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


class PostgresSecretStore(SecretStore):
    """Named secrets per account in the `reelmirror_secrets` table, sealed with the codec key ring.

    Build it with `await PostgresSecretStore.open(url, ring)`: that checks the server is reachable and the
    table exists (creating it once, under an advisory lock, when several workers start together).
    """

    def __init__(
        self, url: str, ring: KeyRing, *, pool_size: int = POOL_SIZE, pool_wait_seconds: float = POOL_WAIT_SECONDS
    ) -> None:
        self._redacted = redact_url(url)
        self._passwords = _passwords(url)
        self.ring = ring
        self._kwargs = _connect_kwargs(url)
        self._pool = AsyncConnectionPool(
            url,
            kwargs=self._kwargs,
            min_size=1,
            max_size=pool_size,
            open=False,
            name="reelmirror-secrets",
            timeout=pool_wait_seconds,
            check=AsyncConnectionPool.check_connection,
        )

    def __repr__(self) -> str:
        return f"PostgresSecretStore(url={self._redacted!r}, key={self.ring.current.id!r})"

    def describe(self) -> str:
        return f"shared PostgreSQL store {self._redacted} (sealed with codec key {self.ring.current.id!r})"

    @classmethod
    async def open(
        cls, url: str, ring: KeyRing, *, pool_size: int = POOL_SIZE, pool_wait_seconds: float = POOL_WAIT_SECONDS
    ) -> PostgresSecretStore:
        """A ready store, or SecretStoreUnavailableError saying (in one line) why the database is not usable.

        `pool_wait_seconds` bounds how long a call waits for a connection while the database is down.
        """
        store = cls(url, ring, pool_size=pool_size, pool_wait_seconds=pool_wait_seconds)
        try:
            async with await psycopg.AsyncConnection.connect(url, **store._kwargs) as conn:
                await _ensure_table(conn)
        except psycopg.Error as exc:
            raise SecretStoreUnavailableError(
                f"cannot use PostgreSQL at {store._redacted}: {_one_line(exc, store._passwords)}"
            ) from None
        await store._pool.open(wait=False)
        return store

    async def aclose(self) -> None:
        await self._pool.close()

    # -- the interface -----------------------------------------------------------------------------

    async def get(self, account_ref: str, name: str) -> SecretStr | None:
        check_account_ref(account_ref)
        check_secret_name(name)
        async with self._connection() as conn:
            cursor = await conn.execute(
                f"SELECT key_id, wrapped_key, nonce, ciphertext FROM {TABLE} WHERE account_ref = %s AND name = %s",
                (account_ref, name),
            )
            row = await cursor.fetchone()
        if row is None:
            return None
        return SecretStr(open_secret(self.ring, account_ref, name, _sealed(row)))

    async def names(self, account_ref: str) -> list[str]:
        check_account_ref(account_ref)
        async with self._connection() as conn:
            cursor = await conn.execute(
                f"SELECT name FROM {TABLE} WHERE account_ref = %s ORDER BY name", (account_ref,)
            )
            return [name for (name,) in await cursor.fetchall()]

    async def update(self, account_ref: str, values: SecretValues) -> None:
        check_account_ref(account_ref)
        for name in values:
            check_secret_name(name)
        async with self._connection() as conn, conn.transaction():
            for name in sorted(values):  # one lock order for every writer: overlapping updates cannot deadlock
                value = values[name]
                if value is None:
                    await conn.execute(f"DELETE FROM {TABLE} WHERE account_ref = %s AND name = %s", (account_ref, name))
                    continue
                sealed = seal(self.ring, account_ref, name, secret_text(value))
                await conn.execute(
                    _UPSERT,
                    (account_ref, name, sealed.key_id, sealed.wrapped_key, sealed.nonce, sealed.ciphertext),
                )

    async def delete(self, account_ref: str, name: str) -> bool:
        check_account_ref(account_ref)
        check_secret_name(name)
        async with self._connection() as conn:
            cursor = await conn.execute(
                f"DELETE FROM {TABLE} WHERE account_ref = %s AND name = %s", (account_ref, name)
            )
            return cursor.rowcount > 0

    # -- key rotation ------------------------------------------------------------------------------

    async def key_ids_in_use(self) -> dict[str, int]:
        """How many stored secrets each codec key id seals: a key may leave the ring when its count is 0."""
        async with self._connection() as conn:
            cursor = await conn.execute(f"SELECT key_id, count(*) FROM {TABLE} GROUP BY key_id ORDER BY key_id")
            return {key_id: count for key_id, count in await cursor.fetchall()}

    async def rewrap(self) -> int:
        """Re-seal every data key not under the ring's current key (values untouched); returns how many."""
        current = self.ring.current.id
        changed = 0
        async with self._connection() as conn, conn.transaction():
            cursor = await conn.execute(
                f"SELECT account_ref, name, key_id, wrapped_key, nonce, ciphertext FROM {TABLE} "
                "WHERE key_id <> %s ORDER BY account_ref, name FOR UPDATE",
                (current,),
            )
            for account_ref, name, *sealed_row in await cursor.fetchall():
                fresh = rewrap(self.ring, account_ref, name, _sealed(tuple(sealed_row)))
                if fresh is None:
                    continue
                await conn.execute(
                    f"UPDATE {TABLE} SET key_id = %s, wrapped_key = %s WHERE account_ref = %s AND name = %s",
                    (fresh.key_id, fresh.wrapped_key, account_ref, name),
                )
                changed += 1
        return changed

    # -- connections -------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection; database trouble becomes SecretStoreUnavailableError with the URL redacted."""
        try:
            async with self._pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
            raise SecretStoreUnavailableError(
                f"secret store at {self._redacted} is unavailable: {_one_line(exc, self._passwords)}"
            ) from None


def _connect_kwargs(url: str) -> dict[str, Any]:
    """Defaults the URL may override: a bounded connect timeout and a name that shows in pg_stat_activity."""
    given = {key for key, _ in parse_qsl(urlsplit(url).query)}
    kwargs: dict[str, Any] = {}
    if "connect_timeout" not in given:
        kwargs["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    if "application_name" not in given:
        kwargs["application_name"] = "reelmirror"
    return kwargs


async def _ensure_table(conn: psycopg.AsyncConnection[Any]) -> None:
    """Create the table unless it exists; existence is checked first so a role without CREATE still works.

    Workers starting together serialize on an advisory lock; the check reads pg_tables (a fresh snapshot per
    statement), so the second one sees the table the first just created.
    """
    exists = f"SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = '{TABLE}'"
    async with conn.transaction():
        if await (await conn.execute(exists)).fetchone():
            return
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        if not await (await conn.execute(exists)).fetchone():
            await conn.execute(_SCHEMA)


def _sealed(row: tuple[Any, ...]) -> SealedSecret:
    key_id, wrapped_key, nonce, ciphertext = row
    return SealedSecret(key_id=key_id, wrapped_key=bytes(wrapped_key), nonce=bytes(nonce), ciphertext=bytes(ciphertext))
