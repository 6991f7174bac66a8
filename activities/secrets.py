"""The worker's secret stores: per-account credentials kept out of workflow history.

Workflows pass an `account_ref`; the activities resolve it through a `SecretStore` to the password, JWT,
`rm_` key, payment method and Stripe client secret they need, so none of them reaches history. Two stores
implement that one interface: `FileSecretStore` (this module) for a single host, and `PostgresSecretStore`
(`activities.secret_store_pg`) for many worker hosts sharing one encrypted table. Why the file store's rules:

* One JSON file per account, written to a temporary file and `os.replace`d: a worker killed mid-write
  leaves the old file or the new one, never half of each, so a stored key is never lost to a crash.
* Directory 0700, files 0600, and a file readable by group or others is refused, not read: the store
  holds keys that spend money, and silently using a file anyone can read would hide the leak.
* An exclusive `flock` per account around read-modify-write: activities of several workers sharing the
  directory must not overwrite each other's updates (e.g. the JWT stored by one, the key by another).
* Values come back as `SecretStr`, and no exception or log line carries a value, only names.

The interface is async because the shared store talks to a database: a blocking call there would stall
the worker's event loop, and with it every heartbeat and poll of the process.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from pydantic import SecretStr

__all__ = [
    "FileSecretStore",
    "MissingSecretError",
    "SecretStore",
    "SecretStoreError",
    "SecretStoreUnavailableError",
    "SecretValues",
    "check_account_ref",
    "check_secret_name",
    "fingerprint",
    "secret_text",
]

_REF = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_FORMAT_VERSION = 1

#: What `update` takes: name -> new value, or None to delete that name.
SecretValues = Mapping[str, SecretStr | str | None]


def fingerprint(value: SecretStr | str) -> str:
    """A short, stable, non-reversible tag of a secret (`sha256:` + 12 hex chars) for history and logs.

    It lets an operator tell which key a workflow used without the key itself ever leaving the store.
    """
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()[:12]


def secret_text(value: SecretStr | str) -> str:
    """The plain text of a value given either way."""
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class SecretStoreError(Exception):
    """The store cannot be used as it is (unsafe permissions, unreadable file); the message says what to fix."""


class SecretStoreUnavailableError(SecretStoreError):
    """The store's database cannot be reached or refused the call; a later attempt may succeed."""


class MissingSecretError(SecretStoreError):
    """An account lacks a credential an activity needs (the workflow parks until an operator supplies it)."""

    def __init__(self, account_ref: str, name: str, hint: str | None = None) -> None:
        self.account_ref = account_ref
        self.name = name
        text = f"no {name!r} secret stored for account {account_ref!r}"
        super().__init__(f"{text}: {hint}" if hint else text)


def check_account_ref(account_ref: str) -> str:
    """The ref itself, or SecretStoreError: refs become file names and row keys, so they are kept plain."""
    if not _REF.match(account_ref):
        raise SecretStoreError(f"invalid account ref {account_ref!r}")
    return account_ref


def check_secret_name(name: str) -> str:
    if not _NAME.match(name):
        raise SecretStoreError(f"invalid secret name {name!r}")
    return name


class SecretStore(abc.ABC):
    """Named secrets per account: the one interface the activities and the CLI use, whatever holds them.

    Implementations provide `get`, `names`, `update` and `delete`; `require`, `has` and `put` follow.
    `update` is atomic per call: every value in it is stored, or none is.
    """

    @abc.abstractmethod
    async def get(self, account_ref: str, name: str) -> SecretStr | None:
        """The secret, or None when the account or the name is unknown."""

    @abc.abstractmethod
    async def names(self, account_ref: str) -> list[str]:
        """The names stored for an account, sorted (names are not secret; values are)."""

    @abc.abstractmethod
    async def update(self, account_ref: str, values: SecretValues) -> None:
        """Set several secrets at once; a None value deletes that name."""

    @abc.abstractmethod
    async def delete(self, account_ref: str, name: str) -> bool:
        """Remove one secret; True when it was there."""

    async def require(self, account_ref: str, name: str, hint: str | None = None) -> SecretStr:
        """The secret, or MissingSecretError (with `hint` saying how to supply it)."""
        value = await self.get(account_ref, name)
        if value is None:
            raise MissingSecretError(account_ref, name, hint)
        return value

    async def has(self, account_ref: str, name: str) -> bool:
        return check_secret_name(name) in await self.names(account_ref)

    async def put(self, account_ref: str, name: str, value: SecretStr | str) -> None:
        await self.update(account_ref, {name: value})

    def describe(self) -> str:
        """Where the secrets are, for an operator (never a password)."""
        return repr(self)

    async def aclose(self) -> None:  # noqa: B027 - a store without connections has nothing to close
        """Release connections; the worker and the CLI call this once when they stop."""


