"""Helpers of the activity tests (imported by name; the fixtures live in conftest.py)."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.error_types import ErrorType
from activities.models import (
    AccountRef,
    AwaitBalanceInput,
    CreateApiKeyInput,
    EnsurePersonaInput,
    EnsureSourceInput,
    JobInput,
    PersonaInput,
    SignupInput,
    VerifyEmailInput,
)
from activities.reelmirror import ReelMirrorActivities
from reelmirror.models import ALL_SCOPES
from simulator.admin import SimulatorAdmin

PUBLISHABLE_KEY = "pk_test_activities"
RETRY_503_SECONDS = 0.5

T = TypeVar("T")
_counter = itertools.count(1)


class Runner:
    """Runs activities the way a worker does (activity context, heartbeats recorded)."""

    def __init__(self) -> None:
        self.env = ActivityEnvironment()
        self.heartbeats: list[Any] = []  # the step of each heartbeat
        self.details: list[dict[str, Any]] = []  # each heartbeat's whole details
        self.env.on_heartbeat = self._record

    def _record(self, *details: Any) -> None:
        for detail in details:
            self.details.append(detail)
            self.heartbeats.append(detail.get("step") if isinstance(detail, dict) else detail)

    async def __call__(self, fn: Callable[[Any], Awaitable[T]], arg: Any) -> T:
        return await self.env.run(fn, arg)

    async def failure(self, fn: Callable[[Any], Awaitable[Any]], arg: Any) -> ApplicationError:
        """Run an activity that must fail, and return its ApplicationError."""
        with pytest.raises(ApplicationError) as info:
            await self.env.run(fn, arg)
        return info.value


async def until_ready(
    run: Runner, sim_admin: SimulatorAdmin, fn: Callable[[Any], Awaitable[T]], arg: Any, *, step: float = 600
) -> T:
    """Call a polling activity; while it says NotReady, jump the simulated clock and call it again."""
    for _ in range(20):
        try:
            return await run(fn, arg)
        except ApplicationError as exc:
            if exc.type != ErrorType.NOT_READY:
                raise
        await sim_admin.advance_clock(step)
    raise AssertionError(f"{fn.__name__} still not ready after 20 clock jumps")


@dataclass
class Account:
    ref: str
    email: str


@dataclass
class PersonaSetup:
    account: Account
    persona_id: str
    source_id: str
    platform: str
    username: str

    def input(self, model: type[T], **fields: Any) -> T:
        return model(account_ref=self.account.ref, **fields)  # type: ignore[call-arg]


def unique(prefix: str) -> str:
    return f"{prefix}{next(_counter)}"


async def onboard(
    run: Runner, acts: ReelMirrorActivities, *, card: bool = True, scopes: tuple[str, ...] = ALL_SCOPES
) -> Account:
    """Signup, confirm from the mailbox, create a key (and save the card, waiting for the bonus)."""
    ref = unique("acct-")
    email = f"{ref}@example.com"
    await run(acts.signup, SignupInput(account_ref=ref, email=email))
    await run(acts.verify_email, VerifyEmailInput(account_ref=ref, email=email))
    await run(acts.create_api_key, CreateApiKeyInput(account_ref=ref, name="tests", scopes=list(scopes)))
    if card:
        await run(acts.attach_card, AccountRef(account_ref=ref))
        await run(acts.await_balance, AwaitBalanceInput(account_ref=ref, at_least_cents=500))
    return Account(ref=ref, email=email)


async def persona_with_source(
    run: Runner, acts: ReelMirrorActivities, account: Account, *, mode: str = "sync_only", platform: str = "instagram"
) -> PersonaSetup:
    persona = await run(
        acts.ensure_persona, EnsurePersonaInput(account_ref=account.ref, name=unique("Persona "), writing_style="dry")
    )
    username = unique("creator_")
    source = await run(
        acts.ensure_source,
        EnsureSourceInput(
            account_ref=account.ref, persona_id=persona.id, platform=platform, username=username, automation_mode=mode
        ),
    )
    return PersonaSetup(account, persona.id, source.id, platform, username)


async def synced(run: Runner, acts: ReelMirrorActivities, sim_admin: SimulatorAdmin, setup: PersonaSetup) -> None:
    """Sync the persona and wait (by clock jumps) until every job is terminal."""
    started = await run(acts.start_sync, setup.input(PersonaInput, persona_id=setup.persona_id))
    for job_id in started.job_ids:
        await until_ready(run, sim_admin, acts.poll_sync_job, setup.input(JobInput, job_id=job_id))
