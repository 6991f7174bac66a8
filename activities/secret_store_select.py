"""Which secret store a process uses: the file store, or the shared PostgreSQL store when a URL is set.

The worker and `starter.py account import-key` both open their store here, so an imported key lands
where the workers read. Every problem (a missing codec key, an unreachable database) is a `SettingsError`
with one line naming the setting, raised before the worker connects to Temporal: a worker that cannot read
its secrets should not take tasks it can only fail.
"""

from __future__ import annotations

from collections.abc import Mapping

from activities.secrets import FileSecretStore, SecretStore, SecretStoreError
from activities.settings import ActivitySettings, SettingsError
from codec.keys import CodecConfigError, key_ring_from_env

__all__ = ["SECRETS_URL_ENV", "open_secret_store"]

SECRETS_URL_ENV = "REELMIRROR_SECRETS_URL"


async def open_secret_store(settings: ActivitySettings, env: Mapping[str, str] | None = None) -> SecretStore:
    """The store the settings select, ready to use; `aclose()` it when done."""
    if settings.secrets_url is None:
        return FileSecretStore(settings.secrets_dir)
    try:
        ring = key_ring_from_env(env, required=True)
    except CodecConfigError as exc:
        raise SettingsError(
            f"{SECRETS_URL_ENV} is set and the shared secret store encrypts with the codec keys: {exc}"
        ) from None
    from activities.secret_store_pg import PostgresSecretStore  # psycopg only where the shared store is used

    try:
        return await PostgresSecretStore.open(settings.secrets_url.get_secret_value(), ring)
    except SecretStoreError as exc:
        raise SettingsError(f"{SECRETS_URL_ENV}: {exc}") from None
