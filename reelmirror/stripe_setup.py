"""Confirm a Stripe SetupIntent headlessly, the way Stripe.js would, with the real ``stripe`` SDK.

ReelMirror hands the bot a SetupIntent client secret; confirming it with a payment method (``pm_...``)
attaches the card, after which ReelMirror grants the welcome bonus. A browser does this with
Stripe.js and the *publishable* key; the bot does the same with the SDK:

    StripeClient(publishable_key, base_addresses={"api": api_base}, max_network_retries=0)
        .v1.setup_intents.confirm_async(
            "seti_...", params={"payment_method": "pm_...", "client_secret": "seti_..._secret_...",
                                "key": publishable_key})

which sends ``POST /v1/setup_intents/{id}/confirm`` with ``Authorization: Bearer pk_...`` and the
Stripe.js form body ``payment_method=...&client_secret=...&key=pk_...``. The ``key`` body field is
what Stripe.js sends and what localstripe (the emulator in tests) requires for a publishable-key
confirm: without it localstripe answers 401, since only ``sk_`` keys pass in the header there.

Why no SDK retries (``max_network_retries=0``): retrying is the caller's decision, as everywhere in
this package; a confirm whose answer was lost is better checked (ReelMirror's balance shows the bonus)
than blindly repeated.

Why a log filter: the SDK's DEBUG logging (logger ``stripe``) writes request and response bodies, both
of which carry the client secret. :func:`confirm_setup_intent` installs a filter on that logger that
masks client secrets and API keys. (``stripe.log = "debug"`` also prints to stderr, bypassing logging;
do not set it in production.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx
import stripe
from pydantic import SecretStr

from reelmirror.errors import StripeConfirmationError, TransportError
from reelmirror.redaction import redact

__all__ = ["ConfirmedSetupIntent", "confirm_setup_intent", "retrieve_setup_intent", "setup_intent_id"]

DEFAULT_REQUEST_TIMEOUT = 30.0

#: Statuses after which the payment method is (or will be, for ``processing``) attached.
ACCEPTED_STATUSES = frozenset({"succeeded", "processing"})


@dataclass(frozen=True)
class ConfirmedSetupIntent:
    """A SetupIntent's id (not secret) and status: after a confirm Stripe accepted, or as read back."""

    id: str
    status: str

    @property
    def succeeded(self) -> bool:
        """``succeeded``: the card is attached now (``processing`` means later, e.g. bank debits)."""
        return self.status == "succeeded"


