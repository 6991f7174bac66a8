"""The Temporal Web UI shows what an operator needs, checked in a real browser (Debian's headless chromium).

The workflow list shows our meaningful ids; a workflow's page shows the static summary set at start and
the summaries of its activities, so an operator reads what a workflow does without decoding payloads.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from control import ops
from control.connection import DEFAULT_TASK_QUEUE, connect
from devstack.stack import LocalStack, StackConfig
from workflows.config import OnboardingInput, onboarding_workflow_id
from workflows.policies import Timing

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CHROMIUM = shutil.which("chromium")
EMAIL = "web-ui@reelmirror.test"


@pytest.fixture(scope="module")
def ui_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(StackConfig(ui_port=0, state_dir=tmp_path_factory.mktemp("ui-stack"))) as stack:
        yield stack


def rendered(url: str, profile: str) -> str:
    """The DOM after the single-page app rendered (virtual time lets its requests finish)."""
    assert CHROMIUM, "chromium is not installed: `make test` installs Debian's package"
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", url],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    return result.stdout


def test_an_onboarding_is_readable_in_the_web_ui(ui_stack: LocalStack, tmp_path) -> None:
    async def onboard() -> str:
        client = await connect(env=ui_stack.client_env(), tracing=False)
        inp = OnboardingInput(email=EMAIL, account_ref="web-ui", timing=Timing(time_scale=0.01))
        handle = await ops.start_onboarding(client, inp, DEFAULT_TASK_QUEUE)
        await asyncio.wait_for(handle.result(), timeout=120)
        return (await handle.describe()).run_id

    run_id = asyncio.run(onboard())
    workflow_id = onboarding_workflow_id(EMAIL)
    base = f"{ui_stack.temporal.ui_url}/namespaces/default/workflows"

    listing = rendered(base, str(tmp_path / "profile-list"))
    assert workflow_id in listing
    assert "OnboardingWorkflow" in listing

    page = rendered(f"{base}/{workflow_id}/{run_id}/history", str(tmp_path / "profile-page"))
    assert f"Onboarding {EMAIL} as account" in page, "the static summary given at start"
    assert f"sign up {EMAIL}" in page, "the signup activity's summary"
    assert "create API key" in page
