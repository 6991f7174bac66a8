"""The `Idempotency-Key` of one logical call: the same on every retry of an activity, new for another one.

Derived from the workflow id, its run id and the activity id (plus what the call is for, since one
activity may post twice): a retry of the activity repeats it, so a server that honours the convention
answers with the first result instead of acting twice; a new run, or a step retried after parking (a new
activity), gets a new key, as a new attempt after a stored error answer must. Hashed, so no id of ours
leaks into a header a proxy may log.
"""

from __future__ import annotations

import hashlib
import secrets

from temporalio import activity

__all__ = ["idempotency_key"]


def idempotency_key(purpose: str) -> str:
    """`rmt-` + 40 hex characters; outside an activity a random one (nothing to repeat it for)."""
    if not activity.in_activity():
        return "rmt-" + secrets.token_hex(20)
    info = activity.info()
    parts = [purpose, info.workflow_id or "", info.workflow_run_id or "", info.activity_id]
    return "rmt-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
