"""OnboardingWorkflow: a new ReelMirror account from sign-up to a working API key (and the welcome bonus).

Why a workflow: onboarding spans a human-paced step (the confirmation e-mail), a 5-per-day signup limit
that forbids blind repeats, and a Stripe webhook that arrives whenever it likes. Durable, each step runs
once: signup is retried only for transport failures, and a retry first asks whether the lost request
created the account (see `AccountActivities.signup`); the e-mail is found by polling the worker's
mailbox, or handed in by the `confirm_email` signal; the bonus is awaited by polling the balance. Secrets
stay in the worker's store; the summary returned and everything in history are ids and fingerprints. An
API key an earlier attempt may have created unseen (its answer lost) is named in the summary and the
status, with how to revoke it.

A card that is declined or not configured does not cost the account: the onboarding finishes with a
working key, no bonus, and a note saying what to fix; onboarding again with --card attaches it then (every
earlier step is recognised as done). A failure that leaves no usable account (an e-mail the service
refuses) ends the workflow with one line saying which step and why; starting it again is safe (signup
answers "already exists").
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from activities.error_types import ErrorType
    from activities.models import (
        AccountRef,
        ApiKeyOutcome,
        AutoReloadInput,
        AwaitBalanceInput,
        BalanceView,
        CreateApiKeyInput,
        SignupInput,
        SignupOutcome,
        VerifyEmailInput,
        VerifyEmailOutcome,
    )
    from activities.reelmirror import ReelMirrorActivities
    from reelmirror.models import ALL_SCOPES
    from workflows import policies
    from workflows.config import OnboardingInput
    from workflows.failures import error_message, error_type, is_timeout
    from workflows.models import AccountSummary, ConfirmEmailSignal, OnboardingStatus
    from workflows.policies import PollKind
    from workflows.stages import OnboardingStage
    from workflows.steps import Steps

# Every scope the full loop needs (the contract's 12), billing:write included for auto-reload and top-ups.
DEFAULT_SCOPES: tuple[str, ...] = tuple(ALL_SCOPES)
WELCOME_BONUS_CENTS = 500
# attach_card failures that leave a working account: report them instead of failing the onboarding
CARD_PROBLEMS_A_HUMAN_FIXES = frozenset(
    {ErrorType.CARD_DECLINED, ErrorType.CARD_NEEDS_ACTION, ErrorType.MISSING_SECRET}
)
# verify_email failures that mean "this link will not do": ask for another one
LINK_REFUSED = frozenset({ErrorType.CONFIRMATION_LINK, ErrorType.UNTRUSTED_LINK})
REVOKE_HINT = (
    "revoke them in the ReelMirror dashboard (API keys): an earlier attempt may have created them, "
    "and their answer was lost, so no one holds them"
)


@workflow.defn
class OnboardingWorkflow:
    @workflow.init
    def __init__(self, inp: OnboardingInput) -> None:
        self._inp = inp
        self._steps = Steps(
            account_ref=inp.account_ref,
            timing=inp.timing,
            stage=OnboardingStage.STARTING,
            parked_stage=OnboardingStage.PARKED,
            details=self._details,
            parks_on=frozenset({"operator"}),
        )
        self._link: str | None = None
        self._last_error: str | None = None
        self._notes: list[str] = []
        self._orphaned_keys: list[str] = []
        # when our signup was sent: confirmation mail older than that is not ours to follow
        self._mail_since: datetime | None = None

    @workflow.run
    async def run(self, inp: OnboardingInput) -> AccountSummary:
        try:
            signup = await self._signup()
            verified = await self._confirm_email()
            key = await self._create_key()
            balance, bonus = await self._card_and_bonus()
            balance = await self._auto_reload(balance)
        except ActivityError as err:
            if isinstance(err.cause, CancelledError):
                raise
            raise await self._fail(err) from err
        await self._steps.set_stage(OnboardingStage.DONE)
        return AccountSummary(
            account_ref=inp.account_ref,
            email=inp.email,
            user_id=verified.user_id or signup.user_id,
            key_id=key.key_id,
            key_fingerprint=key.fingerprint,
            scopes=list(key.scopes),
            balance_cents=balance.balance_cents,
            bonus_granted=bonus,
            auto_reload=balance.auto_reload,
            orphaned_key_names=list(self._orphaned_keys),
            notes=[*self._notes, *([self._last_error] if self._last_error not in (None, *self._notes) else [])],
        )

    # --- steps -------------------------------------------------------------------------------------

    async def _signup(self) -> SignupOutcome:
        """Sign up once: SIGNUP_RETRY retries transport failures only, and the activity never repeats a
        request that may have landed; "already exists" means an earlier signup (ours or not) made it."""
        await self._steps.set_stage(OnboardingStage.SIGNING_UP)
        sent_at = workflow.now()
        outcome = await self._steps.run(
            ReelMirrorActivities.signup,
            SignupInput(account_ref=self._inp.account_ref, email=self._inp.email),
            policies.api_call(f"sign up {self._inp.email}").with_retry(policies.SIGNUP_RETRY),
        )
        if outcome.already_exists:
            self._note(f"{self._inp.email} was signed up already: continuing with its confirmation")
        else:
            self._mail_since = sent_at
            if outcome.recovered:
                self._note("the signup's answer was lost, but the account exists: it was not signed up again")
        return outcome

    async def _confirm_email(self) -> VerifyEmailOutcome:
        """Mailbox mode polls the worker's mailbox; if that gives up (or its link is refused), or in signal
        mode, wait for a link from the operator, as often as it takes to get one that works."""
        if self._inp.confirmation == "mailbox":
            await self._steps.set_stage(OnboardingStage.AWAITING_EMAIL)
            try:
                return await self._steps.run(
                    ReelMirrorActivities.verify_email,
                    self._verify_input(None),
                    policies.poll(
                        self._inp.timing, PollKind.EMAIL, f"wait for the confirmation e-mail to {self._inp.email}"
                    ),
                )
            except ActivityError as err:
                if not (is_timeout(err) or error_type(err) in LINK_REFUSED):
                    raise
                self._last_error = f"the mailbox gave no usable confirmation link ({error_message(err)})"
        return await self._confirm_by_signal()

    async def _confirm_by_signal(self) -> VerifyEmailOutcome:
        while True:
            await self._steps.set_stage(OnboardingStage.AWAITING_EMAIL)
            await workflow.wait_condition(lambda: self._link is not None)
            link, self._link = self._link, None
            await self._steps.set_stage(OnboardingStage.CONFIRMING)
            try:
                return await self._steps.run(
                    ReelMirrorActivities.verify_email,
                    self._verify_input(link),
                    policies.api_call(f"confirm {self._inp.email} with the signalled link"),
                )
            except ActivityError as err:
                if error_type(err) not in LINK_REFUSED:
                    raise
                self._last_error = f"the confirmation link was refused: {error_message(err)}; send a fresh one"
                workflow.logger.warning("Confirmation link refused for %s", self._inp.email)

    async def _create_key(self) -> ApiKeyOutcome:
        await self._steps.set_stage(OnboardingStage.CREATING_KEY)
        scopes = list(self._inp.scopes or DEFAULT_SCOPES)
        key = await self._steps.run(
            ReelMirrorActivities.create_api_key,
            CreateApiKeyInput(account_ref=self._inp.account_ref, name=self._inp.key_name, scopes=scopes),
            policies.api_call(f"create API key '{self._inp.key_name}' ({len(scopes)} scopes)"),
        )
        if key.possibly_orphaned:
            self._orphaned_keys = list(key.possibly_orphaned)
            names = ", ".join(f"'{name}'" for name in key.possibly_orphaned)
            self._note(f"API key(s) {names} may exist unused: {REVOKE_HINT}")
        return key

    async def _card_and_bonus(self) -> tuple[BalanceView, bool]:
        """Attach the card and see the welcome bonus land: the balance before, plus 500 cents."""
        if not self._inp.attach_card:
            return await self._balance("read the balance"), False
        await self._steps.set_stage(OnboardingStage.ATTACHING_CARD)
        before = await self._balance("read the balance before attaching the card")
        try:
            card = await self._steps.run(
                ReelMirrorActivities.attach_card,
                self._account(),
                policies.api_call("attach the configured payment method"),
            )
        except ActivityError as err:
            if error_type(err) not in CARD_PROBLEMS_A_HUMAN_FIXES:
                raise
            self._last_error = (
                f"no card attached ({error_type(err)}: {error_message(err)}); the account works without one. "
                "Fix the payment method (REELMIRROR_PAYMENT_METHOD or the account's secret), then onboard again "
                "with --card"
            )
            self._note(self._last_error)
            return before, False
        if card.already_attached:
            self._note("a payment method was attached already: the welcome bonus belongs to that earlier attach")
            return before, False
        if before.balance_cents is None:
            self._note("the balance answer carries no amount: the welcome bonus cannot be observed")
            return before, False
        await self._steps.set_stage(OnboardingStage.AWAITING_BONUS)
        try:
            balance = await self._steps.run(
                ReelMirrorActivities.await_balance,
                AwaitBalanceInput(
                    account_ref=self._inp.account_ref, at_least_cents=before.balance_cents + WELCOME_BONUS_CENTS
                ),
                policies.poll(self._inp.timing, PollKind.BONUS, "wait for the $5 welcome bonus"),
            )
        except ActivityError as err:
            if not is_timeout(err):
                raise
            self._last_error = "the welcome bonus did not arrive in time; the card is attached"
            return await self._balance("read the balance"), False
        return balance, True

    async def _auto_reload(self, balance: BalanceView) -> BalanceView:
        """Optional; a refusal (no saved payment method) is reported in the status, not fatal."""
        config = self._inp.auto_reload
        if config is None:
            return balance
        await self._steps.set_stage(OnboardingStage.CONFIGURING_AUTO_RELOAD)
        try:
            return await self._steps.run(
                ReelMirrorActivities.configure_auto_reload,
                AutoReloadInput(
                    account_ref=self._inp.account_ref,
                    enabled=True,
                    threshold_cents=config.threshold_cents,
                    amount_cents=config.amount_cents,
                ),
                policies.api_call(
                    f"enable auto-reload of {config.amount_cents} cents below {config.threshold_cents} cents"
                ),
            )
        except ActivityError as err:
            if error_type(err) != ErrorType.VALIDATION_ERROR:
                raise
            self._last_error = f"auto-reload was refused (it needs a saved payment method): {error_message(err)}"
            return balance

    # --- signal and query --------------------------------------------------------------------------

    @workflow.signal
    def confirm_email(self, signal: ConfirmEmailSignal) -> None:
        """The link from the confirmation e-mail, handed in by the operator (`starter.py confirm-email`)."""
        self._link = signal.link

    @workflow.signal
    def retry(self) -> None:
        """Retry the step onboarding parked on after its answers stayed unusable."""
        self._steps.notify_retry()

    @workflow.query
    def status(self) -> OnboardingStatus:
        return OnboardingStatus(
            stage=self._steps.stage,
            email=self._inp.email,
            last_error=self._last_error,
            parked_reason=self._steps.parked_reason,
            orphaned_key_names=list(self._orphaned_keys),
        )

    # --- visibility and helpers ----------------------------------------------------------------------

    async def _fail(self, err: ActivityError) -> ApplicationError:
        """The one-line reason a human needs, as the workflow's failure (after marking the stage)."""
        code = error_type(err) or "TIMEOUT"
        self._last_error = f"{self._steps.stage}: {code}: {error_message(err)}"
        await self._steps.set_stage(OnboardingStage.FAILED)
        return ApplicationError(
            f"onboarding of {self._inp.email} stopped: {self._last_error}", type=code, non_retryable=True
        )

    def _note(self, text: str) -> None:
        self._notes.append(text)
        workflow.logger.info(text)
        self._steps.refresh_details()

    def _details(self) -> str:
        lines = [
            f"**Onboarding** {self._inp.email} as account `{self._inp.account_ref}`",
            f"**Stage** {self._steps.stage}",
        ]
        if self._steps.stage == OnboardingStage.AWAITING_EMAIL:
            lines.append(self._waiting_for_email())
        if self._steps.park is not None:
            lines.append(f"**Parked** since {self._steps.park.since:%Y-%m-%d %H:%M} UTC: {self._steps.park.reason}")
        lines += [f"**Note** {note}" for note in self._notes]
        if self._last_error and self._last_error not in self._notes:
            lines.append(f"**Last error** {self._last_error}")
        return "  \n".join(lines)

    def _waiting_for_email(self) -> str:
        if self._inp.confirmation == "mailbox" and self._last_error is None:
            return "**Waiting for** the confirmation e-mail in the worker's mailbox"
        return f"**Waiting for** the link from the e-mail: `starter.py confirm-email {self._inp.account_ref} <link>`"

    def _account(self) -> AccountRef:
        return AccountRef(account_ref=self._inp.account_ref)

    def _verify_input(self, link: str | None) -> VerifyEmailInput:
        return VerifyEmailInput(
            account_ref=self._inp.account_ref, email=self._inp.email, link=link, since=self._mail_since
        )

    async def _balance(self, summary: str) -> BalanceView:
        return await self._steps.run(ReelMirrorActivities.get_balance, self._account(), policies.api_call(summary))


__all__ = ["DEFAULT_SCOPES", "OnboardingWorkflow"]
