"""A persona's setup on the server: the persona, its sources and its publishing targets.

Every call finds what exists before it creates anything, so a re-run (a retry, a continue-as-new, a
restart) creates nothing new. Runs inside the persona loop's workflow, on its `Steps`.
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.error_types import ErrorType
    from activities.models import EnsurePersonaInput, EnsureSourceInput, EnsureTargetInput
    from activities.reelmirror import ReelMirrorActivities
    from workflows import policies
    from workflows.config import PersonaConfig, PublishingAccountConfig
    from workflows.models import PersonaState
    from workflows.persona_rules import target_label
    from workflows.stages import PersonaStage
    from workflows.steps import StepFailed, Steps

__all__ = ["PersonaSetup"]


class PersonaSetup:
    """Ensures the persona (its id lands in `state`), its sources (their modes too) and its targets;
    `targets_missing` lists the publishing accounts nobody connected yet."""

    def __init__(
        self,
        account_ref: str,
        config: PersonaConfig,
        state: PersonaState,
        steps: Steps[PersonaStage],
        record_error: Callable[[str], None],
    ) -> None:
        self._account_ref = account_ref
        self._config = config
        self._state = state
        self._steps = steps
        self._record_error = record_error
        self.targets_missing: list[str] = []
        self.notes: list[str] = []  # targets linked by a fallback, and why

    async def run(self) -> None:
        await self._ensure_persona()
        for source in self._config.sources:
            await self._ensure_source(source.platform, source.username, source.automation_mode)
        self.targets_missing = []
        for account in self._config.publishing_accounts:
            await self._ensure_target(account)

    async def _ensure_persona(self) -> None:
        """Without a persona nothing else can run: a non-parking failure waits for the operator like a park."""
        while True:
            try:
                view = await self._steps.attempt(
                    ReelMirrorActivities.ensure_persona,
                    EnsurePersonaInput(
                        account_ref=self._account_ref,
                        name=self._config.name,
                        writing_style=self._config.writing_style,
                        known_persona_id=self._state.persona_id,
                    ),
                    policies.api_call(f"ensure persona '{self._config.name}'"),
                )
            except StepFailed as exc:
                self._record_error(str(exc))
                if exc.error_type == ErrorType.NOT_FOUND and self._state.persona_id is not None:
                    self._forget_persona()
                    continue
                await self._steps.wait_for_operator(
                    f"persona setup failed ({exc}): fix it, then send credentials_updated", what="set up the persona"
                )
                continue
            if view.created:
                workflow.logger.info("Created persona %s (%s)", view.name, view.id)
            self._state.persona_id = view.id
            return

    def _forget_persona(self) -> None:
        """The remembered persona is gone on the server: find it by name, or create it, from scratch."""
        workflow.logger.warning("Persona %s no longer exists; setting up again", self._state.persona_id)
        self._state.persona_id = None
        self._state.source_modes = {}

    async def _ensure_source(self, platform: str, username: str, mode: str) -> None:
        try:
            view = await self._steps.attempt(
                ReelMirrorActivities.ensure_source,
                EnsureSourceInput(
                    account_ref=self._account_ref,
                    persona_id=self._persona_id,
                    platform=platform,
                    username=username,
                    automation_mode=mode,
                ),
                policies.api_call(f"ensure source {platform}/{username} ({mode})"),
            )
        except StepFailed as exc:
            self._record_error(str(exc))
            return
        self._state.source_modes[view.id] = view.automation_mode

    async def _ensure_target(self, account: PublishingAccountConfig) -> None:
        """Link a connected account; one nobody connected yet is reported, and the loop runs without it."""
        label = target_label(account)
        try:
            view = await self._steps.attempt(
                ReelMirrorActivities.ensure_publishing_target,
                EnsureTargetInput(
                    account_ref=self._account_ref,
                    persona_id=self._persona_id,
                    connected_account_id=account.connected_account_id,
                    platform=account.platform,
                    username=account.username,
                ),
                policies.api_call(f"ensure publishing target {label}"),
            )
        except StepFailed as exc:
            self.targets_missing.append(f"{label}: {exc}")
            return
        if not view.linked:
            reason = view.reason or "no connected account matches"
            self.targets_missing.append(f"{label}: {reason}")
            workflow.logger.warning("Publishing target %s missing: %s", label, reason)
        elif view.reason:
            self.notes.append(f"publishing target {label}: {view.reason}")

    @property
    def _persona_id(self) -> str:
        assert self._state.persona_id is not None, "the persona is ensured before its sources and targets"
        return self._state.persona_id
