"""Generate exactly once without the server's help: late commits, lost answers and dead workers.

The simulator holds a generate request longer than the client waits and commits it afterwards (a slow
proxy); the retry must not post again before the settle time has passed and a fresh list still shows
nothing, whether the list names source posts (full answers) or not (guide answers, where our own records
decide). With idempotency keys declared and honoured, a retry repeats the request at once instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from activity_helpers import Account, PersonaSetup, Runner, persona_with_source, synced

from activities.error_types import ErrorType
from activities.generate_journal import GenerateJournal
from activities.idempotency import idempotency_key
from activities.models import GenerateInput, GenerateOutcome, PlanCycleInput
from activities.reelmirror import ReelMirrorActivities
from activities.secrets import SecretStore
from activities.settings import ActivitySettings
from reelmirror.client import ReelMirrorClient
from simulator.admin import SimulatorAdmin

HOLD_SECONDS = 2.0  # the proxy holds each generate this long before the server runs it
CLIENT_TIMEOUT = 1.0  # the client gives up after this long
TIME_SCALE = 0.02  # the 120 s settle time becomes 2.4 s: past the hold, with room to spare
GENERATE = "/v1/generate$"


@pytest.fixture
async def impatient(settings: ActivitySettings, store: SecretStore) -> AsyncIterator[ReelMirrorActivities]:
    """Activities whose client gives up on a request after one second."""
    activities = ReelMirrorActivities(settings.model_copy(update={"http_timeout_seconds": CLIENT_TIMEOUT}), store)
    yield activities
    await activities.aclose()


async def persona_with_posts(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, account: Account, count: int
) -> tuple[PersonaSetup, list[str]]:
    setup = await persona_with_source(run, acts, account)
    await synced(run, acts, sim_admin, setup)
    plan = await run(
        acts.plan_cycle,
        setup.input(
            PlanCycleInput, persona_id=setup.persona_id, source_modes={setup.source_id: "sync_only"}, limit=count
        ),
    )
    return setup, [item.source_post_id for item in plan.items]


def wanted(setup: PersonaSetup, source_post_id: str) -> GenerateInput:
    return setup.input(GenerateInput, persona_id=setup.persona_id, source_post_id=source_post_id, time_scale=TIME_SCALE)


async def generate_like_temporal(run: Runner, fn: Callable, arg: GenerateInput) -> tuple[GenerateOutcome, list[str]]:
    """Call the activity as Temporal's retries would: after a failure, wait its next_retry_delay (or 1 s)."""
    failures: list[str] = []
    for _ in range(20):
        try:
            return await run(fn, arg), failures
        except Exception as exc:
            failures.append(getattr(exc, "type", type(exc).__name__))
            delay = getattr(exc, "next_retry_delay", None)
            await asyncio.sleep(delay.total_seconds() if delay else 1.0)
    raise AssertionError(f"no result after 20 attempts: {failures}")


async def generates(sim_admin: SimulatorAdmin, account: Account) -> list[dict]:
    return [dict(e) for e in await sim_admin.ledger(kind="generate", email=account.email)]


@pytest.mark.parametrize("answers", ["full", "guide"])
async def test_a_late_commit_is_waited_for_not_paid_twice(
    run: Runner,
    acts: ReelMirrorActivities,
    impatient: ReelMirrorActivities,
    sim_admin: SimulatorAdmin,
    onboarded: Callable[..., Awaitable[Account]],
    answers: str,
) -> None:
    account = await onboarded()
    setup, (source_post_id,) = await persona_with_posts(run, acts, sim_admin, account, 1)
    await sim_admin.patch_config({"answers": answers})
    await sim_admin.set_chaos(late_commit={"rate": 1.0, "delay_seconds": HOLD_SECONDS, "path_pattern": GENERATE})
    started = time.monotonic()

    outcome, failures = await generate_like_temporal(run, impatient.generate_post, wanted(setup, source_post_id))

    entries = await generates(sim_admin, account)
    assert len(entries) == 1 and entries[0]["source_post_id"] == source_post_id
    assert outcome.adopted and outcome.generated_post_id == entries[0]["generated_post_id"]
    # the first attempt timed out; the next ones waited out the settle time instead of posting
    assert failures[0] == ErrorType.TRANSPORT_ERROR and set(failures[1:]) == {ErrorType.NOT_READY}
    assert time.monotonic() - started >= CLIENT_TIMEOUT + 120 * TIME_SCALE


