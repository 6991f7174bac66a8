"""The AES-GCM codec: round trips through the project's data converter, leaks no plaintext, rotates keys,
and refuses altered or foreign ciphertext with a clear error."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError

from codec.converter import data_converter
from codec.keys import generate_key, parse_key_ring
from codec.payload import (
    COMPRESSION_ZLIB,
    ENCODING,
    METADATA_COMPRESSED,
    METADATA_KEY_ID,
    EncryptionCodec,
    PayloadDecryptionError,
)

EMAIL = "dana.operator@example.com"
CAPTION = "Sunrise over the harbour, shot on the 6:40 ferry #mornings"


class Post(BaseModel):
    owner_email: str
    caption: str
    tags: list[str]
    created: datetime
    views: int | None = None


def make_codec(*ids: str, compress: bool = True) -> EncryptionCodec:
    return EncryptionCodec(parse_key_ring(",".join(generate_key(key_id) for key_id in ids)), compress=compress)


def rotate(old: EncryptionCodec, new_id: str) -> EncryptionCodec:
    """A ring with a fresh key first and all of ``old``'s keys after it."""
    specs = [generate_key(new_id), *(key.spec() for key in old.keys)]
    return EncryptionCodec(parse_key_ring(",".join(specs)), compress=old.compress)


def values() -> list[object]:
    post = Post(
        owner_email=EMAIL, caption=CAPTION, tags=["sea", "ferry"], created=datetime(2025, 6, 14, 6, 40, tzinfo=UTC)
    )
    return [
        post,
        [post.model_copy(update={"views": n}) for n in range(20)],  # compresses well
        {"email": EMAIL, "note": CAPTION},
        EMAIL,
        "",
        None,
        42,
        b"\x00\x01raw bytes",
    ]


TYPES: list[type] = [Post, list[Post], dict, str, str, type(None), int, bytes]


@pytest.mark.parametrize("compress", [True, False])
async def test_round_trip_through_the_data_converter(compress: bool) -> None:
    converter = data_converter(make_codec("a", compress=compress))
    payloads = await converter.encode(values())
    assert all(p.metadata["encoding"] == ENCODING for p in payloads)
    assert all(p.metadata[METADATA_KEY_ID] == b"a" for p in payloads)
    assert await converter.decode(payloads, TYPES) == values()


@pytest.mark.parametrize("compress", [True, False])
async def test_ciphertext_holds_no_plaintext(compress: bool) -> None:
    payloads = await data_converter(make_codec("a", compress=compress)).encode(values())
    compressed = [p for p in payloads if METADATA_COMPRESSED in p.metadata]
    assert bool(compressed) is compress
    stored = b"".join(p.SerializeToString() for p in payloads)
    for secret in (EMAIL, CAPTION, "owner_email", "json/plain", "ferry", "dana"):
        assert secret.encode() not in stored, secret


async def test_compression_only_when_it_saves_space() -> None:
    codec = make_codec("a")
    small, large = await pydantic_data_converter.encode([7, [CAPTION] * 50])
    enc_small, enc_large = await codec.encode([small, large])
    assert METADATA_COMPRESSED not in enc_small.metadata
    assert enc_large.metadata[METADATA_COMPRESSED] == COMPRESSION_ZLIB
    assert len(enc_large.data) < len(large.SerializeToString()) / 5
    assert await codec.decode([enc_small, enc_large]) == [small, large]


async def test_same_value_encrypts_differently_each_time() -> None:
    codec = make_codec("a")
    (plain,) = await pydantic_data_converter.encode([EMAIL])
    first, second = await codec.encode([plain, plain])
    assert first.data != second.data
    assert first.data[:12] != second.data[:12]


async def test_rotation_new_key_encrypts_old_keys_decrypt() -> None:
    old = make_codec("A")
    written_before = await data_converter(old).encode(values())

    rotated = rotate(old, "B")
    assert rotated.keys.ids == ("B", "A")
    converter = data_converter(rotated)
    assert await converter.decode(written_before, TYPES) == values()
    written_after = await converter.encode(values())
    assert {p.metadata[METADATA_KEY_ID] for p in written_after} == {b"B"}
    assert await converter.decode(written_after, TYPES) == values()

    # a worker not yet given the new key cannot read new payloads, and says which key it lacks
    with pytest.raises(PayloadDecryptionError, match="key id 'B', which is not configured \\(configured: A\\)"):
        await old.decode(written_after)


