"""Run a throw-away dovecot IMAP server on free loopback ports, for tests of the IMAP mailbox reader.

Why a real server: what breaks an IMAP client in production (LOGIN refused, SEARCH semantics,
INTERNALDATE, flags, STARTTLS and certificate checks) is the server's behaviour, which a fake would only
guess. Debian's `dovecot-imapd` starts in a fraction of a second from a config file in a temp dir.

How it stays harmless:

* Nothing of the machine's dovecot is used: config, runtime dir, state, logs, the passwd-file and the
  Maildir live in one temp dir (`dovecot -c FILE -F`), removed on stop.
* It never runs as root: started by root, it drops to Debian's `dovecot` system user before exec (the
  Maildir is owned by that user, which is the mail uid); started by anyone else, it runs as them.
  Chroots are off, since only root may chroot.
* It is a `ManagedProcess` child: own process group, stopped as a group, ended by the kernel if the
  process that started it dies.

`Dovecot.deliver` writes a message into the Maildir with `mailbox.Maildir(...).add(...)` (the way a
local delivery agent would); dovecot serves it at once.
"""

from __future__ import annotations

import contextlib
import email.message
import grp
import mailbox
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

from devstack.ports import LOOPBACK, free_port
from devstack.process import ManagedProcess, _die_with_parent

__all__ = [
    "Dovecot",
    "DovecotError",
    "DovecotNotInstalledError",
    "TestCertificates",
    "dovecot_executable",
    "make_test_certificates",
]

INSTALL_HINT = "install Debian's dovecot-imapd (`make test` does so when it runs as root)"


class DovecotError(RuntimeError):
    """dovecot could not be started (exited early, never listened); the message ends with its log."""


class DovecotNotInstalledError(DovecotError):
    """No dovecot executable on this machine."""


def dovecot_executable() -> Path | None:
    """The `dovecot` binary (Debian puts it in /usr/sbin, which a non-root PATH may lack), or None."""
    found = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")
    return Path(found) if found else None


@dataclass(frozen=True)
class TestCertificates:
    """A private CA and a server certificate it signed, for 127.0.0.1 and localhost (PEM files)."""

    __test__ = False  # not a pytest test class, despite the name

    ca_file: Path
    cert_file: Path
    key_file: Path


def make_test_certificates(directory: Path, hosts: tuple[str, ...] = (LOOPBACK, "localhost")) -> TestCertificates:
    """Generate a CA and a server certificate valid for a day, so TLS tests verify a real chain.

    The server certificate carries the extensions strict verifiers require (SAN, key identifiers, key
    usage, serverAuth), so the client's default context checks it exactly as it would a public one.
    """
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reelmirror test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    files = TestCertificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    files.key_file.chmod(0o600)
    return files


@dataclass(frozen=True)
class _RunAs:
    """The unprivileged account dovecot runs as; it owns the Maildir (the mail uid)."""

    name: str
    uid: int
    gid: int

    @property
    def group(self) -> str:
        return grp.getgrgid(self.gid).gr_name

    @classmethod
    def choose(cls) -> _RunAs:
        if os.geteuid() != 0:
            entry = pwd.getpwuid(os.geteuid())
            return cls(entry.pw_name, entry.pw_uid, os.getegid())
        try:
            entry = pwd.getpwnam("dovecot")
        except KeyError:
            raise DovecotError(f"started as root, but there is no `dovecot` system user: {INSTALL_HINT}") from None
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid)


class _DovecotProcess(ManagedProcess):
    """A ManagedProcess that, started by root, execs dovecot as the unprivileged `run_as` account.

    Popen switches the ids before the pre-exec hook runs, so the parent-death signal (which a change of
    credentials clears) is set for the process as it runs dovecot.
    """

    def __init__(self, argv: list[str], log_path: Path, run_as: _RunAs) -> None:
        super().__init__("dovecot", argv, log_path)
        self.run_as = run_as

    def start(self) -> _DovecotProcess:
        if os.geteuid() != 0:
            super().start()
            return self
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.log_path.parent,
                start_new_session=True,
                user=self.run_as.uid,
                group=self.run_as.gid,
                extra_groups=[],
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        return self


