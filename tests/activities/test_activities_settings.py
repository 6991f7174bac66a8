"""ActivitySettings.from_env: defaults, every variable, and errors that name the bad variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.settings import ENV_VARS, ActivitySettings, SettingsError


def test_defaults_from_an_empty_environment() -> None:
    settings = ActivitySettings.from_env({})
    assert settings.base_url == "https://reelmirror.com/api"
    assert settings.secrets_dir == Path("./.state/secrets")
    assert settings.mailbox_url is None
    assert settings.stripe_api_base is None
    assert settings.stripe_publishable_key is None
    assert settings.http_timeout_seconds == 30
    assert settings.service_unavailable_retry_seconds == 60
    assert settings.payment_method is None
    # The guide promises no idempotency keys, and no auth origin is known: only Supabase's own links count.
    assert settings.ambiguous_settle_seconds == 120
    assert settings.idempotency_keys is False
    assert settings.auth_origin is None
    assert settings.secrets_url is None


def test_every_variable_is_read() -> None:
    env = {
        "REELMIRROR_BASE_URL": "http://127.0.0.1:8787/api/",
        "REELMIRROR_SECRETS_DIR": "state/keys",
        "REELMIRROR_SECRETS_URL": "postgresql://bot@db.internal:5432/reelmirror",
        "REELMIRROR_MAILBOX_URL": "http://127.0.0.1:8787",
        "STRIPE_API_BASE": "http://127.0.0.1:8420",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_abc",
        "REELMIRROR_HTTP_TIMEOUT_SECONDS": "5.5",
        "REELMIRROR_503_RETRY_SECONDS": "0.6",
        "REELMIRROR_PAYMENT_METHOD": "pm_card_visa",
        "REELMIRROR_UNUSABLE_ANSWER_BUDGET_SECONDS": "120",
        "REELMIRROR_AMBIGUOUS_SETTLE_SECONDS": "45",
        "REELMIRROR_IDEMPOTENCY_KEYS": "on",
        "REELMIRROR_AUTH_ORIGIN": "https://abcd.supabase.co/",
        "REELMIRROR_SUPABASE_ANON_KEY": "anon-key-value",
    }
    imap = {var for var in ENV_VARS if var.startswith("REELMIRROR_IMAP_")}  # tests/imap reads each of these
    assert set(env) | imap == set(ENV_VARS)
    settings = ActivitySettings.from_env(env)
    assert settings.base_url == "http://127.0.0.1:8787/api"
    assert settings.secrets_dir == Path("state/keys")
    assert settings.secrets_url is not None
    assert settings.secrets_url.get_secret_value() == "postgresql://bot@db.internal:5432/reelmirror"
    assert settings.mailbox_url == "http://127.0.0.1:8787"
    assert settings.unusable_answer_budget_seconds == 120
    assert settings.stripe_api_base == "http://127.0.0.1:8420"
    assert settings.stripe_publishable_key == "pk_test_abc"
    assert settings.http_timeout_seconds == 5.5
    assert settings.service_unavailable_retry_seconds == 0.6
    assert settings.payment_method is not None
    assert settings.payment_method.get_secret_value() == "pm_card_visa"
    assert settings.ambiguous_settle_seconds == 45
    assert settings.idempotency_keys is True
    assert settings.auth_origin == "https://abcd.supabase.co"
    assert settings.supabase_anon_key is not None
    assert settings.supabase_anon_key.get_secret_value() == "anon-key-value"


def test_empty_values_mean_default() -> None:
    settings = ActivitySettings.from_env({"REELMIRROR_MAILBOX_URL": "", "REELMIRROR_503_RETRY_SECONDS": "  "})
    assert settings.mailbox_url is None
    assert settings.service_unavailable_retry_seconds == 60


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("REELMIRROR_BASE_URL", "reelmirror.com/api"),
        ("REELMIRROR_BASE_URL", "ftp://reelmirror.com"),
        ("REELMIRROR_MAILBOX_URL", "http://"),
        ("STRIPE_API_BASE", "localhost:8420"),
        ("STRIPE_PUBLISHABLE_KEY", "sk_test_secret"),
        ("REELMIRROR_HTTP_TIMEOUT_SECONDS", "thirty"),
        ("REELMIRROR_HTTP_TIMEOUT_SECONDS", "0"),
        ("REELMIRROR_503_RETRY_SECONDS", "-1"),
        ("REELMIRROR_UNUSABLE_ANSWER_BUDGET_SECONDS", "0"),
        ("REELMIRROR_UNUSABLE_ANSWER_BUDGET_SECONDS", "nan"),
        ("REELMIRROR_PAYMENT_METHOD", "4242424242424242"),
        ("REELMIRROR_AMBIGUOUS_SETTLE_SECONDS", "0"),
        ("REELMIRROR_AMBIGUOUS_SETTLE_SECONDS", "two minutes"),
        ("REELMIRROR_IDEMPOTENCY_KEYS", "sometimes"),
        ("REELMIRROR_AUTH_ORIGIN", "abcd.supabase.co"),
        ("REELMIRROR_AUTH_ORIGIN", "https://abcd.supabase.co/auth/v1"),
        ("REELMIRROR_AUTH_ORIGIN", "https://user@abcd.supabase.co"),
        ("REELMIRROR_SECRETS_URL", "mysql://bot:hunter2@db/reelmirror"),
        ("REELMIRROR_SECRETS_URL", "db.internal:5432"),
    ],
)
def test_bad_value_names_the_variable(var: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        ActivitySettings.from_env({var: value})
    assert var in str(info.value)
    assert isinstance(info.value, ValueError)  # the worker reports ValueError in one line


def test_bad_secret_values_are_not_echoed() -> None:
    with pytest.raises(SettingsError) as info:
        ActivitySettings.from_env({"REELMIRROR_PAYMENT_METHOD": "4242424242424242"})
    assert "4242424242424242" not in str(info.value)


def test_secrets_url_is_never_echoed() -> None:
    url = "mysql://bot:hunter2@db/reelmirror"
    with pytest.raises(SettingsError) as info:
        ActivitySettings.from_env({"REELMIRROR_SECRETS_URL": url})
    assert "hunter2" not in str(info.value) and url not in str(info.value)
    settings = ActivitySettings.from_env({"REELMIRROR_SECRETS_URL": "postgresql://bot:hunter2@db/reelmirror"})
    assert "hunter2" not in repr(settings) and "hunter2" not in settings.model_dump_json()


def test_several_bad_values_are_all_reported() -> None:
    with pytest.raises(SettingsError) as info:
        ActivitySettings.from_env({"REELMIRROR_HTTP_TIMEOUT_SECONDS": "x", "REELMIRROR_BASE_URL": "nope"})
    assert "REELMIRROR_HTTP_TIMEOUT_SECONDS" in str(info.value)
    assert "REELMIRROR_BASE_URL" in str(info.value)


def test_payment_method_not_in_repr() -> None:
    settings = ActivitySettings.from_env({"REELMIRROR_PAYMENT_METHOD": "pm_card_visa"})
    assert "pm_card_visa" not in repr(settings)
    assert "pm_card_visa" not in str(settings)
    assert "pm_card_visa" not in settings.model_dump_json()


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELMIRROR_503_RETRY_SECONDS", "3")
    assert ActivitySettings.from_env().service_unavailable_retry_seconds == 3
