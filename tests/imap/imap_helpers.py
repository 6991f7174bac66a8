"""Helpers of the IMAP tests: realistic confirmation e-mails and readers pointed at the test dovecot."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any, Literal

from pydantic import SecretStr

from activities.imap_mailbox import ImapMailbox, Security
from devstack.dovecot import Dovecot

PROJECT = "https://abcdefghijklmnop.supabase.co"
CALLBACK = "https://reelmirror.com/auth/callback"


def verify_link(token: str | None = None) -> str:
    """A Supabase verify link of the documented form (`&` between parameters, as a real one has)."""
    return f"{PROJECT}/auth/v1/verify?token={token or secrets.token_hex(20)}&type=signup&redirect_to={CALLBACK}"


def new_address() -> str:
    return f"bot-{secrets.token_hex(4)}@example.test"


def confirmation_mail(
    to: str,
    link: str,
    *,
    parts: Literal["both", "text", "html"] = "both",
    cte: Literal["quoted-printable", "base64"] = "quoted-printable",
    display_name: str = "",
    sent: datetime | None = None,
) -> EmailMessage:
    """A confirmation e-mail as Supabase Auth sends it: multipart/alternative, the link in both parts.

    The HTML part writes `&` as `&amp;` inside the href, and the long lines make quoted-printable break
    the link with soft line breaks, so a reader must decode both to get the link back.
    """
    message = EmailMessage()
    message["From"] = "Supabase Auth <noreply@mail.app.supabase.io>"
    message["To"] = f"{display_name} <{to}>" if display_name else to
    message["Subject"] = "Confirm Your Signup"
    message["Date"] = format_datetime(sent or datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="mail.app.supabase.io")
    text = (
        "Confirm your signup\n\n"
        "Follow this link to confirm your user:\n"
        f"{link}\n\n"
        "If you did not sign up, ignore this e-mail.\n"
        f"Unsubscribe: {PROJECT}/unsubscribe?u=1\n"
    )
    href = link.replace("&", "&amp;")
    html = (
        "<!DOCTYPE html><html><body>"
        "<h2>Confirm your signup</h2>"
        "<p>Follow this link to confirm your user:</p>"
        f'<p><a href="{href}" style="color:#3ecf8e;text-decoration:underline">Confirm your mail</a></p>'
        f'<p style="font-size:11px"><a href="{PROJECT}/unsubscribe?u=1&amp;l=en">Unsubscribe</a></p>'
        "</body></html>"
    )
    if parts in ("both", "text"):
        message.set_content(text, cte=cte)
    if parts == "both":
        message.add_alternative(html, subtype="html", cte=cte)
    elif parts == "html":
        message.set_content(html, subtype="html", cte=cte)
    return message


def other_mail(to: str, sent: datetime | None = None) -> EmailMessage:
    """A mail that is not a confirmation (a newsletter with ordinary links)."""
    message = EmailMessage()
    message["From"] = "ReelMirror <news@reelmirror.com>"
    message["To"] = to
    message["Subject"] = "Welcome to ReelMirror"
    message["Date"] = format_datetime(sent or datetime.now(UTC))
    message.set_content("Read our guide: https://reelmirror.com/guide\n")
    return message


def reader(
    server: Dovecot,
    security: Security = "plain",
    *,
    password: str | None = None,
    **options: Any,
) -> ImapMailbox:
    """An ImapMailbox for the test server: `plain` and `starttls` on its IMAP port, `tls` on its TLS port."""
    import ssl

    if security != "plain" and "ssl_context" not in options:
        assert server.certificates is not None
        options["ssl_context"] = ssl.create_default_context(cafile=str(server.certificates.ca_file))
    port = server.tls_port if security == "tls" else server.port
    secret = SecretStr(server.password if password is None else password)
    return ImapMailbox(
        server.host,
        port=port,
        security=security,
        user=options.pop("user", server.user),
        password=lambda: secret,
        **{"timeout": 5.0, **options},
    )


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)
