"""The key ring: which AES-256 keys encrypt new payloads and which may decrypt old ones.

Keys come from the environment, never from code: ``REELMIRROR_CODEC_KEYS`` holds comma-separated
``id:base64key`` entries, or ``REELMIRROR_CODEC_KEY_FILE`` names a file with one entry per line. The
first key encrypts; every key decrypts, so a rotation is "put the new key first, keep the old ones".
Every mistake in these settings raises :class:`CodecConfigError` with one line that names the setting
and says how to fix it, so a worker refuses to start instead of writing payloads it cannot read back.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import secrets
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

KEYS_ENV = "REELMIRROR_CODEC_KEYS"
KEY_FILE_ENV = "REELMIRROR_CODEC_KEY_FILE"

KEY_BYTES = 32
MAX_KEY_ID_LENGTH = 64
_KEY_ID = re.compile(r"[A-Za-z0-9._-]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_KEYGEN_HINT = "`python -m codec keygen` prints a new one"

logger = logging.getLogger("codec")


class CodecConfigError(ValueError):
    """A codec setting is wrong; the message is one line naming the setting and the fix."""


@dataclass(frozen=True)
class Key:
    """One AES-256 key and the id stored next to every payload it encrypts.

    The secret is left out of ``repr`` so that a key never reaches a log line or a traceback by accident.
    """

    id: str
    secret: bytes = field(repr=False)

    def spec(self) -> str:
        """The ``id:base64key`` form that the settings take."""
        return f"{self.id}:{base64.b64encode(self.secret).decode('ascii')}"


@dataclass(frozen=True)
class KeyRing:
    """An ordered, non-empty set of keys with unique ids: the first encrypts, all decrypt."""

    keys: tuple[Key, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise CodecConfigError("the key ring is empty: configure at least one key")
        seen: set[str] = set()
        for key in self.keys:
            check_key_id(key.id, "key ring")
            if len(key.secret) != KEY_BYTES:
                raise CodecConfigError(
                    f"key ring: key {key.id!r} is {len(key.secret)} bytes, AES-256 needs {KEY_BYTES}"
                )
            if key.id in seen:
                raise CodecConfigError(f"key ring: key id {key.id!r} appears twice; every key needs its own id")
            seen.add(key.id)

    @property
    def current(self) -> Key:
        """The key that encrypts new payloads."""
        return self.keys[0]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(key.id for key in self.keys)

    def get(self, key_id: str) -> Key | None:
        for key in self.keys:
            if key.id == key_id:
                return key
        return None

    def __iter__(self) -> Iterator[Key]:
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)


def check_key_id(key_id: str, where: str, hint: str = "") -> None:
    """Refuse ids that would break the ``id:key,id:key`` syntax or make metadata hard to read.

    A rejected id is not echoed: with id and key swapped by mistake, the "id" would be the secret.
    """
    if not key_id:
        raise CodecConfigError(f"{where}: empty key id; write entries as id:base64key")
    for bad in (":", ","):
        if bad in key_id:
            raise CodecConfigError(f"{where}: key id contains {bad!r}; use only letters, digits, '.', '_' and '-'")
    if len(key_id) > MAX_KEY_ID_LENGTH or not _KEY_ID.fullmatch(key_id):
        raise CodecConfigError(
            f"{where}: key id must be 1-{MAX_KEY_ID_LENGTH} ASCII letters, digits, '.', '_' or '-'{hint}"
        )


def parse_key(entry: str, where: str) -> Key:
    """Parse one ``id:base64key`` entry; ``where`` names the setting (and line) in error messages."""
    entry = entry.strip()
    # base64 never contains ':', so the last ':' separates the id; an id with ':' in it is then caught below
    key_id, sep, encoded = entry.rpartition(":")
    if not sep:
        raise CodecConfigError(f"{where}: entry has no ':'; write it as id:base64key ({_KEYGEN_HINT})")
    key_id, encoded = key_id.strip(), encoded.strip()
    check_key_id(key_id, where, " (entries are id:base64key, id first)")
    if not encoded:
        raise CodecConfigError(f"{where}: key {key_id!r} has no key after ':' ({_KEYGEN_HINT})")
    try:
        if not _BASE64.fullmatch(encoded):
            raise binascii.Error("not base64")
        secret = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise CodecConfigError(
            f"{where}: key {key_id!r} is not valid base64; use standard base64 of {KEY_BYTES} random bytes "
            f"({_KEYGEN_HINT})"
        ) from None
    if len(secret) != KEY_BYTES:
        raise CodecConfigError(
            f"{where}: key {key_id!r} decodes to {len(secret)} bytes, AES-256 needs exactly {KEY_BYTES} "
            f"({_KEYGEN_HINT})"
        )
    return Key(key_id, secret)


def _ring(entries: Iterable[tuple[str, str]], setting: str) -> KeyRing:
    keys: list[Key] = []
    seen: dict[str, str] = {}
    for entry, where in entries:
        key = parse_key(entry, where)
        if key.id in seen:
            raise CodecConfigError(
                f"{where}: key id {key.id!r} already used ({seen[key.id]}); give every key its own id"
            )
        seen[key.id] = where
        keys.append(key)
    if not keys:
        raise CodecConfigError(f"{setting} holds no keys; add at least one id:base64key ({_KEYGEN_HINT})")
    return KeyRing(tuple(keys))


def parse_key_ring(text: str, setting: str = KEYS_ENV) -> KeyRing:
    """Parse the comma-separated ``id:base64key,...`` form (empty entries, e.g. a trailing comma, are skipped)."""
    parts = [part for part in text.split(",") if part.strip()]
    numbered = len(parts) > 1
    return _ring(((part, f"{setting} entry {n}" if numbered else setting) for n, part in enumerate(parts, 1)), setting)


def check_secret_file_mode(path: Path, setting: str) -> None:
    """Refuse a secret file that others may write; warn when others may read it.

    Writable by group or others means anyone on the machine could swap the key (or token) for their
    own, so that is refused. Readable by them is only warned about: container runtimes mount secrets
    0644 or 0444 by default, and refusing those would push people to copy keys into the environment.
    """
    if os.name != "posix":
        return
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # reading it next reports the real problem
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise CodecConfigError(
            f"{setting}: {path} is writable by group or others, so anyone could replace it; run chmod 600 {path}"
        )
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        logger.warning("%s: %s is readable by group or others; run chmod 600 %s", setting, path, path)


def read_secret_file(path: Path, setting: str) -> str:
    """The text of a key or token file, with its permissions checked; any failure is one clear line."""
    check_secret_file_mode(path, setting)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise CodecConfigError(f"{setting}: cannot read {path}: {reason}; point it at a readable file") from None


def load_key_file(path: Path, setting: str = KEY_FILE_ENV) -> KeyRing:
    """Parse a key file: one ``id:base64key`` per line, blank lines and ``#`` comments ignored."""
    text = read_secret_file(path, setting)
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line:
            entries.append((line, f"{setting} {path} line {number}"))
    return _ring(entries, f"{setting} {path}")


