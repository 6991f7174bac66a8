"""Envelope encryption of one stored secret under the codec key ring.

Each secret gets its own random 256-bit data key; the value is sealed with that key (AES-256-GCM, random
96-bit nonce), and the data key itself is sealed with the key ring's current key, whose id is kept next to
it. Why the indirection: rotating the ring re-seals 32-byte data keys (`rewrap`), not every value, and a
value is never encrypted under a key shared with anything else.

The associated data binds every sealed part to its row (account ref and secret name) and the wrapped key
also to its key id, so a value copied to another account or name, or a changed key id, fails to open
instead of yielding some other secret.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from activities.secrets import SecretStoreError
from codec.keys import KEY_FILE_ENV, KEYS_ENV, KeyRing

__all__ = ["SealedSecret", "SecretDecryptionError", "open_secret", "rewrap", "seal"]

FORMAT = b"reelmirror-secret/v1"
DATA_KEY_BYTES = 32
NONCE_BYTES = 12


class SecretDecryptionError(SecretStoreError):
    """A stored secret cannot be opened: its key id is not configured, or the row was altered."""


@dataclass(frozen=True)
class SealedSecret:
    """What the shared store keeps per secret; `repr` shows only the key id and sizes."""

    key_id: str
    wrapped_key: bytes  # nonce || AES-GCM(current key, data key) || tag
    nonce: bytes
    ciphertext: bytes  # AES-GCM(data key, value) || tag

    def __repr__(self) -> str:
        return f"SealedSecret(key_id={self.key_id!r}, ciphertext={len(self.ciphertext)} bytes)"


def _value_aad(account_ref: str, name: str) -> bytes:
    return b"\x00".join((FORMAT, b"value", account_ref.encode(), name.encode()))


def _key_aad(key_id: str, account_ref: str, name: str) -> bytes:
    return b"\x00".join((FORMAT, b"data-key", key_id.encode(), account_ref.encode(), name.encode()))


def _wrap(ring: KeyRing, data_key: bytes, account_ref: str, name: str) -> tuple[str, bytes]:
    key = ring.current
    nonce = os.urandom(NONCE_BYTES)
    return key.id, nonce + AESGCM(key.secret).encrypt(nonce, data_key, _key_aad(key.id, account_ref, name))


def _unwrap(ring: KeyRing, sealed: SealedSecret, account_ref: str, name: str) -> bytes:
    key = ring.get(sealed.key_id)
    if key is None:
        raise SecretDecryptionError(
            f"secret {name!r} of account {account_ref!r} is sealed with codec key id {sealed.key_id!r}, which is "
            f"not configured (configured: {', '.join(ring.ids)}); add that key to {KEYS_ENV} or {KEY_FILE_ENV}"
        )
    nonce, body = sealed.wrapped_key[:NONCE_BYTES], sealed.wrapped_key[NONCE_BYTES:]
    try:
        return AESGCM(key.secret).decrypt(nonce, body, _key_aad(sealed.key_id, account_ref, name))
    except InvalidTag:
        raise _tampered(account_ref, name) from None


def _tampered(account_ref: str, name: str) -> SecretDecryptionError:
    return SecretDecryptionError(
        f"secret {name!r} of account {account_ref!r} fails authentication: its row was altered or copied "
        "from another account or name; store the secret again"
    )


def seal(ring: KeyRing, account_ref: str, name: str, value: str) -> SealedSecret:
    """Encrypt `value` under a fresh data key, wrapped with the ring's current key."""
    data_key = AESGCM.generate_key(bit_length=DATA_KEY_BYTES * 8)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, value.encode(), _value_aad(account_ref, name))
    key_id, wrapped = _wrap(ring, data_key, account_ref, name)
    return SealedSecret(key_id=key_id, wrapped_key=wrapped, nonce=nonce, ciphertext=ciphertext)


def open_secret(ring: KeyRing, account_ref: str, name: str, sealed: SealedSecret) -> str:
    """The plain value, or SecretDecryptionError naming the secret (never its content)."""
    data_key = _unwrap(ring, sealed, account_ref, name)
    try:
        plain = AESGCM(data_key).decrypt(sealed.nonce, sealed.ciphertext, _value_aad(account_ref, name))
    except (InvalidTag, ValueError):
        raise _tampered(account_ref, name) from None
    return plain.decode()


def rewrap(ring: KeyRing, account_ref: str, name: str, sealed: SealedSecret) -> SealedSecret | None:
    """The same secret with its data key sealed under the current key, or None when it is already."""
    if sealed.key_id == ring.current.id:
        return None
    data_key = _unwrap(ring, sealed, account_ref, name)
    key_id, wrapped = _wrap(ring, data_key, account_ref, name)
    return SealedSecret(key_id=key_id, wrapped_key=wrapped, nonce=sealed.nonce, ciphertext=sealed.ciphertext)
