"""ImapMailbox against a real dovecot: the right link, marked seen; typed errors; TLS verified; bounded waits."""

from __future__ import annotations

import email.policy
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import datetime

import pytest
from imap_helpers import ago, confirmation_mail, new_address, other_mail, reader, verify_link
from pydantic import SecretStr

from activities.imap_mailbox import ImapMailbox
from activities.mailbox import MailboxAuthError, MailboxError, MailboxReader
from devstack.dovecot import Dovecot
from devstack.ports import free_port


def test_is_a_mailbox_reader(dovecot: Dovecot) -> None:
    assert isinstance(reader(dovecot), MailboxReader)


async def test_finds_the_newest_link_for_the_address_after_since_and_marks_it_seen(
    dovecot: Dovecot, address: str
) -> None:
    since = ago(minutes=10)
    old = dovecot.deliver(confirmation_mail(address, verify_link("old")), received=ago(hours=1))
    first = dovecot.deliver(confirmation_mail(address, verify_link("first")), received=ago(minutes=5))
    wanted = verify_link("wanted")
    newest = dovecot.deliver(confirmation_mail(address, wanted, display_name="Bot"), received=ago(minutes=1))
    newsletter = dovecot.deliver(other_mail(address), received=ago(seconds=30))
    stranger = dovecot.deliver(confirmation_mail(new_address(), verify_link("stranger")), received=ago(seconds=10))

    link = await reader(dovecot).find_confirmation_link(address, since=since)

    assert link == wanted
    assert "&amp;" not in link and "=\n" not in link
    assert "S" in dovecot.flags(newest)
    for untouched in (old, first, newsletter, stranger):
        assert "S" not in dovecot.flags(untouched), "only the consumed mail is marked seen"


async def test_a_seen_link_is_found_again(dovecot: Dovecot, address: str) -> None:
    """A retry after a lost result must find the same link (verify_email recognises a link it used)."""
    link = verify_link()
    dovecot.deliver(confirmation_mail(address, link))
    mailbox = reader(dovecot)
    assert await mailbox.find_confirmation_link(address) == link
    assert await mailbox.find_confirmation_link(address) == link


@pytest.mark.parametrize(
    ("parts", "cte"),
    [("text", "quoted-printable"), ("html", "quoted-printable"), ("html", "base64"), ("both", "base64")],
)
async def test_link_decoded_from_either_part_and_encoding(dovecot: Dovecot, address: str, parts: str, cte: str) -> None:
    link = verify_link()
    dovecot.deliver(confirmation_mail(address, link, parts=parts, cte=cte))  # type: ignore[arg-type]
    assert await reader(dovecot).find_confirmation_link(address) == link


async def test_no_mail_yet_is_none(dovecot: Dovecot, address: str) -> None:
    assert await reader(dovecot).find_confirmation_link(address) is None


async def test_mail_without_a_verify_link_is_none(dovecot: Dovecot, address: str) -> None:
    key = dovecot.deliver(other_mail(address))
    assert await reader(dovecot).find_confirmation_link(address) is None
    assert "S" not in dovecot.flags(key)


async def test_an_address_that_merely_contains_ours_does_not_match(dovecot: Dovecot, address: str) -> None:
    """IMAP SEARCH TO matches substrings; the parsed To header must hold exactly our address."""
    dovecot.deliver(confirmation_mail(f"x{address}", verify_link()))
    dovecot.deliver(confirmation_mail(f"{address}.evil", verify_link()))
    assert await reader(dovecot).find_confirmation_link(address) is None


async def test_address_matching_ignores_case(dovecot: Dovecot, address: str) -> None:
    link = verify_link()
    dovecot.deliver(confirmation_mail(address.upper(), link))
    assert await reader(dovecot).find_confirmation_link(address) == link


async def test_mail_received_before_since_is_ignored(dovecot: Dovecot, address: str) -> None:
    dovecot.deliver(confirmation_mail(address, verify_link(), sent=ago(seconds=1)), received=ago(minutes=3))
    assert await reader(dovecot).find_confirmation_link(address, since=ago(minutes=2)) is None


async def test_mail_older_than_the_max_age_is_ignored(dovecot: Dovecot, address: str) -> None:
    """Links expire: without `since`, mail received more than `max_age` ago is not taken."""
    dovecot.deliver(confirmation_mail(address, verify_link()), received=ago(days=3))
    assert await reader(dovecot).find_confirmation_link(address) is None


async def test_received_time_not_the_forgeable_date_header_decides(dovecot: Dovecot, address: str) -> None:
    recent_header = verify_link("recent-header")
    dovecot.deliver(confirmation_mail(address, recent_header, sent=ago(seconds=0)), received=ago(hours=2))
    received_later = verify_link("received-later")
    dovecot.deliver(confirmation_mail(address, received_later, sent=ago(days=9)), received=ago(minutes=1))
    assert await reader(dovecot).find_confirmation_link(address, since=ago(hours=1)) == received_later


async def test_an_internationalised_address_is_found(dovecot: Dovecot) -> None:
    """SMTPUTF8 mail carries the address as UTF-8 in the header; the search then names a charset."""
    address = f"bøt-{new_address()}"
    link = verify_link()
    dovecot.deliver(confirmation_mail(address, link).as_bytes(policy=email.policy.SMTPUTF8))
    assert await reader(dovecot).find_confirmation_link(address) == link


