"""IMAP settings and mailbox selection: every variable read, each mistake reported in one line naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from activities.imap_mailbox import ImapMailbox, PasswordFile, mailbox_from_settings
from activities.mailbox import SimulatorMailbox
from activities.secrets import SecretStoreError
from activities.settings import ENV_VARS, ActivitySettings, SettingsError
from devstack.dovecot import make_test_certificates
from devstack.ports import free_port

REPO = Path(__file__).parents[2]
PASSWORD = "correct horse battery staple"


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "imap-password"
    path.write_text(PASSWORD + "\n")
    path.chmod(0o600)
    return path


def _imap_env(password_file: Path, **extra: str) -> dict[str, str]:
    return {
        "REELMIRROR_IMAP_HOST": "imap.example.com",
        "REELMIRROR_IMAP_USER": "bots@example.com",
        "REELMIRROR_IMAP_PASSWORD_FILE": str(password_file),
        **extra,
    }


def test_imap_defaults() -> None:
    settings = ActivitySettings.from_env({})
    assert settings.imap_host is None
    assert settings.imap_port is None
    assert settings.imap_security == "tls"
    assert settings.imap_allow_plain is False
    assert settings.imap_user is None
    assert settings.imap_password_file is None
    assert settings.imap_folder == "INBOX"
    assert settings.imap_ca_file is None
    assert settings.imap_timeout_seconds == 20
    assert settings.imap_max_age_hours == 24


def test_every_imap_variable_is_read() -> None:
    env = {
        "REELMIRROR_IMAP_HOST": "imap.example.com",
        "REELMIRROR_IMAP_PORT": "1993",
        "REELMIRROR_IMAP_SECURITY": "starttls",
        "REELMIRROR_IMAP_ALLOW_PLAIN": "true",
        "REELMIRROR_IMAP_USER": "bots@example.com",
        "REELMIRROR_IMAP_PASSWORD_FILE": "/run/secrets/imap",
        "REELMIRROR_IMAP_FOLDER": "Signups",
        "REELMIRROR_IMAP_CA_FILE": "/etc/reelmirror/ca.pem",
        "REELMIRROR_IMAP_TIMEOUT_SECONDS": "7.5",
        "REELMIRROR_IMAP_MAX_AGE_HOURS": "2",
    }
    assert set(env) == {var for var in ENV_VARS if var.startswith("REELMIRROR_IMAP_")}
    settings = ActivitySettings.from_env(env)
    assert settings.imap_host == "imap.example.com"
    assert settings.imap_port == 1993
    assert settings.imap_security == "starttls"
    assert settings.imap_allow_plain is True
    assert settings.imap_user == "bots@example.com"
    assert settings.imap_password_file == Path("/run/secrets/imap")
    assert settings.imap_folder == "Signups"
    assert settings.imap_ca_file == Path("/etc/reelmirror/ca.pem")
    assert settings.imap_timeout_seconds == 7.5
    assert settings.imap_max_age_hours == 2


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("REELMIRROR_IMAP_HOST", "imaps://imap.example.com"),
        ("REELMIRROR_IMAP_HOST", "imap.example.com:993"),
        ("REELMIRROR_IMAP_HOST", "imap example com"),
        ("REELMIRROR_IMAP_PORT", "0"),
        ("REELMIRROR_IMAP_PORT", "70000"),
        ("REELMIRROR_IMAP_PORT", "imaps"),
        ("REELMIRROR_IMAP_SECURITY", "ssl"),
        ("REELMIRROR_IMAP_ALLOW_PLAIN", "perhaps"),
        ("REELMIRROR_IMAP_FOLDER", "IN\x07BOX"),
        ("REELMIRROR_IMAP_USER", "bots\x1b@example.com"),
        ("REELMIRROR_IMAP_TIMEOUT_SECONDS", "0"),
        ("REELMIRROR_IMAP_TIMEOUT_SECONDS", "1000"),
        ("REELMIRROR_IMAP_MAX_AGE_HOURS", "-1"),
    ],
)
def test_bad_imap_value_names_the_variable(var: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        ActivitySettings.from_env({var: value})
    assert var in str(info.value)
    assert "\n" not in str(info.value)


# -- selection -----------------------------------------------------------------------------------------


def test_no_mailbox_configured_is_none() -> None:
    assert mailbox_from_settings(ActivitySettings.from_env({})) is None


def test_mailbox_url_selects_the_simulator() -> None:
    mailbox = mailbox_from_settings(ActivitySettings.from_env({"REELMIRROR_MAILBOX_URL": "http://127.0.0.1:8787"}))
    assert isinstance(mailbox, SimulatorMailbox)
    assert mailbox.origin == "http://127.0.0.1:8787"


def test_imap_host_selects_imap_with_the_usual_port(password_file: Path) -> None:
    mailbox = mailbox_from_settings(ActivitySettings.from_env(_imap_env(password_file)))
    assert isinstance(mailbox, ImapMailbox)
    assert (mailbox.host, mailbox.port, mailbox.security, mailbox.folder) == ("imap.example.com", 993, "tls", "INBOX")
    starttls = mailbox_from_settings(
        ActivitySettings.from_env(_imap_env(password_file, REELMIRROR_IMAP_SECURITY="starttls"))
    )
    assert isinstance(starttls, ImapMailbox) and starttls.port == 143
    assert PASSWORD not in repr(mailbox)


def test_both_mailboxes_is_an_error_naming_both(password_file: Path) -> None:
    env = _imap_env(password_file, REELMIRROR_MAILBOX_URL="http://127.0.0.1:8787")
    with pytest.raises(SettingsError) as info:
        mailbox_from_settings(ActivitySettings.from_env(env))
    assert "REELMIRROR_IMAP_HOST" in str(info.value) and "REELMIRROR_MAILBOX_URL" in str(info.value)


def test_missing_user_and_password_file_are_both_named() -> None:
    with pytest.raises(SettingsError) as info:
        mailbox_from_settings(ActivitySettings.from_env({"REELMIRROR_IMAP_HOST": "imap.example.com"}))
    assert "REELMIRROR_IMAP_USER" in str(info.value)
    assert "REELMIRROR_IMAP_PASSWORD_FILE" in str(info.value)


def test_imap_variables_without_a_host_are_named() -> None:
    env = {"REELMIRROR_IMAP_USER": "bots@example.com", "REELMIRROR_IMAP_SECURITY": "starttls"}
    with pytest.raises(SettingsError) as info:
        mailbox_from_settings(ActivitySettings.from_env(env))
    assert "REELMIRROR_IMAP_USER" in str(info.value) and "REELMIRROR_IMAP_SECURITY" in str(info.value)


def test_plain_to_a_remote_host_needs_the_explicit_flag(password_file: Path) -> None:
    env = _imap_env(password_file, REELMIRROR_IMAP_SECURITY="plain")
    with pytest.raises(SettingsError) as info:
        mailbox_from_settings(ActivitySettings.from_env(env))
    assert "REELMIRROR_IMAP_SECURITY" in str(info.value) and "REELMIRROR_IMAP_ALLOW_PLAIN" in str(info.value)
    allowed = mailbox_from_settings(ActivitySettings.from_env({**env, "REELMIRROR_IMAP_ALLOW_PLAIN": "1"}))
    assert isinstance(allowed, ImapMailbox) and allowed.port == 143
    loopback = mailbox_from_settings(ActivitySettings.from_env({**env, "REELMIRROR_IMAP_HOST": "127.0.0.1"}))
    assert isinstance(loopback, ImapMailbox)


def test_ca_file_must_load(password_file: Path, tmp_path: Path) -> None:
    missing = _imap_env(password_file, REELMIRROR_IMAP_CA_FILE=str(tmp_path / "nope.pem"))
    with pytest.raises(SettingsError, match="REELMIRROR_IMAP_CA_FILE"):
        mailbox_from_settings(ActivitySettings.from_env(missing))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(SettingsError, match="REELMIRROR_IMAP_CA_FILE"):
        mailbox_from_settings(ActivitySettings.from_env(_imap_env(password_file, REELMIRROR_IMAP_CA_FILE=str(garbage))))
    good = make_test_certificates(tmp_path / "tls").ca_file
    assert mailbox_from_settings(ActivitySettings.from_env(_imap_env(password_file, REELMIRROR_IMAP_CA_FILE=str(good))))
    plain = _imap_env(
        password_file, REELMIRROR_IMAP_CA_FILE=str(good), REELMIRROR_IMAP_SECURITY="plain", REELMIRROR_IMAP_HOST="::1"
    )
    with pytest.raises(SettingsError, match="REELMIRROR_IMAP_CA_FILE"):
        mailbox_from_settings(ActivitySettings.from_env(plain))


# -- the password file ---------------------------------------------------------------------------------


def test_password_file_is_read_at_each_use(password_file: Path) -> None:
    read = PasswordFile(password_file)
    assert read().get_secret_value() == PASSWORD
    password_file.write_text("rotated")
    assert read().get_secret_value() == "rotated"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_password_file_readable_by_others_is_refused(password_file: Path, mode: int) -> None:
    password_file.chmod(mode)
    with pytest.raises(SecretStoreError, match="chmod 600"):
        PasswordFile(password_file)()
    with pytest.raises(SettingsError) as info:
        mailbox_from_settings(ActivitySettings.from_env(_imap_env(password_file)))
    assert "REELMIRROR_IMAP_PASSWORD_FILE" in str(info.value)
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize("content", ["", "\n", "two\nlines\n"])
def test_password_file_must_hold_one_line(password_file: Path, content: str) -> None:
    password_file.write_text(content)
    with pytest.raises(SecretStoreError, match="one line"):
        PasswordFile(password_file)()


def test_missing_password_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as info:
        mailbox_from_settings(ActivitySettings.from_env(_imap_env(tmp_path / "absent")))
    assert "REELMIRROR_IMAP_PASSWORD_FILE" in str(info.value)


def test_worker_refuses_half_an_imap_configuration_before_it_connects(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",  # closed: reaching it would fail differently
        "REELMIRROR_SECRETS_DIR": str(tmp_path / "secrets"),
        "REELMIRROR_IMAP_HOST": "imap.example.com",
        "REELMIRROR_CODEC": "off",
    }
    result = subprocess.run(
        [sys.executable, str(REPO / "worker.py")], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert "REELMIRROR_IMAP_USER" in result.stderr and "REELMIRROR_IMAP_PASSWORD_FILE" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
