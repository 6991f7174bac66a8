"""Confirmation mails as real RFC 5322 messages in a Maildir (``--maildir``).

The in-memory mailbox serves the admin API; a bot that reads a real inbox (over IMAP, for example
from a dovecot serving this Maildir) needs each mail as a real message: a ``text/plain`` and a
``text/html`` alternative that both hold the verify link, from a Supabase-like sender, with ``To``,
``Subject``, ``Date`` and ``Message-ID``. :class:`mailbox.Maildir` writes each message into ``tmp/``
and renames it into ``new/``, so a reader never sees half a message. One Maildir holds the mail of
every recipient; readers filter by ``To``.
"""

from __future__ import annotations

import mailbox
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from html import escape
from pathlib import Path

from simulator.models import MailMessage

#: Supabase's default sender for auth mails.
SENDER = Address("Supabase Auth", "noreply", "mail.app.supabase.io")
_MESSAGE_ID_DOMAIN = "mail.app.supabase.io"


class MaildirError(Exception):
    """The Maildir cannot be created or written."""


def render(message: MailMessage) -> EmailMessage:
    """The mail as an RFC 5322 message; ``Date`` is the simulated time it was sent, like ``sent_at``."""
    email = EmailMessage()
    email["From"] = SENDER
    email["To"] = message.to
    email["Subject"] = message.subject
    email["Date"] = formatdate(message.sent_at, usegmt=True)
    email["Message-ID"] = make_msgid(idstring=message.id, domain=_MESSAGE_ID_DOMAIN)
    email.set_content(message.body)
    email.add_alternative(_html(message), subtype="html")
    return email


def _html(message: MailMessage) -> str:
    """Supabase's default confirmation template."""
    links = "".join(f'<p><a href="{escape(link)}">Confirm your mail</a></p>\n' for link in message.links)
    return (
        "<!doctype html>\n<html><body>\n<h2>Confirm your signup</h2>\n"
        f"<p>Follow this link to confirm your user:</p>\n{links}</body></html>\n"
    )


class MaildirDelivery:
    """Delivers messages into one Maildir, created (with ``cur``, ``new``, ``tmp``) when missing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            mailbox.Maildir(path, create=True)
            for sub in ("tmp", "new", "cur"):
                (path / sub).mkdir(exist_ok=True)
        except OSError as exc:
            raise MaildirError(f"cannot create the Maildir {path}: {exc.strerror or exc}") from exc

    def deliver(self, message: MailMessage) -> str:
        """Write ``message`` into ``new/``; returns its Maildir key. Raises ``OSError`` on failure."""
        return mailbox.Maildir(self.path, create=True).add(render(message))
