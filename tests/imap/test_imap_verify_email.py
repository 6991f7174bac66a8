"""verify_email with a real inbox: the simulator's confirmation link, delivered to dovecot, read over IMAP.

The whole way a production worker goes: signup at the (simulated) service, the link arrives by e-mail,
the activity finds it with ImapMailbox, follows it and stores the session, and the mail ends up seen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from imap_helpers import confirmation_mail, new_address, reader
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.error_types import ErrorType
from activities.imap_mailbox import ImapMailbox
from activities.models import SignupInput, VerifyEmailInput
from activities.reelmirror import ReelMirrorActivities
from activities.secrets import FileSecretStore
from activities.settings import ActivitySettings
from devstack.dovecot import Dovecot
from simulator.admin import SimulatorAdmin
from simulator.server import SimulatorServer


@pytest.fixture
def settings(simulator: SimulatorServer, tmp_path: Path) -> ActivitySettings:
    return ActivitySettings(
        base_url=simulator.base_url,
        secrets_dir=tmp_path / "secrets",
        auth_origin=simulator.origin,
        http_timeout_seconds=10,
    )


async def _activities(settings: ActivitySettings, mailbox: ImapMailbox) -> AsyncIterator[ReelMirrorActivities]:
    activities = ReelMirrorActivities(settings, FileSecretStore(settings.secrets_dir), mailbox)
    try:
        yield activities
    finally:
        await activities.aclose()


@pytest.fixture
async def acts(settings: ActivitySettings, dovecot: Dovecot) -> AsyncIterator[ReelMirrorActivities]:
    async for activities in _activities(settings, reader(dovecot, "starttls")):
        yield activities


async def test_verify_email_confirms_with_the_link_read_over_imap(
    acts: ReelMirrorActivities, dovecot: Dovecot, sim_admin: SimulatorAdmin
) -> None:
    run = ActivityEnvironment()
    email = new_address()
    verify = VerifyEmailInput(account_ref="imap-e2e", email=email)
    await run.run(acts.signup, SignupInput(account_ref="imap-e2e", email=email))

    with pytest.raises(ApplicationError) as waiting:
        await run.run(acts.verify_email, verify)
    assert waiting.value.type == ErrorType.NOT_READY, "no mail yet: polled again, not failed"

    link = await sim_admin.confirmation_link(email)
    assert link is not None
    key = dovecot.deliver(confirmation_mail(email, link))
    outcome = await run.run(acts.verify_email, verify)

    assert outcome.email == email
    assert outcome.jwt_fingerprint.startswith("sha256:")
    assert await acts.store.has("imap-e2e", "jwt")
    assert "S" in dovecot.flags(key)
    again = await run.run(acts.verify_email, verify)  # a retry after a lost result: same session, link not reused
    assert again.jwt_fingerprint == outcome.jwt_fingerprint


async def test_refused_login_reaches_the_workflow_typed_and_without_the_password(
    settings: ActivitySettings, dovecot: Dovecot
) -> None:
    wrong = "wrong-password-123"
    async for activities in _activities(settings, reader(dovecot, password=wrong)):
        with pytest.raises(ApplicationError) as info:
            await ActivityEnvironment().run(
                activities.verify_email, VerifyEmailInput(account_ref="imap-auth", email=new_address())
            )
        assert "refused the login" in info.value.message
        assert wrong not in info.value.message and dovecot.password not in info.value.message
