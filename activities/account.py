"""Onboarding and billing activities: signup, e-mail confirmation, API key, card, balance.

Each one checks the secret store or the server before it acts, because each may run again after its
first attempt's answer was lost: a repeated signup burns one of the 5 daily signups, a confirmation
link works exactly once, and a key created twice leaves an orphan credential.
"""

from __future__ import annotations

import secrets as pysecrets

from pydantic import SecretStr
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.base import API_KEY, ActivityBase, heartbeat
from activities.error_types import ErrorType
from activities.errors import not_ready, translated
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
from reelmirror.client import ReelMirrorClient
from reelmirror.errors import ConflictError, ForbiddenError, UnauthorizedError
from reelmirror.stripe_setup import confirm_setup_intent
from reelmirror.supabase import decode_jwt_claims, follow_confirmation_link

__all__ = ["AccountActivities"]

# Secret names kept per account (besides API_KEY).
PASSWORD = "password"
EMAIL = "email"
USER_ID = "user_id"
JWT = "jwt"
VERIFIED_LINK = "verified_link"  # fingerprint of the confirmation link already consumed
API_KEY_ID = "api_key_id"
API_KEY_SCOPES = "api_key_scopes"  # space-separated
PAYMENT_METHOD = "payment_method"
SETUP_INTENT_ID = "setup_intent_id"


class AccountActivities(ActivityBase):
    @activity.defn
    @translated
    async def signup(self, input: SignupInput) -> SignupOutcome:
        """Sign up once. The password is stored BEFORE the call, so a retry reuses it; a repeat is 409."""
        ref = input.account_ref
        known_user = await self.store.get(ref, USER_ID)
        known_email = await self.store.get(ref, EMAIL)
        if known_user and known_email and known_email.get_secret_value().lower() == input.email.lower():
            # An earlier attempt signed up and stored the answer: do not spend another signup on it.
            return SignupOutcome(user_id=known_user.get_secret_value(), already_exists=True)
        password = await self.store.get(ref, PASSWORD)
        if password is None:
            password = SecretStr(pysecrets.token_urlsafe(24))
            await self.store.update(ref, {PASSWORD: password, EMAIL: input.email})
        try:
            result = await self._client().signup(input.email, password)
        except ConflictError:
            activity.logger.info("signup of account %s: the e-mail is already registered", ref)
            return SignupOutcome(already_exists=True)
        await self.store.update(ref, {USER_ID: result.user_id, EMAIL: input.email})
        activity.logger.info("signed up account %s as user %s", ref, result.user_id)
        return SignupOutcome(user_id=result.user_id)

    @activity.defn
    @translated
    async def verify_email(self, input: VerifyEmailInput) -> VerifyEmailOutcome:
        """Consume the confirmation link (from the signal, else the mailbox) and store the session JWT.

        Supabase links work once. The consumed link's fingerprint is stored with the JWT, so a retry
        after a lost result returns the stored session instead of failing on the spent link. (A worker
        killed between following the link and storing the JWT loses the session: a new link is needed.)
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
        link_fp = fingerprint(link)
        stored = await self._stored_session(ref, link_fp)
        if stored is not None:
            return stored
        session = await follow_confirmation_link(link, http=self._pool(), timeout=self.settings.http_timeout_seconds)
        if session.email and session.email.lower() != input.email.lower():
            raise ApplicationError(
                f"the confirmation link is for another address than {input.email}",
                type=ErrorType.CONFIRMATION_LINK,
                non_retryable=True,
            )
        token = session.access_token
        user_id = session.user_id or ""
        await self.store.update(ref, {JWT: token, VERIFIED_LINK: link_fp, USER_ID: user_id or None})
        activity.logger.info("confirmed e-mail of account %s (user %s)", ref, user_id)
        return VerifyEmailOutcome(
            user_id=user_id, email=session.email or input.email, jwt_fingerprint=fingerprint(token)
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

    @activity.defn
    @translated
    async def create_api_key(self, input: CreateApiKeyInput) -> ApiKeyOutcome:
        """Create the `rm_` key with the stored JWT, unless a working key with the scopes is stored already."""
        ref = input.account_ref
        reused = await self._reusable_key(ref, input.scopes)
        if reused is not None:
            return reused
        jwt = await self.store.require(ref, JWT, hint="confirm the e-mail first (verify_email)")
        heartbeat("creating key")
        key = await self._client().create_api_key(jwt, input.name, input.scopes)
        await self.store.update(ref, {API_KEY: key.key, API_KEY_ID: key.id, API_KEY_SCOPES: " ".join(key.scopes)})
        activity.logger.info("created API key %s (%s) for account %s", key.id, fingerprint(key.key), ref)
        return ApiKeyOutcome(key_id=key.id, fingerprint=fingerprint(key.key), scopes=list(key.scopes))

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
        """Save the operator's card through a SetupIntent, unless the account has a payment method already.

        The server reconciles pending SetupIntents on billing calls, so after a confirm whose answer was
        lost the retry's balance check sees the card and does not confirm again.
        """
        ref = input.account_ref
        client = await self._account_client(ref)
        balance = await client.get_balance()
        if balance.has_payment_method:
            intent_id = await self.store.get(ref, SETUP_INTENT_ID)
            return CardOutcome(
                setup_intent_id=intent_id.get_secret_value() if intent_id else None,
                status="succeeded",
                already_attached=True,
            )
        payment_method = await self.store.get(ref, PAYMENT_METHOD) or self.settings.payment_method
        if payment_method is None:
            raise MissingSecretError(
                ref, PAYMENT_METHOD, hint="set REELMIRROR_PAYMENT_METHOD or store the account's payment_method"
            )
        if not self.settings.stripe_publishable_key:
            raise ApplicationError(
                "STRIPE_PUBLISHABLE_KEY is not set on this worker: it is needed to confirm the card",
                type=ErrorType.MISSING_SECRET,
                non_retryable=True,
            )
        heartbeat("creating setup intent")
        intent = await client.create_setup_intent()
        await self.store.put(ref, SETUP_INTENT_ID, intent.intent_id)
        heartbeat("confirming setup intent")
        confirmed = await confirm_setup_intent(
            intent.client_secret,
            payment_method.get_secret_value(),
            self.settings.stripe_publishable_key,
            api_base=self.settings.stripe_api_base,
            request_timeout=self.settings.http_timeout_seconds,
        )
        activity.logger.info("card confirmed for account %s: %s %s", ref, confirmed.id, confirmed.status)
        return CardOutcome(setup_intent_id=confirmed.id, status=confirmed.status)

    @activity.defn
    @translated
    async def await_balance(self, input: AwaitBalanceInput) -> BalanceView:
        """Poll: NotReady until a payment method is saved and the balance reached `at_least_cents` (the bonus)."""
        client = await self._account_client(input.account_ref)
        balance = await client.get_balance()
        if balance.has_payment_method and (balance.balance_cents or 0) >= input.at_least_cents:
            return BalanceView.model_validate(balance)
        card = "saved" if balance.has_payment_method else "not saved yet"
        raise not_ready(
            f"balance is {balance.balance_cents} cents (payment method {card}); waiting for {input.at_least_cents}"
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
        balance = await client.update_balance(
            input.enabled, input.threshold_cents, input.amount_cents
        )
        return BalanceView.model_validate(balance)


async def _authenticates(client: ReelMirrorClient) -> bool:
    """Whether the server accepts the client's key: 403 (a missing scope) still proves it authenticates."""
    try:
        await client.get_balance()
    except UnauthorizedError:
        return False
    except ForbiddenError:
        return True
    return True
