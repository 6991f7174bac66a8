"""A real inbox as the `MailboxReader` of `verify_email`: finds the Supabase confirmation link over IMAP.

Why these rules:

* The search is coarse on the server (IMAP `TO` is a substring match, `SINCE` a whole day in the server's
  time zone) and exact here: the parsed To addresses must contain the account's address, and the
  message's INTERNALDATE (when the server received it, which a sender cannot forge the way it can the
  Date header) must not lie before the cut-off. Newest first, so a resent link supersedes an older one.
* Bodies are fetched with `BODY.PEEK` and only the message whose link is returned is marked `\\Seen`: an
  operator sharing the inbox sees which mail the bot consumed. Seen mail is still searched, so a retry
  after a lost result finds the same link again (`verify_email` recognises a link it already used).
* Every network operation has a timeout, and the whole look-up a deadline below the activity's
  start-to-close timeout. The blocking IMAP client runs in a thread, so the worker's event loop never
  waits on a socket.
* The password comes from a file readable by its owner alone, read at each look-up (a rotated password
  needs no restart), and never appears in an exception, a log line or workflow history.
* A refused login raises `MailboxAuthError` (an operator must act); an unreachable server or a failed
  TLS handshake raises `MailboxError` (retried); no matching mail yet returns None (polled again).

`mailbox_from_settings` picks the worker's reader: IMAP when `REELMIRROR_IMAP_HOST` is set, the
simulator's admin mailbox when `REELMIRROR_MAILBOX_URL` is, none otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import ipaddress
import os
import re
import socket
import ssl
import stat
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Literal

from imap_tools import AND, BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import ImapToolsError, MailboxFolderSelectError, MailboxLoginError
from pydantic import SecretStr

from activities.mailbox import (
    MailboxAuthError,
    MailboxError,
    MailboxReader,
    SimulatorMailbox,
    confirmation_link_in,
)
from activities.secrets import SecretStoreError
from activities.settings import ActivitySettings, SettingsError

__all__ = [
    "DEFAULT_PORTS",
    "ImapMailbox",
    "PasswordFile",
    "Security",
    "links_in",
    "mailbox_from_settings",
]

Security = Literal["tls", "starttls", "plain"]

#: The port of each security mode when REELMIRROR_IMAP_PORT is unset (RFC 8314: 993 implicit TLS).
DEFAULT_PORTS: dict[str, int] = {"tls": 993, "starttls": 143, "plain": 143}

#: At most this many matching messages, newest first, are fetched in one look-up.
MAX_CANDIDATES = 20
# How long past its own deadline a look-up may run before the caller stops waiting for its thread.
_GRACE_SECONDS = 5.0

_MONTHS = {name: i for i, name in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), start=1)}
_INTERNALDATE = re.compile(
    rb'INTERNALDATE "\s*(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})"'
)
_UID = re.compile(rb"UID (\d+)")
_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_URL_TAIL = ".,;:!?)]}"


class PasswordFile:
    """The IMAP password, kept in a file that only its owner can read (`install -m 600`).

    Refuses a file that group or others can read, like the secret store does: silently using a password
    anyone on the host can read would hide the leak. Only a trailing line break is stripped.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"PasswordFile({str(self.path)!r})"

    def __call__(self) -> SecretStr:
        """The password; SecretStoreError (naming the file, never its content) when it cannot be used."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            raise SecretStoreError(f"cannot open the IMAP password file {self.path}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise SecretStoreError(f"the IMAP password file {self.path} is not a regular file")
            if info.st_mode & 0o077:
                raise SecretStoreError(
                    f"refusing to read the IMAP password file {self.path}: it is readable by group or others "
                    f"(mode {stat.S_IMODE(info.st_mode):04o}); run `chmod 600` on it and change the password"
                )
            raw = handle.read(4097)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SecretStoreError(f"the IMAP password file {self.path} is not UTF-8 text") from None
        password = text.removesuffix("\n").removesuffix("\r")
        if not password or len(raw) > 4096 or any(c in password for c in "\r\n\0"):
            raise SecretStoreError(f"the IMAP password file {self.path} must hold the password on one line")
        return SecretStr(password)


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine without leaving it (`localhost` or a loopback address)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ImapMailbox:
    """Reads one IMAP folder; `find_confirmation_link` opens one short session per look-up.

    `password` is called at each look-up (a `PasswordFile`, or any callable returning a SecretStr).
    `ssl_context` verifies the server for `tls` and `starttls` (default: the system's CAs, host name
    checked). `plain` to a host that is not loopback is refused unless `allow_plain`.
    """

    def __init__(
        self,
        host: str,
        *,
        user: str,
        password: Callable[[], SecretStr],
        port: int | None = None,
        security: Security = "tls",
        folder: str = "INBOX",
        ssl_context: ssl.SSLContext | None = None,
        allow_plain: bool = False,
        timeout: float = 20.0,
        total_timeout: float = 45.0,
        max_age: timedelta = timedelta(hours=24),
    ) -> None:
        if security not in DEFAULT_PORTS:
            raise ValueError(f"unknown IMAP security {security!r} (tls, starttls or plain)")
        if security == "plain" and not allow_plain and not is_loopback(host):
            raise ValueError(f"plain IMAP to {host} would send the password unencrypted")
        self.host = host
        self.port = port or DEFAULT_PORTS[security]
        self.security: Security = security
        self.user = user
        self.folder = folder
        self._password = password
        self._ssl_context = ssl_context if security != "plain" else None
        self._timeout = timeout
        self._total_timeout = total_timeout
        self._max_age = max_age

    def __repr__(self) -> str:
        return (
            f"ImapMailbox(host={self.host!r}, port={self.port}, security={self.security!r}, "
            f"user={self.user!r}, folder={self.folder!r})"
        )

    @property
    def where(self) -> str:
        """How errors name the server."""
        return f"IMAP server {self.host}:{self.port}"

    async def find_confirmation_link(self, email: str, *, since: datetime | None = None) -> str | None:
        if since is not None and since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        cutoff = datetime.now(UTC) - self._max_age
        if since is not None and since > cutoff:
            cutoff = since
        try:
            # The thread keeps its own deadline; this outer one also covers a name lookup that hangs.
            return await asyncio.wait_for(
                asyncio.to_thread(self._find, email.strip(), cutoff), self._total_timeout + _GRACE_SECONDS
            )
        except TimeoutError:
            raise MailboxError(f"{self.where}: no answer within {self._total_timeout:g} s") from None

    # -- the blocking part, run in a thread ---------------------------------------------------------

    def _find(self, email: str, cutoff: datetime) -> str | None:
        deadline = time.monotonic() + self._total_timeout
        mailbox = self._connect(deadline)
        try:
            self._login(mailbox, deadline)
            return self._search(mailbox, email, cutoff, deadline)
        except (MailboxError, SecretStoreError):
            raise
        except (OSError, imaplib.IMAP4.error, ImapToolsError) as exc:
            raise MailboxError(f"{self.where} failed during the look-up: {_kind(exc)}") from None
        finally:
            _close(mailbox)

    def _remaining(self, deadline: float) -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise MailboxError(f"{self.where}: the look-up took longer than {self._total_timeout:g} s")
        return min(self._timeout, remaining)

    def _arm(self, mailbox: BaseMailBox, deadline: float) -> None:
        """Bound the next network operation by the per-operation timeout and what is left of the deadline."""
        mailbox.client.sock.settimeout(self._remaining(deadline))

    def _connect(self, deadline: float) -> BaseMailBox:
        timeout = self._remaining(deadline)
        try:
            if self.security == "tls":
                context = self._ssl_context or ssl.create_default_context()
                return MailBox(self.host, self.port, timeout=timeout, ssl_context=context)
            if self.security == "starttls":
                context = self._ssl_context or ssl.create_default_context()
                return MailBoxStartTls(self.host, self.port, timeout=timeout, ssl_context=context)
            return MailBoxUnencrypted(self.host, self.port, timeout=timeout)
        except ssl.SSLCertVerificationError as exc:
            raise MailboxError(f"{self.where}: TLS certificate not trusted ({exc.verify_message})") from None
        except (OSError, imaplib.IMAP4.error, ImapToolsError) as exc:
            raise MailboxError(f"{self.where} unreachable ({self.security}): {_kind(exc)}") from None

    def _login(self, mailbox: BaseMailBox, deadline: float) -> None:
        """LOGIN (AUTHENTICATE PLAIN for non-ASCII credentials) and SELECT the folder (read-write, for STORE)."""
        password = self._password().get_secret_value()
        self._arm(mailbox, deadline)
        try:
            if self.user.isascii() and password.isascii():
                mailbox.login(self.user, password, initial_folder=None)
            else:
                mailbox.login_utf8(self.user, password, initial_folder=None)
        except (MailboxLoginError, imaplib.IMAP4.error) as exc:
            if isinstance(exc, imaplib.IMAP4.abort):
                raise  # the connection broke: a transport failure, not a refusal
            raise MailboxAuthError(f"{self.where} refused the login of {self.user!r}: {_server_text(exc)}") from None
        self._arm(mailbox, deadline)
        try:
            mailbox.folder.set(self.folder)
        except MailboxFolderSelectError as exc:
            raise MailboxError(f"{self.where}: folder {self.folder!r} cannot be opened: {_server_text(exc)}") from None

    def _search(self, mailbox: BaseMailBox, email: str, cutoff: datetime, deadline: float) -> str | None:
        # SINCE compares dates in the server's time zone: a day earlier never misses a message.
        criteria = str(AND(to=email, date_gte=(cutoff - timedelta(days=1)).date()))
        charset = None if criteria.isascii() else "UTF-8"
        self._arm(mailbox, deadline)
        uids = mailbox.uids(criteria.encode(charset or "ascii"), charset=charset)
        if not uids:
            return None
        self._arm(mailbox, deadline)
        received = _internal_dates(mailbox, uids)
        candidates = sorted(((when, uid) for uid, when in received.items() if when >= cutoff), reverse=True)
        wanted = email.lower()
        for _, uid in candidates[:MAX_CANDIDATES]:
            self._arm(mailbox, deadline)
            message = next(mailbox.fetch(uid_list=[str(uid)], mark_seen=False), None)
            if message is None or wanted not in {address.lower() for address in message.to}:
                continue
            link = confirmation_link_in(links_in(message.text, message.html))
            if link is None:
                continue
            self._arm(mailbox, deadline)
            # STORE, not imap_tools' flag(): that also EXPUNGEs, deleting mail others marked \Deleted.
            status, _ = mailbox.client.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Seen)")
            if status != "OK":
                raise MailboxError(f"{self.where} did not mark the confirmation e-mail seen ({status})")
            return link
        return None


def _internal_dates(mailbox: BaseMailBox, uids: list[str]) -> dict[int, datetime]:
    """UID -> INTERNALDATE (when the server received the message), for the given UIDs."""
    status, data = mailbox.client.uid("FETCH", ",".join(uids), "(UID INTERNALDATE)")
    if status != "OK":
        raise MailboxError(f"the IMAP server answered FETCH with {status}")
    dates: dict[int, datetime] = {}
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        if not isinstance(line, bytes):
            continue
        uid, when = _UID.search(line), _INTERNALDATE.search(line)
        if uid is None or when is None:
            continue
        parsed = _parse_internaldate(when.groups())
        if parsed is not None:
            dates[int(uid.group(1))] = parsed
    return dates


def _parse_internaldate(groups: tuple[bytes, ...]) -> datetime | None:
    """`01-Dec-2025 15:10:36 +0100` as an aware datetime (month names are English, whatever the locale)."""
    day, month, year, hour, minute, second, sign, off_h, off_m = (g.decode() for g in groups)
    if month.title() not in _MONTHS:
        return None
    offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (-1 if sign == "-" else 1)
    try:
        local = datetime(int(year), _MONTHS[month.title()], int(day), int(hour), int(minute), int(second))
    except ValueError:
        return None
    return (local - offset).replace(tzinfo=UTC)


class _Links(HTMLParser):
    """Collects `<a href>` values; HTMLParser already turns `&amp;` and other references into characters."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(value.strip() for name, value in attrs if name == "href" and value)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _urls(text: str) -> Iterator[str]:
    for match in _URL.finditer(text):
        yield match.group(0).rstrip(_URL_TAIL)


