"""Persona files: every kind of mistake is refused with one line naming the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from control.config_file import load_persona_config
from control.ops import OperatorError

GOOD = """
name = "Sunset Kitchen"
writing_style = "Warm"
sync_interval_minutes = 30
[[sources]]
platform = "instagram"
username = "sunset_chef"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "persona.toml"
    path.write_text(text)
    return path


def test_example_file_is_valid() -> None:
    config = load_persona_config(Path(__file__).parents[2] / "examples" / "demo-persona.toml")
    assert config.workflow_id == "persona-sunset-kitchen"
    assert [s.automation_mode for s in config.sources] == ["sync_only", "auto_clone"]
    assert config.approval.mode == "manual"


def test_good_file_defaults() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        config = load_persona_config(write(Path(d), GOOD))
    assert config.sources[0].automation_mode == "sync_only"
    assert config.posts_per_cycle == 3
    assert config.daily_credit_budget_cents is None
    assert config.max_cycles is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace('name = "Sunset Kitchen"\n', ""), "name: is required"),
        (
            GOOD.replace('platform = "instagram"', 'platform = "myspace"'),
            "sources[0].platform: unknown platform 'myspace'",
        ),
        (GOOD + 'automation_mode = "auto_everything"\n', "sources[0].automation_mode: unknown automation_mode"),
        (
            GOOD.replace("sync_interval_minutes = 30", "sync_interval_minutes = 5"),
            "sync_interval_minutes: must be at least 15",
        ),
        (
            GOOD.replace("sync_interval_minutes = 30", "daily_credit_budget_cents = -1"),
            "daily_credit_budget_cents: Input should be greater than or equal to 0",
        ),
        (
            GOOD.replace("sync_interval_minutes = 30", "sync_intervall_minutes = 30"),
            "sync_intervall_minutes: is not a known setting",
        ),
        (GOOD + "[[sources]]\nplatform = 'instagram'\nusername = 'sunset_chef'\n", "listed twice"),
        ('name = "x"\nsources = []\n', "sources: List should have at least 1 item"),
        (
            GOOD + "[[publishing_accounts]]\nplatform = 'instagram'\n",
            "give connected_account_id, or platform and username",
        ),
        (GOOD + "[approval]\nmode = 'sometimes'\n", "approval.mode: Input should be 'manual' or 'auto'"),
        ("name = ", "not valid TOML"),
        # numbers a slip of the keyboard makes: NaN, infinity, absurd magnitudes, each named
        (GOOD.replace("sync_interval_minutes = 30", "sync_interval_minutes = nan"), "sync_interval_minutes: Input"),
        (GOOD.replace("sync_interval_minutes = 30", "sync_interval_minutes = inf"), "sync_interval_minutes: Input"),
        (GOOD.replace("sync_interval_minutes = 30", "sync_interval_minutes = 1e12"), "sync_interval_minutes: Input"),
        (GOOD + "[approval]\ntimeout_minutes = -inf\n", "approval.timeout_minutes: Input"),
        (GOOD + "[approval]\ntimeout_minutes = 1e300\n", "approval.timeout_minutes: Input"),
        (GOOD.replace("sync_interval_minutes = 30", "daily_credit_budget_cents = 99999999999"), "daily_credit_budget"),
        (GOOD + "[costs]\nvideo_cents = 1000000000\n", "costs.video_cents: Input"),
        (GOOD.replace("sync_interval_minutes = 30", "max_cycles = 10000000000"), "max_cycles: Input"),
        (GOOD.replace("sync_interval_minutes = 30", "backlog = 5000"), "backlog: "),
        (GOOD.replace("sync_interval_minutes = 30", "backlog = 'all'"), "backlog: "),
    ],
)
def test_bad_files_are_refused_with_the_field_named(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(OperatorError) as caught:
        load_persona_config(write(tmp_path, text))
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert message.startswith(str(tmp_path))


@pytest.mark.parametrize(("value", "posts"), [("'none'", 0), ("0", 0), ("7", 7)])
def test_the_backlog_policy(tmp_path: Path, value: str, posts: int) -> None:
    config = load_persona_config(write(tmp_path, GOOD.replace("sync_interval_minutes = 30", f"backlog = {value}")))
    assert config.backlog_posts == posts


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(OperatorError, match="no such file"):
        load_persona_config(tmp_path / "nope.toml")
