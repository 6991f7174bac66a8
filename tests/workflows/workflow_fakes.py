"""A scriptable in-memory ReelMirror behind mocked activities, for time-skipping workflow tests.

Why a fake with state instead of one mock per test: the workflows' promises are about effects ("exactly
one generate", "the bonus was seen", "one of two deliveries failed"), so the fake keeps the same kind of
ledger the simulator keeps, and tests assert on it. Every activity has the exact name, input and output
model the real `ReelMirrorActivities` has (`activities()` checks the names against it), so a workflow
cannot tell the difference. Knobs script the unhappy paths:

* `not_ready[<activity name>] = n`: each polled item (mail, job, post, outgoing post) answers NotReady n
  times before it is ready;
* `fail_next(<activity name> | "*", <ErrorType>, times)`: the next calls raise that error;
* `key_valid = False`: every call with the API key raises UNAUTHORIZED until set back;
* `lose_generate_responses = n`: the next n generates commit, then raise a retryable TRANSPORT_ERROR;
* `lose_key_answers = n`: the next n key creations commit, then raise TRANSPORT_ERROR (the next attempt
  reports their names as possibly orphaned, as the real activity does);
* `media_fails`, `failing_platforms`, `server_generates_on_sync`, balance and costs;
* `guide_views = True`: a generated post's answer carries only its media statuses (no status, no outgoing post).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.error_types import NON_RETRYABLE_ERROR_TYPES, ErrorType
from activities.models import (
    AccountRef,
    ApiKeyOutcome,
    ApproveOutcome,
    AutoReloadInput,
    AwaitBalanceInput,
    BalanceView,
    CardOutcome,
    CreateApiKeyInput,
    CyclePlan,
    DeliveriesView,
    DeliveryView,
    EnsurePersonaInput,
    EnsureSourceInput,
    EnsureTargetInput,
    FindGeneratedInput,
    GeneratedPostInput,
    GeneratedPostView,
    GenerateInput,
    GenerateOutcome,
    JobInput,
    MediaView,
    OutgoingPostInput,
    PersonaInput,
    PersonaView,
    PlanCycleInput,
    PlannedPost,
    PostStatesInput,
    PostStatesView,
    RejectInput,
    SignupInput,
    SignupOutcome,
    SourceView,
    SyncJobView,
    SyncStartedView,
    TargetView,
    VerifyEmailInput,
    VerifyEmailOutcome,
)
from activities.operator_models import AccountView, AlertDelivered, SendAlertInput, TopupInput, TopupView
from activities.planning import Listed, read_listing
from activities.workflow_state import describe_posts
from workflows.models import PostProgress

with workflow.unsafe.imports_passed_through():
    from activities.reelmirror import ReelMirrorActivities, activity_method_names

T = TypeVar("T")

DEFAULT_ACCOUNT = "bot"
DEFAULT_EMAIL = "bot@example.test"
COSTS_CENTS = {"image": 25, "video": 100, "carousel": 75}
MEDIA_ITEMS = {"image": ["image"], "carousel": ["image", "image", "image"], "video": ["video"]}
NO_TARGETS_REASON = "the persona has no publishing targets: the post was sent to compose"


def app_error(error_type: str, message: str) -> ApplicationError:
    """What the real error table raises: the vendor's code as type; 4xx never retried."""
    return ApplicationError(message, type=error_type, non_retryable=error_type in NON_RETRYABLE_ERROR_TYPES)


def not_ready(what: str) -> ApplicationError:
    return ApplicationError(
        f"{what} is not ready yet", type=ErrorType.NOT_READY, category=ApplicationErrorCategory.BENIGN
    )


def fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


@dataclass
class LedgerEntry:
    kind: str
    account_ref: str | None = None
    persona_id: str | None = None
    source_post_id: str | None = None
    generated_post_id: str | None = None
    amount_cents: int = 0
    by: str = "client"
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeAccount:
    account_ref: str
    email: str
    user_id: str
    confirmed: bool = False
    key_id: str | None = None
    scopes: list[str] = field(default_factory=list)
    balance_cents: int = 0
    has_payment_method: bool = False
    auto_reload: bool = False
    reload_threshold_cents: int | None = None
    reload_amount_cents: int | None = None

    def balance_view(self) -> BalanceView:
        return BalanceView.model_validate(self)


@dataclass
class FakeSource:
    id: str
    persona_id: str
    platform: str
    username: str
    automation_mode: str


