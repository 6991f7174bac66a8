"""OpenTelemetry: a traced client and worker produce one trace from the start call to every activity.

The worker and the CLI install Temporal's TracingInterceptor through `control.connection.connect`; this
test uses the same interceptor with an in-memory exporter to show the spans exist and are linked.
"""

from __future__ import annotations

import uuid

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.worker import Worker
from workflow_fakes import FakeReelMirror

from control.telemetry import EXPORTERS, configure_tracing
from workflows.config import OnboardingInput, onboarding_workflow_id
from workflows.onboarding import OnboardingWorkflow


async def test_onboarding_is_traced_from_start_to_activities(client: Client) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    interceptor = TracingInterceptor(provider.get_tracer("test"))
    traced = Client(**{**client.config(), "interceptors": [interceptor]})
    fake = FakeReelMirror(account_ref="")
    task_queue = f"tq-{uuid.uuid4().hex[:8]}"
    inp = OnboardingInput(email=f"traced-{task_queue}@example.test", account_ref=f"traced-{task_queue}")

    async with Worker(traced, task_queue=task_queue, workflows=[OnboardingWorkflow], activities=fake.activities()):
        await traced.execute_workflow(
            OnboardingWorkflow.run, inp, id=onboarding_workflow_id(inp.account_ref), task_queue=task_queue
        )

    spans = exporter.get_finished_spans()
    names = {span.name for span in spans}
    assert "StartWorkflow:OnboardingWorkflow" in names
    assert "RunWorkflow:OnboardingWorkflow" in names
    for activity in ("signup", "verify_email", "create_api_key"):
        assert f"RunActivity:{activity}" in names
    assert len({span.context.trace_id for span in spans}) == 1, "every span belongs to the start call's trace"


def test_exporter_setting_is_validated() -> None:
    assert configure_tracing("none", "test") is None
    try:
        configure_tracing("jaeger", "test")
    except ValueError as exc:
        assert "REELMIRROR_OTEL_EXPORTER" in str(exc) and all(e in str(exc) for e in EXPORTERS)
    else:
        raise AssertionError("an unknown exporter must be refused")
