"""Personas, their sources and publishing targets, and sync jobs.

A sync job per source snapshots the creator's posts the source has not seen yet and exposes them
when its drawn duration has passed (the event queue calls :meth:`ContentService.complete_sync`).
Within the cooldown after the source's last sync a job is ``skipped`` at once. The cooldown runs
from when the last non-skipped sync was triggered, so a sync still running also makes the next one
skip, as on a real backend that guards the platform's API.
"""

from __future__ import annotations

from simulator.catalog import Catalog
from simulator.core import SimCore
from simulator.errors import conflict, not_found
from simulator.models import Persona, PublishingTarget, Source, SyncJob, User


class ContentService:
    """Owner-checked access to personas, sources, targets and sync jobs."""

    def __init__(self, core: SimCore, catalog: Catalog) -> None:
        self._core = core
        self._catalog = catalog

    # -- personas --------------------------------------------------------------------------------
    def create_persona(self, user: User, name: str, writing_style: str) -> Persona:
        core = self._core
        now = core.now()
        persona = Persona(id=core.new_id(), user_id=user.id, name=name, writing_style=writing_style, created_at=now)
        core.state.personas[persona.id] = persona
        core.ledger.record(
            "persona",
            at=now,
            by="client",
            user_id=user.id,
            email=user.email,
            persona_id=persona.id,
            details={"name": name},
        )
        return persona

    def persona(self, user: User, persona_id: str) -> Persona:
        """The user's persona (404 for unknown ids and for other users' personas alike)."""
        persona = self._core.state.personas.get(persona_id)
        if persona is None or persona.user_id != user.id:
            raise not_found("persona")
        return persona

    # -- sources ---------------------------------------------------------------------------------
    def add_source(self, user: User, persona: Persona, platform: str, username: str, mode: str) -> Source:
        """Add a creator as a source of the persona; the same platform+username twice is 409.

        The username is kept as the client sent it; duplicates are detected on the creator's
        canonical handle (case-insensitive, without a leading ``@``).
        """
        core = self._core
        key = self._catalog.handle(platform, username)
        for existing in core.state.sources_of(persona.id):
            if self._catalog.handle(existing.platform, existing.username) == key:
                raise conflict(f"source {platform}/{key[1]} already added to this persona")
        creator = self._catalog.get_or_create(platform, username)
        now = core.now()
        source = Source(
            id=core.new_id(),
            persona_id=persona.id,
            platform=key[0],
            username=username.strip(),
            automation_mode=mode,
            creator_id=creator.id,
            created_at=now,
        )
        core.state.sources[source.id] = source
        core.ledger.record(
            "source",
            at=now,
            by="client",
            user_id=user.id,
            email=user.email,
            persona_id=persona.id,
            details={
                "source_id": source.id,
                "platform": source.platform,
                "username": source.username,
                "automation_mode": mode,
            },
        )
        return source

    def source(self, persona: Persona, source_id: str) -> Source:
        source = self._core.state.sources.get(source_id)
        if source is None or source.persona_id != persona.id:
            raise not_found("source")
        return source

    # -- publishing targets ----------------------------------------------------------------------
    def add_target(self, user: User, persona: Persona, account_id: str) -> PublishingTarget:
        core = self._core
        account = core.state.connected_accounts.get(account_id)
        if account is None or account.user_id != user.id:
            raise not_found("connected account")
        if any(t.connected_account_id == account_id for t in core.state.targets_of(persona.id)):
            raise conflict("this account is already a publishing target of the persona")
        now = core.now()
        target = PublishingTarget(
            id=core.new_id(),
            persona_id=persona.id,
            connected_account_id=account.id,
            platform=account.platform,
            username=account.username,
            created_at=now,
        )
        core.state.targets[target.id] = target
        core.ledger.record(
            "target",
            at=now,
            by="client",
            user_id=user.id,
            email=user.email,
            persona_id=persona.id,
            details={"target_id": target.id, "connected_account_id": account.id, "platform": account.platform},
        )
        return target

    # -- sync ------------------------------------------------------------------------------------
    def start_sync(self, user: User, persona: Persona) -> list[SyncJob]:
        """One job per source: ``skipped`` at once inside the cooldown, else due after a drawn time."""
        core = self._core
        now = core.now()
        runtime = core.runtime
        jobs: list[SyncJob] = []
        for source in core.state.sources_of(persona.id):
            last = source.last_sync_started_at
            skipped = last is not None and now - last < runtime.sync_cooldown_seconds
            if skipped:
                job = SyncJob(
                    id=core.new_id(),
                    user_id=user.id,
                    persona_id=persona.id,
                    source_id=source.id,
                    created_at=now,
                    started_at=now,
                    due_at=now,
                    will_fail=False,
                    snapshot_post_ids=[],
                    final_status="skipped",
                    finished_at=now,
                )
            else:
                duration = core.rng.duration(runtime.durations_seconds.sync)
                creator = core.state.creators[source.creator_id]
                seen = set(source.synced_post_ids)
                job = SyncJob(
                    id=core.new_id(),
                    user_id=user.id,
                    persona_id=persona.id,
                    source_id=source.id,
                    created_at=now,
                    started_at=now + 0.1 * duration,
                    due_at=now + duration,
                    will_fail=core.rng.fails(runtime.sync_failure_rate),
                    snapshot_post_ids=[pid for pid in creator.post_ids if pid not in seen],
                )
                source.last_sync_started_at = now
                core.events.push(job.due_at, "sync", job.id)
            core.state.sync_jobs[job.id] = job
            core.ledger.record(
                "sync",
                at=now,
                by="client",
                user_id=user.id,
                email=user.email,
                persona_id=persona.id,
                details={"job_id": job.id, "source_id": source.id, "status": job.status_at(now)},
            )
            jobs.append(job)
        return jobs

    def complete_sync(self, job: SyncJob, at: float) -> list[str]:
        """Event handler: finish the job, expose its posts; returns the newly visible post ids."""
        core = self._core
        source = core.state.sources.get(job.source_id)
        job.finished_at = at
        if job.will_fail or source is None:
            job.final_status = "failed"
            job.error = "the platform API failed while syncing"
            new_ids: list[str] = []
        else:
            seen = set(source.synced_post_ids)
            new_ids = [pid for pid in job.snapshot_post_ids if pid not in seen]
            source.synced_post_ids.extend(new_ids)
            source.last_synced_at = at
            job.final_status = "completed"
            job.new_posts = len(new_ids)
        user = core.state.users.get(job.user_id)
        core.ledger.record(
            "sync_completed",
            at=at,
            by="server",
            user_id=job.user_id,
            email=user.email if user else None,
            persona_id=job.persona_id,
            details={
                "job_id": job.id,
                "source_id": job.source_id,
                "status": job.final_status,
                "new_posts": job.new_posts,
            },
        )
        return new_ids