@dataclass
class FakeSourcePost:
    id: str
    persona_id: str
    source_id: str | None
    media_type: str
    caption: str | None
    automation_mode: str


@dataclass
class FakeGeneratedPost:
    id: str
    persona_id: str
    source_post_id: str
    media_type: str
    origin: str
    status: str = "generating"
    media: list[MediaView] = field(default_factory=list)
    outgoing_post_id: str | None = None
    rejection_reason: str | None = None


@dataclass
class FakeTarget:
    connected_account_id: str
    platform: str
    username: str


class FakeReelMirror:
    """State of one fake ReelMirror account world; its `activities()` are registered on the test worker."""

    temporal: Client | None = None  # the test server's client, for `post_states`

    def __init__(
        self,
        *,
        account_ref: str = DEFAULT_ACCOUNT,
        balance_cents: int = 10_000,
        costs: dict[str, int] | None = None,
    ) -> None:
        self._ids = itertools.count(1)
        self.accounts: dict[str, FakeAccount] = {}
        self.users: dict[str, str] = {}  # email -> user id (signed up)
        self.personas: dict[str, tuple[str, str]] = {}  # id -> (name, writing style)
        self.sources: dict[str, FakeSource] = {}
        self.source_posts: dict[str, FakeSourcePost] = {}
        self.generated: dict[str, FakeGeneratedPost] = {}
        self.outgoing: dict[str, tuple[str, list[DeliveryView]]] = {}  # id -> (generated id, deliveries)
        self.sync_jobs: dict[str, SyncJobView] = {}
        self.connected_accounts: list[FakeTarget] = []
        self.targets: dict[str, list[FakeTarget]] = {}  # persona id -> linked targets
        self.creator_posts: dict[tuple[str, str], list[tuple[str, str | None]]] = {}  # waiting for a sync
        self.used_links: set[str] = set()
        self.ledger: list[LedgerEntry] = []
        self.alerts: list[SendAlertInput] = []
        self.calls: Counter[str] = Counter()
        # knobs
        self.costs = dict(costs or COSTS_CENTS)
        self.bonus_cents = 500
        self.not_ready: dict[str, int] = {}
        self.key_valid = True
        self.media_fails = False
        self.failing_platforms: set[str] = set()
        self.lose_generate_responses = 0
        self.lose_key_answers = 0
        self.orphaned_keys: list[str] = []
        self.server_generates_on_sync = True
        self.guide_views = False  # generated posts answer only their media statuses (the guide's promise)
        self._failures: dict[str, list[str]] = {}
        self._not_ready_left: dict[tuple[str, str], int] = {}
        if account_ref:
            self.add_account(account_ref, balance_cents=balance_cents)

    # --- scripting ------------------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):04d}"

    def add_account(
        self, account_ref: str, *, email: str | None = None, balance_cents: int = 10_000, card: bool = True
    ) -> FakeAccount:
        """An onboarded account: confirmed, with a working key (what most workflow tests start from)."""
        email = email or f"{account_ref}@example.test"
        user_id = self.users.setdefault(email, self.new_id("user"))
        account = FakeAccount(
            account_ref=account_ref,
            email=email,
            user_id=user_id,
            confirmed=True,
            key_id=self.new_id("key"),
            balance_cents=balance_cents,
            has_payment_method=card,
        )
        self.accounts[account_ref] = account
        return account

    def account(self, account_ref: str = DEFAULT_ACCOUNT) -> FakeAccount:
        return self.accounts[account_ref]

    def add_persona(self, name: str = "Nova", *, targets: Iterable[str] = ("instagram", "tiktok")) -> str:
        """A persona linked to one connected account per platform in `targets`."""
        persona_id = self.new_id("persona")
        self.personas[persona_id] = (name, "")
        for platform in targets:
            target = FakeTarget(self.new_id("acct"), platform, f"{name.lower()}_{platform}")
            self.connected_accounts.append(target)
            self.targets.setdefault(persona_id, []).append(target)
        return persona_id

    def add_source_post(
        self,
        persona_id: str,
        *,
        media_type: str = "image",
        automation_mode: str = "sync_only",
        caption: str | None = None,
    ) -> str:
        post_id = self.new_id("sp")
        self.source_posts[post_id] = FakeSourcePost(post_id, persona_id, None, media_type, caption, automation_mode)
        return post_id

    def connect_account(self, platform: str, username: str) -> str:
        """What a human does in the dashboard (OAuth): the bot can then link it as a target."""
        target = FakeTarget(self.new_id("acct"), platform, username)
        self.connected_accounts.append(target)
        return target.connected_account_id

    def add_creator_posts(self, platform: str, username: str, media_types: Iterable[str]) -> None:
        """New posts on a creator's feed, visible to personas following them after their next sync."""
        queue = self.creator_posts.setdefault((platform, username.lower()), [])
        queue.extend((media_type, None) for media_type in media_types)

    def server_generate(self, source_post_id: str, origin: str = "auto_clone") -> FakeGeneratedPost:
        """The server's own automation makes a generated post (auto_clone / auto_publish)."""
        sp = self.source_posts[source_post_id]
        return self._create_generated(sp.persona_id, source_post_id, origin)

    def top_up(self, cents: int, account_ref: str = DEFAULT_ACCOUNT) -> None:
        """The human Checkout step: credits arrive (no signal is sent; tests send it when they mean to)."""
        self.accounts[account_ref].balance_cents += cents
        self.ledger.append(LedgerEntry("topup", account_ref, amount_cents=cents))

    def fail_next(self, activity_name: str, error_type: str, times: int = 1) -> None:
        """The next `times` calls of `activity_name` (or of any activity with "*") raise `error_type`."""
        self._failures.setdefault(activity_name, []).extend([error_type] * times)

    def confirmation_link(self, email: str) -> str:
        token = fingerprint("link:" + email)
        return f"https://sim.test/auth/v1/verify?token={token}&type=signup&redirect_to=https://sim.test/auth/callback"

    def count(self, kind: str, **match: Any) -> int:
        """Ledger entries of `kind` whose fields equal `match`."""
        return sum(1 for e in self.ledger if e.kind == kind and all(getattr(e, k) == v for k, v in match.items()))

    def activities(self) -> list[Callable[..., Any]]:
        """Every mocked activity, bound to this fake: pass to `Worker(activities=...)`.

        One fake per activity of the real `ReelMirrorActivities` (a missing one fails here, by name)."""
        return [getattr(self, name) for name in activity_method_names(ReelMirrorActivities)]

    # --- shared behaviour ------------------------------------------------------------------------

    def _enter(self, name: str, account_ref: str | None = None, *, keyed: bool = True) -> FakeAccount | None:
        """Count the call, raise a scripted failure, check the key; returns the account when keyed."""
        self.calls[name] += 1
        for queue_name in (name, "*"):
            queue = self._failures.get(queue_name)
            if queue:
                raise app_error(queue.pop(0), f"scripted {name} failure")
        if not keyed:
            return None
        if not self.key_valid:
            raise app_error(ErrorType.UNAUTHORIZED, "UNAUTHORIZED (401): invalid API key")
        account = self.accounts.get(account_ref or "")
        if account is None or account.key_id is None:
            raise app_error(ErrorType.MISSING_SECRET, f"no API key stored for account {account_ref!r}")
        return account

    def _ready(self, name: str, key: str) -> bool:
        """False (and one fewer to go) while a polled item still has NotReady answers left."""
        left = self._not_ready_left.setdefault((name, key), self.not_ready.get(name, 0))
        if left > 0:
            self._not_ready_left[(name, key)] = left - 1
            return False
        return True

    def _post(self, generated_post_id: str) -> FakeGeneratedPost:
        post = self.generated.get(generated_post_id)
        if post is None:
            raise app_error(ErrorType.NOT_FOUND, f"NOT_FOUND (404): generated post {generated_post_id} not found")
        return post

    def _create_generated(self, persona_id: str, source_post_id: str, origin: str) -> FakeGeneratedPost:
        sp = self.source_posts.get(source_post_id)
        media_type = sp.media_type if sp else "image"
        post = FakeGeneratedPost(self.new_id("gp"), persona_id, source_post_id, media_type, origin)
        post.media = [MediaView(id=self.new_id("m"), type=t, status="processing") for t in MEDIA_ITEMS[media_type]]
        self.generated[post.id] = post
        by = "client" if origin == "api" else "server"
        self.ledger.append(
            LedgerEntry(
                "generate", persona_id=persona_id, source_post_id=source_post_id, generated_post_id=post.id, by=by
            )
        )
        return post

    def _existing_for(self, persona_id: str, source_post_id: str) -> FakeGeneratedPost | None:
        for post in self.generated.values():
            if post.persona_id == persona_id and post.source_post_id == source_post_id:
                return post
        return None

    def _finish_media(self, post: FakeGeneratedPost) -> None:
        status = "failed" if self.media_fails else "completed"
        post.media = [
            m.model_copy(
                update={"status": status, "url": f"https://cdn.test/{m.id}.jpg" if status == "completed" else None}
            )
            for m in post.media
        ]
        post.status = "failed" if self.media_fails else "ready"

    def _approve(self, post: FakeGeneratedPost, by: str) -> str:
        outgoing_id = self.new_id("out")
        deliveries = [
            DeliveryView(
                id=self.new_id("dl"),
                connected_account_id=t.connected_account_id,
                platform=t.platform,
                status="publishing",
            )
            for t in self.targets.get(post.persona_id, [])
        ]
        self.outgoing[outgoing_id] = (post.id, deliveries)
        post.outgoing_post_id = outgoing_id
        post.status = "publishing"
        self.ledger.append(
            LedgerEntry(
                "approve",
                persona_id=post.persona_id,
                source_post_id=post.source_post_id,
                generated_post_id=post.id,
                by=by,
            )
        )
        return outgoing_id

    def _view(self, post: FakeGeneratedPost) -> GeneratedPostView:
        view = GeneratedPostView.model_validate(post)
        if self.guide_views:
            media = [MediaView(status=m.status) for m in view.media]
            return GeneratedPostView(id=view.id, media=media)
        return view

    # --- onboarding activities -------------------------------------------------------------------

    @activity.defn
    async def signup(self, inp: SignupInput) -> SignupOutcome:
        self._enter("signup", keyed=False)
        if inp.email in self.users:
            self.ledger.append(LedgerEntry("signup_refused", inp.account_ref, details={"email": inp.email}))
            if inp.account_ref not in self.accounts:
                self.accounts[inp.account_ref] = FakeAccount(inp.account_ref, inp.email, self.users[inp.email])
            return SignupOutcome(user_id=None, already_exists=True)
        user_id = self.users[inp.email] = self.new_id("user")
        self.accounts[inp.account_ref] = FakeAccount(inp.account_ref, inp.email, user_id)
        self.ledger.append(LedgerEntry("signup", inp.account_ref, details={"email": inp.email}))
        return SignupOutcome(user_id=user_id)

    @activity.defn
    async def verify_email(self, inp: VerifyEmailInput) -> VerifyEmailOutcome:
        self._enter("verify_email", keyed=False)
        account = self.accounts.get(inp.account_ref)
        if account is None:
            raise app_error(ErrorType.NOT_FOUND, f"no signup for {inp.email}")
        link = inp.link
        if link is None:
            if not self._ready("verify_email", inp.email):
                raise not_ready(f"the confirmation e-mail for {inp.email}")
            link = self.confirmation_link(inp.email)
        if link != self.confirmation_link(inp.email) or link in self.used_links:
            raise app_error(ErrorType.CONFIRMATION_LINK, "CONFIRMATION_LINK: Email link is invalid or has expired")
        self.used_links.add(link)
        account.confirmed = True
        self.ledger.append(LedgerEntry("email_confirmed", inp.account_ref))
        return VerifyEmailOutcome(user_id=account.user_id, email=inp.email, jwt_fingerprint=fingerprint(link))

    @activity.defn
    async def create_api_key(self, inp: CreateApiKeyInput) -> ApiKeyOutcome:
        self._enter("create_api_key", keyed=False)
        account = self.accounts.get(inp.account_ref)
        if account is None or not account.confirmed:
            raise app_error(ErrorType.MISSING_SECRET, f"no session stored for account {inp.account_ref!r}")
        if account.key_id is not None and self.key_valid:
            return ApiKeyOutcome(
                key_id=account.key_id,
                fingerprint=fingerprint(account.key_id),
                scopes=account.scopes or inp.scopes,
                reused=True,
            )
        name = f"{inp.name}-{len(self.orphaned_keys) + 1}"
        self.ledger.append(LedgerEntry("api_key", inp.account_ref, details={"scopes": list(inp.scopes), "name": name}))
        if self.lose_key_answers > 0:
            self.lose_key_answers -= 1
            self.orphaned_keys.append(name)
            raise app_error(ErrorType.TRANSPORT_ERROR, "TRANSPORT_ERROR (no response): POST /v1/api-keys: timeout")
        account.key_id, account.scopes = self.new_id("key"), list(inp.scopes)
        self.key_valid = True
        return ApiKeyOutcome(
            key_id=account.key_id,
            fingerprint=fingerprint(account.key_id),
            scopes=account.scopes,
            name=name,
            possibly_orphaned=list(self.orphaned_keys),
        )

    @activity.defn
    async def attach_card(self, inp: AccountRef) -> CardOutcome:
        account = self._enter("attach_card", inp.account_ref)
        assert account is not None
        if account.has_payment_method:
            return CardOutcome(setup_intent_id=None, status="succeeded", already_attached=True)
        account.has_payment_method = True
        account.balance_cents += self.bonus_cents
        self.ledger.append(LedgerEntry("setup_intent", inp.account_ref))
        self.ledger.append(LedgerEntry("bonus", inp.account_ref, amount_cents=self.bonus_cents, by="server"))
        return CardOutcome(setup_intent_id=self.new_id("seti"), status="succeeded")

    @activity.defn
    async def await_balance(self, inp: AwaitBalanceInput) -> BalanceView:
        account = self._enter("await_balance", inp.account_ref)
        assert account is not None
        if not self._ready("await_balance", inp.account_ref) or account.balance_cents < inp.at_least_cents:
            raise not_ready("the welcome bonus")
        return account.balance_view()

    @activity.defn
    async def get_balance(self, inp: AccountRef) -> BalanceView:
        account = self._enter("get_balance", inp.account_ref)
        assert account is not None
        return account.balance_view()

    @activity.defn
    async def configure_auto_reload(self, inp: AutoReloadInput) -> BalanceView:
        account = self._enter("configure_auto_reload", inp.account_ref)
        assert account is not None
        if inp.enabled and not account.has_payment_method:
            raise app_error(ErrorType.VALIDATION_ERROR, "VALIDATION_ERROR (400): auto reload needs a payment method")
        account.auto_reload = inp.enabled
        account.reload_threshold_cents, account.reload_amount_cents = inp.threshold_cents, inp.amount_cents
        return account.balance_view()

    @activity.defn
    async def create_topup(self, inp: TopupInput) -> TopupView:
        self._enter("create_topup", inp.account_ref)
        return TopupView(checkout_url=f"https://checkout.test/{self.new_id('cs')}?amount={inp.amount_cents}")

    @activity.defn
    async def describe_account(self, inp: AccountRef) -> AccountView:
        account = self._enter("describe_account", inp.account_ref)
        assert account is not None
        return AccountView(
            balance=account.balance_view(),
            key_id=account.key_id,
            key_fingerprint=fingerprint(account.key_id or ""),
            scopes=account.scopes,
        )

    # --- alerts ------------------------------------------------------------------------------------

    @activity.defn
    async def send_alert(self, inp: SendAlertInput) -> AlertDelivered:
        """Records the alert; a webhook URL containing "down" fails, as a receiver that is down would."""
        self._enter("send_alert", keyed=False)
        if "down" in inp.url:
            raise ApplicationError(f"webhook at {inp.url} answered 503", type="WEBHOOK_FAILED")
        self.alerts.append(inp)
        return AlertDelivered(status_code=200)

    # --- persona setup and sync ------------------------------------------------------------------

    @activity.defn
    async def ensure_persona(self, inp: EnsurePersonaInput) -> PersonaView:
        self._enter("ensure_persona", inp.account_ref)
        if inp.known_persona_id:
            if inp.known_persona_id not in self.personas:
                raise app_error(ErrorType.NOT_FOUND, f"NOT_FOUND (404): persona {inp.known_persona_id}")
            return PersonaView(id=inp.known_persona_id, name=self.personas[inp.known_persona_id][0])
        for persona_id, (name, _) in self.personas.items():
            if name == inp.name:
                return PersonaView(id=persona_id, name=name)
        persona_id = self.new_id("persona")
        self.personas[persona_id] = (inp.name, inp.writing_style)
        self.ledger.append(LedgerEntry("persona", inp.account_ref, persona_id=persona_id))
        return PersonaView(id=persona_id, name=inp.name, created=True)

    @activity.defn
    async def ensure_source(self, inp: EnsureSourceInput) -> SourceView:
        self._enter("ensure_source", inp.account_ref)
        for src in self.sources.values():
            if src.persona_id == inp.persona_id and (src.platform, src.username.lower()) == (
                inp.platform,
                inp.username.lower(),
            ):
                changed = src.automation_mode != inp.automation_mode
                src.automation_mode = inp.automation_mode
                return SourceView.model_validate(src).model_copy(update={"mode_changed": changed})
        src = FakeSource(self.new_id("src"), inp.persona_id, inp.platform, inp.username, inp.automation_mode)
        self.sources[src.id] = src
        self.ledger.append(LedgerEntry("source", inp.account_ref, persona_id=inp.persona_id))
        return SourceView.model_validate(src).model_copy(update={"created": True})

    @activity.defn
    async def ensure_publishing_target(self, inp: EnsureTargetInput) -> TargetView:
        self._enter("ensure_publishing_target", inp.account_ref)
        match = next(
            (
                a
                for a in self.connected_accounts
                if a.connected_account_id == inp.connected_account_id
                or (a.platform == inp.platform and a.username.lower() == (inp.username or "").lower())
            ),
            None,
        )
        if match is None:
            return TargetView(
                linked=False,
                platform=inp.platform,
                username=inp.username,
                reason="no connected account matches: connect it in the dashboard",
            )
        linked = self.targets.setdefault(inp.persona_id, [])
        created = match not in linked
        if created:
            linked.append(match)
            self.ledger.append(LedgerEntry("target", inp.account_ref, persona_id=inp.persona_id))
        return TargetView(
            linked=True,
            connected_account_id=match.connected_account_id,
            platform=match.platform,
            username=match.username,
            created=created,
        )

    @activity.defn
    async def start_sync(self, inp: PersonaInput) -> SyncStartedView:
        self._enter("start_sync", inp.account_ref)
        job_ids = []
        for src in self.sources.values():
            if src.persona_id == inp.persona_id:
                job = SyncJobView(id=self.new_id("job"), status="running", source_id=src.id)
                self.sync_jobs[job.id] = job
                job_ids.append(job.id)
        self.ledger.append(LedgerEntry("sync", inp.account_ref, persona_id=inp.persona_id))
        return SyncStartedView(job_ids=job_ids)

    @activity.defn
    async def poll_sync_job(self, inp: JobInput) -> SyncJobView:
        self._enter("poll_sync_job", inp.account_ref)
        job = self.sync_jobs.get(inp.job_id)
        if job is None:
            raise app_error(ErrorType.NOT_FOUND, f"NOT_FOUND (404): sync job {inp.job_id}")
        if job.status == "running":
            if not self._ready("poll_sync_job", job.id):
                raise not_ready(f"sync job {job.id}")
            job = self.sync_jobs[job.id] = job.model_copy(
                update={"status": "completed", "new_posts": self._materialize(job.source_id or "")}
            )
        return job

    def _materialize(self, source_id: str) -> int:
        """A finished sync: the creator's new posts become the persona's source posts."""
        src = self.sources[source_id]
        queue = self.creator_posts.pop((src.platform, src.username.lower()), [])
        for media_type, caption in queue:
            post_id = self.new_id("sp")
            self.source_posts[post_id] = FakeSourcePost(
                post_id, src.persona_id, src.id, media_type, caption, src.automation_mode
            )
            if src.automation_mode != "sync_only" and self.server_generates_on_sync:
                self.server_generate(post_id, src.automation_mode)
        return len(queue)

    @activity.defn
    async def plan_cycle(self, inp: PlanCycleInput) -> CyclePlan:
        self._enter("plan_cycle", inp.account_ref)
        items: list[PlannedPost] = []
        deferred = 0
        mine = [sp for sp in self.source_posts.values() if sp.persona_id == inp.persona_id]
        book = read_listing([Listed(sp.id) for sp in mine], inp.book, inp.backlog)
        for sp in (self.source_posts[post_id] for post_id in book.pending):
            mode = inp.source_modes.get(sp.source_id or "", sp.automation_mode)
            existing = self._existing_for(inp.persona_id, sp.id)
            if (mode != "sync_only" and existing is None) or len(items) >= inp.limit:
                deferred += 1
                continue
            items.append(
                PlannedPost(
                    source_post_id=sp.id,
                    source_id=sp.source_id,
                    automation_mode=mode,
                    media_type=sp.media_type,
                    caption=sp.caption,
                    existing_generated_post_id=existing.id if existing else None,
                )
            )
        return CyclePlan(items=items, deferred=deferred, book=book)

    @activity.defn
    async def post_states(self, inp: PostStatesInput) -> PostStatesView:
        """The real lookup, on the test server the worker runs against (set by the worker fixture)."""
        self._enter("post_states", keyed=False)
        assert self.temporal is not None, "the worker fixture hands the fake its Temporal client"
        return await describe_posts(self.temporal, inp.workflow_ids)

    # --- one post --------------------------------------------------------------------------------

    @activity.defn
    async def generate_post(self, inp: GenerateInput) -> GenerateOutcome:
        account = self._enter("generate_post", inp.account_ref)
        assert account is not None
        existing = self._existing_for(inp.persona_id, inp.source_post_id)
        if existing is not None:
            return GenerateOutcome(generated_post_id=existing.id, adopted=True, origin=existing.origin)
        sp = self.source_posts.get(inp.source_post_id)
        if sp is None:
            raise app_error(ErrorType.NOT_FOUND, f"NOT_FOUND (404): source post {inp.source_post_id}")
        cost = self.costs.get(sp.media_type, self.costs["image"])
        if account.balance_cents < cost:
            raise app_error(ErrorType.INSUFFICIENT_BALANCE, "INSUFFICIENT_BALANCE (402): not enough credits")
        account.balance_cents -= cost
        post = self._create_generated(inp.persona_id, inp.source_post_id, "api")
        self.ledger.append(
            LedgerEntry(
                "charge",
                inp.account_ref,
                persona_id=inp.persona_id,
                generated_post_id=post.id,
                amount_cents=cost,
                by="server",
            )
        )
        if self.lose_generate_responses > 0:
            self.lose_generate_responses -= 1
            raise ApplicationError(
                "connection dropped after the server committed the generate", type=ErrorType.TRANSPORT_ERROR
            )
        return GenerateOutcome(generated_post_id=post.id, adopted=False, origin="api")

    @activity.defn
    async def find_generated_post(self, inp: FindGeneratedInput) -> GenerateOutcome:
        self._enter("find_generated_post", inp.account_ref)
        existing = self._existing_for(inp.persona_id, inp.source_post_id)
        if existing is None:
            if not self._ready("find_generated_post", inp.source_post_id):
                raise not_ready(f"the server's post for {inp.source_post_id}")
            sp = self.source_posts.get(inp.source_post_id)
            existing = self._create_generated(
                inp.persona_id, inp.source_post_id, sp.automation_mode if sp else "auto_clone"
            )
        return GenerateOutcome(generated_post_id=existing.id, adopted=True, origin=existing.origin)

    @activity.defn
    async def poll_generated_post(self, inp: GeneratedPostInput) -> GeneratedPostView:
        self._enter("poll_generated_post", inp.account_ref)
        post = self._post(inp.generated_post_id)
        if post.status == "generating":
            if not self._ready("poll_generated_post", post.id):
                raise not_ready(f"media of {post.id}")
            self._finish_media(post)
        return self._view(post)

    @activity.defn
    async def get_generated_post(self, inp: GeneratedPostInput) -> GeneratedPostView:
        self._enter("get_generated_post", inp.account_ref)
        return self._view(self._post(inp.generated_post_id))

    @activity.defn
    async def await_outgoing_post(self, inp: GeneratedPostInput) -> GeneratedPostView:
        self._enter("await_outgoing_post", inp.account_ref)
        post = self._post(inp.generated_post_id)
        if post.outgoing_post_id is None and post.status not in ("failed", "rejected", "composing"):
            if post.origin != "auto_publish" or not self._ready("await_outgoing_post", post.id):
                raise not_ready(f"the server's publication of {post.id}")
            if post.status == "generating":  # the server renders, then publishes, by itself
                self._finish_media(post)
            if post.status == "ready":
                self._approve(post, by="server")
        return self._view(post)

    @activity.defn
    async def approve_post(self, inp: GeneratedPostInput) -> ApproveOutcome:
        self._enter("approve_post", inp.account_ref)
        post = self._post(inp.generated_post_id)
        if post.status in ("publishing", "published"):
            return ApproveOutcome(outgoing_post_id=post.outgoing_post_id, already_approved=True)
        if post.status == "composing":
            return ApproveOutcome(outgoing_post_id=None, sent_to_compose=True, reason="already sent to compose")
        if post.status != "ready":
            raise app_error(ErrorType.VALIDATION_ERROR, f"VALIDATION_ERROR (400): post {post.id} is {post.status}")
        if not self.targets.get(post.persona_id):
            post.status = "composing"
            self.ledger.append(LedgerEntry("compose", inp.account_ref, generated_post_id=post.id))
            return ApproveOutcome(outgoing_post_id=None, sent_to_compose=True, reason=NO_TARGETS_REASON)
        return ApproveOutcome(outgoing_post_id=self._approve(post, by="client"))

    @activity.defn
    async def reject_post(self, inp: RejectInput) -> GeneratedPostView:
        self._enter("reject_post", inp.account_ref)
        post = self._post(inp.generated_post_id)
        if post.status in ("publishing", "published", "composing"):
            raise app_error(ErrorType.CONFLICT, f"CONFLICT (409): post {post.id} is {post.status}")
        if post.status != "rejected":
            post.status, post.rejection_reason = "rejected", inp.reason
            self.ledger.append(
                LedgerEntry("reject", inp.account_ref, generated_post_id=post.id, details={"reason": inp.reason})
            )
        return self._view(post)

    @activity.defn
    async def poll_deliveries(self, inp: OutgoingPostInput) -> DeliveriesView:
        self._enter("poll_deliveries", inp.account_ref)
        if inp.outgoing_post_id not in self.outgoing:
            raise app_error(ErrorType.NOT_FOUND, f"NOT_FOUND (404): outgoing post {inp.outgoing_post_id}")
        generated_id, deliveries = self.outgoing[inp.outgoing_post_id]
        if any(d.status not in ("published", "failed") for d in deliveries):
            if not self._ready("poll_deliveries", inp.outgoing_post_id):
                raise not_ready(f"deliveries of {inp.outgoing_post_id}")
            deliveries = [self._deliver(d, generated_id) for d in deliveries]
            self.outgoing[inp.outgoing_post_id] = (generated_id, deliveries)
            self.generated[generated_id].status = "published"
        return DeliveriesView(outgoing_post_id=inp.outgoing_post_id, deliveries=deliveries)

    def _deliver(self, delivery: DeliveryView, generated_id: str) -> DeliveryView:
        failed = delivery.platform in self.failing_platforms
        self.ledger.append(
            LedgerEntry(
                "delivery",
                generated_post_id=generated_id,
                by="server",
                details={"platform": delivery.platform, "failed": failed},
            )
        )
        if failed:
            return delivery.model_copy(update={"status": "failed", "error": f"{delivery.platform} refused the post"})
        return delivery.model_copy(update={"status": "published"})


