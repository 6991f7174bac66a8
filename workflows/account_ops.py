"""AccountOpsWorkflow: one operator command on an account's billing, run by the worker that holds its key.

Why a short workflow per command: the CLI holds no API key and must not; the worker does. A workflow per
command (`account-<ref>-<action>-...`) gives the command a durable, visible run in the Web UI and its
answer comes back as the workflow's result. Unlike the persona's steps nothing parks here: an operator is
waiting at a terminal, so a failure (no key, a refused key, a 402) comes back at once as the reply's
`error`, and the workflow itself completes.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.error_types import NON_RETRYABLE_ERROR_TYPES
    from activities.models import AccountRef, AutoReloadInput
    from activities.operator_models import TopupInput
    from activities.reelmirror import ReelMirrorActivities
    from reelmirror.models import ALL_SCOPES
    from workflows.failures import error_message, error_type
    from workflows.models import AccountReply, AccountRequest
    from workflows.policies import ActivityOptions

__all__ = ["AccountOpsWorkflow", "account_ops_workflow_id"]

# A few quick tries: someone is waiting for the answer at a terminal.
QUICK = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=3,
    non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
)


def account_ops_workflow_id(request: AccountRequest, suffix: str | None = None) -> str:
    return f"account-{request.account_ref}-{request.action.replace('_', '-')}" + (f"-{suffix}" if suffix else "")


def _options(summary: str) -> ActivityOptions:
    return ActivityOptions(
        start_to_close_timeout=timedelta(seconds=30),
        schedule_to_close_timeout=timedelta(minutes=1),
        retry_policy=QUICK,
        summary=summary,
    )


@workflow.defn
class AccountOpsWorkflow:
    @workflow.run
    async def run(self, request: AccountRequest) -> AccountReply:
        reply = AccountReply(account_ref=request.account_ref)
        try:
            if request.action == "topup":
                assert request.amount_cents is not None, "the CLI checks the amount"
                topup = await workflow.execute_activity_method(
                    ReelMirrorActivities.create_topup,
                    TopupInput(account_ref=request.account_ref, amount_cents=request.amount_cents),
                    **_options(f"create a checkout for {request.amount_cents} cents").config(),
                )
                reply.checkout_url = topup.checkout_url
            elif request.action == "auto_reload":
                reply.balance = await workflow.execute_activity_method(
                    ReelMirrorActivities.configure_auto_reload,
                    AutoReloadInput(
                        account_ref=request.account_ref,
                        enabled=bool(request.auto_reload),
                        threshold_cents=request.reload_threshold_cents or 500,
                        amount_cents=request.reload_amount_cents or 2500,
                    ),
                    **_options("turn auto-reload " + ("on" if request.auto_reload else "off")).config(),
                )
            else:
                view = await workflow.execute_activity_method(
                    ReelMirrorActivities.describe_account,
                    AccountRef(account_ref=request.account_ref),
                    **_options("read the balance and the stored key").config(),
                )
                reply.balance = view.balance
                reply.key_id, reply.key_fingerprint, reply.scopes = view.key_id, view.key_fingerprint, view.scopes
                reply.missing_scopes = [s for s in ALL_SCOPES if view.scopes and s not in view.scopes]
        except ActivityError as err:
            reply.error, reply.error_type = error_message(err), error_type(err) or "TIMEOUT"
        return reply
