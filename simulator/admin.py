"""``SimulatorAdmin``: an async client for the simulator's admin API (``/_sim``).

Tests, the demo and benchmarks do the human steps (read the mailbox, connect a publishing account,
pay a checkout) and read the ground truth (ledger, stats, state) through it. Results are plain JSON
dicts, typed with ``TypedDict`` so callers get both editor help and ``entry["kind"]`` access.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Literal, TypedDict, cast
from urllib.parse import quote

import httpx

from simulator.chaos import ChaosConfig


class SimulatorAdminError(Exception):
    """The admin API answered with an error status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code} ({status}): {message}")
        self.status = status
        self.code = code
        self.message = message


class Health(TypedDict):
    status: str
    time_scale: float
    sim_now: str
    seed: int


class MailMessage(TypedDict):
    id: str
    to: str
    subject: str
    body: str
    links: list[str]
    sent_at: str


class ConnectedAccount(TypedDict):
    id: str
    platform: str
    username: str
    status: str


class Balance(TypedDict):
    balance_cents: int
    auto_reload: bool
    reload_threshold_cents: int
    reload_amount_cents: int
    has_payment_method: bool


class SourcePost(TypedDict):
    id: str
    creator_id: str
    platform: str
    platform_post_id: str
    media_type: str
    caption: str
    posted_at: str


class LedgerEntry(TypedDict):
    seq: int
    kind: str
    at: str
    real_at: str
    user_id: str | None
    email: str | None
    persona_id: str | None
    source_post_id: str | None
    generated_post_id: str | None
    outgoing_post_id: str | None
    amount_cents: int | None
    by: Literal["client", "server"]
    details: dict[str, Any]


class Stats(TypedDict):
    requests: int
    by_status: dict[str, int]
    faults: dict[str, int]


class NewPost(TypedDict, total=False):
    media_type: Literal["image", "video", "carousel"]
    caption: str


class SimulatorAdmin:
    """One method per admin route. Use as ``async with`` or call :meth:`aclose`."""

    def __init__(self, origin: str, *, timeout: float = 10.0, http: httpx.AsyncClient | None = None) -> None:
        self.origin = origin.rstrip("/")
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> SimulatorAdmin:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        url = path if path.startswith("http") else f"{self.origin}/_sim{path}"
        response = await self._http.request(method, url, json=json, params=params)
        if response.is_error:
            try:
                error = response.json()["error"]
                code, message = str(error["code"]), str(error["message"])
            except (ValueError, KeyError, TypeError):
                code, message = "HTTP_ERROR", response.text[:200]
            raise SimulatorAdminError(response.status_code, code, message)
        return response.json()

    @staticmethod
    def _email(email: str) -> str:
        return quote(email, safe="@")

    # -- reads -----------------------------------------------------------------------------------
    async def health(self) -> Health:
        return cast(Health, await self._call("GET", "/health"))

    async def mailbox(self, email: str) -> list[MailMessage]:
        return cast(list[MailMessage], (await self._call("GET", f"/mailbox/{self._email(email)}"))["data"])

    async def confirmation_link(self, email: str) -> str | None:
        """The newest ``/auth/v1/verify`` link mailed to ``email``, if any."""
        for message in reversed(await self.mailbox(email)):
            for link in message["links"]:
                if "/auth/v1/verify" in link:
                    return link
        return None

    async def ledger(
        self,
        *,
        kind: str | None = None,
        email: str | None = None,
        user_id: str | None = None,
        persona_id: str | None = None,
        generated_post_id: str | None = None,
        since: int | None = None,
    ) -> list[LedgerEntry]:
        """Ledger entries matching all given filters (``kind`` may list several, comma-separated)."""
        filters = {
            "kind": kind,
            "email": email,
            "user_id": user_id,
            "persona_id": persona_id,
            "generated_post_id": generated_post_id,
            "since": since,
        }
        params = {name: value for name, value in filters.items() if value is not None}
        return cast(list[LedgerEntry], (await self._call("GET", "/ledger", params=params))["data"])

    async def stats(self) -> Stats:
        return cast(Stats, (await self._call("GET", "/stats"))["data"])

    async def state(self) -> dict[str, Any]:
        return cast(dict[str, Any], (await self._call("GET", "/state"))["data"])

    # -- human steps -----------------------------------------------------------------------------
    async def connect_account(self, email: str, platform: str, username: str) -> ConnectedAccount:
        """The OAuth step a human does in the dashboard."""
        body = {"platform": platform, "username": username}
        data = await self._call("POST", f"/users/{self._email(email)}/connected-accounts", json=body)
        return cast(ConnectedAccount, data["data"])

    async def topup(self, email: str, amount_cents: int) -> Balance:
        data = await self._call("POST", f"/users/{self._email(email)}/topup", json={"amount_cents": amount_cents})
        return cast(Balance, data["data"])

    async def complete_checkout(self, url_or_session_id: str) -> dict[str, Any]:
        """Pay a checkout session from ``POST /v1/billing/topup`` (its URL or its id)."""
        path = url_or_session_id if url_or_session_id.startswith("http") else f"/checkout/{url_or_session_id}"
        return cast(dict[str, Any], (await self._call("POST", path))["data"])

    async def add_creator_posts(
        self,
        platform: str,
        username: str,
        *,
        posts: list[NewPost] | None = None,
        count: int | None = None,
        media_type: str | None = None,
    ) -> list[SourcePost]:
        """New posts by a creator (either ``posts`` or ``count``), visible after the next sync."""
        body: dict[str, Any] = {"posts": posts} if posts is not None else {"count": count}
        if media_type is not None:
            body["media_type"] = media_type
        data = await self._call("POST", f"/creators/{platform}/{quote(username, safe='')}/posts", json=body)
        return cast(list[SourcePost], data["data"])

    # -- knobs -----------------------------------------------------------------------------------
    async def chaos(self) -> ChaosConfig:
        return ChaosConfig.model_validate((await self._call("GET", "/chaos"))["data"])

    async def set_chaos(self, config: ChaosConfig | None = None, **fields: Any) -> ChaosConfig:
        """Replace the chaos config (``set_chaos()`` with nothing turns every fault off)."""
        chosen = config if config is not None else ChaosConfig.model_validate(fields)
        data = await self._call("PUT", "/chaos", json=chosen.model_dump(mode="json"))
        return ChaosConfig.model_validate(data["data"])

    async def config(self) -> dict[str, Any]:
        return cast(dict[str, Any], (await self._call("GET", "/config"))["data"])

    async def patch_config(self, patch: dict[str, Any]) -> dict[str, Any]:
        """Deep-merge ``patch`` into the runtime knobs, e.g. ``{"costs_cents": {"video": 200}}``."""
        return cast(dict[str, Any], (await self._call("PATCH", "/config", json=patch))["data"])

    async def advance_clock(self, seconds: float) -> str:
        """Jump simulated time forward; everything due completes. Returns the new simulated now."""
        return str((await self._call("POST", "/clock/advance", json={"seconds": seconds}))["data"]["sim_now"])

    async def reset(self, *, config: bool = False, chaos: bool = False) -> None:
        """Empty the state; also restore startup knobs (``config``) or chaos (``chaos``) if asked."""
        await self._call("POST", "/reset", json={"config": config, "chaos": chaos})
