"""The contract's error codes and the exception handlers raise to answer with one.

Handlers raise :class:`ApiError`; the middleware turns it into
``{"error": {"code", "message"}}`` with the status the guide's table assigns, plus any extra
headers (``Retry-After`` on 429). Keeping codes and statuses in one table means the simulator cannot
answer a code with the wrong status.
"""

from __future__ import annotations

from collections.abc import Mapping

STATUS_BY_CODE: dict[str, int] = {
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "INSUFFICIENT_BALANCE": 402,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
    "VALIDATION_ERROR": 400,
    "RATE_LIMITED": 429,
    "UPSTREAM_ERROR": 502,
    "SERVICE_UNAVAILABLE": 503,
    "METHOD_NOT_ALLOWED": 405,
    "INTERNAL_ERROR": 500,
}

CODE_BY_STATUS: dict[int, str] = {status: code for code, status in STATUS_BY_CODE.items()}


class ApiError(Exception):
    """An error answer: code from the contract's table, a human message, optional headers."""

    def __init__(self, code: str, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        if code not in STATUS_BY_CODE:
            raise ValueError(f"unknown error code {code}")
        super().__init__(message)
        self.code = code
        self.status = STATUS_BY_CODE[code]
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, dict[str, str]]:
        """The wire envelope."""
        return {"error": {"code": self.code, "message": self.message}}


def not_found(what: str) -> ApiError:
    return ApiError("NOT_FOUND", f"{what} not found")


def conflict(message: str) -> ApiError:
    return ApiError("CONFLICT", message)


def invalid(message: str) -> ApiError:
    return ApiError("VALIDATION_ERROR", message)
