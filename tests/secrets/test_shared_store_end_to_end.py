"""Two worker hosts, one shared secret store: the production shape's processes on loopback.

PostgreSQL (Debian's binaries), the Temporal dev server, two workers and the codec server run as real
processes. Each worker gets its own, different local secrets directory and the same REELMIRROR_SECRETS_URL,
as workers on two machines would. One worker onboards the account (its key lands in PostgreSQL), both run
the persona's activities, one is SIGKILLed mid-run, the other finishes: the ledger shows one signup, one
key and one generate per source post, and no secret touched either local directory or the table in clear.
"""

from __future__ import annotations

import asyncio
import base64
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from secret_helpers import make_ring
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from activities.secret_store_pg import TABLE, PostgresSecretStore
from codec.keys import load_key_file
from codec.payload import EncryptionCodec
from devstack.ports import free_port
from devstack.postgres import PostgresServer
from devstack.process import ManagedProcess, wait_for_port
from devstack.stack import LocalStack
from simulator.admin import SimulatorAdmin
from tests.crash.crash_helpers import (
    activity_identities,
    assert_cycle_done,
    assert_exactly_once,
    onboard,
    persona_config,
    persona_id_of,
    start_persona,
    wait_for,
)
from workflows.config import onboarding_workflow_id
from workflows.models import PersonaStatus
from workflows.search_attributes import PERSONA

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EMAIL = "shared-store@reelmirror.test"
ACCOUNT = "shared-store"
POSTS = 4
RING = make_ring("deploy-1")  # replaced by the stack's own key (below): one key for workers, client, codec server


@pytest.fixture(scope="module", autouse=True)
def _the_stacks_key(stack: LocalStack) -> None:
    """The shared store and the payloads use the key the stack gives its workers and clients."""
    global RING
    assert stack.codec_key_file is not None
    RING = load_key_file(stack.codec_key_file)


@pytest.fixture(scope="module")
def worker_count() -> int:
    """The module starts its own two workers, each with its own local directory."""
    return 0


@pytest.fixture(scope="module")
def shared_url(postgres: PostgresServer) -> str:
    return postgres.create_database("shared")


@pytest.fixture(scope="module")
def codec_server(stack: LocalStack) -> Iterator[str]:
    """`python -m codec serve` with the workers' key, on a free loopback port; yields its URL."""
    port = free_port()
    env = stack.client_env() | {"PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "codec", "serve", "--port", str(port), "--quiet"]
    server = ManagedProcess("codec-server", argv, stack.logs / "codec-server.log", env=env).start()
    try:
        wait_for_port("127.0.0.1", port, 30, server.proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def pid_counts(identities: Counter[str]) -> Counter[int]:
    counts: Counter[int] = Counter()
    for identity, n in identities.items():
        counts[int(identity.split("@", 1)[0])] += n
    return counts


async def workflow_ids(client: Client, slug: str) -> list[str]:
    ids = [onboarding_workflow_id(ACCOUNT), f"persona-{slug}"]
    query = f"WorkflowType = 'ContentPostWorkflow' AND {PERSONA.name} = '{slug}'"
    return ids + [execution.id async for execution in client.list_workflows(query)]


async def test_codec_server_decodes_with_the_shared_key(codec_server: str) -> None:
    original = Payload(metadata={"encoding": b"json/plain"}, data=b'{"persona": "shared"}')
    (sealed,) = await EncryptionCodec(RING).encode([original])
    body = {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in sealed.metadata.items()},
                "data": base64.b64encode(sealed.data).decode(),
            }
        ]
    }
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(f"{codec_server}/health")).status_code == 200
        answer = await http.post(f"{codec_server}/decode", json=body)
    assert answer.status_code == 200, answer.text
    assert base64.b64decode(answer.json()["payloads"][0]["data"]) == original.data


async def test_two_hosts_share_the_store_and_one_dies_mid_run(
    stack: LocalStack, client: Client, admin: SimulatorAdmin, shared_url: str, codec_server: str
) -> None:
    local_dirs = [stack.state_dir / "host-a-secrets", stack.state_dir / "host-b-secrets"]
    shared = {"REELMIRROR_SECRETS_URL": shared_url}
    first, second = (stack.start_worker(shared | {"REELMIRROR_SECRETS_DIR": str(d)}) for d in local_dirs)
    await onboard(client, admin, EMAIL, ACCOUNT)
    config = persona_config("Shared Store", "shared_store_chef", posts=POSTS)
    handle = await start_persona(client, ACCOUNT, config)
    persona_id = await persona_id_of(admin, EMAIL, config.name)

    async def both_busy_mid_run() -> Counter[int] | None:
        if len(await admin.ledger(kind="approve", persona_id=persona_id)) >= POSTS:
            raise AssertionError("the run ended before both workers were seen running activities")
        if not await admin.ledger(kind="generate", persona_id=persona_id):
            return None
        counts = pid_counts(await activity_identities(client, await workflow_ids(client, config.persona_slug)))
        return counts if {first.pid, second.pid} <= set(counts) else None

    before = await wait_for(both_busy_mid_run, "both workers running activities", within=120, every=0.2)
    first.kill_hard()
    killed = time.monotonic()
    status: PersonaStatus = await asyncio.wait_for(handle.result(), 240)
    print(f"\n[shared store] activities per worker pid before the kill: {dict(before)}; "
          f"done {time.monotonic() - killed:.1f} s after it")  # fmt: skip

    after = pid_counts(await activity_identities(client, await workflow_ids(client, config.persona_slug)))
    assert after[second.pid] > before[second.pid], "the surviving worker took over nothing"
    await assert_cycle_done(client, config, status, posts=POSTS)
    await assert_exactly_once(admin, EMAIL, persona_id, expected_posts=POSTS, expected_approved=POSTS)
    await assert_secrets_only_in_the_shared_table(shared_url, local_dirs)


async def assert_secrets_only_in_the_shared_table(url: str, local_dirs: list[Path]) -> None:
    for directory in local_dirs:
        assert not directory.exists() or not any(directory.iterdir()), f"a secret was written to {directory}"
    store = await PostgresSecretStore.open(url, RING)
    try:
        names = await store.names(ACCOUNT)
        key = (await store.require(ACCOUNT, "api_key")).get_secret_value()
        password = (await store.require(ACCOUNT, "password")).get_secret_value()
    finally:
        await store.aclose()
    assert {"api_key", "password", "jwt", "user_id"} <= set(names)
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT key_id, wrapped_key, nonce, ciphertext FROM {TABLE}").fetchall()
    assert {row[0] for row in rows} == {RING.current.id}
    raw = b"".join(bytes(part) for row in rows for part in row[1:])
    assert key.encode() not in raw and password.encode() not in raw