async def test_naive_since_is_refused(dovecot: Dovecot) -> None:
    with pytest.raises(ValueError, match="timezone"):
        await reader(dovecot).find_confirmation_link("a@b.example", since=datetime(2030, 1, 1))


# -- errors ------------------------------------------------------------------------------------------


async def test_bad_password_is_an_auth_error_without_the_password(dovecot: Dovecot, address: str) -> None:
    wrong = "not-the-password-" + "x" * 8
    with pytest.raises(MailboxAuthError) as info:
        await reader(dovecot, password=wrong).find_confirmation_link(address)
    assert dovecot.user in str(info.value)
    assert wrong not in str(info.value) and dovecot.password not in str(info.value)
    assert info.value.__suppress_context__, "the client's exception (and its arguments) is not chained"


async def test_unknown_user_is_an_auth_error(dovecot: Dovecot, address: str) -> None:
    with pytest.raises(MailboxAuthError):
        await reader(dovecot, user="nobody-here").find_confirmation_link(address)


async def test_unreachable_port_is_a_retryable_mailbox_error_at_once(address: str) -> None:
    closed = free_port()
    mailbox = ImapMailbox("127.0.0.1", port=closed, security="plain", user="u", password=_never_called)
    started = time.monotonic()
    with pytest.raises(MailboxError) as info:
        await mailbox.find_confirmation_link(address)
    assert not isinstance(info.value, MailboxAuthError)
    assert time.monotonic() - started < 2
    assert f"127.0.0.1:{closed}" in str(info.value)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word (a hung server, a black-holed proxy)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


@pytest.mark.parametrize("security", ["plain", "tls"])
async def test_a_server_that_never_answers_times_out(silent_server: int, security: str, address: str) -> None:
    mailbox = ImapMailbox(
        "127.0.0.1", port=silent_server, security=security, user="u", password=_never_called, timeout=0.5  # type: ignore[arg-type]
    )
    started = time.monotonic()
    with pytest.raises(MailboxError, match="timed out"):
        await mailbox.find_confirmation_link(address)
    assert time.monotonic() - started < 3


async def test_total_deadline_bounds_the_whole_look_up(silent_server: int, address: str) -> None:
    mailbox = ImapMailbox(
        "127.0.0.1",
        port=silent_server,
        security="plain",
        user="u",
        password=_never_called,
        timeout=30,
        total_timeout=0.5,
    )
    started = time.monotonic()
    with pytest.raises(MailboxError):
        await mailbox.find_confirmation_link(address)
    assert time.monotonic() - started < 3


async def test_missing_folder_is_a_mailbox_error(dovecot: Dovecot, address: str) -> None:
    with pytest.raises(MailboxError, match="Confirmations"):
        await reader(dovecot, folder="Confirmations").find_confirmation_link(address)


def test_plain_to_a_remote_host_is_refused_unless_allowed() -> None:
    with pytest.raises(ValueError, match="unencrypted"):
        ImapMailbox("imap.example.com", security="plain", user="u", password=_never_called)
    allowed = ImapMailbox("imap.example.com", security="plain", user="u", password=_never_called, allow_plain=True)
    assert allowed.port == 143
    assert ImapMailbox("imap.example.com", user="u", password=_never_called).port == 993


def test_repr_names_the_server_not_the_password(dovecot: Dovecot) -> None:
    text = repr(reader(dovecot))
    assert dovecot.user in text and dovecot.password not in text


# -- TLS -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_tls_with_the_test_ca_finds_the_link(dovecot: Dovecot, address: str, security: str) -> None:
    link = verify_link()
    key = dovecot.deliver(confirmation_mail(address, link))
    assert await reader(dovecot, security).find_confirmation_link(address) == link  # type: ignore[arg-type]
    assert "S" in dovecot.flags(key)


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_an_untrusted_certificate_is_a_mailbox_error(dovecot: Dovecot, address: str, security: str) -> None:
    """Without the test CA (the system's CAs only) the handshake must fail: the certificate is checked."""
    mailbox = reader(dovecot, security, ssl_context=ssl.create_default_context())  # type: ignore[arg-type]
    with pytest.raises(MailboxError, match="certificate"):
        await mailbox.find_confirmation_link(address)


async def test_tls_client_on_the_plain_port_is_a_mailbox_error(dovecot: Dovecot, address: str) -> None:
    mailbox = reader(dovecot, "tls")
    mailbox.port = dovecot.port
    with pytest.raises(MailboxError):
        await mailbox.find_confirmation_link(address)


async def test_starttls_never_falls_back_to_plain(address: str) -> None:
    """A server without STARTTLS is an error, never a silent plain-text login."""
    with Dovecot() as plain_only:
        mailbox = reader(plain_only, "starttls", ssl_context=ssl.create_default_context())
        with pytest.raises(MailboxError, match="STARTTLS"):
            await mailbox.find_confirmation_link(address)


def _never_called() -> SecretStr:
    raise AssertionError("the password must not be read before a connection exists")