def key_ring_from_env(env: Mapping[str, str] | None = None, required: bool = False) -> KeyRing | None:
    """The key ring the settings describe, or ``None`` when neither is set and ``required`` is false.

    An empty value counts as unset, like most tools treat ``VAR=`` in an env file.
    """
    env = os.environ if env is None else env
    inline = env.get(KEYS_ENV, "").strip()
    file_name = env.get(KEY_FILE_ENV, "").strip()
    if inline and file_name:
        raise CodecConfigError(f"both {KEYS_ENV} and {KEY_FILE_ENV} are set; set only one of them")
    if inline:
        return parse_key_ring(inline, KEYS_ENV)
    if file_name:
        return load_key_file(Path(file_name), KEY_FILE_ENV)
    if required:
        raise CodecConfigError(
            f"no encryption key: set {KEYS_ENV}=id:base64key or {KEY_FILE_ENV}=<file> ({_KEYGEN_HINT})"
        )
    return None


def new_key_id(now: datetime | None = None) -> str:
    """A short id that sorts by creation date and rarely collides: ``20250614-3fa2``."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%d}-{secrets.token_hex(2)}"


def generate_key(key_id: str | None = None) -> str:
    """A fresh random key as the ``id:base64key`` line the settings take."""
    key_id = key_id if key_id is not None else new_key_id()
    check_key_id(key_id, "key id")
    return Key(key_id, secrets.token_bytes(KEY_BYTES)).spec()
