"""Adopting the server's posts by generated id, when the generated-post listing names no source posts.

Guide answers list generated posts by id alone and source posts without their source. A persona whose
sources let the server generate must still pick up each of the server's posts exactly once, never take a
post of its own (or one an unanswered generate of its own may have made) for the server's, and hold the
source posts it cannot attribute instead of generating them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from activity_helpers import Account, PersonaSetup, Runner, persona_with_source, synced, unique

from activities.generate_journal import GenerateJournal
from activities.models import (
    UNKNOWN_MEDIA_TYPE,
    CyclePlan,
    EnsureSourceInput,
    GenerateInput,
    PlanBook,
    PlanCycleInput,
)
from activities.planning import handed_on
from activities.reelmirror import ReelMirrorActivities
from activities.secrets import SecretStore
from simulator.admin import SimulatorAdmin

BACKLOG = 6  # posts a new creator starts with (simulator default)


async def _persona(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, account: Account, *modes: str
) -> tuple[PersonaSetup, dict[str, str]]:
    """A persona with one source per mode, synced (the server generates for its auto_* sources)."""
    await sim_admin.topup(account.email, 5000)
    setup = await persona_with_source(run, acts, account, mode=modes[0])
    source_modes = {setup.source_id: modes[0]}
    for mode in modes[1:]:
        source = await run(
            acts.ensure_source,
            EnsureSourceInput(
                account_ref=account.ref,
                persona_id=setup.persona_id,
                platform="tiktok",
                username=unique("creator_"),
                automation_mode=mode,
            ),
        )
        source_modes[source.id] = mode
    await synced(run, acts, sim_admin, setup)
    return setup, source_modes


async def _plan(
    run: Runner,
    acts: ReelMirrorActivities,
    setup: PersonaSetup,
    modes: dict[str, str],
    *,
    book: PlanBook | None = None,
    adopt_book: PlanBook | None = None,
    known: list[str] | None = None,
    limit: int = 20,
) -> CyclePlan:
    return await run(
        acts.plan_cycle,
        setup.input(
            PlanCycleInput,
            persona_id=setup.persona_id,
            source_modes=modes,
            limit=limit,
            book=book,
            adopt_book=adopt_book,
            known_generated_ids=known or [],
        ),
    )


def _handed_on(plan: CyclePlan) -> tuple[PlanBook | None, PlanBook | None]:
    """The records once the workflow started every planned post."""
    assert plan.book is not None
    adopted = [i.existing_generated_post_id for i in plan.items if i.adopted_by_id and i.existing_generated_post_id]
    book = handed_on(plan.book, [i.source_post_id for i in plan.items if not i.adopted_by_id])
    return book, handed_on(plan.adopt_book, adopted) if plan.adopt_book else None


async def _server_generated(sim_admin: SimulatorAdmin, setup: PersonaSetup, by: str = "server") -> list[str]:
    entries = await sim_admin.ledger(persona_id=setup.persona_id, kind="generate")
    return sorted(e["generated_post_id"] for e in entries if e["by"] == by)


async def test_a_single_mode_auto_clone_persona_adopts_each_server_post_once_by_generated_id(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded()
    await sim_admin.patch_config({"answers": "guide"})
    setup, modes = await _persona(run, acts, sim_admin, account, "auto_clone")
    server_posts = await _server_generated(sim_admin, setup)
    assert len(server_posts) == BACKLOG

    plan = await _plan(run, acts, setup, modes, limit=4)
    assert all(i.adopted_by_id and i.automation_mode == "auto_clone" and i.source_post_id == "" for i in plan.items)
    assert len(plan.items) == 4  # the cycle's limit: the rest wait in the record
    assert plan.book is not None and plan.book.pending == [] and plan.deferred == 0  # covered by adoption
    book, adopt_book = _handed_on(plan)
    again = await _plan(run, acts, setup, modes, book=book, adopt_book=adopt_book)
    _, adopt_book = _handed_on(again)
    last = await _plan(run, acts, setup, modes, book=book, adopt_book=adopt_book)

    adopted = [i.existing_generated_post_id for p in (plan, again) for i in p.items]
    assert sorted(adopted) == server_posts and len(set(adopted)) == BACKLOG, "each server post adopted once"
    assert last.items == []
    assert await _server_generated(sim_admin, setup, by="client") == []


async def test_a_mixed_persona_holds_unattributed_posts_and_never_adopts_its_own(
    run: Runner,
    acts: ReelMirrorActivities,
    store: SecretStore,
    sim_admin: SimulatorAdmin,
    onboarded: Callable[..., Awaitable[Account]],
) -> None:
    account = await onboarded()
    await sim_admin.patch_config({"answers": "guide"})
    setup, modes = await _persona(run, acts, sim_admin, account, "sync_only", "auto_clone")
    server_posts = await _server_generated(sim_admin, setup)

    plan = await _plan(run, acts, setup, modes)
    assert plan.unattributed == 2 * BACKLOG and plan.deferred == 2 * BACKLOG, "no source post can be attributed"
    assert len(plan.held) == 5 and plan.book is not None and set(plan.held) <= set(plan.book.pending)
    assert sorted(i.existing_generated_post_id or "" for i in plan.items) == server_posts
    assert {i.automation_mode for i in plan.items} == {"auto_clone"} and plan.notes == []
    book, adopt_book = _handed_on(plan)

    # a post of our own (say, generated before the persona had server sources) and one our posts know
    ours = await run(
        acts.generate_post, setup.input(GenerateInput, persona_id=setup.persona_id, source_post_id=plan.held[0])
    )
    known = await run(
        acts.generate_post, setup.input(GenerateInput, persona_id=setup.persona_id, source_post_id=plan.held[1])
    )
    journal = GenerateJournal(store, account.ref)
    await journal.store.update(account.ref, {(await journal.read(setup.persona_id, plan.held[1])).name: None})
    again = await _plan(run, acts, setup, modes, book=book, adopt_book=adopt_book, known=[known.generated_post_id])
    assert again.items == [], "neither our own generate nor a post our posts know is the server's"
    assert again.adopt_book is not None and {ours.generated_post_id, known.generated_post_id} <= set(
        again.adopt_book.recent
    )
    assert again.unattributed == 2 * BACKLOG and again.held == plan.held


async def test_a_post_an_unanswered_generate_may_have_made_waits(
    run: Runner,
    acts: ReelMirrorActivities,
    store: SecretStore,
    sim_admin: SimulatorAdmin,
    onboarded: Callable[..., Awaitable[Account]],
) -> None:
    account = await onboarded()
    await sim_admin.patch_config({"answers": "guide"})
    journal = GenerateJournal(store, account.ref)
    setup, modes = await _persona(run, acts, sim_admin, account, "auto_clone")
    # an unanswered generate, sent before any of these posts was listed: each may be the one it made
    record = await journal.started(await journal.read(setup.persona_id, "sp-unanswered"), "key", [])

    waiting = await _plan(run, acts, setup, modes)
    assert waiting.items == [] and any("unanswered generate" in note for note in waiting.notes)
    assert waiting.adopt_book is not None and len(waiting.adopt_book.pending) == BACKLOG

    await journal.not_committed(record)  # the server said it created nothing
    plan = await _plan(run, acts, setup, modes, adopt_book=waiting.adopt_book)
    assert sorted(i.existing_generated_post_id or "" for i in plan.items) == await _server_generated(sim_admin, setup)


async def test_with_auto_clone_and_auto_publish_the_servers_posts_are_never_approved_by_the_bot(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded()
    await sim_admin.patch_config({"answers": "guide"})
    setup, modes = await _persona(run, acts, sim_admin, account, "auto_clone", "auto_publish")

    plan = await _plan(run, acts, setup, modes)
    assert len(plan.items) == 2 * BACKLOG and {i.automation_mode for i in plan.items} == {"auto_publish"}
    assert any("cannot be told apart" in note and "never approved" in note for note in plan.notes)
    assert plan.unattributed == 2 * BACKLOG  # which source each post is from is unknown: held, not generated


async def test_full_answers_keep_the_per_source_post_path(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded()
    setup, modes = await _persona(run, acts, sim_admin, account, "sync_only", "auto_clone")

    plan = await _plan(run, acts, setup, modes)
    assert plan.adopt_book is None and not any(i.adopted_by_id for i in plan.items)
    by_mode = {mode: [i for i in plan.items if i.automation_mode == mode] for mode in ("sync_only", "auto_clone")}
    assert len(by_mode["sync_only"]) == BACKLOG and len(by_mode["auto_clone"]) == BACKLOG
    assert all(i.existing_generated_post_id for i in by_mode["auto_clone"]) and plan.unattributed == 0


async def test_guide_answers_name_no_media_type_and_the_plan_says_unknown(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded()
    await sim_admin.patch_config({"answers": "guide"})
    setup, modes = await _persona(run, acts, sim_admin, account, "sync_only")

    plan = await _plan(run, acts, setup, modes)
    assert len(plan.items) == BACKLOG
    assert {i.media_type for i in plan.items} == {UNKNOWN_MEDIA_TYPE}  # costed at the highest price, polled as images
