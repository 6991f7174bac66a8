"""What the secret store tests share: key rings with fresh random keys."""

from __future__ import annotations

import os

from codec.keys import Key, KeyRing


def make_ring(*ids: str) -> KeyRing:
    """A key ring with fresh random keys under the given ids (the first encrypts)."""
    return KeyRing(tuple(Key(key_id, os.urandom(32)) for key_id in ids))
