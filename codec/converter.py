"""Build the codec from the environment and the data converter that clients, workers and replayers share.

Everything that talks to Temporal must use the same converter: a worker without the codec would hand
ciphertext to workflow code, a client without it would send plaintext that the worker then passes through.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from codec.keys import CodecConfigError, key_ring_from_env
from codec.payload import EncryptionCodec

COMPRESS_ENV = "REELMIRROR_CODEC_COMPRESS"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def data_converter(codec: PayloadCodec | None, *, encrypt_failures: bool = False) -> DataConverter:
    """The project's pydantic data converter with ``codec`` applied to every payload (``None``: plaintext).

    ``encrypt_failures`` also moves failure messages and stack traces into an encoded payload, so error
    text that quotes content is encrypted too; the Web UI then shows them only through the codec server.
    """
    converter = dataclasses.replace(pydantic_data_converter, payload_codec=codec)
    if encrypt_failures:
        converter = dataclasses.replace(converter, failure_converter_class=DefaultFailureConverterWithEncodedAttributes)
    return converter


def compression_from_env(env: Mapping[str, str] | None = None) -> bool:
    """Whether to compress before encrypting: on unless ``REELMIRROR_CODEC_COMPRESS`` says otherwise."""
    env = os.environ if env is None else env
    value = env.get(COMPRESS_ENV, "").strip().lower()
    if not value or value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise CodecConfigError(f"{COMPRESS_ENV}={value!r} is not a boolean; set it to 1 or 0")


def codec_from_env(env: Mapping[str, str] | None = None, required: bool = False) -> EncryptionCodec | None:
    """The encryption codec the environment configures, or ``None`` when no key is set and none is required.

    Raises :class:`~codec.keys.CodecConfigError` (one line naming the setting) on any bad setting.
    """
    ring = key_ring_from_env(env, required=required)
    compress = compression_from_env(env)
    return None if ring is None else EncryptionCodec(ring, compress=compress)
