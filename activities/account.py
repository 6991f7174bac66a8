"""Onboarding and billing activities: signup, e-mail confirmation, API key, card, balance.

Each one checks the secret store, the server or Stripe before it acts, because each may run again after
its first attempt's answer was lost: a repeated signup burns one of the 5 daily signups (and Supabase
often answers it 200 rather than 409), a confirmation link works exactly once, a key created twice leaves
an orphan credential, and a second SetupIntent leaves the first one dangling. What each step records
before its request, and what a retry reads back, is said at each activity.
"""

from __future__ import annotations

import secrets as pysecrets
import time
from datetime import UTC, datetime

from pydantic import SecretStr
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.ambiguity import may_have_committed
from activities.base import API_KEY, ActivityBase, heartbeat
from activities.error_types import ErrorType
from activities.errors import not_ready, translated
from activities.idempotency import idempotency_key
from activities.key_attempts import KeyAttempt, KeyAttempts
from activities.models import (
    AccountRef,
    ApiKeyOutcome,
    AutoReloadInput,
    AwaitBalanceInput,
    BalanceView,
    CardOutcome,
    CreateApiKeyInput,
    SignupInput,
    SignupOutcome,
    VerifyEmailInput,
    VerifyEmailOutcome,
)
from activities.secrets import MissingSecretError, fingerprint
from activities.sessions import EMAIL, JWT, PASSWORD, Sessions
from activities.setup_intents import StoredIntent, StoredIntents
from reelmirror.client import ReelMirrorClient
from reelmirror.errors import (
    ConfirmationLinkError,
    ConflictError,
    ForbiddenError,
    StripeConfirmationError,
    UnauthorizedError,
    UntrustedLinkError,
)
from reelmirror.models import ApiKey
from reelmirror.stripe_setup import ACCEPTED_STATUSES, confirm_setup_intent
from reelmirror.supabase import decode_jwt_claims, follow_confirmation_link

__all__ = ["AccountActivities"]

# Secret names kept per account (besides API_KEY and those of activities.sessions / key_attempts / setup_intents).
USER_ID = "user_id"
VERIFIED_LINK = "verified_link"  # fingerprint of the confirmation link already consumed
API_KEY_ID = "api_key_id"
API_KEY_SCOPES = "api_key_scopes"  # space-separated
PAYMENT_METHOD = "payment_method"
SIGNUP_PENDING = "signup_pending_at"  # Unix time of a signup request whose answer has not come (yet)
SIGNUP_POSTS = "signup_posts"  # signup requests sent that may have created the account
SIGNED_UP = "signed_up"  # the account is known to exist (its user id may not be)

#: Signup requests one account may send: the first, and one more when nothing shows the first one landed.
MAX_SIGNUP_POSTS = 2

#: Statuses of a stored SetupIntent that still wait for a payment method or a confirm.
CONFIRMABLE_STATUSES = frozenset({"requires_payment_method", "requires_confirmation"})


