"""The simulator as one object: services wired on a shared core, the event pump, the ticker.

``refresh()`` is the heartbeat: it completes every job whose due time has passed on the simulated
clock, in due order, running automation as it goes. Request handlers call it before reading state
(so what they return is exact), and a light background ticker calls it too, so automation and
auto-reload happen even when nobody polls. The ticker also reconciles pending SetupIntents, since
localstripe sends no webhooks (with guide answers it relays their webhooks, late, instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from simulator.accounts import AccountService
from simulator.automation import Automation
from simulator.billing import BillingService
from simulator.catalog import Catalog
from simulator.chaos import ChaosEngine
from simulator.config import SimulatorConfig
from simulator.content import ContentService
from simulator.core import SimCore
from simulator.generation import GenerationService
from simulator.idempotency import IdempotencyStore
from simulator.late_commit import LateCommits
from simulator.maildir import MaildirDelivery
from simulator.ratelimit import RateLimiter
from simulator.stats import Stats
from simulator.stripe_gateway import StripeGateway
from simulator.webhook_relay import WebhookRelay

log = logging.getLogger(__name__)


class Simulator:
    """All services of one run; the web layer only talks to this."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.core = SimCore(config)
        maildir = MaildirDelivery(config.maildir) if config.maildir is not None else None
        gateway = StripeGateway(config.stripe_api_base, config.stripe_secret_key.get_secret_value())
        self.accounts = AccountService(self.core, maildir)
        self.billing = BillingService(self.core, gateway)
        self.webhooks = WebhookRelay(self.core, self.billing, gateway)
        self.catalog = Catalog(self.core)
        self.content = ContentService(self.core, self.catalog)
        self.generation = GenerationService(self.core, self.billing)
        self.automation = Automation(self.core, self.generation, self.billing)
        self.chaos = ChaosEngine(config.chaos, self.core.rng.chaos)
        self.rate_limiter = RateLimiter()
        self.stats = Stats()
        self.late_commits = LateCommits()
        self.idempotency = IdempotencyStore()
        self._ticker: asyncio.Task[None] | None = None

    # -- the event pump --------------------------------------------------------------------------
    def refresh(self) -> float:
        """Complete everything due by now; returns the simulated now it brought state up to."""
        core = self.core
        now = core.now()
        for event in core.events.pop_due(now):
            if event.kind == "sync":
                job = core.state.sync_jobs.get(event.ref)
                if job is not None and job.final_status is None:
                    new_ids = self.content.complete_sync(job, event.due)
                    self.automation.after_sync(job, new_ids, event.due)
            elif event.kind == "media":
                post = self.generation.complete_media(event.ref, event.due)
                if post is not None:
                    self.automation.after_media(post, event.due)
            elif event.kind == "delivery":
                self.generation.complete_delivery(event.ref, event.due)
        return now

    def advance(self, seconds: float) -> float:
        """Jump the simulated clock and complete everything that became due."""
        self.core.clock.advance(seconds)
        return self.refresh()

    def reset(self, *, config: bool, chaos: bool) -> None:
        """Empty the run: state, ledger, stats, rate limits, scheduled webhooks, held requests, idempotency keys.

        Knobs and chaos are kept unless asked.
        """
        self.core.reset(config=config)
        self.chaos = ChaosEngine(self.config.chaos if chaos else self.chaos.config, self.core.rng.chaos)
        self.rate_limiter.clear()
        self.stats.clear()
        self.webhooks.clear()
        self.late_commits.cancel_all()
        self.idempotency.clear()

    # -- background work -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the ticker (call from inside the running event loop)."""
        self._ticker = asyncio.get_running_loop().create_task(self._tick_forever(), name="simulator-ticker")

    async def aclose(self) -> None:
        await self.late_commits.aclose()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.billing.aclose()

    async def _tick_forever(self) -> None:
        loop = asyncio.get_running_loop()
        next_reconcile = loop.time()
        while True:
            try:
                now = self.refresh()
                if loop.time() >= next_reconcile:
                    next_reconcile = loop.time() + self.config.reconcile_interval_seconds
                    if self.billing.reconciles():
                        await self.billing.reconcile_all()
                    else:
                        await self.webhooks.observe()
                await self.webhooks.deliver_due()
                for user in list(self.core.state.users.values()):
                    self.billing.schedule_reload(user)
                delay = self.config.tick_max_seconds
                due = self.core.events.next_due()
                if due is not None:
                    delay = min(delay, self.core.clock.to_real(due - now))
                await asyncio.sleep(max(delay, 0.005))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("simulator ticker failed; continuing")
                await asyncio.sleep(self.config.tick_max_seconds)
