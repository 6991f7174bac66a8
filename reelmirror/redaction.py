"""Secret scrubbing for every text this package lets out (exception messages, log lines).

Why a module of its own: the client, the Supabase and Stripe helpers and the exception classes all
need it, and none of them should have to import the others to get it. Two layers, because neither is
enough alone: patterns catch the known secret shapes even when the caller did not know a value was
secret (a server echoing a key back in a 401 message); explicit values catch the shapes no pattern
knows (a password, an opaque refresh token, an idempotency key someone made secret).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import SecretStr

__all__ = ["MIN_SECRET_CHARS", "redact", "secret_value"]

#: Explicit secrets shorter than this are not replaced: masking every "a" or "1" in a message would
#: destroy it and protect nothing.
MIN_SECRET_CHARS = 4

_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s\"',;]+"), r"\1 [redacted]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    (re.compile(r"\brm_[A-Za-z0-9_-]{6,}"), "rm_[redacted]"),
    (re.compile(r"\b((?:seti|pi)_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+"), r"\1_secret_[redacted]"),
    (re.compile(r"\b(sk|rk)_(test|live)_[A-Za-z0-9]+"), r"\1_\2_[redacted]"),
    (
        re.compile(r"(?i)\b(access_token|refresh_token|password|client_secret|token|code)=[^&\s#]+"),
        r"\1=[redacted]",
    ),
    (
        re.compile(r"(?i)(\"(?:access_token|refresh_token|password)\"\s*:\s*\")[^\"]*(\")"),
        r"\1[redacted]\2",
    ),
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Mask anything that looks like a credential, and every value in ``secrets``.

    Explicit values go first, longest first, so a secret that contains another is masked whole.
    """
    for secret in sorted((s for s in secrets if s and len(s) >= MIN_SECRET_CHARS), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def secret_value(value: SecretStr | str | None) -> str | None:
    """The plain text of a secret that may or may not be wrapped, for the one place that must send it."""
    if value is None:
        return None
    return value.get_secret_value() if isinstance(value, SecretStr) else value