class AccountActivities(ActivityBase):
    @activity.defn
    @translated
    async def signup(self, input: SignupInput) -> SignupOutcome:
        """Sign up once, whatever the answers.

        The password is stored before the first request, and so is a mark that a request is under way.
        An attempt that finds the mark (an earlier answer was lost, or its worker died mid-request) first
        asks whether that request landed: a password login that Supabase answers "e-mail not confirmed"
        (or with a session), or a confirmation mail in the inbox, means the account exists. Only when
        neither shows anything is one more request sent, and never a third: then the step parks until the
        operator has looked. 409 (or a repeat Supabase answers 200, same user) means "already exists".
        """
        ref, email = input.account_ref, input.email
        known_user = await self.store.get(ref, USER_ID)
        known_email = await self.store.get(ref, EMAIL)
        known = known_user is not None or await self.store.get(ref, SIGNED_UP) is not None
        if known and known_email and known_email.get_secret_value().lower() == email.lower():
            # An earlier attempt signed up and stored the answer: do not spend another signup on it.
            return SignupOutcome(user_id=known_user.get_secret_value() if known_user else None, already_exists=True)
        password = await self.store.get(ref, PASSWORD)
        if password is None:
            password = SecretStr(pysecrets.token_urlsafe(24))
            await self.store.update(ref, {PASSWORD: password, EMAIL: email})
        pending = await self.store.get(ref, SIGNUP_PENDING)
        sent = _count(await self.store.get(ref, SIGNUP_POSTS))
        if pending is not None:
            heartbeat("checking whether the earlier signup landed")
            landed = await self._signup_landed(ref, email, password, since=_unix(pending))
            if landed is not None:
                await self.store.update(
                    ref, {SIGNUP_PENDING: None, SIGNED_UP: "1", USER_ID: landed or None, EMAIL: email}
                )
                activity.logger.info("signup of account %s: the earlier request created the account", ref)
                return SignupOutcome(user_id=landed or None, recovered=True)
            if sent >= MAX_SIGNUP_POSTS:
                raise _signup_uncertain(email, sent)
            activity.logger.warning(
                "signup of account %s: nothing shows the earlier request landed; sending it again", ref
            )
        await self.store.update(ref, {SIGNUP_PENDING: str(time.time()), SIGNUP_POSTS: str(sent + 1)})
        try:
            result = await self._client().signup(email, password, idempotency_key=idempotency_key("signup"))
        except ConflictError:
            await self.store.update(ref, {SIGNUP_PENDING: None})
            activity.logger.info("signup of account %s: the e-mail is already registered", ref)
            return SignupOutcome(already_exists=True)
        except Exception as exc:
            if not may_have_committed(exc):
                await self.store.update(ref, {SIGNUP_PENDING: None, SIGNUP_POSTS: str(sent)})
            raise
        await self.store.update(ref, {USER_ID: result.user_id, EMAIL: email, SIGNUP_PENDING: None, SIGNED_UP: "1"})
        activity.logger.info("signed up account %s as user %s", ref, result.user_id)
        return SignupOutcome(user_id=result.user_id, recovered=pending is not None)

    async def _signup_landed(self, ref: str, email: str, password: SecretStr, *, since: float | None) -> str | None:
        """The user id ("" when unknown) if an earlier signup request created the account, else None."""
        probe = await self._sessions().probe(ref, email, password)
        if probe in ("unconfirmed", "confirmed"):
            return ""
        if self.mailbox is not None:
            after = datetime.fromtimestamp(since, UTC) if since is not None else None
            if await self.mailbox.find_confirmation_link(email, since=after) is not None:
                return ""
        return None

    @activity.defn
    @translated
    async def verify_email(self, input: VerifyEmailInput) -> VerifyEmailOutcome:
        """Consume the confirmation link (from the signal, else the mailbox) and store the whole session.

        Only a link to the auth origin is followed. Supabase links work once: the consumed link's
        fingerprint is stored with the session, so a retry after a lost result returns the stored session;
        and when the link turns out spent without a stored session (a worker killed after following it,
        before storing what it yielded), the stored password signs in instead.
        """
        ref = input.account_ref
        link = input.link
        if link is None:
            if self.mailbox is None:
                raise not_ready(
                    "this worker reads no mailbox (neither REELMIRROR_IMAP_HOST nor REELMIRROR_MAILBOX_URL is set): "
                    "send the confirm_email signal with the link"
                )
            link = await self.mailbox.find_confirmation_link(input.email, since=input.since)
            if link is None:
                raise not_ready(f"no confirmation e-mail for {input.email} yet")
        sessions = self._sessions()
        origin = sessions.trusted_origin(link)
        link_fp = fingerprint(link)
        stored = await self._stored_session(ref, link_fp)
        if stored is not None:
            return stored
        try:
            session = await follow_confirmation_link(
                link, auth_origin=origin, http=self._pool(), timeout=self.settings.http_timeout_seconds
            )
        except UntrustedLinkError:
            raise
        except ConfirmationLinkError as spent:
            session = await sessions.login_after_spent_link(ref, input.email, origin, spent)
        if session.email and session.email.lower() != input.email.lower():
            raise ApplicationError(
                f"the confirmation link is for another address than {input.email}",
                type=ErrorType.CONFIRMATION_LINK,
                non_retryable=True,
            )
        user_id = session.user_id or ""
        await sessions.keep(ref, session, origin, {VERIFIED_LINK: link_fp, USER_ID: user_id or None})
        activity.logger.info("confirmed e-mail of account %s (user %s)", ref, user_id)
        return VerifyEmailOutcome(
            user_id=user_id, email=session.email or input.email, jwt_fingerprint=fingerprint(session.access_token)
        )

    async def _stored_session(self, ref: str, link_fp: str) -> VerifyEmailOutcome | None:
        consumed = await self.store.get(ref, VERIFIED_LINK)
        token = await self.store.get(ref, JWT)
        if consumed is None or token is None or consumed.get_secret_value() != link_fp:
            return None
        claims = decode_jwt_claims(token.get_secret_value())
        return VerifyEmailOutcome(
            user_id=str(claims.get("sub") or ""),
            email=str(claims.get("email") or ""),
            jwt_fingerprint=fingerprint(token),
        )

    def _sessions(self) -> Sessions:
        return Sessions(self.settings, self.store, self._pool())

    @activity.defn
    @translated
    async def create_api_key(self, input: CreateApiKeyInput) -> ApiKeyOutcome:
        """Create the `rm_` key, unless a working key with the scopes is stored already.

        The JWT is renewed first when it is about to expire (and once more after a 401, which created
        nothing). Each attempt is recorded under a name of its own before the POST; a key an earlier
        attempt may have created unseen is reported as possibly orphaned (see `activities.key_attempts`).
        """
        ref = input.account_ref
        attempts = KeyAttempts(self.store, ref)
        reused = await self._reusable_key(ref, input.scopes)
        if reused is not None:
            return reused.model_copy(update={"possibly_orphaned": await attempts.orphans()})
        sessions = self._sessions()
        jwt = await sessions.fresh_jwt(ref)
        attempt = await attempts.begin(
            input.name, idempotency_key("api-key"), fingerprint(jwt), keys_honoured=self.settings.idempotency_keys
        )
        heartbeat("creating key")
        try:
            try:
                key = await self._post_key(jwt, attempt, input.scopes)
            except UnauthorizedError:
                activity.logger.info("the session of account %s was refused (401): renewing it once", ref)
                jwt = await sessions.fresh_jwt(ref, force=True)
                attempt = await attempts.resend_with(attempt, fingerprint(jwt))
                key = await self._post_key(jwt, attempt, input.scopes)
        except Exception as exc:
            if not may_have_committed(exc):
                await attempts.not_sent()
            raise
        await attempts.created(
            {API_KEY: key.key.get_secret_value(), API_KEY_ID: key.id, API_KEY_SCOPES: " ".join(key.scopes)}
        )
        orphans = await attempts.orphans()
        activity.logger.info(
            "created API key %s (%s) for account %s; %d possibly orphaned",
            key.id,
            fingerprint(key.key),
            ref,
            len(orphans),
        )
        return ApiKeyOutcome(
            key_id=key.id,
            fingerprint=fingerprint(key.key),
            scopes=list(key.scopes),
            name=attempt.name,
            possibly_orphaned=orphans,
        )

    async def _post_key(self, jwt: SecretStr, attempt: KeyAttempt, scopes: list[str]) -> ApiKey:
        return await self._client().create_api_key(jwt, attempt.name, scopes, idempotency_key=attempt.idempotency_key)

    async def _reusable_key(self, ref: str, wanted: list[str]) -> ApiKeyOutcome | None:
        """The stored key if it authenticates and covers `wanted` (a key stored by hand, scopes unknown, is trusted)."""
        key = await self.store.get(ref, API_KEY)
        if key is None:
            return None
        scopes_text = await self.store.get(ref, API_KEY_SCOPES)
        scopes = scopes_text.get_secret_value().split() if scopes_text is not None else list(wanted)
        if not set(wanted) <= set(scopes):
            activity.logger.info("stored key of account %s lacks requested scopes: creating a new one", ref)
            return None
        if not await _authenticates(self._client(key.get_secret_value())):
            activity.logger.info("stored key of account %s is refused (401): creating a new one", ref)
            return None
        key_id = await self.store.get(ref, API_KEY_ID)
        return ApiKeyOutcome(
            key_id=key_id.get_secret_value() if key_id else "unknown",
            fingerprint=fingerprint(key),
            scopes=scopes,
            reused=True,
        )

    @activity.defn
    @translated
    async def attach_card(self, input: AccountRef) -> CardOutcome:
        """Save the operator's card through one SetupIntent, confirmed once.

        The intent's id and client secret are stored before the confirm. A retry (the confirm's answer
        lost, the worker killed) reads that intent back from Stripe and goes on from its status:
        succeeded is done, waiting for a payment method or a confirm is confirmed, 3-D Secure needs a
        human, cancelled starts a new one. Whether a card is saved comes from the balance's
        `has_payment_method` when the answer has it, else from the stored intent at Stripe.
        """
        ref = input.account_ref
        client = await self._account_client(ref)
        intents = StoredIntents(self.settings, self.store)
        balance = await client.get_balance()
        stored = await intents.stored(ref)
        if balance.has_payment_method:
            return CardOutcome(
                setup_intent_id=stored.id if stored else None,
                status="succeeded",
                already_attached=not (stored is not None and stored.ours),
            )
        if stored is not None:
            heartbeat("reading the stored setup intent")
            state = await intents.read(stored, self._publishable_key())
            if state.status in ACCEPTED_STATUSES:
                activity.logger.info("setup intent %s of account %s is %s already", state.id, ref, state.status)
                return CardOutcome(setup_intent_id=state.id, status=state.status, already_attached=not stored.ours)
            if state.status == "requires_action":
                raise _card_needs_action(state.id)
            if state.status in CONFIRMABLE_STATUSES:
                return await self._confirm(ref, stored)
            activity.logger.info(
                "setup intent %s of account %s is %s: asking for a new one", state.id, ref, state.status
            )
        payment_method = await self._payment_method(ref)
        publishable_key = self._publishable_key()
        heartbeat("creating setup intent")
        created = await client.create_setup_intent(idempotency_key=idempotency_key("setup-intent"))
        intent = await intents.remember(ref, created)
        return await self._confirm(ref, intent, payment_method=payment_method, publishable_key=publishable_key)

    async def _confirm(
        self,
        ref: str,
        intent: StoredIntent,
        *,
        payment_method: SecretStr | None = None,
        publishable_key: str | None = None,
    ) -> CardOutcome:
        heartbeat("confirming setup intent")
        try:
            confirmed = await confirm_setup_intent(
                intent.client_secret,
                (payment_method or await self._payment_method(ref)).get_secret_value(),
                publishable_key or self._publishable_key(),
                api_base=self.settings.stripe_api_base,
                request_timeout=self.settings.http_timeout_seconds,
            )
        except StripeConfirmationError as exc:
            if exc.decline_code == "authentication_required":
                raise _card_needs_action(intent.id) from None
            raise
        activity.logger.info("card confirmed for account %s: %s %s", ref, confirmed.id, confirmed.status)
        return CardOutcome(setup_intent_id=confirmed.id, status=confirmed.status)

    async def _payment_method(self, ref: str) -> SecretStr:
        payment_method = await self.store.get(ref, PAYMENT_METHOD) or self.settings.payment_method
        if payment_method is None:
            raise MissingSecretError(
                ref, PAYMENT_METHOD, hint="set REELMIRROR_PAYMENT_METHOD or store the account's payment_method"
            )
        return payment_method

    def _publishable_key(self) -> str:
        if not self.settings.stripe_publishable_key:
            raise ApplicationError(
                "STRIPE_PUBLISHABLE_KEY is not set on this worker: it is needed to confirm the card",
                type=ErrorType.MISSING_SECRET,
                non_retryable=True,
            )
        return self.settings.stripe_publishable_key

    @activity.defn
    @translated
    async def await_balance(self, input: AwaitBalanceInput) -> BalanceView:
        """Poll: NotReady until the balance reached `at_least_cents` (the bonus) with a card saved.

        The card counts as saved when the balance says so or, when the answer does not say, when the
        stored SetupIntent succeeded at Stripe; the bonus itself only comes with a saved card.
        """
        client = await self._account_client(input.account_ref)
        balance = await client.get_balance()
        card = balance.has_payment_method
        if card is None:
            card = await StoredIntents(self.settings, self.store).card_saved(input.account_ref)
        view = BalanceView.model_validate(balance).model_copy(update={"has_payment_method": card})
        if card is not False and (balance.balance_cents or 0) >= input.at_least_cents:
            return view
        saved = {True: "saved", False: "not saved yet", None: "unknown"}[card]
        raise not_ready(
            f"balance is {balance.balance_cents} cents (payment method {saved}); waiting for {input.at_least_cents}"
        )

    @activity.defn
    @translated
    async def get_balance(self, input: AccountRef) -> BalanceView:
        client = await self._account_client(input.account_ref)
        return BalanceView.model_validate(await client.get_balance())

    @activity.defn
    @translated
    async def configure_auto_reload(self, input: AutoReloadInput) -> BalanceView:
        """Set auto-reload (idempotent: the same PATCH twice leaves the same settings)."""
        client = await self._account_client(input.account_ref)
        balance = await client.update_balance(input.enabled, input.threshold_cents, input.amount_cents)
        return BalanceView.model_validate(balance)