class FileSecretStore(SecretStore):
    """Named secrets per account, in `<root>/<account_ref>.json`: the store for a worker on one host.

    Reads are one small local file and take no lock, so they run inline; writes take the account's
    `flock`, which may wait for another worker process, so they run in a thread and never stall the loop.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"FileSecretStore(root={str(self.root)!r})"

    def describe(self) -> str:
        return f"file store {self.root}"

    async def get(self, account_ref: str, name: str) -> SecretStr | None:
        value = self._read(account_ref).get(check_secret_name(name))
        return None if value is None else SecretStr(value)

    async def names(self, account_ref: str) -> list[str]:
        return sorted(self._read(account_ref))

    async def update(self, account_ref: str, values: SecretValues) -> None:
        for name in values:
            check_secret_name(name)
        await asyncio.to_thread(self._update, account_ref, dict(values))

    async def delete(self, account_ref: str, name: str) -> bool:
        check_secret_name(name)
        return await asyncio.to_thread(self._delete, account_ref, name)

    def _update(self, account_ref: str, values: SecretValues) -> None:
        with self._locked(account_ref):
            current = self._read(account_ref)
            for name, value in values.items():
                if value is None:
                    current.pop(name, None)
                else:
                    current[name] = secret_text(value)
            self._write(account_ref, current)

    def _delete(self, account_ref: str, name: str) -> bool:
        with self._locked(account_ref):
            current = self._read(account_ref)
            if current.pop(name, None) is None:
                return False
            self._write(account_ref, current)
            return True

    # -- files -------------------------------------------------------------------------------------

    def _ensure_root(self) -> None:
        if not self.root.is_dir():
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.root, 0o700)  # mkdir's mode is filtered by the umask

    def _path(self, account_ref: str) -> Path:
        return self.root / f"{check_account_ref(account_ref)}.json"

    def _read(self, account_ref: str) -> dict[str, str]:
        path = self._path(account_ref)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise SecretStoreError(f"cannot open the secret file of account {account_ref!r}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise SecretStoreError(f"{path} is not a regular file")
            if info.st_mode & 0o077:
                raise SecretStoreError(
                    f"refusing to read {path}: it is readable by group or others "
                    f"(mode {stat.S_IMODE(info.st_mode):04o}); run `chmod 600` on it and rotate its secrets"
                )
            raw = handle.read()
        try:
            payload = json.loads(raw)
        except ValueError:
            # No chaining: JSONDecodeError keeps the whole document, secrets included.
            raise SecretStoreError(f"{path} is not valid JSON") from None
        secrets = payload.get("secrets") if isinstance(payload, dict) else None
        if not isinstance(secrets, dict) or not all(isinstance(v, str) for v in secrets.values()):
            raise SecretStoreError(f"{path} does not hold a secrets object of strings")
        return dict(secrets)

    def _write(self, account_ref: str, secrets: dict[str, str]) -> None:
        path = self._path(account_ref)
        self._ensure_root()
        body = json.dumps({"version": _FORMAT_VERSION, "secrets": secrets}, indent=2, sort_keys=True).encode()
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{account_ref}.", suffix=".tmp")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)

    @contextlib.contextmanager
    def _locked(self, account_ref: str) -> Iterator[None]:
        self._ensure_root()
        lock_path = self.root / f".{self._path(account_ref).stem}.lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

