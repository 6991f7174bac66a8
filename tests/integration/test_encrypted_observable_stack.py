"""A full cycle on a local stack configured like production: encrypted, measured, probed, traced to a dead collector.

One onboarding with a card and one persona cycle of two posts (one rejected, one approved and published)
run on a worker process with the payload key, a Prometheus endpoint, health endpoints and an OTLP
endpoint nobody listens on. Then:

* the worker's `/metrics` moved by exactly what happened (2 generates, 1 approval, 1 rejection ...);
* `/live` and `/ready` answer;
* the histories, read raw by a client without the key, hold no e-mail address, writing style, caption,
  confirmation link or token, and neither do the workflow ids or search attributes; every payload is
  ciphertext, and the codec server turns it back into the input;
* the dead collector cost one log line and nothing else.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.api.history.v1 import History
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.secrets import FileSecretStore
from control import ops
from control.connection import DEFAULT_TASK_QUEUE
from devstack.ports import free_port
from devstack.stack import LocalStack, StackConfig
from observability.scrape import Sample, parse, total
from simulator.admin import SimulatorAdmin
from tests.integration.history_scan import findings, scan
from workflows.config import AutoReloadConfig, CostTable, OnboardingInput, PersonaConfig, onboarding_workflow_id
from workflows.models import PersonaStatus
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.policies import Timing
from workflows.search_attributes import PERSONA

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EMAIL = "observable-bot@reelmirror.test"
ACCOUNT = "observable"
WRITING_STYLE = "Whisper-quiet lowercase prose that ends in three dots"
TIMING = Timing(time_scale=0.01)
METRICS_PORT = free_port()
HEALTH_PORT = free_port()
DEAD_COLLECTOR = f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def stack_config(tmp_path_factory: pytest.TempPathFactory) -> StackConfig:
    return StackConfig(
        time_scale=0.01,
        ui_port=None,
        state_dir=tmp_path_factory.mktemp("observable-stack"),
        codec_server=True,
        worker_env={
            "REELMIRROR_METRICS_PORT": f"127.0.0.1:{METRICS_PORT}",
            "REELMIRROR_HEALTH_PORT": f"127.0.0.1:{HEALTH_PORT}",
            "OTEL_EXPORTER_OTLP_ENDPOINT": DEAD_COLLECTOR,
            "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
        },
    )


def scrape() -> list[Sample]:
    return parse(httpx.get(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5).text)


@dataclass
class Cycle:
    before: list[Sample]
    after: list[Sample]
    final: PersonaStatus
    captions: list[str]
    workflow_ids: list[str]
    link: str
    secrets: list[str] = field(default_factory=list)

    def delta(self, name: str, **labels: str) -> float:
        return total(self.after, name, **labels) - total(self.before, name, **labels)


async def run_cycle(client: Client, admin: SimulatorAdmin, stack: LocalStack) -> Cycle:
    before = scrape()
    onboarding = await ops.start_onboarding(
        client,
        OnboardingInput(
            email=EMAIL, account_ref=ACCOUNT, attach_card=True,
            auto_reload=AutoReloadConfig(threshold_cents=300, amount_cents=2500), timing=TIMING,
        ),
        DEFAULT_TASK_QUEUE,
    )  # fmt: skip
    await asyncio.wait_for(onboarding.result(), timeout=120)
    await admin.connect_account(EMAIL, "instagram", "observable_official")
    config = PersonaConfig.model_validate(
        {
            "name": "Observable Persona",
            "writing_style": WRITING_STYLE,
            "sources": [{"platform": "instagram", "username": "observable_chef", "automation_mode": "sync_only"}],
            "publishing_accounts": [{"platform": "instagram", "username": "observable_official"}],
            "sync_interval_minutes": 15,
            "posts_per_cycle": 2,
            "max_concurrent_posts": 2,
            "max_cycles": 1,
            "approval": {"mode": "manual"},
        }
    )
    handle, _ = await ops.start_persona(client, ACCOUNT, config, TIMING, DEFAULT_TASK_QUEUE)
    decided: dict[str, bool] = {}
    captions: list[str] = []
    result = asyncio.ensure_future(handle.result())
    async with asyncio.timeout(180):
        while not result.done():
            for pending in (await handle.query(PersonaLoopWorkflow.status)).pending_approvals:
                if pending.generated_post_id not in decided:
                    decided[pending.generated_post_id] = approve = bool(decided)  # reject the first
                    captions.append(pending.caption or "")
                    await ops.decide(client, pending.generated_post_id, approve=approve, reason="too loud")
            await asyncio.wait({result}, timeout=0.3)
    query = f"WorkflowType = 'ContentPostWorkflow' AND {PERSONA.name} = '{config.persona_slug}'"
    post_ids = [execution.id async for execution in client.list_workflows(query)]
    store = FileSecretStore(stack.secrets_dir)
    secrets = [(await store.get(ACCOUNT, name)).get_secret_value() for name in ("api_key", "jwt", "password")]
    return Cycle(
        before=before,
        after=scrape(),
        final=result.result(),
        captions=captions,
        workflow_ids=[onboarding_workflow_id(ACCOUNT), config.workflow_id, *post_ids],
        link=await admin.confirmation_link(EMAIL) or "",
        secrets=secrets,
    )


@pytest.fixture(scope="module")
async def cycle(stack: LocalStack, client: Client) -> Cycle:
    async with SimulatorAdmin(stack.sim_origin) as admin:
        return await run_cycle(client, admin, stack)


def test_the_cycle_ran_as_planned(cycle: Cycle) -> None:
    assert cycle.final.counters.rejected == 1 and cycle.final.counters.approved == 1
    assert len(cycle.captions) == 2 and all(WRITING_STYLE in caption for caption in cycle.captions)
    assert len(cycle.workflow_ids) == 4


# --- metrics and health -----------------------------------------------------------------------------


def test_counters_moved_by_what_happened(cycle: Cycle) -> None:
    assert cycle.delta("reelmirror_posts_generated_total") == 2
    assert cycle.delta("reelmirror_posts_approved_total", by="operator") == 1
    assert cycle.delta("reelmirror_posts_rejected_total", by="operator") == 1
    assert cycle.delta("reelmirror_posts_published_total", outcome="published") == 1
    assert cycle.delta("reelmirror_posts_failed_total") == 0
    costs = CostTable()
    expected_credits = sum(
        costs.for_media_type(media) * cycle.delta("reelmirror_posts_generated_total", media_type=media)
        for media in ("image", "video", "carousel")
    )
    assert cycle.delta("reelmirror_credits_spent_cents_total") == expected_credits > 0

    statuses = {s.labels["status"] for s in cycle.after if s.name == "reelmirror_vendor_calls_total"}
    assert {"200", "201"} <= statuses, statuses
    assert cycle.delta("reelmirror_vendor_calls_total") > 0
    assert cycle.delta("reelmirror_vendor_calls_total", activity_type="generate_post", method="POST", status="201") == 2
    for kind in ("sync", "media", "delivery", "bonus"):
        assert cycle.delta("reelmirror_polls_total", kind=kind) >= 1, kind
    assert total(cycle.after, "temporal_workflow_completed", workflow_type="ContentPostWorkflow") == 2, (
        "the SDK's own metrics share the endpoint"
    )


def test_health_endpoints_answer() -> None:
    live = httpx.get(f"http://127.0.0.1:{HEALTH_PORT}/live", timeout=5)
    ready = httpx.get(f"http://127.0.0.1:{HEALTH_PORT}/ready", timeout=5)
    assert (live.status_code, ready.status_code) == (200, 200)
    assert ready.json() == {"status": "ready"}


async def test_a_dead_collector_is_one_log_line(cycle: Cycle, stack: LocalStack) -> None:
    log = stack.workers[0].log_path
    lines: list[str] = []
    for _ in range(100):  # spans are exported in batches every few seconds
        lines = [line for line in log.read_text().splitlines() if "OTEL_EXPORTER_OTLP_ENDPOINT" in line]
        if lines:
            break
        await asyncio.sleep(0.1)
    assert len(lines) == 1, lines
    assert f"cannot send spans to {DEAD_COLLECTOR}" in lines[0]
    assert "Traceback" not in log.read_text()


# --- encryption -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw_client(client: Client, cycle: Cycle) -> Client:
    """A client WITHOUT the key: it sees what the Temporal server, its database and backups hold."""
    return Client(**{**client.config(), "data_converter": pydantic_data_converter})


def needles(cycle: Cycle) -> list[str]:
    token = parse_qs(urlsplit(cycle.link).query).get("token", [""])[0]
    source_captions = [caption.split(" [", 1)[0] for caption in cycle.captions]
    return [
        EMAIL, WRITING_STYLE, *cycle.captions, *source_captions, cycle.link, token, *cycle.secrets,
        "rm_", "eyJ", "Bearer",
    ]  # fmt: skip


async def test_histories_read_without_the_key_hold_no_personal_data_or_content(
    cycle: Cycle, raw_client: Client
) -> None:
    assert cycle.link and all(cycle.secrets), "the needles must be real values"
    encrypted: set[str] = set()
    for workflow_id in cycle.workflow_ids:
        history = await raw_client.get_workflow_handle(workflow_id).fetch_history()
        seen = scan(History(events=history.events))
        assert not seen.unexpected_clear, f"{workflow_id}: payloads in clear text at {seen.unexpected_clear}"
        assert not findings(seen.text, needles(cycle)), f"{workflow_id}: {findings(seen.text, needles(cycle))}"
        assert workflow_id in seen.text
        encrypted |= {
            path.rsplit(".", 1)[-1] if "user_metadata" not in path else "user_metadata" for path in seen.encrypted
        }
    # inputs, results, signals, summaries and details are all there, encrypted; a failure's encoded attributes
    # appear only when an attempt failed (polls that learn rarely fail now), and are then encrypted too
    # (`unexpected_clear` above would name them otherwise)
    assert {"payloads", "user_metadata"} <= encrypted, encrypted


async def test_ids_and_search_attributes_hold_no_personal_data(cycle: Cycle, raw_client: Client) -> None:
    listed = [execution async for execution in raw_client.list_workflows("")]
    ours = [execution for execution in listed if execution.id in cycle.workflow_ids]
    assert len(ours) == len(cycle.workflow_ids)
    for execution in ours:
        visible = json.dumps({"id": execution.id, "search": execution.search_attributes}, default=str)
        assert not findings(visible, needles(cycle)), visible
        assert not re.search(r"@", execution.id)


async def test_the_codec_server_decodes_what_the_history_holds(
    cycle: Cycle, raw_client: Client, stack: LocalStack
) -> None:
    assert stack.codec_server is not None
    history = await raw_client.get_workflow_handle(onboarding_workflow_id(ACCOUNT)).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert EMAIL.encode() not in started.input.payloads[0].data
    body = json_format.MessageToJson(Payloads(payloads=started.input.payloads))
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            f"{stack.codec_server.url}/decode", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 200, response.text
    (decoded,) = response.json()["payloads"]
    assert EMAIL in base64.b64decode(decoded["data"]).decode()
    assert base64.b64decode(decoded["metadata"]["encoding"]) == b"json/plain"


def test_the_stack_key_file_is_private(stack: LocalStack) -> None:
    assert stack.codec_key_file is not None
    assert Path(stack.codec_key_file).stat().st_mode & 0o077 == 0
