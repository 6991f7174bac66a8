"""Persona setup activities: make the persona, its sources and publishing targets exist, exactly once.

"Ensure" rather than "create": the persona workflow runs these at every start and after every
continue-as-new, and any attempt may follow one whose answer was lost, so each activity first finds
what already exists (by id, by name, by a 409) and only then creates what is missing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.base import ActivityBase, heartbeat
from activities.error_types import ErrorType
from activities.errors import translated
from activities.models import (
    EnsurePersonaInput,
    EnsureSourceInput,
    EnsureTargetInput,
    PersonaView,
    SourceView,
    TargetView,
)
from reelmirror.errors import ConflictError
from reelmirror.models import ConnectedAccount, Persona, Source

__all__ = ["PersonaActivities", "same_username"]

_EPOCH = datetime.min.replace(tzinfo=UTC)


def same_username(a: str, b: str) -> bool:
    """Platform handles compare without case and without a leading `@`."""
    return a.lstrip("@").casefold() == b.lstrip("@").casefold()


def _oldest(personas: list[Persona]) -> Persona:
    return min(personas, key=lambda p: (p.created_at or _EPOCH, p.id))


class PersonaActivities(ActivityBase):
    @activity.defn
    @translated
    async def ensure_persona(self, input: EnsurePersonaInput) -> PersonaView:
        """Known id: read it. Else the oldest persona with this name. Else create one.

        Names are not unique server-side, so a create whose answer was lost is found by name on the
        retry; several matches (made by hand) resolve to the oldest, the same one every time.
        """
        client = await self._account_client(input.account_ref)
        if input.known_persona_id:
            persona = await client.get_persona(input.known_persona_id)
            return PersonaView(id=persona.id, name=persona.name or input.name)
        matches = [p for p in await client.list_personas() if p.name == input.name]
        if matches:
            persona = _oldest(matches)
            if len(matches) > 1:
                activity.logger.warning(
                    "%d personas are named %r; using the oldest, %s", len(matches), input.name, persona.id
                )
            return PersonaView(id=persona.id, name=persona.name or input.name)
        heartbeat("creating persona")
        persona = await client.create_persona(input.name, input.writing_style)
        activity.logger.info("created persona %s (%r)", persona.id, persona.name)
        return PersonaView(id=persona.id, name=persona.name or input.name, created=True)

    @activity.defn
    @translated
    async def ensure_source(self, input: EnsureSourceInput) -> SourceView:
        """Add the source; on 409 (it exists) find it and PATCH its automation mode if it differs."""
        client = await self._account_client(input.account_ref)
        try:
            source = await client.add_source(input.persona_id, input.platform, input.username, input.automation_mode)
        except ConflictError:
            heartbeat("source exists: reconciling")
            existing = _find_source(await client.list_sources(input.persona_id), input.platform, input.username)
            if existing is None:
                raise ApplicationError(
                    f"the server reports {input.platform}/{input.username} as a duplicate but does not list it",
                    type=ErrorType.CONFLICT,
                    non_retryable=True,
                ) from None
            if existing.automation_mode == input.automation_mode:
                return _source_view(existing, input)
            heartbeat("changing automation mode")
            updated = await client.update_source(input.persona_id, existing.id, input.automation_mode)
            activity.logger.info(
                "source %s: automation mode %s -> %s", existing.id, existing.automation_mode, updated.automation_mode
            )
            return _source_view(updated, input, mode_changed=True)
        activity.logger.info("added source %s (%s/%s)", source.id, input.platform, input.username)
        return _source_view(source, input, created=True)

    @activity.defn
    @translated
    async def ensure_publishing_target(self, input: EnsureTargetInput) -> TargetView:
        """Link a connected account to the persona. A bot cannot connect accounts (OAuth in the dashboard),
        so no matching account is reported as `linked=False` with the reason, not raised."""
        client = await self._account_client(input.account_ref)
        accounts = await client.list_publishing_accounts()
        account = _find_account(accounts, input)
        note = None
        if account is None and _the_only_unnamed(accounts, input):
            # the answers name no platform or username (the guide promises only ids): the one account there is
            account = accounts[0]
            note = (
                "linked the only connected account: the answers name no platform or username "
                "(give connected_account_id in the persona file to choose one)"
            )
        if account is None:
            wanted = input.connected_account_id or f"{input.platform}/{input.username}"
            return TargetView(
                linked=False,
                connected_account_id=input.connected_account_id,
                platform=input.platform,
                username=input.username,
                reason=f"no connected account {wanted}: connect it in the ReelMirror dashboard",
            )
        view = TargetView(
            linked=True,
            connected_account_id=account.id,
            platform=account.platform or input.platform,
            username=account.username or input.username,
            reason=note,
        )
        heartbeat("listing targets")
        targets = await client.list_publishing_targets(input.persona_id)
        if any(t.connected_account_id == account.id for t in targets):
            return view
        try:
            await client.add_publishing_target(input.persona_id, account.id)
        except ConflictError:
            return view  # linked meanwhile (or by our own attempt whose answer was lost)
        activity.logger.info("linked %s/%s to persona %s", account.platform, account.username, input.persona_id)
        return view.model_copy(update={"created": True})


def _find_source(sources: list[Source], platform: str, username: str) -> Source | None:
    for source in sources:
        if source.platform == platform and same_username(source.username or "", username):
            return source
    return None


def _find_account(accounts: list[ConnectedAccount], wanted: EnsureTargetInput) -> ConnectedAccount | None:
    for account in accounts:
        if wanted.connected_account_id:
            if account.id == wanted.connected_account_id:
                return account
        elif (
            wanted.platform
            and wanted.username
            and account.platform == wanted.platform
            and same_username(account.username or "", wanted.username)
        ):
            return account
    return None


def _source_view(source: Source, asked: EnsureSourceInput, **flags: bool) -> SourceView:
    """The server's source, with what its answer left out filled from what we asked for (the guide promises
    only the id)."""
    view = SourceView.model_validate(source)
    return view.model_copy(
        update={
            "platform": view.platform or asked.platform,
            "username": view.username or asked.username,
            "automation_mode": view.automation_mode or asked.automation_mode,
            **flags,
        }
    )


def _the_only_unnamed(accounts: list[ConnectedAccount], wanted: EnsureTargetInput) -> bool:
    """Whether the one connected account may stand for an account wanted by platform and username: it is
    the only one, and the answers name no account's platform or username (so none can be told apart)."""
    return (
        wanted.connected_account_id is None
        and len(accounts) == 1
        and accounts[0].platform is None
        and accounts[0].username is None
    )
