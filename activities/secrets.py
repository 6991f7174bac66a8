"""The worker's secret store: per-account credentials on local disk, never in workflow history.

Workflows pass an `account_ref`; the activities resolve it here to the password, JWT, `rm_` key, payment
method and Stripe client secret they need, so none of them reaches history. Why these rules:

* One JSON file per account, written to a temporary file and `os.replace`d: a worker killed mid-write
  leaves the old file or the new one, never half of each, so a stored key is never lost to a crash.
* Directory 0700, files 0600, and a file readable by group or others is refused, not read: the store
  holds keys that spend money, and silently using a file anyone can read would hide the leak.
* An exclusive `flock` per account around read-modify-write: activities of several workers sharing the
  directory must not overwrite each other's updates (e.g. the JWT stored by one, the key by another).
* Values come back as `SecretStr`, and no exception or log line carries a value, only names.
"""

from __future__ import annotations

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

__all__ = ["MissingSecretError", "SecretStore", "SecretStoreError", "fingerprint"]

_REF = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_FORMAT_VERSION = 1


def fingerprint(value: SecretStr | str) -> str:
    """A short, stable, non-reversible tag of a secret (`sha256:` + 12 hex chars) for history and logs.

    It lets an operator tell which key a workflow used without the key itself ever leaving the store.
    """
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()[:12]


class SecretStoreError(Exception):
    """The store cannot be used as it is (unsafe permissions, unreadable file); the message says what to fix."""


class MissingSecretError(SecretStoreError):
    """An account lacks a credential an activity needs (the workflow parks until an operator supplies it)."""

    def __init__(self, account_ref: str, name: str, hint: str | None = None) -> None:
        self.account_ref = account_ref
        self.name = name
        text = f"no {name!r} secret stored for account {account_ref!r}"
        super().__init__(f"{text}: {hint}" if hint else text)


class SecretStore:
    """Named secrets per account, in `<root>/<account_ref>.json`."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"SecretStore(root={str(self.root)!r})"

    # -- public API --------------------------------------------------------------------------------

    def get(self, account_ref: str, name: str) -> SecretStr | None:
        """The secret, or None when the account or the name is unknown."""
        value = self._read(account_ref).get(_check_name(name))
        return None if value is None else SecretStr(value)

    def require(self, account_ref: str, name: str, hint: str | None = None) -> SecretStr:
        """The secret, or MissingSecretError (with `hint` saying how to supply it)."""
        value = self.get(account_ref, name)
        if value is None:
            raise MissingSecretError(account_ref, name, hint)
        return value

    def has(self, account_ref: str, name: str) -> bool:
        return _check_name(name) in self._read(account_ref)

    def names(self, account_ref: str) -> list[str]:
        """The names stored for an account (names are not secret; values are)."""
        return sorted(self._read(account_ref))

    def put(self, account_ref: str, name: str, value: SecretStr | str) -> None:
        self.update(account_ref, {name: value})

    def update(self, account_ref: str, values: Mapping[str, SecretStr | str | None]) -> None:
        """Set several secrets in one atomic write; a None value deletes that name."""
        for name in values:
            _check_name(name)
        with self._locked(account_ref):
            current = self._read(account_ref)
            for name, value in values.items():
                if value is None:
                    current.pop(name, None)
                else:
                    current[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
            self._write(account_ref, current)

    def delete(self, account_ref: str, name: str) -> bool:
        """Remove one secret; True when it was there."""
        with self._locked(account_ref):
            current = self._read(account_ref)
            if current.pop(_check_name(name), None) is None:
                return False
            self._write(account_ref, current)
            return True

    # -- files -------------------------------------------------------------------------------------

    def _ensure_root(self) -> None:
        if not self.root.is_dir():
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.root, 0o700)  # mkdir's mode is filtered by the umask

    def _path(self, account_ref: str) -> Path:
        if not _REF.match(account_ref):
            raise SecretStoreError(f"invalid account ref {account_ref!r}")
        return self.root / f"{account_ref}.json"

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


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise SecretStoreError(f"invalid secret name {name!r}")
    return name
