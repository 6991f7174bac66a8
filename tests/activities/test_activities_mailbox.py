"""SimulatorMailbox: picks the newest verify link, tolerates no mail, reports an unusable mailbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from activities.mailbox import MailboxError, MailboxReader, SimulatorMailbox, confirmation_link_in

ORIGIN = "http://127.0.0.1:9"
OLD = f"{ORIGIN}/auth/v1/verify?token=old&type=signup&redirect_to={ORIGIN}/auth/callback"
NEW = f"{ORIGIN}/auth/v1/verify?token=new&type=signup&redirect_to={ORIGIN}/auth/callback"


def _mailbox(handler: Callable[[httpx.Request], httpx.Response]) -> SimulatorMailbox:
    return SimulatorMailbox(ORIGIN, http=httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def _messages(*messages: dict[str, Any]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/_sim/mailbox/bot@example.com"
        return httpx.Response(200, json={"data": list(messages)})

    return handler


def test_is_a_mailbox_reader() -> None:
    assert isinstance(SimulatorMailbox(ORIGIN), MailboxReader)


async def test_newest_message_wins() -> None:
    mailbox = _mailbox(
        _messages(
            {"id": "m1", "links": [OLD], "sent_at": "2030-01-01T00:00:00Z"},
            {"id": "m2", "links": ["https://example.com/unsubscribe", NEW], "sent_at": "2030-01-02T00:00:00Z"},
        )
    )
    assert await mailbox.find_confirmation_link("bot@example.com") == NEW


async def test_same_timestamp_later_message_wins() -> None:
    stamp = "2030-01-01T00:00:00Z"
    mailbox = _mailbox(_messages({"links": [OLD], "sent_at": stamp}, {"links": [NEW], "sent_at": stamp}))
    assert await mailbox.find_confirmation_link("bot@example.com") == NEW


async def test_mail_sent_before_since_is_skipped() -> None:
    mailbox = _mailbox(
        _messages(
            {"links": [OLD], "sent_at": "2030-01-01T00:00:00Z"},
            {"links": [NEW], "sent_at": "2030-01-03T00:00:00Z"},
        )
    )
    assert await mailbox.find_confirmation_link("bot@example.com", since=datetime(2030, 1, 2, tzinfo=UTC)) == NEW
    assert await mailbox.find_confirmation_link("bot@example.com", since=datetime(2030, 1, 4, tzinfo=UTC)) is None


async def test_no_mail_yet() -> None:
    assert await _mailbox(_messages()).find_confirmation_link("bot@example.com") is None
    no_link = _mailbox(_messages({"links": ["https://example.com/welcome"], "sent_at": "2030-01-01T00:00:00Z"}))
    assert await no_link.find_confirmation_link("bot@example.com") is None
    not_found = _mailbox(lambda request: httpx.Response(404, json={"error": {"code": "NOT_FOUND"}}))
    assert await not_found.find_confirmation_link("bot@example.com") is None


@pytest.mark.parametrize(
    "response",
    [httpx.Response(500, text="boom"), httpx.Response(200, text="<html>"), httpx.Response(200, json={"data": {}})],
)
async def test_unusable_answers_raise_mailbox_error(response: httpx.Response) -> None:
    with pytest.raises(MailboxError):
        await _mailbox(lambda request: response).find_confirmation_link("bot@example.com")


async def test_unreachable_mailbox_raises_mailbox_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(MailboxError):
        await _mailbox(refuse).find_confirmation_link("bot@example.com")


def test_confirmation_link_in_ignores_other_links() -> None:
    assert confirmation_link_in(["https://x/unsub", 7, NEW]) == NEW
    assert confirmation_link_in([]) is None