async def test_unknown_key_id_names_the_id_and_the_setting() -> None:
    payloads = await make_codec("prod-2025").encode([Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')])
    with pytest.raises(PayloadDecryptionError) as caught:
        await make_codec("dev", "other").decode(payloads)
    message = str(caught.value)
    assert "key id 'prod-2025'" in message and "configured: dev, other" in message
    assert "REELMIRROR_CODEC_KEYS" in message


async def test_same_id_different_key_fails_authentication() -> None:
    payloads = await make_codec("a").encode([Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')])
    with pytest.raises(PayloadDecryptionError, match="key id 'a' failed authentication"):
        await make_codec("a").decode(payloads)


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


@pytest.mark.parametrize("where", ["nonce", "ciphertext", "tag", "truncated", "empty"])
async def test_tampered_data_is_refused(where: str) -> None:
    codec = make_codec("a")
    (payload,) = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=f'"{EMAIL}"'.encode())])
    data = payload.data
    tampered = {
        "nonce": flip(data, 3),
        "ciphertext": flip(data, 15),
        "tag": flip(data, len(data) - 1),
        "truncated": data[:-1],
        "empty": b"",
    }[where]
    bad = Payload(metadata=payload.metadata, data=tampered)
    with pytest.raises(PayloadDecryptionError, match=r"key id 'a' (failed authentication|is too short)"):
        await codec.decode([bad])


async def test_tampered_metadata_is_refused() -> None:
    codec = make_codec("a", "b")
    (plain,) = await pydantic_data_converter.encode([[CAPTION] * 50])
    (payload,) = await codec.encode([plain])
    assert payload.metadata[METADATA_COMPRESSED] == COMPRESSION_ZLIB

    uncompressed = Payload(metadata=payload.metadata, data=payload.data)
    del uncompressed.metadata[METADATA_COMPRESSED]
    with pytest.raises(PayloadDecryptionError, match="failed authentication"):
        await codec.decode([uncompressed])

    other_key = Payload(metadata=payload.metadata, data=payload.data)
    other_key.metadata[METADATA_KEY_ID] = b"b"
    with pytest.raises(PayloadDecryptionError, match="key id 'b' failed authentication"):
        await codec.decode([other_key])

    odd = Payload(metadata=payload.metadata, data=payload.data)
    odd.metadata[METADATA_COMPRESSED] = b"brotli"
    with pytest.raises(PayloadDecryptionError, match="unknown compression 'brotli'"):
        await codec.decode([odd])


async def test_original_metadata_is_inside_the_ciphertext() -> None:
    codec = make_codec("a")
    original = Payload(metadata={"encoding": b"json/plain", "messageType": b"Post"}, data=b"{}")
    (sealed,) = await codec.encode([original])
    assert set(sealed.metadata) == {"encoding", METADATA_KEY_ID}
    assert await codec.decode([sealed]) == [original]


async def test_unencrypted_payloads_pass_through_decode() -> None:
    """Histories written before encryption was switched on must still read."""
    plain = await pydantic_data_converter.encode(values())
    plain.append(Payload(metadata={"encoding": b"binary/null"}))
    plain.append(Payload(data=b"no metadata at all"))
    codec = make_codec("a")
    decoded = await codec.decode(plain)
    assert decoded == plain
    mixed = [*await codec.encode(plain[:2]), *plain[2:]]
    assert await codec.decode(mixed) == plain


async def test_no_codec_is_the_plain_pydantic_converter() -> None:
    converter = data_converter(None)
    assert converter.payload_codec is None
    assert converter.payload_converter_class is pydantic_data_converter.payload_converter_class
    assert await converter.decode(await converter.encode(values()), TYPES) == values()


async def encoded_failure(converter: DataConverter, message: str) -> Failure:
    failure = Failure()
    await converter.encode_failure(ApplicationError(message), failure)
    return failure


async def test_encrypt_failures_encodes_messages() -> None:
    converter = data_converter(make_codec("a"), encrypt_failures=True)
    failure = await encoded_failure(converter, f"caption rejected: {CAPTION}")
    assert CAPTION.encode() not in failure.SerializeToString()
    assert CAPTION in str(await converter.decode_failure(failure))

    plain = await encoded_failure(data_converter(make_codec("a")), CAPTION)
    assert CAPTION.encode() in plain.SerializeToString(), "by default only payloads are encrypted"
