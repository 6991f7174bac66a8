"""The Temporal Web UI shows what an operator needs, checked in a real browser (Debian's headless chromium).

Payloads are encrypted, so the UI reads them through the stack's codec server (`--ui-codec-endpoint`):
the workflow list shows our meaningful ids; a workflow's page shows its input, the static summary set at
start and the summaries of its activities. Started again without the codec endpoint, the same page shows
only ciphertext. Set REELMIRROR_SCREENSHOTS_DIR to keep the two screenshots (docs/ holds the last ones).
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from control import ops
from control.connection import DEFAULT_TASK_QUEUE, connect
from devstack.stack import LocalStack, StackConfig
from workflows.config import OnboardingInput, onboarding_workflow_id
from workflows.policies import Timing

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CHROMIUM = shutil.which("chromium")
EMAIL = "web-ui@reelmirror.test"
ACCOUNT = "web-ui"
SCREENSHOTS = os.environ.get("REELMIRROR_SCREENSHOTS_DIR")


@dataclass
class Onboarded:
    stack: LocalStack
    run_id: str
    input_ciphertext: str  # base64 of the stored (encrypted) input, as the UI shows it without the codec

    @property
    def history_url(self) -> str:
        workflows = f"{self.stack.temporal.ui_url}/namespaces/default/workflows"
        return f"{workflows}/{onboarding_workflow_id(ACCOUNT)}/{self.run_id}/history"


@pytest.fixture(scope="module")
def onboarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Onboarded]:
    config = StackConfig(ui_port=0, persistent_temporal=True, state_dir=tmp_path_factory.mktemp("ui-stack"))
    with LocalStack(config) as stack:
        assert stack.codec_server is not None and stack.temporal.codec_endpoint == stack.codec_server.url

        async def onboard() -> tuple[str, str]:
            client = await connect(env=stack.client_env(), tracing=False)
            inp = OnboardingInput(email=EMAIL, account_ref=ACCOUNT, timing=Timing(time_scale=0.01))
            handle = await ops.start_onboarding(client, inp, DEFAULT_TASK_QUEUE)
            await asyncio.wait_for(handle.result(), timeout=120)
            history = await handle.fetch_history()
            stored = history.events[0].workflow_execution_started_event_attributes.input.payloads[0].data
            return (await handle.describe()).run_id, base64.b64encode(stored).decode()

        run_id, ciphertext = asyncio.run(onboard())
        yield Onboarded(stack, run_id, ciphertext)


def chromium(url: str, profile: Path, *extra: str) -> str:
    """Run headless chromium on `url` after the single-page app rendered (virtual time lets its requests finish)."""
    assert CHROMIUM, "chromium is not installed: `make test` installs Debian's package"
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--window-size=1280,900", *extra, url],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    return result.stdout


def rendered(url: str, profile: Path) -> str:
    """The DOM after rendering."""
    return chromium(url, profile, "--dump-dom")


def screenshot(url: str, tmp_path: Path, name: str) -> Path:
    """A PNG of the page's first screen; copied to REELMIRROR_SCREENSHOTS_DIR when that is set."""
    path = tmp_path / name
    chromium(url, tmp_path / f"profile-{name}", "--hide-scrollbars", f"--screenshot={path}")
    assert path.stat().st_size > 10_000, "an empty screenshot"
    if SCREENSHOTS:
        shutil.copy(path, Path(SCREENSHOTS) / name)
    return path


def test_an_onboarding_is_readable_through_the_codec_server(onboarded: Onboarded, tmp_path: Path) -> None:
    workflow_id = onboarding_workflow_id(ACCOUNT)
    listing = rendered(f"{onboarded.stack.temporal.ui_url}/namespaces/default/workflows", tmp_path / "list")
    assert workflow_id in listing
    assert "OnboardingWorkflow" in listing

    page = rendered(onboarded.history_url, tmp_path / "page")
    assert EMAIL in page, "the decoded input"
    assert f"Onboarding {EMAIL} as account" in page, "the static summary given at start"
    assert f"sign up {EMAIL}" in page, "the signup activity's summary"
    assert "create API key" in page
    assert onboarded.input_ciphertext[:32] not in page
    screenshot(onboarded.history_url, tmp_path, "web-ui-with-codec-server.png")


def test_without_the_codec_endpoint_the_ui_shows_ciphertext(onboarded: Onboarded, tmp_path: Path) -> None:
    temporal = onboarded.stack.temporal
    temporal.codec_endpoint = None
    temporal.restart()  # same database, same UI port, no --ui-codec-endpoint

    page = rendered(onboarded.history_url, tmp_path / "page")
    assert onboarded.input_ciphertext[:32] in page, "the stored input, shown as it is: ciphertext"
    assert EMAIL not in page
    assert "create API key" not in page, "summaries are encrypted too"
    assert onboarding_workflow_id(ACCOUNT) in page, "ids stay readable"
    screenshot(onboarded.history_url, tmp_path, "web-ui-without-codec-server.png")
