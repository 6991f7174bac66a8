"""Payload encryption for Temporal: an AES-256-GCM codec with key rotation, and a codec server for the Web UI.

Wire it in with ``data_converter(codec_from_env())`` on every client, worker and replayer.
"""

from codec.converter import COMPRESS_ENV, codec_from_env, compression_from_env, data_converter
from codec.keys import (
    KEY_FILE_ENV,
    KEYS_ENV,
    CodecConfigError,
    Key,
    KeyRing,
    generate_key,
    key_ring_from_env,
    load_key_file,
    parse_key_ring,
)
from codec.payload import EncryptionCodec, PayloadDecryptionError

__all__ = [
    "COMPRESS_ENV",
    "KEYS_ENV",
    "KEY_FILE_ENV",
    "CodecConfigError",
    "EncryptionCodec",
    "Key",
    "KeyRing",
    "PayloadDecryptionError",
    "codec_from_env",
    "compression_from_env",
    "data_converter",
    "generate_key",
    "key_ring_from_env",
    "load_key_file",
    "parse_key_ring",
]