def links_in(text: str, html: str) -> list[str]:
    """Every link of a message: the HTML part's hrefs, then URLs written out in the plain text and the HTML."""
    parser = _Links()
    if html:
        with contextlib.suppress(Exception):  # a broken HTML part still leaves the plain-text one
            parser.feed(html)
            parser.close()
    return [*parser.hrefs, *_urls(text), *_urls("".join(parser.text))]


def _kind(exc: BaseException) -> str:
    """A short description of a transport failure: the client's or server's words, never our arguments."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failure ({exc.reason or type(exc).__name__})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, imaplib.IMAP4.error):
        text = str(exc)
        if "TLS not supported" in text or "STARTTLS extension" in text:
            return "the server offers no STARTTLS"
        return _printable(text) or type(exc).__name__
    return type(exc).__name__


def _server_text(exc: BaseException) -> str:
    """The server's own words from a refused command (e.g. `[AUTHENTICATIONFAILED] ...`), shortened."""
    result = getattr(exc, "command_result", None)
    data = result[1] if isinstance(result, tuple) and len(result) > 1 else [str(exc).encode()]
    parts = [d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d) for d in (data or [])]
    return _printable(" ".join(p for p in parts if p)) or "no reason given"


def _printable(text: str) -> str:
    """One line of at most 200 printable characters (server text goes into errors and workflow history)."""
    return "".join(c if c.isprintable() else " " for c in text).strip()[:200]


