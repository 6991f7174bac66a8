"""Whether a post may take an operator's decision now, and if not, why: the rule behind approve and reject.

A pure function of the post workflow's state, so the update validator (which refuses before anything is
recorded), the update handler (which checks again, because the approval deadline may fire between the two)
and the unit tests all apply the same rule. The refusal kinds are the `type` of the error the caller gets.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

__all__ = [
    "ALREADY_DECIDED",
    "NOT_READY",
    "POST_ENDED",
    "REFUSAL_KINDS",
    "TIMED_OUT",
    "UNKNOWN_POST",
    "DecisionState",
    "Refusal",
    "refusal",
]

UNKNOWN_POST = "UNKNOWN_POST"
ALREADY_DECIDED = "ALREADY_DECIDED"
TIMED_OUT = "TIMED_OUT"
NOT_READY = "NOT_READY"
POST_ENDED = "POST_ENDED"
REFUSAL_KINDS = (UNKNOWN_POST, ALREADY_DECIDED, TIMED_OUT, NOT_READY, POST_ENDED)


@dataclass(frozen=True)
class Refusal:
    kind: str
    message: str


@dataclass(frozen=True)
class DecisionState:
    """What the rule needs to know about one post workflow."""

    ids: Collection[str]  # the ids this post answers to: source post, generated post, workflow id
    waiting: bool  # a human's decision is awaited right now
    decided_by: str | None  # "operator", "timeout", "policy", "server" once a decision stands
    approved: bool | None  # what that decision was
    default_action: str  # what the approval deadline does
    stage: str
    outcome: str | None
    auto_approval: bool


def refusal(state: DecisionState, post_id: str | None) -> Refusal | None:
    """None when a decision for `post_id` (None: this post) is taken now; else the reason it is not."""
    if post_id and post_id not in state.ids:
        known = ", ".join(sorted(i for i in state.ids if i))
        return Refusal(UNKNOWN_POST, f"{post_id} is not the post of this workflow ({known})")
    if state.decided_by == "timeout":
        return Refusal(
            TIMED_OUT,
            f"no decision came before the approval deadline: the default action ({state.default_action}) was taken",
        )
    if state.decided_by is not None:
        verb = "approved" if state.approved else "rejected"
        by = {"operator": "by an operator", "policy": "by the approval policy", "server": "on the server"}
        return Refusal(ALREADY_DECIDED, f"already {verb} {by.get(state.decided_by, state.decided_by)}")
    if state.outcome is not None:
        return Refusal(POST_ENDED, f"the post has ended ({state.outcome}); there is nothing to decide")
    if state.auto_approval:
        return Refusal(ALREADY_DECIDED, "the persona approves automatically (approval mode auto)")
    if not state.waiting:
        return Refusal(NOT_READY, f"the post is not waiting for a decision yet (stage: {state.stage})")
    return None