class _RedactStripeLog(logging.Filter):
    """Mask client secrets and keys in records of the ``stripe`` logger (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        return True


def _install_log_redaction() -> None:
    stripe_logger = logging.getLogger("stripe")
    if not any(isinstance(f, _RedactStripeLog) for f in stripe_logger.filters):
        stripe_logger.addFilter(_RedactStripeLog())


def setup_intent_id(client_secret: SecretStr | str) -> str:
    """The SetupIntent id a client secret belongs to (the part before ``_secret_``)."""
    secret = client_secret.get_secret_value() if isinstance(client_secret, SecretStr) else client_secret
    return _intent_id(secret)


def _publishable_client(
    publishable_key: str, api_base: str | None, request_timeout: float
) -> tuple[stripe.StripeClient, stripe.HTTPXClient]:
    """A Stripe client acting as Stripe.js does (the publishable key, no retries of its own: the caller's
    retry policy decides), and its HTTP client, which the caller closes."""
    http_client = stripe.HTTPXClient(timeout=request_timeout)
    client = stripe.StripeClient(
        publishable_key,
        base_addresses={"api": api_base} if api_base else None,
        http_client=http_client,
        max_network_retries=0,
    )
    return client, http_client


def _intent_id(secret: str) -> str:
    intent_id, separator, _ = secret.partition("_secret_")
    if not separator or not intent_id.startswith("seti_"):
        raise StripeConfirmationError("the client secret is not a SetupIntent client secret", secrets=[secret])
    return intent_id


def _connection_error(
    exc: stripe.APIConnectionError, secrets: list[str], *, call: str = "confirm", changes: bool = True
) -> TransportError:
    cause = exc.__cause__
    never_sent = isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout)
    return TransportError(
        f"Stripe SetupIntent {call}: no response ({type(cause).__name__ if cause else 'connection error'})",
        kind="connect" if never_sent else "network",
        may_have_committed=changes and not never_sent,
        secrets=secrets,
    )


def _stripe_error(exc: stripe.StripeError, secrets: list[str], *, call: str = "confirm") -> StripeConfirmationError:
    decline_code = getattr(exc, "decline_code", None) or exc.code
    text = exc.user_message or str(exc) or type(exc).__name__
    return StripeConfirmationError(
        f"Stripe refused the SetupIntent {call} ({type(exc).__name__}): {text}",
        status=exc.http_status,
        decline_code=decline_code,
        secrets=secrets,
    )


async def confirm_setup_intent(
    client_secret: SecretStr | str,
    payment_method: str,
    publishable_key: str,
    *,
    api_base: str | None = None,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
) -> ConfirmedSetupIntent:
    """Confirm the SetupIntent of ``client_secret`` with ``payment_method`` (a ``pm_...`` id).

    ``api_base`` points the SDK at another Stripe API (localstripe in tests; ``None`` = Stripe).
    Raises :class:`StripeConfirmationError` when Stripe refuses (``decline_code`` e.g.
    ``card_declined``) or leaves the intent needing a step a bot cannot take (3-D Secure:
    ``authentication_required``), and :class:`TransportError` when Stripe cannot be reached.
    Neither the client secret nor the payment method id ever appears in their messages.
    """
    secret = client_secret.get_secret_value() if isinstance(client_secret, SecretStr) else client_secret
    secrets = [secret, payment_method]
    intent_id = _intent_id(secret)
    _install_log_redaction()
    client, http_client = _publishable_client(publishable_key, api_base, request_timeout)
    params: Any = {"payment_method": payment_method, "client_secret": secret, "key": publishable_key}
    try:
        intent = await client.v1.setup_intents.confirm_async(intent_id, params=params)
    except stripe.APIConnectionError as exc:
        raise _connection_error(exc, secrets) from None
    except stripe.StripeError as exc:
        raise _stripe_error(exc, secrets) from None
    finally:
        await http_client.close_async()

    status = str(intent.status)
    if status in ACCEPTED_STATUSES:
        return ConfirmedSetupIntent(id=str(intent.id), status=status)
    if status == "requires_action":
        decline_code: str | None = "authentication_required"
    else:
        last_error = getattr(intent, "last_setup_error", None)
        decline_code = getattr(last_error, "decline_code", None) or getattr(last_error, "code", None)
    raise StripeConfirmationError(
        f"SetupIntent {intent.id} is {status!r} after confirm; a headless bot cannot finish it",
        status=200,
        decline_code=decline_code,
        secrets=secrets,
    )


async def retrieve_setup_intent(
    client_secret: SecretStr | str,
    publishable_key: str,
    *,
    api_base: str | None = None,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
) -> ConfirmedSetupIntent:
    """Read the SetupIntent of ``client_secret`` as Stripe.js's ``retrieveSetupIntent`` does.

    ``GET /v1/setup_intents/{id}?client_secret=...`` with the publishable key: Stripe answers the
    holder of the client secret with the intent's status (``requires_payment_method``,
    ``requires_confirmation``, ``requires_action``, ``processing``, ``succeeded``, ``canceled``), so a
    step retried after a lost confirm can go on from where the intent is instead of starting a new one.
    Raises :class:`StripeConfirmationError` when Stripe refuses the read and :class:`TransportError`
    (never "may have committed": a read changes nothing) when it cannot be reached.
    """
    secret = client_secret.get_secret_value() if isinstance(client_secret, SecretStr) else client_secret
    secrets = [secret]
    intent_id = _intent_id(secret)
    _install_log_redaction()
    client, http_client = _publishable_client(publishable_key, api_base, request_timeout)
    params: Any = {"client_secret": secret}
    try:
        intent = await client.v1.setup_intents.retrieve_async(intent_id, params=params)
    except stripe.APIConnectionError as exc:
        raise _connection_error(exc, secrets, call="retrieve", changes=False) from None
    except stripe.StripeError as exc:
        raise _stripe_error(exc, secrets, call="retrieve") from None
    finally:
        await http_client.close_async()
    return ConfirmedSetupIntent(id=str(intent.id), status=str(intent.status))