def _close(mailbox: BaseMailBox) -> None:
    """LOGOUT politely within a short bound, then close the socket whatever happened."""
    with contextlib.suppress(Exception):
        mailbox.client.sock.settimeout(2.0)
        mailbox.client.logout()
    with contextlib.suppress(Exception):
        mailbox.client.shutdown()


# -- selection ---------------------------------------------------------------------------------------

_IMAP_FIELDS = {
    "imap_port": "REELMIRROR_IMAP_PORT",
    "imap_security": "REELMIRROR_IMAP_SECURITY",
    "imap_allow_plain": "REELMIRROR_IMAP_ALLOW_PLAIN",
    "imap_user": "REELMIRROR_IMAP_USER",
    "imap_password_file": "REELMIRROR_IMAP_PASSWORD_FILE",
    "imap_folder": "REELMIRROR_IMAP_FOLDER",
    "imap_ca_file": "REELMIRROR_IMAP_CA_FILE",
    "imap_timeout_seconds": "REELMIRROR_IMAP_TIMEOUT_SECONDS",
    "imap_max_age_hours": "REELMIRROR_IMAP_MAX_AGE_HOURS",
}


def mailbox_from_settings(settings: ActivitySettings) -> MailboxReader | None:
    """The worker's mailbox: IMAP when REELMIRROR_IMAP_HOST is set, the simulator's when
    REELMIRROR_MAILBOX_URL is, None (links come by signal) when neither is.

    Checked once at start-up, so a half-done IMAP configuration stops the worker with one line naming
    the variables instead of failing the first onboarding: SettingsError lists every problem.
    """
    if settings.imap_host is None:
        stray = sorted(var for field, var in _IMAP_FIELDS.items() if field in settings.model_fields_set)
        if stray:
            _fail([f"{var}: has no effect without REELMIRROR_IMAP_HOST" for var in stray])
        return SimulatorMailbox(settings.mailbox_url) if settings.mailbox_url else None

    problems: list[str] = []
    if settings.mailbox_url:
        problems.append(
            "REELMIRROR_IMAP_HOST and REELMIRROR_MAILBOX_URL: both set; a worker reads one mailbox, unset one"
        )
    if not settings.imap_user:
        problems.append("REELMIRROR_IMAP_USER: required with REELMIRROR_IMAP_HOST")
    if settings.imap_password_file is None:
        problems.append("REELMIRROR_IMAP_PASSWORD_FILE: required with REELMIRROR_IMAP_HOST")
    else:
        try:
            PasswordFile(settings.imap_password_file)()
        except SecretStoreError as exc:
            problems.append(f"REELMIRROR_IMAP_PASSWORD_FILE: {exc}")
    plain = settings.imap_security == "plain"
    if plain and not settings.imap_allow_plain and not is_loopback(settings.imap_host):
        problems.append(
            "REELMIRROR_IMAP_SECURITY: plain would send the password unencrypted to a host that is not "
            "loopback; use tls or starttls (or set REELMIRROR_IMAP_ALLOW_PLAIN=true on a trusted network)"
        )
    context: ssl.SSLContext | None = None
    if settings.imap_ca_file is not None:
        if plain:
            problems.append("REELMIRROR_IMAP_CA_FILE: has no use with REELMIRROR_IMAP_SECURITY=plain")
        else:
            try:
                context = ssl.create_default_context(cafile=str(settings.imap_ca_file))
            except (OSError, ssl.SSLError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a PEM CA bundle"
                problems.append(f"REELMIRROR_IMAP_CA_FILE: cannot load {settings.imap_ca_file}: {reason}")
    if problems:
        _fail(problems)
    assert settings.imap_user is not None and settings.imap_password_file is not None
    return ImapMailbox(
        settings.imap_host,
        user=settings.imap_user,
        password=PasswordFile(settings.imap_password_file),
        port=settings.imap_port,
        security=settings.imap_security,
        folder=settings.imap_folder,
        ssl_context=context,
        allow_plain=settings.imap_allow_plain,
        timeout=settings.imap_timeout_seconds,
        max_age=timedelta(hours=settings.imap_max_age_hours),
    )


def _fail(problems: list[str]) -> None:
    raise SettingsError("invalid worker settings: " + "; ".join(problems))
