"""AES-256-GCM payload codec: what the Temporal server stores is ciphertext plus the id of its key.

Each payload the data converter produces (JSON of a pydantic model, with its ``encoding`` metadata) is
serialized whole as a protobuf, optionally zlib-compressed, and sealed with AES-256-GCM under a fresh
random 96-bit nonce. The stored payload looks like this::

    metadata: encoding=binary/encrypted, encryption-key-id=<id>[, encryption-compressed=zlib]
    data:     nonce (12 bytes) || ciphertext || GCM tag (16 bytes)

The outer metadata (format version, key id, compression) is the GCM associated data, so altering any of
it, or a single bit of the data, fails decryption instead of yielding something else. Payloads without
``binary/encrypted`` pass through ``decode`` unchanged, so histories written before encryption was turned
on still read.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from codec.keys import KEY_FILE_ENV, KEYS_ENV, KeyRing

ENCODING = b"binary/encrypted"
METADATA_ENCODING = "encoding"
METADATA_KEY_ID = "encryption-key-id"
METADATA_COMPRESSED = "encryption-compressed"
COMPRESSION_ZLIB = b"zlib"
NONCE_BYTES = 12
TAG_BYTES = 16
_FORMAT = b"reelmirror-codec/v1"


class PayloadDecryptionError(ValueError):
    """An encrypted payload cannot be decrypted: unknown key id, or altered data or metadata."""


def _associated_data(key_id: bytes, compressed: bytes) -> bytes:
    return b"\x00".join((_FORMAT, key_id, compressed))


class EncryptionCodec(PayloadCodec):
    """Encrypts every payload with the key ring's first key; decrypts with whichever key the payload names.

    ``compress`` runs zlib before encryption and keeps the result only when it is smaller. Compression
    lets the ciphertext length depend on how repetitive the plaintext is; turn it off if someone who sees
    payload sizes can also place chosen text next to a value worth guessing.
    """

    def __init__(self, keys: KeyRing, *, compress: bool = True) -> None:
        super().__init__()
        self.keys = keys
        self.compress = compress
        self._ciphers = {key.id: AESGCM(key.secret) for key in keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        """Seal one payload (its data and its metadata) under the current key."""
        key = self.keys.current
        plain = payload.SerializeToString(deterministic=True)
        compressed = b""
        if self.compress:
            packed = zlib.compress(plain)
            if len(packed) < len(plain):
                plain, compressed = packed, COMPRESSION_ZLIB
        key_id = key.id.encode("ascii")
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key.id].encrypt(nonce, plain, _associated_data(key_id, compressed))
        metadata = {METADATA_ENCODING: ENCODING, METADATA_KEY_ID: key_id}
        if compressed:
            metadata[METADATA_COMPRESSED] = compressed
        return Payload(metadata=metadata, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        """Open one payload; anything not encrypted by this codec comes back as it was."""
        if payload.metadata.get(METADATA_ENCODING) != ENCODING:
            return payload
        raw_id = payload.metadata.get(METADATA_KEY_ID, b"")
        key_id = raw_id.decode("ascii", errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadDecryptionError(
                f"payload was encrypted with key id {key_id!r}, which is not configured "
                f"(configured: {', '.join(self.keys.ids)}); add that key to {KEYS_ENV} or {KEY_FILE_ENV}"
            )
        compressed = payload.metadata.get(METADATA_COMPRESSED, b"")
        if compressed not in (b"", COMPRESSION_ZLIB):
            raise PayloadDecryptionError(
                f"payload with key id {key_id!r} uses unknown compression {compressed.decode(errors='replace')!r}"
            )
        data = payload.data
        if len(data) < NONCE_BYTES + TAG_BYTES:
            raise PayloadDecryptionError(f"payload with key id {key_id!r} is too short to be an encrypted payload")
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], _associated_data(raw_id, compressed))
        except InvalidTag:
            raise PayloadDecryptionError(
                f"payload with key id {key_id!r} failed authentication: its data or metadata was altered, "
                f"or the key configured as {key_id!r} is not the one that encrypted it"
            ) from None
        if compressed:
            plain = zlib.decompress(plain)
        return Payload.FromString(plain)
