"""Confirming a SetupIntent through the real stripe SDK against a real localstripe process."""

from __future__ import annotations

import logging
import socket

import pytest
import stripe
from pydantic import SecretStr

from reelmirror.errors import StripeConfirmationError, TransportError
from reelmirror.stripe_setup import ConfirmedSetupIntent, confirm_setup_intent, retrieve_setup_intent, setup_intent_id

PUBLISHABLE_KEY = "pk_test_x"

# stripe's HTTPXClient uploads its form body with httpx's deprecated ``data=<str>``; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


async def new_client_secret(api_base: str) -> str:
    """Create a SetupIntent the way the ReelMirror server does: with a secret key."""
    server = stripe.StripeClient("sk_test_x", base_addresses={"api": api_base}, http_client=stripe.HTTPXClient())
    intent = await server.v1.setup_intents.create_async()
    return str(intent.client_secret)


async def retrieve_status(api_base: str, intent_id: str) -> str:
    server = stripe.StripeClient("sk_test_x", base_addresses={"api": api_base}, http_client=stripe.HTTPXClient())
    return str((await server.v1.setup_intents.retrieve_async(intent_id)).status)


async def test_visa_confirms(stripe_emulator: str) -> None:
    secret = await new_client_secret(stripe_emulator)
    intent_id = secret.split("_secret_")[0]
    result = await confirm_setup_intent(SecretStr(secret), "pm_card_visa", PUBLISHABLE_KEY, api_base=stripe_emulator)
    assert result == ConfirmedSetupIntent(id=intent_id, status="succeeded")
    assert result.succeeded
    assert await retrieve_status(stripe_emulator, intent_id) == "succeeded"


async def test_declined_card(stripe_emulator: str) -> None:
    secret = await new_client_secret(stripe_emulator)
    with pytest.raises(StripeConfirmationError) as caught:
        await confirm_setup_intent(secret, "pm_card_visa_chargeDeclined", PUBLISHABLE_KEY, api_base=stripe_emulator)
    err = caught.value
    assert (err.decline_code, err.status) == ("card_declined", 402)
    assert "declined" in err.message
    for text in (str(err), repr(err), str(err.args)):
        assert secret not in text and "_secret_" + secret.split("_secret_")[1] not in text
        assert "pm_card_visa_chargeDeclined" not in text


async def test_wrong_client_secret_is_refused(stripe_emulator: str) -> None:
    secret = await new_client_secret(stripe_emulator)
    forged = secret.split("_secret_")[0] + "_secret_forged0123456789"
    with pytest.raises(StripeConfirmationError) as caught:
        await confirm_setup_intent(forged, "pm_card_visa", PUBLISHABLE_KEY, api_base=stripe_emulator)
    assert caught.value.status == 401
    assert "forged0123456789" not in str(caught.value)


async def test_not_a_setup_intent_secret() -> None:
    with pytest.raises(StripeConfirmationError) as caught:
        await confirm_setup_intent("pi_123_secret_456", "pm_card_visa", PUBLISHABLE_KEY, api_base="http://unused")
    assert "456" not in str(caught.value)


async def test_unreachable_stripe_is_a_transport_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: the connection is refused
        with pytest.raises(TransportError) as caught:
            await confirm_setup_intent(
                "seti_abc_secret_def", "pm_card_visa", PUBLISHABLE_KEY, api_base=f"http://127.0.0.1:{port}"
            )
    assert caught.value.kind == "connect" and not caught.value.may_have_committed
    assert "seti_abc_secret_def" not in str(caught.value)


async def test_stripe_debug_log_never_shows_the_client_secret(
    stripe_emulator: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = await new_client_secret(stripe_emulator)
    caplog.set_level(logging.DEBUG, logger="stripe")
    await confirm_setup_intent(secret, "pm_card_visa", PUBLISHABLE_KEY, api_base=stripe_emulator)
    messages = [r.getMessage() for r in caplog.records if r.name == "stripe"]
    assert any("Post details" in m for m in messages)  # the SDK did log the body, redacted
    assert all(secret not in m for m in messages)


async def test_retrieve_with_the_publishable_key_and_client_secret(localstripe: str) -> None:
    """What Stripe.js's retrieveSetupIntent does; the stack's localstripe allows it as Stripe does."""
    secret = await new_client_secret(localstripe)
    intent_id = secret.split("_secret_")[0]
    before = await retrieve_setup_intent(secret, PUBLISHABLE_KEY, api_base=localstripe)
    await confirm_setup_intent(secret, "pm_card_visa", PUBLISHABLE_KEY, api_base=localstripe)
    after = await retrieve_setup_intent(SecretStr(secret), PUBLISHABLE_KEY, api_base=localstripe)
    assert (before, after) == (
        ConfirmedSetupIntent(id=intent_id, status="requires_payment_method"),
        ConfirmedSetupIntent(id=intent_id, status="succeeded"),
    )
    assert setup_intent_id(secret) == intent_id


async def test_retrieve_with_a_wrong_client_secret_is_refused(localstripe: str) -> None:
    forged = (await new_client_secret(localstripe)).split("_secret_")[0] + "_secret_forged0123456789"
    with pytest.raises(StripeConfirmationError) as caught:
        await retrieve_setup_intent(forged, PUBLISHABLE_KEY, api_base=localstripe)
    assert caught.value.status == 401 and "forged0123456789" not in str(caught.value)


async def test_retrieve_without_stripe_is_a_transport_error_that_changed_nothing() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransportError) as caught:
        await retrieve_setup_intent("seti_x_secret_y", PUBLISHABLE_KEY, api_base=f"http://127.0.0.1:{port}")
    assert caught.value.may_have_committed is False
