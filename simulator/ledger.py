"""The ledger: an append-only record of every side effect, for tests, the demo and benchmarks.

Tests prove "exactly once" by counting ledger entries (one generate, one charge) rather than by
trusting what a client believed happened; a lost response still leaves its entry here. Each entry
carries the simulated time (``at``), the real time (``real_at``), who caused it (a client request or
the server's own automation) and the ids it touches.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from simulator.clock import iso

KINDS = (
    "signup",
    "signup_refused",
    "signup_repeated",
    "email_confirmed",
    "api_key",
    "setup_intent",
    "payment_method",
    "bonus",
    "persona",
    "source",
    "target",
    "sync",
    "sync_completed",
    "generate",
    "charge",
    "approve",
    "reject",
    "compose",
    "delivery",
    "topup",
    "auto_reload",
    "automation",
    "fault",
    "webhook_scheduled",
    "webhook_delivered",
    "idempotent_replay",
)

By = Literal["client", "server"]


@dataclass
class LedgerEntry:
    seq: int
    kind: str
    at: float
    real_at: float
    by: By
    user_id: str | None = None
    email: str | None = None
    persona_id: str | None = None
    source_post_id: str | None = None
    generated_post_id: str | None = None
    outgoing_post_id: str | None = None
    amount_cents: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "at": iso(self.at),
            "real_at": iso(self.real_at),
            "user_id": self.user_id,
            "email": self.email,
            "persona_id": self.persona_id,
            "source_post_id": self.source_post_id,
            "generated_post_id": self.generated_post_id,
            "outgoing_post_id": self.outgoing_post_id,
            "amount_cents": self.amount_cents,
            "by": self.by,
            "details": dict(self.details),
        }


class Ledger:
    """Append-only list of :class:`LedgerEntry` with simple filters."""

    def __init__(self) -> None:
        self._entries: list[LedgerEntry] = []

    def record(self, kind: str, *, at: float, by: By, **fields: Any) -> LedgerEntry:
        """Append one entry; ``kind`` must be one of :data:`KINDS`."""
        if kind not in KINDS:
            raise ValueError(f"unknown ledger kind {kind}")
        entry = LedgerEntry(seq=len(self._entries) + 1, kind=kind, at=at, real_at=time.time(), by=by, **fields)
        self._entries.append(entry)
        return entry

    def entries(
        self,
        *,
        kind: str | None = None,
        email: str | None = None,
        user_id: str | None = None,
        persona_id: str | None = None,
        generated_post_id: str | None = None,
        since: int | None = None,
    ) -> list[LedgerEntry]:
        """Entries matching every given filter (``since``: only seq greater than it)."""
        kinds = set(kind.split(",")) if kind else None
        email = email.strip().lower() if email else None
        return [
            entry
            for entry in self._entries
            if (kinds is None or entry.kind in kinds)
            and (email is None or entry.email == email)
            and (user_id is None or entry.user_id == user_id)
            and (persona_id is None or entry.persona_id == persona_id)
            and (generated_post_id is None or entry.generated_post_id == generated_post_id)
            and (since is None or entry.seq > since)
        ]

    def clear(self) -> None:
        self._entries.clear()
