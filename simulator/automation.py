"""Server-side automation: what the real service does by itself for ``auto_clone`` and
``auto_publish`` sources.

After a sync completes, each new post of such a source is generated (and charged) by the server;
for ``auto_publish`` the server also approves the post once its media are ready, if the persona has
publishing targets. This is why a client that generates again for those posts makes duplicates: the
ledger marks these entries ``by: server`` so tests can tell them apart. When the server cannot act
(balance short, no targets) it records an ``automation`` entry with the reason instead.
"""

from __future__ import annotations

from simulator.billing import BillingService
from simulator.core import SimCore
from simulator.errors import ApiError
from simulator.generation import GenerationService
from simulator.models import GeneratedPost, SyncJob


class Automation:
    """Hooks the event loop calls after a sync completes and after a post's media finish."""

    def __init__(self, core: SimCore, generation: GenerationService, billing: BillingService) -> None:
        self._core = core
        self._generation = generation
        self._billing = billing

    def after_sync(self, job: SyncJob, new_post_ids: list[str], at: float) -> None:
        state = self._core.state
        source = state.sources.get(job.source_id)
        persona = state.personas.get(job.persona_id)
        user = state.users.get(job.user_id)
        if source is None or persona is None or user is None or source.automation_mode == "sync_only":
            return
        origin = "auto_publish" if source.automation_mode == "auto_publish" else "auto_clone"
        for post_id in new_post_ids:
            source_post = state.source_posts[post_id]
            try:
                self._generation.generate(user, persona, source_post, origin=origin, at=at, by="server")
            except ApiError as exc:
                self._skip(job, post_id, "generate", exc.message, at)
                continue
            self._billing.schedule_reload(user)

    def after_media(self, post: GeneratedPost, at: float) -> None:
        if post.origin != "auto_publish" or post.status_at(at) != "ready":
            return
        user = self._core.state.users.get(post.user_id)
        if user is None:
            return
        try:
            self._generation.approve(user, post, at=at, by="server")
        except ApiError as exc:
            self._core.ledger.record(
                "automation",
                at=at,
                by="server",
                user_id=user.id,
                email=user.email,
                persona_id=post.persona_id,
                source_post_id=post.source_post_id,
                generated_post_id=post.id,
                details={"action": "approve", "reason": exc.message},
            )

    def _skip(self, job: SyncJob, post_id: str, action: str, reason: str, at: float) -> None:
        user = self._core.state.users.get(job.user_id)
        self._core.ledger.record(
            "automation",
            at=at,
            by="server",
            user_id=job.user_id,
            email=user.email if user else None,
            persona_id=job.persona_id,
            source_post_id=post_id,
            details={"action": action, "reason": reason},
        )
