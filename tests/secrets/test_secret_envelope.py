"""Envelope encryption of one secret: round trip, fresh keys and nonces, tamper and copy detection, rotation."""

from __future__ import annotations

import dataclasses

import pytest
from secret_helpers import make_ring

from activities.secret_envelope import SecretDecryptionError, open_secret, rewrap, seal
from codec.keys import KeyRing

VALUE = "rm_" + "s" * 40


def _flip(data: bytes, index: int = -1) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)


def test_round_trip_and_key_id() -> None:
    ring = make_ring("k1", "k0")
    sealed = seal(ring, "acct", "api_key", VALUE)
    assert sealed.key_id == "k1"
    assert VALUE.encode() not in sealed.ciphertext
    assert open_secret(ring, "acct", "api_key", sealed) == VALUE
    assert VALUE not in repr(sealed)


def test_every_seal_uses_a_fresh_data_key_and_nonce() -> None:
    ring = make_ring("k1")
    first, second = seal(ring, "acct", "api_key", VALUE), seal(ring, "acct", "api_key", VALUE)
    assert first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext
    assert first.wrapped_key != second.wrapped_key


@pytest.mark.parametrize("part", ["ciphertext", "nonce", "wrapped_key"])
def test_an_altered_byte_fails_authentication(part: str) -> None:
    ring = make_ring("k1")
    sealed = seal(ring, "acct", "api_key", VALUE)
    altered = dataclasses.replace(sealed, **{part: _flip(getattr(sealed, part))})
    with pytest.raises(SecretDecryptionError) as info:
        open_secret(ring, "acct", "api_key", altered)
    assert "fails authentication" in str(info.value)
    assert VALUE not in str(info.value)


@pytest.mark.parametrize(("account_ref", "name"), [("other", "api_key"), ("acct", "password")])
def test_a_secret_copied_to_another_row_does_not_open(account_ref: str, name: str) -> None:
    ring = make_ring("k1")
    sealed = seal(ring, "acct", "api_key", VALUE)
    with pytest.raises(SecretDecryptionError):
        open_secret(ring, account_ref, name, sealed)


def test_a_changed_key_id_does_not_open() -> None:
    """Both keys configured, the stored key id swapped: the wrapped key is bound to its own id."""
    ring = make_ring("k1", "k0")
    sealed = seal(ring, "acct", "api_key", VALUE)
    with pytest.raises(SecretDecryptionError):
        open_secret(ring, "acct", "api_key", dataclasses.replace(sealed, key_id="k0"))


def test_an_unknown_key_id_names_the_key_and_the_settings() -> None:
    sealed = seal(make_ring("old"), "acct", "api_key", VALUE)
    with pytest.raises(SecretDecryptionError) as info:
        open_secret(make_ring("new"), "acct", "api_key", sealed)
    text = str(info.value)
    assert "'old'" in text and "configured: new" in text
    assert "REELMIRROR_CODEC_KEYS" in text and "REELMIRROR_CODEC_KEY_FILE" in text


def test_rotation_rewraps_the_data_key_and_leaves_the_value() -> None:
    old = make_ring("a")
    sealed = seal(old, "acct", "api_key", VALUE)
    both = KeyRing((make_ring("b").current, old.current))  # b first: b seals, a still opens
    assert open_secret(both, "acct", "api_key", sealed) == VALUE
    fresh = rewrap(both, "acct", "api_key", sealed)
    assert fresh is not None
    assert fresh.key_id == "b"
    assert (fresh.nonce, fresh.ciphertext) == (sealed.nonce, sealed.ciphertext)
    only_new = KeyRing((both.current,))
    assert open_secret(only_new, "acct", "api_key", fresh) == VALUE
    assert rewrap(only_new, "acct", "api_key", fresh) is None
