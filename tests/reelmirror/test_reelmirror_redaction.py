"""Secret scrubbing: the known shapes by pattern, everything else by explicit value."""

from __future__ import annotations

import secrets

from pydantic import SecretStr

from reelmirror.redaction import redact, secret_value


def test_redact_masks_known_secret_shapes() -> None:
    key = "rm_" + secrets.token_hex(16)
    jwt_like = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl"
    client_secret = f"seti_{secrets.token_hex(6)}_secret_{secrets.token_hex(8)}"
    sk = "sk_test_" + secrets.token_hex(8)
    text = f"key {key} jwt {jwt_like} cs {client_secret} sk {sk} hdr Bearer abc.def"
    clean = redact(text)
    for secret in (key, jwt_like, client_secret, sk, "abc.def"):
        assert secret not in clean
    assert client_secret.split("_secret_")[0] in clean  # the intent id is not a secret


def test_redact_masks_query_and_json_secrets_but_keeps_error_codes() -> None:
    refresh = secrets.token_urlsafe(12)
    text = (
        f"#access_token=abc&refresh_token={refresh}&error_code=otp_expired ?code=xyz123 "
        f'{{"password": "hunter22", "refresh_token": "{refresh}"}}'
    )
    clean = redact(text)
    assert refresh not in clean and "hunter22" not in clean and "xyz123" not in clean
    assert "error_code=otp_expired" in clean


def test_redact_masks_explicit_values_longest_first() -> None:
    password = secrets.token_urlsafe(12)
    assert password not in redact(f"bad password {password}", [password])
    inner = password[:6]
    assert redact(f"x {password} y", [inner, password]) == "x [redacted] y"
    assert redact("a b c", ["a", None, ""]) == "a b c"  # too short to mask meaningfully


def test_secret_value_unwraps() -> None:
    assert secret_value(SecretStr("s3cret")) == "s3cret"
    assert secret_value("plain") == "plain"
    assert secret_value(None) is None