class Dovecot:
    """One dovecot with one user and one Maildir INBOX; a context manager that starts and stops it.

    `port` is the IMAP listener (plain, and STARTTLS when `tls`); `tls_port` the implicit-TLS listener
    (only when `tls`, else None). With `tls`, `ssl = required` and `certificates.ca_file` is the CA a
    client must trust. Loopback connections count as secure to dovecot, so plain LOGIN works on `port`
    either way, which lets one server serve every kind of test.
    """

    def __init__(
        self,
        *,
        user: str = "bot",
        password: str | None = None,
        tls: bool = False,
        startup_timeout: float = 15.0,
    ) -> None:
        self.host = LOOPBACK
        self.user = user
        self.password = password if password is not None else secrets.token_urlsafe(16)
        if any(c in self.user + self.password for c in ":\n\r\0") or not self.user or not self.password:
            raise ValueError("user and password must be non-empty and hold no ':' or line break")
        self.tls = tls
        self._startup_timeout = startup_timeout
        self.port = 0
        self.tls_port: int | None = None
        self.certificates: TestCertificates | None = None
        self.process: _DovecotProcess | None = None
        self._dir: Path | None = None
        self._run_as: _RunAs | None = None

    def __repr__(self) -> str:
        return f"Dovecot(host={self.host!r}, port={self.port}, tls_port={self.tls_port}, user={self.user!r})"

    @property
    def root(self) -> Path:
        if self._dir is None:
            raise DovecotError("dovecot was not started")
        return self._dir

    @property
    def maildir(self) -> Path:
        """The user's Maildir: its top level is INBOX."""
        return self.root / "Maildir"

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> Dovecot:
        """Write the config, start dovecot and wait until its listeners accept connections."""
        executable = dovecot_executable()
        if executable is None:
            raise DovecotNotInstalledError(f"dovecot is not installed: {INSTALL_HINT}")
        run_as = self._run_as = _RunAs.choose()
        self._dir = Path(tempfile.mkdtemp(prefix="dovecot-"))
        try:
            self.port = free_port()
            self.tls_port = free_port() if self.tls else None
            for sub in ("run", "state", "home"):
                (self.root / sub).mkdir()
            mailbox.Maildir(self.maildir, create=True)
            if self.tls:
                self.certificates = make_test_certificates(self.root / "tls")
            (self.root / "users").write_text(f"{self.user}:{{PLAIN}}{self.password}\n")
            config = self.root / "dovecot.conf"
            config.write_text(self._config(run_as))
            if os.geteuid() == 0:
                for path in (self.root, *self.root.rglob("*")):
                    os.chown(path, run_as.uid, run_as.gid, follow_symlinks=False)
            self.process = _DovecotProcess(
                [str(executable), "-c", str(config), "-F"], self.root / "stdout.log", run_as
            ).start()
            self._wait_for_greeting()
        except (OSError, RuntimeError, TimeoutError) as exc:
            tail = self.tail()
            self.stop()
            if isinstance(exc, DovecotError):
                raise
            raise DovecotError(f"dovecot did not start: {exc}\n{tail}") from None
        return self

    def _wait_for_greeting(self) -> None:
        """Block until the IMAP port greets a client (`* OK`), not merely accepts a connection.

        A login process that is still starting when dovecot is told to stop holds the stop up for seconds;
        one that has greeted is ready, so a test that starts and stops at once stays fast.
        """
        assert self.process is not None
        deadline = time.monotonic() + self._startup_timeout
        while True:
            if not self.process.alive():
                raise DovecotError(f"dovecot exited at start-up\n{self.tail()}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=2) as probe:
                if probe.makefile("rb").readline().startswith(b"* OK"):
                    return
            if time.monotonic() > deadline:
                raise DovecotError(f"dovecot on {self.host}:{self.port} never greeted\n{self.tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the process group and remove the temp dir. Idempotent."""
        process, self.process = self.process, None
        if process is not None:
            process.stop(grace=5.0)
        directory, self._dir = self._dir, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def tail(self, lines: int = 20) -> str:
        """The end of dovecot's own log and of its standard output, for error messages."""
        if self._dir is None:
            return ""
        parts = []
        for path in (self.root / "stdout.log", self.log_path):
            try:
                parts.extend(path.read_text(errors="replace").splitlines()[-lines:])
            except OSError:
                continue
        return "\n".join(parts)

    # -- mail ------------------------------------------------------------------------------------
    def deliver(self, message: email.message.Message | bytes | str, *, received: datetime | None = None) -> str:
        """Add a message to INBOX as a delivery agent would; `received` sets its INTERNALDATE.

        Returns the Maildir key (see `flags`). The file is handed to the mail uid, as dovecot requires.
        """
        maildir_message = mailbox.MaildirMessage(message)
        if received is not None:
            maildir_message.set_date(received.timestamp())  # becomes the file's mtime: dovecot's INTERNALDATE
        key = mailbox.Maildir(self.maildir, create=False).add(maildir_message)
        if os.geteuid() == 0 and self._run_as is not None:
            os.chown(self.maildir / "new" / key, self._run_as.uid, self._run_as.gid)
        return key

    def flags(self, key: str) -> str:
        """The Maildir flags of a delivered message as dovecot keeps them now (`S`: seen)."""
        return mailbox.Maildir(self.maildir, create=False).get_message(key).get_flags()

    # -- config ----------------------------------------------------------------------------------
    def _config(self, run_as: _RunAs) -> str:
        root = self.root
        ssl_lines = "ssl = no\n"
        imaps_port = 0
        if self.certificates is not None and self.tls_port is not None:
            ssl_lines = (
                "ssl = required\n"
                f"ssl_cert = <{self.certificates.cert_file}\n"
                f"ssl_key = <{self.certificates.key_file}\n"
                "ssl_min_protocol = TLSv1.2\n"
            )
            imaps_port = self.tls_port
        return f"""\
protocols = imap
listen = {self.host}
base_dir = {root}/run
state_dir = {root}/state
log_path = {self.log_path}
{ssl_lines}auth_mechanisms = plain login
auth_failure_delay = 0
# No stats process to talk to: a login process waiting for it would hold up a quick stop by seconds.
stats_writer_socket_path =
first_valid_uid = 1
default_login_user = {run_as.name}
default_internal_user = {run_as.name}
default_internal_group = {run_as.group}
mail_location = maildir:{self.maildir}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/users
}}
userdb {{
  driver = static
  args = uid={run_as.uid} gid={run_as.gid} home={root}/home
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {self.host}
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  # No auth penalty (a delay that doubles after each failed login from an IP): tests fail logins on purpose.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""
