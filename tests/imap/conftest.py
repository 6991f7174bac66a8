"""Fixtures of the IMAP tests: one real dovecot per test module, a fresh address per test.

`dovecot` has TLS on (a CA made for the run): its IMAP port serves plain and STARTTLS clients, its TLS
port implicit TLS, so one server covers every security mode. Tests never share mail: each sends to its
own `address`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from imap_helpers import new_address

from devstack.dovecot import Dovecot, DovecotNotInstalledError


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    """A running dovecot (`.host`, `.port`, `.tls_port`, `.user`, `.password`, `.certificates`, `.deliver`)."""
    try:
        server = Dovecot(tls=True).start()
    except DovecotNotInstalledError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def address() -> str:
    """An e-mail address no other test sends to."""
    return new_address()
