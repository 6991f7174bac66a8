"""links_in: the verify link out of plain text and HTML, whatever the escaping around it."""

from __future__ import annotations

import pytest
from imap_helpers import verify_link

from activities.imap_mailbox import links_in
from activities.mailbox import confirmation_link_in

LINK = verify_link("abc")


@pytest.mark.parametrize(
    ("text", "html"),
    [
        (f"Confirm: {LINK}\n", ""),
        (f"Confirm: <{LINK}>.", ""),
        (f"(see {LINK})", ""),
        (f"Confirm: {LINK}.\nThanks", ""),
        ("", f'<a href="{LINK.replace("&", "&amp;")}">Confirm</a>'),
        ("", f"<A HREF='{LINK.replace('&', '&#38;')}'>Confirm</A>"),
        ("", f'<a href="\n  {LINK}\n">Confirm</a>'),
        ("", f"<p>Or paste {LINK.replace('&', '&amp;')} into your browser</p>"),
        ("", f'<a href="{LINK.replace("&", "&amp;")}">Confirm</a><p>unclosed <b>tags <div'),
    ],
)
def test_the_verify_link_comes_out_intact(text: str, html: str) -> None:
    assert confirmation_link_in(links_in(text, html)) == LINK


def test_other_links_are_passed_over() -> None:
    html = '<a href="https://example.com/unsubscribe">x</a><a href="https://example.com/auth/v1/verify-not">y</a>'
    assert confirmation_link_in(links_in("https://example.com/welcome", html)) is None


def test_html_hrefs_come_before_urls_in_the_text() -> None:
    html_link = verify_link("from-html")
    assert confirmation_link_in(links_in(f"{verify_link('from-text')}", f'<a href="{html_link}">x</a>')) == html_link