@workflow.defn
class StubPersonaWorkflow:
    """Stands in for a persona: records the `post_progress` signals its posts send.

    It completes by itself once `posts` posts reported they finished (or on `finish`). Why not wait for
    the test's signal only: once the awaited post completes, the time-skipping server may skip straight to
    the next timer, and an idle stub's only timer is its execution timeout (ten years by default).
    """

    def __init__(self) -> None:
        self.received: list[PostProgress] = []
        self.done = False

    @workflow.run
    async def run(self, posts: int = 1) -> list[PostProgress]:
        await workflow.wait_condition(lambda: self.done or sum(p.finished for p in self.received) >= posts)
        return self.received

    @workflow.signal
    def post_progress(self, progress: PostProgress) -> None:
        self.received.append(progress)

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def progress(self) -> list[PostProgress]:
        return self.received


#: The time-skipping server of the running test, if any: `eventually` moves its clock between probes.
_TEST_CLOCK: list[Any] = []
#: Server time `eventually` lets pass between two probes: enough for a poll's first planned check
#: (tens of seconds) within a few probes, far less than any approval deadline or sync interval a test sets.
PROBE_SKIP = timedelta(seconds=5)


@contextlib.contextmanager
def time_skipping(env: Any) -> Iterator[None]:
    """While active, `eventually` advances `env`'s clock between probes (the test server skips time only
    while a client awaits a result, and a state may sit behind a durable timer, such as a poll's wait for
    its first planned check)."""
    _TEST_CLOCK.append(env)
    try:
        yield
    finally:
        _TEST_CLOCK.remove(env)


async def eventually(
    probe: Callable[[], Awaitable[T]], until: Callable[[T], bool], *, attempts: int = 200, pause: float = 0.05
) -> T:
    """Probe (e.g. a query) until `until(result)` holds, letting `PROBE_SKIP` of server time pass between
    probes under `time_skipping`.

    Fails the test with the last result when the state never comes; no timing is asserted.
    """
    last: Any = None
    for _ in range(attempts):
        last = await probe()
        if until(last):
            return last
        if _TEST_CLOCK:
            await _TEST_CLOCK[-1].sleep(PROBE_SKIP)
        await asyncio.sleep(pause)
    raise AssertionError(f"state never reached; last probe returned {last!r}")
