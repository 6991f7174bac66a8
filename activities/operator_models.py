"""Inputs and outputs of the activities an operator's commands and alerts run (billing, webhooks).

Like `activities.models` they are recorded in workflow history: ids, amounts and texts, never a secret.
A Checkout URL is a link for a human to open; it is returned once to the CLI that asked for it and sits
in history only as a payload (encrypted when the payload codec is on).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from activities.models import AccountRef, BalanceView

__all__ = ["AccountView", "AlertDelivered", "AlertMessage", "SendAlertInput", "TopupInput", "TopupView"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class AlertMessage(_Model):
    """One alert: what happened to which item, in words (`text`) and in fields for machines."""

    event: str  # decision_needed | parked | failed | budget_reached
    persona: str
    item_workflow_id: str  # the Web UI page the alert links to
    post_id: str | None = None
    text: str
    occurred_at: datetime


class SendAlertInput(_Model):
    url: str
    alert: AlertMessage


class AlertDelivered(_Model):
    status_code: int


class TopupInput(AccountRef):
    amount_cents: int = Field(gt=0)


class TopupView(_Model):
    checkout_url: str


class AccountView(_Model):
    """The account as its worker sees it: the balance from the API, the key from the secret store."""

    balance: BalanceView
    key_id: str | None = None
    key_fingerprint: str | None = None
    scopes: list[str] = Field(default_factory=list)