async def test_a_worker_killed_mid_request_counts_as_unanswered(
    run: Runner,
    acts: ReelMirrorActivities,
    impatient: ReelMirrorActivities,
    store: SecretStore,
    settings: ActivitySettings,
    sim_admin: SimulatorAdmin,
    onboarded: Callable[..., Awaitable[Account]],
) -> None:
    """The dead attempt wrote its request down, sent it, and died; the request committed (guide answers)."""
    account = await onboarded()
    setup, (source_post_id,) = await persona_with_posts(run, acts, sim_admin, account, 1)
    await sim_admin.patch_config({"answers": "guide"})
    journal = GenerateJournal(store, account.ref)
    async with ReelMirrorClient(settings.base_url, token=await store.get(account.ref, "api_key")) as client:
        before = [str(p.id) for p in await client.list_generated_posts(setup.persona_id)]
        await journal.started(await journal.read(setup.persona_id, source_post_id), "dead-worker-key", before)
        made = await client.generate(source_post_id, setup.persona_id)

    outcome, failures = await generate_like_temporal(run, impatient.generate_post, wanted(setup, source_post_id))

    assert failures == [ErrorType.NOT_READY]  # the dead request may still have been on its way
    assert outcome.adopted and outcome.generated_post_id == made.generated_post_id
    assert len(await generates(sim_admin, account)) == 1


async def test_guide_answers_our_record_of_a_generated_post_is_the_guard(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    """The list names no source posts: a retry after a completed generate (its result lost) adopts our record."""
    account = await onboarded()
    setup, (first, second) = await persona_with_posts(run, acts, sim_admin, account, 2)
    await sim_admin.patch_config({"answers": "guide"})

    made = [await run(acts.generate_post, wanted(setup, sp)) for sp in (first, second)]
    again = [await run(acts.generate_post, wanted(setup, sp)) for sp in (first, second)]

    assert [o.adopted for o in made] == [False, False] and [o.adopted for o in again] == [True, True]
    assert [o.generated_post_id for o in again] == [o.generated_post_id for o in made]
    assert len(await generates(sim_admin, account)) == 2


async def test_an_answer_that_settles_it_needs_no_wait(
    run: Runner,
    acts: ReelMirrorActivities,
    sim_admin: SimulatorAdmin,
    onboarded: Callable[..., Awaitable[Account]],
) -> None:
    """A 429 says nothing was created: the retry posts at once; a 503 leaves it open: the retry waits."""
    account = await onboarded()
    setup, (refused, unavailable) = await persona_with_posts(run, acts, sim_admin, account, 2)

    await sim_admin.set_chaos(error_rates={"429": 1.0}, path_pattern=GENERATE, max_faults=1)
    rate_limited = await run.failure(acts.generate_post, wanted(setup, refused))
    made = await run(acts.generate_post, wanted(setup, refused))  # not waiting for the window: just the proof
    await sim_admin.set_chaos(error_rates={"503": 1.0}, path_pattern=GENERATE, max_faults=1)
    _, failures_503 = await generate_like_temporal(run, acts.generate_post, wanted(setup, unavailable))

    assert rate_limited.type == ErrorType.RATE_LIMITED and not made.adopted
    assert failures_503[0] == ErrorType.SERVICE_UNAVAILABLE and ErrorType.NOT_READY in failures_503[1:]
    assert len(await generates(sim_admin, account)) == 2


async def test_with_honoured_idempotency_keys_the_retry_repeats_at_once(
    run: Runner,
    settings: ActivitySettings,
    store: SecretStore,
    acts: ReelMirrorActivities,
    sim_admin: SimulatorAdmin,
    onboarded: Callable[..., Awaitable[Account]],
) -> None:
    account = await onboarded()
    setup, (source_post_id,) = await persona_with_posts(run, acts, sim_admin, account, 1)
    await sim_admin.patch_config({"idempotency_keys": True})
    await sim_admin.set_chaos(
        late_commit={"rate": 1.0, "delay_seconds": HOLD_SECONDS, "path_pattern": GENERATE}, max_faults=1
    )
    keyed = ReelMirrorActivities(
        settings.model_copy(update={"http_timeout_seconds": CLIENT_TIMEOUT, "idempotency_keys": True}), store
    )
    try:
        timed_out = await run.failure(keyed.generate_post, wanted(setup, source_post_id))
        outcome = await run(keyed.generate_post, wanted(setup, source_post_id))  # at once: no settle wait
        await asyncio.sleep(HOLD_SECONDS)  # the held first request runs now, and replays instead of acting
    finally:
        await keyed.aclose()

    assert timed_out.type == ErrorType.TRANSPORT_ERROR and not outcome.adopted
    entries = await generates(sim_admin, account)
    assert len(entries) == 1 and entries[0]["generated_post_id"] == outcome.generated_post_id
    replays = await sim_admin.ledger(kind="idempotent_replay")
    assert len(replays) == 1 and replays[0]["details"]["path"].endswith("/v1/generate")


def test_the_idempotency_key_is_stable_per_activity_and_hides_the_ids() -> None:
    from temporalio.testing import ActivityEnvironment

    async def key() -> str:
        return idempotency_key("generate")

    first, again = (asyncio.run(ActivityEnvironment().run(key)) for _ in range(2))
    assert first == again and first.startswith("rmt-") and "test" not in first
    assert idempotency_key("generate") != idempotency_key("generate")  # outside an activity: never repeated
