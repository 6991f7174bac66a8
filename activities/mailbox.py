"""Where `verify_email` finds the Supabase confirmation link when no signal brought one.

A Protocol rather than a class, so a real inbox reader (IMAP, a mail provider's API) can be added
beside the simulator's without touching the activity. `SimulatorMailbox` reads the simulator's admin
mailbox, which is how rehearsals and tests run onboarding without a human.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote, urlsplit

import httpx

__all__ = ["MailboxAuthError", "MailboxError", "MailboxReader", "SimulatorMailbox", "confirmation_link_in"]

VERIFY_PATH = "/auth/v1/verify"


class MailboxError(Exception):
    """The mailbox could not be read (transport error or an unreadable answer); worth retrying."""


class MailboxAuthError(MailboxError):
    """The mailbox refused the worker's credentials: retrying cannot help until an operator fixes them.

    A subclass of MailboxError so that, where no rule names it, it is still handled as a mailbox failure.
    """


@runtime_checkable
class MailboxReader(Protocol):
    async def find_confirmation_link(self, email: str, *, since: datetime | None = None) -> str | None:
        """The newest confirmation link sent to `email`, or None when no such mail has arrived yet.

        `since` (timezone-aware), when given, ignores mail received before it: a link from an earlier
        signup of the same address is spent or expired.
        """
        ...


def confirmation_link_in(links: list[Any]) -> str | None:
    """The first Supabase verify link in a message's links (other links, e.g. unsubscribe, are ignored)."""
    for link in links:
        if isinstance(link, str) and urlsplit(link).path.endswith(VERIFY_PATH):
            return link
    return None


class SimulatorMailbox:
    """Reads `GET {origin}/_sim/mailbox/{email}` -> `{"data": [{"links": [...], "sent_at", ...}]}`."""

    def __init__(self, origin: str, *, http: httpx.AsyncClient | None = None, timeout: float = 10.0) -> None:
        self.origin = origin.rstrip("/")
        self._http = http
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"SimulatorMailbox(origin={self.origin!r})"

    async def find_confirmation_link(self, email: str, *, since: datetime | None = None) -> str | None:
        url = f"{self.origin}/_sim/mailbox/{quote(email, safe='@')}"
        try:
            if self._http is not None:
                response = await self._http.get(url, timeout=self._timeout)
            else:
                async with httpx.AsyncClient(timeout=self._timeout) as http:
                    response = await http.get(url)
        except httpx.HTTPError as exc:
            raise MailboxError(f"mailbox at {self.origin} unreachable: {type(exc).__name__}") from None
        if response.status_code == 404:
            return None
        if not response.is_success:
            raise MailboxError(f"mailbox at {self.origin} answered HTTP {response.status_code}")
        try:
            messages = response.json()["data"]
        except (ValueError, KeyError, TypeError):
            raise MailboxError(f"mailbox at {self.origin} returned an unreadable body") from None
        if not isinstance(messages, list):
            raise MailboxError(f"mailbox at {self.origin} returned no message list")
        # Newest first: a resent confirmation supersedes an older (possibly expired) one.
        # Ties keep the server's (chronological) order, so the later message still wins.
        dated = [(str(m.get("sent_at") or ""), i, m) for i, m in enumerate(messages) if isinstance(m, dict)]
        if since is not None:
            dated = [item for item in dated if not _sent_before(item[0], since)]
        dated.sort(key=lambda item: item[:2], reverse=True)
        for _, _, message in dated:
            link = confirmation_link_in(message.get("links") or [])
            if link is not None:
                return link
        return None


def _sent_before(sent_at: str, since: datetime) -> bool:
    """Whether an ISO 8601 `sent_at` lies before `since`; an unreadable stamp is kept (not before)."""
    try:
        sent = datetime.fromisoformat(sent_at.replace("Z", "+00:00"))
    except ValueError:
        return False
    if sent.tzinfo is None or since.tzinfo is None:
        return False
    return sent < since
