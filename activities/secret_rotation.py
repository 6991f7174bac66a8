"""`python -m activities.secret_rotation status|rewrap`: codec key rotation for the shared secret store.

A stored secret stays readable while the key that sealed its data key is in the ring, so an old key may
leave the ring only when no secret needs it any more. `status` shows how many secrets each key id seals;
`rewrap` re-seals every data key under the ring's current key (the values themselves are not touched).
It reads the same settings as the worker (REELMIRROR_SECRETS_URL and the codec key settings).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from activities.secret_store_pg import PostgresSecretStore
from activities.secret_store_select import SECRETS_URL_ENV, open_secret_store
from activities.secrets import SecretStoreError
from activities.settings import ActivitySettings

EXIT_USAGE = 2


def _lines(store: PostgresSecretStore, counts: dict[str, int]) -> list[str]:
    ring_ids = set(store.ring.ids)
    lines = [f"current key: {store.ring.current.id}"]
    for key_id, count in counts.items():
        note = "" if key_id in ring_ids else "  (NOT CONFIGURED: these secrets cannot be read)"
        lines.append(f"{key_id}: {count} secret{'s' if count != 1 else ''}{note}")
    if not counts:
        lines.append("no secrets stored")
    return lines


async def _run(command: str) -> list[str]:
    settings = ActivitySettings.from_env()
    if settings.secrets_url is None:
        raise SecretStoreError(f"{SECRETS_URL_ENV} is not set: only the shared store seals secrets with codec keys")
    store = await open_secret_store(settings)
    assert isinstance(store, PostgresSecretStore)
    try:
        lines = []
        if command == "rewrap":
            lines.append(f"re-sealed {await store.rewrap()} data keys under {store.ring.current.id}")
        return lines + _lines(store, await store.key_ids_in_use())
    finally:
        await store.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m activities.secret_rotation",
        description="Codec key rotation for the shared secret store (REELMIRROR_SECRETS_URL).",
    )
    parser.add_argument(
        "command", choices=["status", "rewrap"], help="status: key ids in use; rewrap: re-seal under the current key"
    )
    args = parser.parse_args(argv)
    try:
        lines = asyncio.run(_run(args.command))
    except (ValueError, SecretStoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
