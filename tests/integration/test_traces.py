"""One post's trace, from the CLI's start call to every vendor HTTP call, with no secret in any span.

The worker here runs in the test process (its own task queue on the module's stack), wired as `worker.py`
wires it: the client from `control.connection.connect` (Temporal's TracingInterceptor), the real
activities with their traced HTTP pool. The global tracer provider gets an in-memory exporter, so the
test reads every span the worker and the client made.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.worker import Worker

from activities.secrets import FileSecretStore
from activities.settings import ActivitySettings
from control import ops
from control.connection import connect
from devstack.stack import LocalStack
from simulator.admin import SimulatorAdmin
from worker import WORKFLOWS, build_activities
from workflows.config import OnboardingInput, PersonaConfig
from workflows.policies import Timing

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EMAIL = "traced-bot@reelmirror.test"
ACCOUNT = "traced"
TIMING = Timing(time_scale=0.01)


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # the first module to ask installs the SDK provider
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


@pytest.fixture(scope="module")
async def traced_post(stack: LocalStack, spans: InMemorySpanExporter) -> list[ReadableSpan]:
    """Onboard with a card, then one persona cycle of one auto-approved post, all on a traced worker."""
    client = await connect(env=stack.client_env())  # tracing on, as in worker.py and starter.py
    settings = ActivitySettings.from_env(stack.worker_env())
    activities = build_activities(settings, FileSecretStore(settings.secrets_dir))
    task_queue = f"traced-{uuid.uuid4().hex[:8]}"
    config = PersonaConfig.model_validate(
        {
            "name": "Traced Persona",
            "writing_style": "Terse",
            "sources": [{"platform": "instagram", "username": "traced_chef", "automation_mode": "sync_only"}],
            "publishing_accounts": [{"platform": "instagram", "username": "traced_official"}],
            "sync_interval_minutes": 15,
            "posts_per_cycle": 1,
            "max_cycles": 1,
            "approval": {"mode": "auto"},
        }
    )
    try:
        async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities.all()):
            inp = OnboardingInput(email=EMAIL, account_ref=ACCOUNT, attach_card=True, timing=TIMING)
            await asyncio.wait_for((await ops.start_onboarding(client, inp, task_queue)).result(), timeout=120)
            async with SimulatorAdmin(stack.sim_origin) as admin:
                await admin.connect_account(EMAIL, "instagram", "traced_official")
            handle, _ = await ops.start_persona(client, ACCOUNT, config, TIMING, task_queue)
            final = await asyncio.wait_for(handle.result(), timeout=180)
    finally:
        await activities.aclose()
    assert final.counters.approved == 1
    return list(spans.get_finished_spans())


def ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


def test_a_posts_trace_holds_its_workflow_activities_and_http_calls(traced_post: list[ReadableSpan]) -> None:
    """Temporal's interceptor parents a workflow's activity spans on the span that started the workflow
    (here the persona's StartChildWorkflow), with RunWorkflow beside them, so that is the post's root."""
    (post_run,) = [s for s in traced_post if s.name == "RunWorkflow:ContentPostWorkflow"]
    trace_id = post_run.context.trace_id
    in_trace = [s for s in traced_post if s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in in_trace}
    names = {s.name for s in in_trace}
    assert "StartWorkflow:PersonaLoopWorkflow" in names, "the trace starts at the client's start call"
    for activity in ("generate_post", "poll_generated_post", "approve_post", "poll_deliveries"):
        assert f"RunActivity:{activity}" in names, activity

    http = [s for s in in_trace if s.attributes and "http.request.method" in s.attributes]
    generate_calls = [s for s in http if by_id[s.parent.span_id].name == "RunActivity:generate_post"]
    assert {(s.name, s.attributes["url.path"]) for s in generate_calls} >= {("POST", "/api/v1/generate")}
    post_id = post_run.attributes["temporalWorkflowID"]
    approve_calls = [s for s in http if "RunActivity:approve_post" in ancestors(s, by_id)]
    assert approve_calls
    for call in generate_calls + approve_calls:
        # HTTP call <- RunActivity <- StartActivity (scheduled by the post) <- the post's start by its persona
        lineage = ancestors(call, by_id)
        assert lineage[:3] == [lineage[0], lineage[0].replace("Run", "Start"), "StartChildWorkflow:ContentPostWorkflow"]
        scheduled = by_id[by_id[call.parent.span_id].parent.span_id]
        assert scheduled.attributes["temporalWorkflowID"] == post_id
        assert call.attributes["http.response.status_code"] < 400


async def test_no_span_attribute_holds_a_secret(traced_post: list[ReadableSpan], stack: LocalStack) -> None:
    store = FileSecretStore(stack.secrets_dir)
    secrets = [(await store.get(ACCOUNT, name)).get_secret_value() for name in ("api_key", "jwt", "password")]
    assert all(secrets)
    texts = [
        f"{span.name} {dict(span.attributes or {})} {[(e.name, dict(e.attributes or {})) for e in span.events]}"
        for span in traced_post
    ]
    assert any("/api/v1/generate" in text for text in texts), "HTTP spans were recorded"
    for text in texts:
        for needle in (*secrets, EMAIL, "rm_", "eyJ", "Bearer", "Authorization", "token=", "?"):
            assert needle not in text, f"{needle!r} in span {text[:200]}"
