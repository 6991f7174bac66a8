"""Reading what a person sends to a workflow: the one payload of a signal, update or query, checked here.

Why handlers take `*payload` and decode it themselves: anyone can message a workflow from the Web UI or the
`temporal` CLI with no input, `null`, a wrong type, unknown fields or several inputs. If the SDK matched
those against a typed parameter, a missing or surplus argument would raise inside the handler and fail
every later workflow task of the run. Decoding here turns each of those into a `BadMessage`: an update's
validator refuses it, a signal is ignored with a warning, and the workflow goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.exceptions import ApplicationError

__all__ = ["BAD_MESSAGE", "BadMessage", "optional_payload", "refuse", "warn_ignored"]

M = TypeVar("M", bound=BaseModel)

#: The error type of every refused update whose payload could not be read.
BAD_MESSAGE = "BAD_MESSAGE"


class BadMessage(ValueError):
    """A payload that does not fit the handler; the message says what was expected."""


def optional_payload(model: type[M], payload: Sequence[object], *, handler: str) -> M | None:
    """The handler's single payload as `model`, or None when there is none (or it is `null`).

    Unknown fields are dropped by the models (they ignore extras), so an older or newer sender still works.
    """
    if len(payload) > 1:
        raise BadMessage(f"{handler} takes at most one input, got {len(payload)}")
    if not payload or payload[0] is None:
        return None
    value = payload[0]
    if isinstance(value, model):
        return value
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}" for err in exc.errors()[:3]
        )
        raise BadMessage(f"{handler} expects {model.__name__} ({problems})") from None


def warn_ignored(handler: str, reason: object) -> None:
    """Log (in the worker's log and the workflow's) why a signal was ignored; never raises."""
    workflow.logger.warning("Ignoring the %s signal: %s", handler, reason)


def refuse(kind: str, message: str) -> ApplicationError:
    """An update refusal the caller can tell apart by `type` (e.g. ALREADY_DECIDED); never retried."""
    return ApplicationError(message, type=kind, non_retryable=True)
