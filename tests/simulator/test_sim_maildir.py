"""Real e-mail: every confirmation mail is also an RFC 5322 message in a Maildir (``--maildir``)."""

from __future__ import annotations

import email
import mailbox
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from sim_helpers import PASSWORD, fragment_of

from simulator.admin import SimulatorAdmin
from simulator.cli import config_from_args
from simulator.config import SimulatorConfig


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    return tmp_path / "Maildir"


@pytest.fixture
def simulator_config(simulator_config: SimulatorConfig, maildir: Path) -> SimulatorConfig:
    """The usual test simulator, plus a Maildir (created by the simulator when it starts)."""
    return SimulatorConfig.model_validate({**simulator_config.model_dump(), "maildir": maildir})


def subdirs(path: Path) -> set[str]:
    return {entry.name for entry in path.iterdir()}


def messages_to(maildir: Path, address: str) -> list[EmailMessage]:
    """What an IMAP reader of this Maildir would see for ``address``, oldest first."""
    box = mailbox.Maildir(maildir, create=False)
    parsed = [email.message_from_bytes(box.get_bytes(key), policy=default_policy) for key in box.keys()]
    mine = [message for message in parsed if isinstance(message, EmailMessage) and message["To"] == address]
    return sorted(mine, key=lambda message: parsedate_to_datetime(message["Date"]))


async def test_confirmation_mail_is_a_real_message_in_the_maildir(
    api: httpx.AsyncClient, sim_admin: SimulatorAdmin, maildir: Path
) -> None:
    assert subdirs(maildir) == {"cur", "new", "tmp"}
    for address in ("bot@example.com", "other@example.com"):
        assert (await api.post("/v1/auth/signup", json={"email": address, "password": PASSWORD})).status_code == 201
    assert len(subdirs(maildir / "new")) == 2  # delivered, not yet seen by any reader
    [message] = messages_to(maildir, "bot@example.com")
    link = await sim_admin.confirmation_link("bot@example.com")
    assert link is not None
    assert parseaddr(str(message["From"])) == ("Supabase Auth", "noreply@mail.app.supabase.io")
    assert message["Subject"] == "Confirm Your Signup"
    assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith("@mail.app.supabase.io>")
    assert parsedate_to_datetime(message["Date"]).tzinfo is not None
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    assert link in plain.get_content()
    assert f'href="{link.replace("&", "&amp;")}"' in html.get_content()
    # The link read from the real message works like the one from the admin mailbox.
    verified = await api.get(link, follow_redirects=False)
    assert verified.status_code == 303 and "access_token" in fragment_of(verified.headers["Location"])


async def test_a_repeated_guide_signup_delivers_another_mail(
    api: httpx.AsyncClient, sim_admin: SimulatorAdmin, maildir: Path
) -> None:
    await sim_admin.patch_config({"answers": "guide"})
    for _ in range(2):
        await api.post("/v1/auth/signup", json={"email": "bot@example.com", "password": PASSWORD})
    first, second = messages_to(maildir, "bot@example.com")
    newest = await sim_admin.confirmation_link("bot@example.com")
    assert newest is not None and newest in str(second.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert first["Message-ID"] != second["Message-ID"]


def test_maildir_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert config_from_args(["--maildir", str(tmp_path / "new-box")]).maildir == tmp_path / "new-box"
    assert config_from_args([]).maildir is None
    a_file = tmp_path / "file"
    a_file.write_text("")
    for path, reason in ((a_file, "must be a directory"), (tmp_path / "no" / "box", "does not exist")):
        with pytest.raises(SystemExit) as exited:
            config_from_args(["--maildir", str(path)])
        assert exited.value.code == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith("simulator: error: argument --maildir:") and reason in error
