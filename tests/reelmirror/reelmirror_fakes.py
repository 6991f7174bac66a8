"""Helpers shared by the reelmirror tests: a scripted fake API and runtime-built fake keys.

A plain module (not conftest) so test files can import it by a name no other test package uses.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

BASE_URL = "http://reelmirror.test/api"


def make_api_key() -> str:
    """A fresh fake ``rm_`` key, built at run time so no key-shaped literal sits in the repository."""
    return "rm_" + secrets.token_hex(16)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(payload).encode(),
        headers={
            "content-type": "application/json",
            **(headers or {}),
        },
    )


@dataclass
class FakeApi:
    """A scripted API behind ``httpx.MockTransport``: one handler, every request recorded."""

    handler: Callable[[httpx.Request], httpx.Response]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def last_json(self) -> Any:
        content = self.last.content
        return json.loads(content) if content else None
