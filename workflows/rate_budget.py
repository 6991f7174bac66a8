"""RateBudgetWorkflow: one per API key, the fleet's shared request budget (see `activities.budget_rules`).

Why a workflow: every worker of the fleet must draw from one budget, and Temporal already gives each
key's budget a single, durable, serialised owner; an update returns the send time in one round trip.
Its history grows by a few events per request, so it continues as new with its state long before
Temporal would suggest it.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.budget_rules import BudgetInput, BudgetState, PermitGrant, PermitRequest, grant

__all__ = ["MAX_EVENTS", "RateBudgetWorkflow"]

#: Continue as new beyond this many events (a few thousand requests).
MAX_EVENTS = 10_000


@workflow.defn
class RateBudgetWorkflow:
    @workflow.init
    def __init__(self, inp: BudgetInput) -> None:
        self._config = inp.config
        self._state: BudgetState = inp.state

    @workflow.run
    async def run(self, inp: BudgetInput) -> None:
        await workflow.wait_condition(
            lambda: (
                workflow.info().get_current_history_length() > MAX_EVENTS
                or workflow.info().is_continue_as_new_suggested()
            )
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(BudgetInput(config=self._config, state=self._state))

    @workflow.update
    def acquire(self, request: PermitRequest) -> PermitGrant:
        """The send time of one request (or, for a poll while paid calls queue, when to ask again)."""
        permit, self._state = grant(self._state, self._config, workflow.now(), request)
        return permit

    @workflow.query
    def state(self) -> BudgetState:
        return self._state
