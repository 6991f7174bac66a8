"""What our own generate requests did, per persona and source post, kept in the account's secret store.

`POST /v1/generate` is charged and not idempotent, and a request can reach the vendor after the client
gave up on it (a proxy holding it, a timeout, a worker killed mid-request). So each request is written
down before it is sent (its idempotency key, when it started, and, where the persona's list of generated
posts does not say which source post each one is for, the ids listed before it), then marked with what
came of it: the generated post's id, "not committed" (a 4xx), or "abandoned" (no answer that settles it).
A later attempt that finds an unfinished request treats it as possibly committed; one that finds a
generated id adopts it. The store is shared by every worker that can act for the account (it holds the
account's key), so a retry on another worker reads the same record.

Records of done requests are kept for two days, unfinished ones for thirty, then pruned whenever a
request of the same persona completes.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, replace

from activities.secrets import SecretStore

__all__ = [
    "DONE_RETENTION_SECONDS",
    "PENDING_RETENTION_SECONDS",
    "GenerateJournal",
    "GenerateRecord",
    "PendingGenerate",
]

DONE_RETENTION_SECONDS = 2 * 24 * 3600
PENDING_RETENTION_SECONDS = 30 * 24 * 3600
_PREFIX = "generate_"


@dataclass(frozen=True)
class PendingGenerate:
    """A generate request sent (or about to be) whose outcome is not known."""

    idempotency_key: str
    started_at: float
    abandoned_at: float | None = None
    # the persona's generated post ids listed before the request, when the list names no source posts
    known_ids: list[str] | None = None

    def settled_at(self, settle_seconds: float, request_timeout: float) -> float:
        """When a late commit of this request is no longer expected: the settle time after the client let
        go of it (or, for a worker that died mid-request, after the latest moment it would have)."""
        let_go = self.abandoned_at if self.abandoned_at is not None else self.started_at + request_timeout
        return let_go + settle_seconds


@dataclass(frozen=True)
class GenerateRecord:
    persona_id: str
    source_post_id: str
    generated_post_id: str | None = None
    pending: PendingGenerate | None = None
    updated_at: float = field(default_factory=time.time)

    @property
    def name(self) -> str:
        return _name(self.persona_id, self.source_post_id)


class GenerateJournal:
    """The generate records of one account."""

    def __init__(self, store: SecretStore, account_ref: str) -> None:
        self.store = store
        self.ref = account_ref

    async def read(self, persona_id: str, source_post_id: str) -> GenerateRecord:
        """The record of this source post (an empty one when nothing was ever sent for it)."""
        record = await self._load(_name(persona_id, source_post_id))
        return record or GenerateRecord(persona_id, source_post_id)

    async def started(
        self, record: GenerateRecord, idempotency_key: str, known_ids: list[str] | None
    ) -> GenerateRecord:
        """Write the request down before it is sent."""
        pending = PendingGenerate(idempotency_key, time.time(), None, known_ids)
        return await self._save(replace(record, pending=pending))

    async def repeated(self, record: GenerateRecord) -> GenerateRecord:
        """The same request (same idempotency key) is sent again, to a server that honours the key."""
        assert record.pending is not None
        return await self._save(
            replace(record, pending=replace(record.pending, abandoned_at=None, started_at=time.time()))
        )

    async def abandoned(self, record: GenerateRecord) -> GenerateRecord:
        """The request got no answer that settles it: it may still commit."""
        if record.pending is None:
            return record
        return await self._save(replace(record, pending=replace(record.pending, abandoned_at=time.time())))

    async def not_committed(self, record: GenerateRecord) -> GenerateRecord:
        """The server answered that it created nothing (or a check after the settle time found nothing)."""
        return await self._save(replace(record, pending=None))

    async def generated(self, record: GenerateRecord, generated_post_id: str) -> GenerateRecord:
        """The request's (or an earlier one's) post is known: later attempts adopt it."""
        done = await self._save(replace(record, generated_post_id=generated_post_id, pending=None))
        await self._prune(record.persona_id)
        return done

    async def claimed_ids(self, persona_id: str) -> set[str]:
        """Generated post ids our records already give to a source post of this persona."""
        return {r.generated_post_id for r in await self._persona_records(persona_id) if r.generated_post_id}

    async def claims(self, persona_id: str) -> tuple[set[str], list[set[str] | None]]:
        """In one read of the persona's records: the generated ids they claim, and per unfinished request
        the ids listed before it was sent (None when not written down; any other id may be its post)."""
        records = await self._persona_records(persona_id)
        claimed = {r.generated_post_id for r in records if r.generated_post_id}
        unfinished = [
            set(r.pending.known_ids) if r.pending.known_ids is not None else None
            for r in records
            if r.pending is not None
        ]
        return claimed, unfinished

    # --- storage ------------------------------------------------------------------------------------

    async def _save(self, record: GenerateRecord) -> GenerateRecord:
        record = replace(record, updated_at=time.time())
        await self.store.update(self.ref, {record.name: json.dumps(asdict(record), separators=(",", ":"))})
        return record

    async def _load(self, name: str) -> GenerateRecord | None:
        text = await self.store.get(self.ref, name)
        if text is None:
            return None
        try:
            data = json.loads(text.get_secret_value())
            pending = data.pop("pending", None)
            return GenerateRecord(**data, pending=PendingGenerate(**pending) if pending else None)
        except (TypeError, ValueError):
            return None

    async def _persona_records(self, persona_id: str) -> list[GenerateRecord]:
        prefix = _persona_prefix(persona_id)
        names = [name for name in await self.store.names(self.ref) if name.startswith(prefix)]
        records = [await self._load(name) for name in names]
        return [r for r in records if r is not None and r.persona_id == persona_id]

    async def _prune(self, persona_id: str) -> None:
        now = time.time()
        stale = {
            r.name: None
            for r in await self._persona_records(persona_id)
            if now - r.updated_at > (PENDING_RETENTION_SECONDS if r.pending else DONE_RETENTION_SECONDS)
        }
        if stale:
            await self.store.update(self.ref, stale)


def _digest(value: str, chars: int) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:chars]


def _persona_prefix(persona_id: str) -> str:
    return f"{_PREFIX}{_digest(persona_id, 12)}_"


def _name(persona_id: str, source_post_id: str) -> str:
    return _persona_prefix(persona_id) + _digest(source_post_id, 20)
