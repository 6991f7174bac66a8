"""The Temporal Cloud profile that deploy/README.md shows loads through `control.connection.connect_config`
as the worker and the CLI load it: address, namespace, API key and TLS from the TOML file, chosen by
TEMPORAL_PROFILE, with environment variables overriding the file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from control.connection import DEFAULT_ADDRESS, connect_config

README = Path(__file__).resolve().parents[2] / "deploy" / "README.md"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 1, "deploy/README.md should show one TOML profile"
    path = tmp_path / "temporal.toml"
    path.write_text(blocks[0])
    return path


def test_the_readme_profile_selected_by_temporal_profile(config_file: Path) -> None:
    config = connect_config(env={"TEMPORAL_PROFILE": "cloud", "TEMPORAL_CONFIG_FILE": str(config_file)})
    assert config["target_host"] == "us-east-1.aws.api.temporal.io:7233"
    assert config["namespace"] == "reelmirror-prod.a1b2c"
    assert config["api_key"] == "paste-the-api-key-here"
    assert isinstance(config["tls"], TLSConfig)


def test_a_profile_argument_selects_it_too(config_file: Path) -> None:
    config = connect_config("cloud", env={"TEMPORAL_CONFIG_FILE": str(config_file)})
    assert config["namespace"] == "reelmirror-prod.a1b2c"


def test_environment_variables_override_the_file(config_file: Path) -> None:
    env = {
        "TEMPORAL_PROFILE": "cloud",
        "TEMPORAL_CONFIG_FILE": str(config_file),
        "TEMPORAL_API_KEY": "key-from-an-env-file",
        "TEMPORAL_ADDRESS": "temporal:7233",
    }
    config = connect_config(env=env)
    assert config["api_key"] == "key-from-an-env-file"
    assert config["target_host"] == "temporal:7233"


def test_without_the_profile_the_local_default(config_file: Path) -> None:
    config = connect_config(env={"TEMPORAL_CONFIG_FILE": str(config_file)})
    assert config["target_host"] == DEFAULT_ADDRESS
    assert "api_key" not in config and not config.get("tls")
