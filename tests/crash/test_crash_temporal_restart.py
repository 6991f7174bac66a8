"""kill -9 the Temporal server in the middle of a persona cycle and start it again on its database file.

The worker process is left alone: it must notice the server is gone, keep retrying, and carry on by itself
once the server is back on the same port. The cycle must then end as if nothing happened, with the same
exactly-once ledger as an undisturbed run.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from crash_helpers import (
    RecoveryClock,
    assert_cycle_done,
    assert_exactly_once,
    ledger_has,
    onboard,
    persona_config,
    persona_id_of,
    start_persona,
    wait_for,
)
from temporalio.client import Client
from temporalio.service import RPCError

from control.connection import connect
from devstack.stack import LocalStack, StackConfig
from simulator.admin import SimulatorAdmin
from workflows.models import PersonaStatus

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EMAIL = "crash-server@reelmirror.test"
ACCOUNT = "crash-server"
RESULT_TIMEOUT = 240
OUTAGE_SECONDS = 5  # the fault's length, not a wait for a stage


@pytest.fixture(scope="module")
def stack_config(tmp_path_factory: pytest.TempPathFactory) -> StackConfig:
    return StackConfig(
        time_scale=0.01, ui_port=None, persistent_temporal=True, state_dir=tmp_path_factory.mktemp("crash-server")
    )


async def test_temporal_server_killed_mid_cycle_and_restarted_on_its_database(
    stack: LocalStack, client: Client, admin: SimulatorAdmin, recovery: RecoveryClock
) -> None:
    await onboard(client, admin, EMAIL, ACCOUNT)
    (worker,) = stack.workers
    config = persona_config("Crash Server", "crash_server_chef", posts=2)
    handle = await start_persona(client, ACCOUNT, config)
    persona_id = await persona_id_of(admin, EMAIL, config.name)
    committed = await wait_for(lambda: ledger_has(admin, "generate", persona_id=persona_id), "a generate", within=120)

    stack.temporal.kill_hard()
    killed = time.monotonic()
    # The service goes on without Temporal: the outage lasts until the post's media are rendered (the
    # workflows come back to a world that moved on while nobody was watching), and long enough for the
    # worker's polls and the client's long poll to fail over and over.
    await wait_for(lambda: _rendered(admin, committed[0]["generated_post_id"]), "the media to render", within=60)
    await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - killed)))
    stack.temporal.restart()
    print(f"\n[crash] Temporal was down for {time.monotonic() - killed:.1f} s")
    assert worker.alive(), "the worker died with the server"

    try:
        status: PersonaStatus = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
        which = "the same client"
    except RPCError as exc:
        print(f"\n[crash] the old client failed after the restart ({type(exc).__name__}: {exc}); using a new one")
        fresh = await connect(env=stack.client_env(), tracing=False)
        status = await asyncio.wait_for(
            fresh.get_workflow_handle(handle.id, result_type=PersonaStatus).result(), RESULT_TIMEOUT
        )
        which = "a new client"
    recovery.record(f"temporal server restart ({which})", killed)
    cut_off = [line for line in worker.log_path.read_text(errors="replace").splitlines() if "Unavailable" in line]
    print(f"[crash] the worker (never restarted) logged {len(cut_off)} retried calls to the unreachable server")

    assert stack.workers == [worker] and worker.alive(), "the worker was replaced or died"
    await assert_cycle_done(client, config, status, posts=2)
    await assert_exactly_once(admin, EMAIL, persona_id, expected_posts=2, expected_approved=2)


async def _rendered(admin: SimulatorAdmin, generated_post_id: str) -> bool:
    posts = (await admin.state())["generated_posts"]
    return any(p["id"] == generated_post_id and p["status"] != "generating" for p in posts)