def _count(value: SecretStr | None) -> int:
    try:
        return int(value.get_secret_value()) if value is not None else 0
    except ValueError:
        return MAX_SIGNUP_POSTS  # an unreadable count: assume the worst, never a blind repeat


def _unix(value: SecretStr) -> float | None:
    try:
        return float(value.get_secret_value())
    except ValueError:
        return None


def _signup_uncertain(email: str, sent: int) -> ApplicationError:
    return ApplicationError(
        f"signup of {email}: {sent} signup requests got no usable answer and nothing shows an account yet (no "
        "confirmation mail, and Supabase does not know the password or could not be asked). No further signup is "
        "sent, since each may create another account: when the confirmation mail arrives, send retry; if you are "
        "sure no account exists, delete `signup_posts` from the account's secret store, then send retry",
        type=ErrorType.SIGNUP_UNCERTAIN,
        non_retryable=True,
    )


def _card_needs_action(intent_id: str) -> ApplicationError:
    return ApplicationError(
        f"the card needs a human: Stripe asks for 3-D Secure authentication of SetupIntent {intent_id}, which a "
        "headless bot cannot complete. Use a payment method without it (REELMIRROR_PAYMENT_METHOD or the account's "
        "payment_method), then onboard again with --card",
        type=ErrorType.CARD_NEEDS_ACTION,
        non_retryable=True,
    )


async def _authenticates(client: ReelMirrorClient) -> bool:
    """Whether the server accepts the client's key: 403 (a missing scope) still proves it authenticates."""
    try:
        await client.get_balance()
    except UnauthorizedError:
        return False
    except ForbiddenError:
        return True
    return True
