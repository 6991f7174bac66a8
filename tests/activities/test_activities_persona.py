"""ensure_persona / ensure_source / ensure_publishing_target: a second run creates nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from activity_helpers import Account, Runner, unique

from activities.error_types import ErrorType
from activities.models import EnsurePersonaInput, EnsureSourceInput, EnsureTargetInput
from activities.reelmirror import ReelMirrorActivities
from activities.secrets import SecretStore
from reelmirror.client import ReelMirrorClient
from simulator.admin import SimulatorAdmin
from simulator.server import SimulatorServer


async def test_ensure_persona_twice_creates_one(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded(card=False)
    wanted = EnsurePersonaInput(account_ref=account.ref, name="Dry Wit", writing_style="dry")
    first = await run(acts.ensure_persona, wanted)
    second = await run(acts.ensure_persona, wanted)
    by_id = await run(acts.ensure_persona, wanted.model_copy(update={"known_persona_id": first.id}))
    assert first.created and not second.created and not by_id.created
    assert first.id == second.id == by_id.id
    assert len(await sim_admin.ledger(email=account.email, kind="persona")) == 1


async def test_ensure_persona_picks_the_oldest_of_same_named_personas(
    run: Runner,
    acts: ReelMirrorActivities,
    store: SecretStore,
    simulator: SimulatorServer,
    sim_admin: SimulatorAdmin,
    onboarded: Callable[..., Awaitable[Account]],
) -> None:
    account = await onboarded(card=False)
    key = await store.get(account.ref, "api_key")
    assert key is not None
    async with ReelMirrorClient(simulator.base_url, token=key) as client:
        oldest = await client.create_persona("Twin", "a")
        await sim_admin.advance_clock(60)
        await client.create_persona("Twin", "b")
    view = await run(acts.ensure_persona, EnsurePersonaInput(account_ref=account.ref, name="Twin", writing_style="a"))
    assert view.id == oldest.id and not view.created


async def test_ensure_persona_with_a_vanished_id_is_not_found(
    run: Runner, acts: ReelMirrorActivities, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded(card=False)
    wanted = EnsurePersonaInput(account_ref=account.ref, name="Gone", writing_style="", known_persona_id="per_missing")
    error = await run.failure(acts.ensure_persona, wanted)
    assert error.type == ErrorType.NOT_FOUND and error.non_retryable


async def test_ensure_source_twice_and_409_reconciles_the_mode(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded(card=False)
    persona = await run(acts.ensure_persona, EnsurePersonaInput(account_ref=account.ref, name="P", writing_style=""))
    wanted = EnsureSourceInput(
        account_ref=account.ref,
        persona_id=persona.id,
        platform="tiktok",
        username="Some_Creator",
        automation_mode="sync_only",
    )
    first = await run(acts.ensure_source, wanted)
    assert first.created and not first.mode_changed and first.automation_mode == "sync_only"

    second = await run(acts.ensure_source, wanted)
    assert (second.id, second.created, second.mode_changed) == (first.id, False, False)

    # The operator switched the source to auto_clone in the persona file: the 409 path PATCHes it.
    switched = await run(
        acts.ensure_source, wanted.model_copy(update={"automation_mode": "auto_clone", "username": "@some_creator"})
    )
    assert (switched.id, switched.created, switched.mode_changed) == (first.id, False, True)
    assert switched.automation_mode == "auto_clone"

    again = await run(acts.ensure_source, wanted.model_copy(update={"automation_mode": "auto_clone"}))
    assert (again.created, again.mode_changed, again.automation_mode) == (False, False, "auto_clone")
    assert len(await sim_admin.ledger(email=account.email, kind="source")) == 1


async def test_ensure_publishing_target_links_once_and_reports_a_missing_account(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, onboarded: Callable[..., Awaitable[Account]]
) -> None:
    account = await onboarded(card=False)
    persona = await run(
        acts.ensure_persona, EnsurePersonaInput(account_ref=account.ref, name=unique("P"), writing_style="")
    )
    wanted = EnsureTargetInput(account_ref=account.ref, persona_id=persona.id, platform="x", username="my_brand")

    missing = await run(acts.ensure_publishing_target, wanted)
    assert not missing.linked and not missing.created
    assert missing.reason and "dashboard" in missing.reason

    connected = await sim_admin.connect_account(account.email, "x", "My_Brand")  # the human's OAuth step
    linked = await run(acts.ensure_publishing_target, wanted)
    assert linked.linked and linked.created and linked.connected_account_id == connected["id"]

    again = await run(acts.ensure_publishing_target, wanted)
    by_id = await run(
        acts.ensure_publishing_target,
        EnsureTargetInput(account_ref=account.ref, persona_id=persona.id, connected_account_id=connected["id"]),
    )
    assert again.linked and not again.created
    assert by_id.linked and not by_id.created and by_id.platform == "x"
    assert len(await sim_admin.ledger(email=account.email, kind="target")) == 1
