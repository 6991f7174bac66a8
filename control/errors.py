"""Every way an operator command can fail, as one line and a documented exit code.

Why one module: the CLI, the demo and the tests meet the same failures (Temporal out of reach, a workflow
that does not exist, a refused Update, a workflow that failed while we waited, a worker that could not do
the work), and an operator reading `error: ...` should learn what to fix, not read a traceback. `explain`
turns the SDK's exceptions into these; anything it does not know stays a bug and is not hidden.
"""

from __future__ import annotations

import enum

from temporalio.client import (
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError, RPCStatusCode

__all__ = [
    "ExitCode",
    "OperatorError",
    "Refused",
    "Unavailable",
    "WorkFailed",
    "explain",
    "failure_text",
]


class ExitCode(enum.IntEnum):
    """The CLI's exit codes (the README's Operating section lists them)."""

    OK = 0
    UNAVAILABLE = 1  # Temporal cannot be reached or refused the call; no worker answers
    BAD_INPUT = 2  # a usage error, an invalid file, a persona, post or workflow that does not exist
    REFUSED = 3  # the workflow said no (an Update's validator), or some posts of a bulk decision were not taken
    FAILED = 4  # the work failed: a workflow failed while we waited, the worker could not do it, a secret store error
    INTERRUPTED = 130


class OperatorError(Exception):
    """A refusal with a one-line reason that names what to fix (bad input unless a subclass says otherwise)."""

    exit_code = ExitCode.BAD_INPUT


class Unavailable(OperatorError):
    exit_code = ExitCode.UNAVAILABLE


class Refused(OperatorError):
    """The workflow refused the request; `kind` is the refusal's type (ALREADY_DECIDED, NO_CHANGE, ...)."""

    exit_code = ExitCode.REFUSED

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind


class WorkFailed(OperatorError):
    exit_code = ExitCode.FAILED


def failure_text(err: BaseException) -> str:
    """The innermost message of a Temporal failure chain: the one a human wrote (an activity's, a refusal's)."""
    cause: BaseException = err
    while isinstance(getattr(cause, "cause", None), BaseException):  # the SDK's errors chain by `.cause`
        cause = cause.cause  # type: ignore[attr-defined]
    if isinstance(cause, FailureError):
        return cause.message or type(cause).__name__
    return str(cause) or type(cause).__name__


def explain(exc: BaseException, what: str = "the request") -> OperatorError | None:
    """The operator's view of an SDK exception raised while doing `what`, or None when it is not one."""
    if isinstance(exc, OperatorError):
        return exc
    if isinstance(exc, WorkflowUpdateFailedError):
        cause = exc.cause
        kind = cause.type if isinstance(cause, ApplicationError) else None
        return Refused(failure_text(exc), kind)
    if isinstance(exc, WorkflowUpdateRPCTimeoutOrCancelledError):
        return Unavailable(f"no answer to {what} in time: is a worker running (`starter.py status` says)?")
    if isinstance(exc, WorkflowFailureError):
        return WorkFailed(f"{what} failed: {failure_text(exc)}")
    if isinstance(exc, WorkflowQueryRejectedError):
        return OperatorError(f"{what}: the workflow is {exc.status.name.lower() if exc.status else 'closed'}")
    if isinstance(exc, WorkflowQueryFailedError):
        return Unavailable(f"{what}: the workflow could not answer ({exc.message})")
    if isinstance(exc, RPCError):
        if exc.status == RPCStatusCode.NOT_FOUND:
            return OperatorError(f"{what}: {exc.message}")
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            return Unavailable(f"cannot reach Temporal ({exc.message}); check TEMPORAL_ADDRESS")
        return Unavailable(f"Temporal refused {what}: {exc.message}")
    if isinstance(exc, TimeoutError):
        return Unavailable(f"no answer to {what} in time: is a worker running (`starter.py status` says)?")
    return None
