"""Workflow changes of the kind a developer is tempted to make, for the replay tests to catch.

Each class is registered under the production workflow's name, as a new deployment of that workflow would
be, and issues an extra command where the saved history has another one. Replaying a history of a real
run against it must fail with a nondeterminism error: that is what the saved histories protect against.
The `workflow.patched` variant is the safe way to ship the same change, and must replay cleanly.

A module of its own because the workflow sandbox re-imports the module that defines a workflow class:
this one imports only workflow code (the test module imports pytest and reads files at import time).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.models import AccountRef, BalanceView, GeneratedPostInput, GeneratedPostView
    from workflows.content_post import ContentPostWorkflow
    from workflows.models import ContentPostInput, PersonaLoopInput, PersonaStatus, PostResult
    from workflows.persona_loop import PersonaLoopWorkflow

READ_TIMEOUT = timedelta(seconds=60)
BALANCE_FIRST_PATCH = "read-balance-first"


async def _read_balance(account_ref: str) -> BalanceView:
    return await workflow.execute_activity(
        "get_balance", AccountRef(account_ref=account_ref), result_type=BalanceView, start_to_close_timeout=READ_TIMEOUT
    )


@workflow.defn(name="ContentPostWorkflow")
class BalanceFirstPost(ContentPostWorkflow):
    """Reads the balance before anything else: an extra activity where history has the first upsert."""

    @workflow.run
    async def run(self, inp: ContentPostInput) -> PostResult:
        await _read_balance(inp.account_ref)
        return await super().run(inp)


@workflow.defn(name="ContentPostWorkflow")
class BalanceFirstPostPatched(ContentPostWorkflow):
    """The same change behind `workflow.patched`: runs recorded before it keep their old path on replay."""

    @workflow.run
    async def run(self, inp: ContentPostInput) -> PostResult:
        if workflow.patched(BALANCE_FIRST_PATCH):
            await _read_balance(inp.account_ref)
        return await super().run(inp)


@workflow.defn(name="ContentPostWorkflow")
class RereadBeforeApprovePost(ContentPostWorkflow):
    """Re-reads the post right before approving it: a change deep in the pipeline, after the human's signal."""

    @workflow.run
    async def run(self, inp: ContentPostInput) -> PostResult:
        return await super().run(inp)

    async def _approve(self, generated_post_id: str) -> None:
        await workflow.execute_activity(
            "get_generated_post",
            GeneratedPostInput(account_ref=self._inp.account_ref, generated_post_id=generated_post_id),
            result_type=GeneratedPostView,
            start_to_close_timeout=READ_TIMEOUT,
        )
        await super()._approve(generated_post_id)


@workflow.defn(name="PersonaLoopWorkflow")
class DelayedStartPersona(PersonaLoopWorkflow):
    """Waits a minute before its setup: a timer where history has the persona's first upsert."""

    @workflow.run
    async def run(self, inp: PersonaLoopInput) -> PersonaStatus:
        await workflow.sleep(timedelta(minutes=1))
        return await super().run(inp)
