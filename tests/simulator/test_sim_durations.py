"""Per-kind duration overrides, from the command line and at runtime (a benchmark uses video=120:140)."""

from __future__ import annotations

import httpx
import pytest
from sim_helpers import Account, Content, Onboard, SyncedPersona

from simulator.admin import SimulatorAdmin
from simulator.cli import config_from_args
from simulator.config import SimulatorConfig
from simulator.server import SimulatorServer


def video_durations(server: SimulatorServer) -> list[float]:
    """Drawn durations (simulated seconds) of every video media item generated so far, oldest first."""
    posts = sorted(server.simulator.core.state.generated_posts.values(), key=lambda post: post.created_at)
    return [item.due_at - item.created_at for post in posts for item in post.media_items if item.type == "video"]


async def generate_videos(api: httpx.AsyncClient, account: Account, content: Content, count: int) -> None:
    body = {"source_post_id": content.post_of("video")["id"], "persona_id": content.persona_id}
    for _ in range(count):
        assert (await api.post("/v1/generate", headers=account.headers, json=body)).status_code == 201


def test_command_line_override_reaches_the_runtime_config() -> None:
    config = config_from_args(["--duration", "video=120:140", "--duration", "sync=1:2"])
    durations = config.runtime.durations_seconds
    assert (durations.video.min, durations.video.max) == (120, 140)
    assert (durations.sync.min, durations.sync.max) == (1, 2)
    assert (durations.image.min, durations.image.max) == (20, 90)  # untouched kinds keep the guide's range


async def test_runtime_override_applies_to_new_jobs_only(
    api: httpx.AsyncClient,
    onboard: Onboard,
    synced_persona: SyncedPersona,
    sim_admin: SimulatorAdmin,
    simulator: SimulatorServer,
) -> None:
    account = await onboard(topup=5000)
    content = await synced_persona(account)
    await sim_admin.patch_config({"durations_seconds": {"video": [500, 500]}})
    await generate_videos(api, account, content, 1)
    patched = await sim_admin.patch_config({"durations_seconds": {"video": [120, 140]}})
    assert patched["durations_seconds"]["video"] == [120, 140]
    await generate_videos(api, account, content, 8)
    first, *rest = video_durations(simulator)
    assert first == pytest.approx(500)
    assert len(rest) == 8 and all(120 <= duration <= 140 for duration in rest)
    assert len({round(duration, 6) for duration in rest}) > 1  # drawn, not pinned to one end


@pytest.fixture
def simulator_config(simulator_config: SimulatorConfig) -> SimulatorConfig:
    """The usual test simulator started as with ``--duration video=120:140``."""
    overridden = config_from_args(["--duration", "video=120:140"]).runtime.durations_seconds
    runtime = simulator_config.runtime.model_copy(update={"durations_seconds": overridden})
    return simulator_config.model_copy(update={"runtime": runtime})


async def test_started_with_an_override(
    api: httpx.AsyncClient,
    onboard: Onboard,
    synced_persona: SyncedPersona,
    sim_admin: SimulatorAdmin,
    simulator: SimulatorServer,
) -> None:
    assert (await sim_admin.config())["durations_seconds"]["video"] == [120, 140]
    account = await onboard(topup=5000)
    content = await synced_persona(account)
    await generate_videos(api, account, content, 5)
    assert all(120 <= duration <= 140 for duration in video_durations(simulator))
    # A reset that restores the startup knobs restores the override, not the guide's range.
    await sim_admin.patch_config({"durations_seconds": {"video": [1, 2]}})
    await sim_admin.reset(config=True)
    assert (await sim_admin.config())["durations_seconds"]["video"] == [120, 140]
