"""The API key window: a key whose answer was lost cannot be listed or shown again, so each attempt is
recorded under its own name first; the next attempt makes a new key and reports the old name as possibly
orphaned. With idempotency keys declared (and honoured) the retry gets the first answer: no orphan."""

from __future__ import annotations

from activity_helpers import Runner

from activities.key_attempts import API_KEY_PENDING
from activities.models import CreateApiKeyInput, SignupInput, VerifyEmailInput
from activities.reelmirror import ReelMirrorActivities
from activities.secrets import SecretStore, fingerprint
from activities.settings import ActivitySettings
from reelmirror.client import ReelMirrorClient
from simulator.admin import SimulatorAdmin

SCOPES = ["personas:read", "billing:read"]


async def confirmed(run: Runner, acts: ReelMirrorActivities, ref: str) -> str:
    email = f"{ref}@example.com"
    await run(acts.signup, SignupInput(account_ref=ref, email=email))
    await run(acts.verify_email, VerifyEmailInput(account_ref=ref, email=email))
    return email


async def key_names(sim_admin: SimulatorAdmin, email: str) -> list[str]:
    return [entry["details"]["name"] for entry in await sim_admin.ledger(kind="api_key", email=email)]


async def test_a_lost_key_answer_gives_one_usable_key_and_reports_the_orphan(
    run: Runner, acts: ReelMirrorActivities, store: SecretStore, sim_admin: SimulatorAdmin, settings: ActivitySettings
) -> None:
    email = await confirmed(run, acts, "lostkey")
    await sim_admin.set_chaos(lost_response_rate=1.0, path_pattern="/v1/api-keys$", max_faults=1)

    await run.failure(acts.create_api_key, CreateApiKeyInput(account_ref="lostkey", name="bot", scopes=SCOPES))
    key = await run(acts.create_api_key, CreateApiKeyInput(account_ref="lostkey", name="bot", scopes=SCOPES))

    first, second = await key_names(sim_admin, email)
    assert first != second and first.startswith("bot-") and second == key.name
    assert key.possibly_orphaned == [first]
    stored = await store.get("lostkey", "api_key")
    assert stored is not None and fingerprint(stored) == key.fingerprint
    assert await store.get("lostkey", API_KEY_PENDING) is None
    async with ReelMirrorClient(settings.base_url, token=stored) as client:
        await client.get_balance()  # the key we hold works
    # A later run reuses the key and still reports what may be orphaned.
    again = await run(acts.create_api_key, CreateApiKeyInput(account_ref="lostkey", name="bot", scopes=SCOPES))
    assert again.reused and again.possibly_orphaned == [first]


async def test_a_key_refused_outright_leaves_no_orphan(
    run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin
) -> None:
    """A 429 is the server's word that nothing was created: the next attempt is no reason to worry."""
    email = await confirmed(run, acts, "refusedkey")
    await sim_admin.set_chaos(error_rates={"429": 1.0}, path_pattern="/v1/api-keys$", max_faults=1)

    await run.failure(acts.create_api_key, CreateApiKeyInput(account_ref="refusedkey", name="bot", scopes=SCOPES))
    key = await run(acts.create_api_key, CreateApiKeyInput(account_ref="refusedkey", name="bot", scopes=SCOPES))

    assert key.possibly_orphaned == [] and await key_names(sim_admin, email) == [key.name]


async def test_with_honoured_idempotency_keys_a_lost_answer_is_replayed(
    run: Runner, settings: ActivitySettings, store: SecretStore, sim_admin: SimulatorAdmin
) -> None:
    await sim_admin.patch_config({"idempotency_keys": True})
    acts = ReelMirrorActivities(settings.model_copy(update={"idempotency_keys": True}), store, None)
    try:
        await run(acts.signup, SignupInput(account_ref="replayed", email="replayed@example.com"))
        link = await sim_admin.confirmation_link("replayed@example.com")
        verify = VerifyEmailInput(account_ref="replayed", email="replayed@example.com", link=link)
        await run(acts.verify_email, verify)
        await sim_admin.set_chaos(lost_response_rate=1.0, path_pattern="/v1/api-keys$", max_faults=1)
        await run.failure(acts.create_api_key, CreateApiKeyInput(account_ref="replayed", name="bot", scopes=SCOPES))
        key = await run(acts.create_api_key, CreateApiKeyInput(account_ref="replayed", name="bot", scopes=SCOPES))
    finally:
        await acts.aclose()
    assert key.possibly_orphaned == [] and await key_names(sim_admin, "replayed@example.com") == [key.name]
    assert len(await sim_admin.ledger(kind="idempotent_replay")) == 1
