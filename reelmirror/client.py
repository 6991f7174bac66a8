"""The typed async client of the ReelMirror API: one method per endpoint, no retries.

Why no retries here: whether a failed call may be repeated depends on the call (``generate`` is
charged and not idempotent, a lost ``signup`` counts against the 5-per-day limit) and on durable
state this package does not have. The Temporal activities own every retry decision; this client
reports precisely what happened (a typed error per error-table row, ``retry_after_seconds`` from
the rate-limit headers, and for transport errors whether the request may have been committed).

Why one pooled ``httpx.AsyncClient``: a worker makes many short calls to one host; reusing
connections saves a TCP (and TLS) handshake per call. :meth:`ReelMirrorClient.with_token` shares
the pool, so one pool serves the signup (no token), the key creation (JWT) and the loop (``rm_`` key).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, SecretStr

from reelmirror.envelopes import parse_list, parse_single
from reelmirror.errors import MalformedResponseError, error_from_response
from reelmirror.models import (
    ALL_SCOPES,
    ApiKey,
    ApiModel,
    ApproveResult,
    Balance,
    ConnectedAccount,
    GeneratedPost,
    GenerateResult,
    OutgoingPost,
    Persona,
    PublishingTarget,
    SetupIntentSecret,
    SignupResult,
    Source,
    SourcePost,
    SyncJob,
    SyncStarted,
    TopupSession,
)
from reelmirror.pagination import MAX_PAGES, next_page
from reelmirror.ratelimit import RateLimitInfo, parse_rate_limit
from reelmirror.redaction import secret_value
from reelmirror.transport import send

__all__ = ["DEFAULT_TIMEOUT", "DEFAULT_USER_AGENT", "IDEMPOTENCY_HEADER", "ReelMirrorClient"]

logger = logging.getLogger("reelmirror.client")

DEFAULT_USER_AGENT = f"reelmirror-temporal/0.1 (+httpx/{httpx.__version__})"

#: Seconds one request may take in total, from taking a connection to the last byte of the answer.
DEFAULT_TIMEOUT = 30.0

#: The header an ``idempotency_key`` travels in (the common convention; the guide promises no support).
IDEMPOTENCY_HEADER = "Idempotency-Key"

#: Longest idempotency key accepted (Stripe's limit, the best-known API with the convention).
MAX_IDEMPOTENCY_KEY_CHARS = 255

M = TypeVar("M", bound=BaseModel)
K = TypeVar("K", SyncJob, GeneratedPost, OutgoingPost)  # answers whose id the caller already knows

_NO_TOKEN = object()  # Sentinel: "use the client's own token" vs an explicit None (no auth header).


def _segment(value: str) -> str:
    """Quote one path segment, so an id can never add path components or a query."""
    return quote(str(value), safe="")


def _idempotency_headers(key: str | None) -> dict[str, str]:
    """The header for ``key``; a key that cannot travel in a header is the caller's bug (ValueError)."""
    if key is None:
        return {}
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_CHARS or not key.isascii() or not key.isprintable():
        raise ValueError(f"idempotency_key must be 1-{MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters")
    return {IDEMPOTENCY_HEADER: key}


def _with_id(model: K, known_id: str) -> K:
    """Fill in an id the answer left out (assumed by the contract) with the one the request named."""
    return model if model.id is not None else model.model_copy(update={"id": known_id})


class _GeneratedPostPromise(ApiModel):
    """What ``GET /v1/generated-posts/{id}`` promises: ``.data.media_items[].status``."""

    media_items: list[_MediaStatusPromise]


class _MediaStatusPromise(ApiModel):
    status: str


_GeneratedPostPromise.model_rebuild()


class ReelMirrorClient:
    """Async client of the ReelMirror API (``base_url`` like ``https://reelmirror.com/api``).

    ``token`` is the ``rm_`` API key for every ``/v1`` call except ``signup`` (no auth) and
    ``create_api_key`` (the Supabase JWT, passed to that method). ``timeout`` is the total deadline
    of one request in seconds (httpx's per-phase timeouts get the same value as a backstop). Use as
    an async context manager, or call :meth:`aclose`. A client built on a caller's ``http`` pool
    never closes that pool.

    Every POST method takes ``idempotency_key``: sent as ``Idempotency-Key`` when given, so a
    server that honours the convention answers a repeat with the first answer instead of acting
    twice. The guide does not promise that any server does; callers still check before repeating.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: SecretStr | str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        http: httpx.AsyncClient | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._token: SecretStr | None = None if token is None else SecretStr(secret_value(token) or "")
        self._timeout = float(timeout)
        self._user_agent = user_agent
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=self._timeout)
        self._last_rate_limit: RateLimitInfo | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> ReelMirrorClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool if this client created it (clients from ``with_token`` don't)."""
        if self._owns_http:
            await self._http.aclose()

    def with_token(self, token: SecretStr | str | None) -> ReelMirrorClient:
        """A client for the same server with another token, sharing this client's pool.

        The new client does not own the pool: close the original when done, not the copy.
        """
        return ReelMirrorClient(
            self._base_url, token=token, timeout=self._timeout, http=self._http, user_agent=self._user_agent
        )

    @property
    def base_url(self) -> str:
        """The API base URL (without a trailing slash)."""
        return self._base_url

    @property
    def timeout(self) -> float:
        """The total deadline of one request, in seconds."""
        return self._timeout

    @property
    def has_token(self) -> bool:
        """Whether a token is set (the token itself is never exposed by this object)."""
        return bool(self._token and self._token.get_secret_value())

    @property
    def last_rate_limit(self) -> RateLimitInfo | None:
        """The ``X-RateLimit-*`` headers of the latest response (``None`` if it had none), to pace
        calls before a 429. Errors carry the same object as ``.rate_limit``."""
        return self._last_rate_limit

    def __repr__(self) -> str:
        token = "set" if self.has_token else "none"
        return f"ReelMirrorClient(base_url={self._base_url!r}, token={token})"

    # -- the one request path ----------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        token: Any = _NO_TOKEN,
        secrets: Sequence[str | None] = (),
        idempotency_key: str | None = None,
    ) -> _Reply:
        """Send one request and return the decoded JSON of a 2xx response; raise a typed error otherwise."""
        bearer = secret_value(self._token) if token is _NO_TOKEN else secret_value(token)
        secret_list = [bearer, *secrets]
        headers = {"User-Agent": self._user_agent, "Accept": "application/json"}
        headers.update(_idempotency_headers(idempotency_key))
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        started = time.perf_counter()
        try:
            response = await send(
                self._http,
                method,
                self._base_url + path,
                deadline=self._timeout,
                where=path,
                secrets=secret_list,
                json=body,
                params=params,
                headers=headers,
                timeout=self._timeout,
                follow_redirects=False,
            )
        except Exception as exc:
            logger.debug("%s %s failed after %.1f ms: %s", method, path, _ms(started), type(exc).__name__)
            raise
        logger.debug("%s %s -> %d in %.1f ms", method, path, response.status_code, _ms(started))

        now = time.time()
        rate_limit = parse_rate_limit(response.headers, now)
        self._last_rate_limit = rate_limit
        if not response.is_success:
            raise error_from_response(
                response.status_code, response.headers, response.content, now=now, secrets=secret_list
            )
        if response.status_code == 204:
            return _Reply(response.status_code, {}, rate_limit)
        try:
            return _Reply(response.status_code, json.loads(response.content), rate_limit)
        except (ValueError, UnicodeDecodeError):
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            raise MalformedResponseError(
                f"{method} {path}: response body was not JSON ({kind}, {len(response.content)} bytes)",
                status=response.status_code,
                rate_limit=rate_limit,
            ) from None

    # -- answers -----------------------------------------------------------------------------

    @staticmethod
    def _one(
        model: type[M],
        reply: _Reply,
        where: str,
        *,
        envelopes: Sequence[str] = ("data",),
        promise: type[BaseModel] | None = None,
    ) -> M:
        """One resource, bare or in its envelopes (see :mod:`reelmirror.envelopes`)."""
        return parse_single(
            model,
            reply.payload,
            where,
            reply.status,
            envelopes=envelopes,
            promise=promise,
            rate_limit=reply.rate_limit,
        )

    @staticmethod
    def _many(model: type[M], reply: _Reply, where: str) -> list[M]:
        """A list, as a bare array or under ``data``."""
        return parse_list(model, reply.payload, where, reply.status, reply.rate_limit)

    async def _all_pages(self, model: type[M], path: str, where: str, params: dict[str, str] | None = None) -> list[M]:
        """A list with every further page the answers point to (see `reelmirror.pagination`)."""
        items: list[M] = []
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        page_path, page_params = path, dict(params or {})
        for _ in range(MAX_PAGES):
            key = (page_path, tuple(sorted(page_params.items())))
            if key in seen:
                raise MalformedResponseError(f"{where}: the next page points back to a page already read")
            seen.add(key)
            reply = await self._request("GET", page_path, params=page_params or None)
            page = self._many(model, reply, where)
            items.extend(page)
            following = next_page(reply.payload, len(page), path)
            if following is None:
                return items
            page_path = following.path or path
            page_params = {**(params or {}), **following.params}
        logger.warning("%s: stopped after %d pages", where, MAX_PAGES)
        return items

    # -- account and billing -----------------------------------------------------------------

    async def signup(
        self, email: str, password: SecretStr | str, *, idempotency_key: str | None = None
    ) -> SignupResult:
        """``POST /v1/auth/signup`` without auth. Never repeat blindly: 5 signups per IP per 24 h;
        a second signup of the same e-mail answers 409 (assumed; Supabase often answers 200)."""
        secret = secret_value(password)
        reply = await self._request(
            "POST",
            "/v1/auth/signup",
            body={"email": email, "password": secret},
            token=None,
            secrets=[secret],
            idempotency_key=idempotency_key,
        )
        return self._one(SignupResult, reply, "signup")

    async def create_api_key(
        self,
        jwt: SecretStr | str,
        name: str,
        scopes: Sequence[str] = ALL_SCOPES,
        *,
        idempotency_key: str | None = None,
    ) -> ApiKey:
        """``POST /v1/api-keys`` authenticated with the Supabase JWT (an ``rm_`` key is refused there)."""
        reply = await self._request(
            "POST",
            "/v1/api-keys",
            body={"name": name, "scopes": list(scopes)},
            token=jwt,
            idempotency_key=idempotency_key,
        )
        return self._one(ApiKey, reply, "create_api_key")

    async def create_setup_intent(self, *, idempotency_key: str | None = None) -> SetupIntentSecret:
        """``POST /v1/billing/setup-intent``: a SetupIntent's client secret, for Stripe confirmation."""
        reply = await self._request("POST", "/v1/billing/setup-intent", idempotency_key=idempotency_key)
        return self._one(SetupIntentSecret, reply, "create_setup_intent")

    async def get_balance(self) -> Balance:
        """``GET /v1/billing/balance`` (assumed path). Every field may be ``None``: see :class:`Balance`."""
        reply = await self._request("GET", "/v1/billing/balance")
        return self._one(Balance, reply, "get_balance")

    async def update_balance(
        self,
        auto_reload: bool,
        reload_threshold_cents: int | None = None,
        reload_amount_cents: int | None = None,
    ) -> Balance:
        """``PATCH /v1/billing/balance``: auto-reload settings (400 without a saved payment method).

        ``None`` thresholds are left out of the body, so the server keeps its current values.
        """
        body: dict[str, Any] = {"auto_reload": auto_reload}
        if reload_threshold_cents is not None:
            body["reload_threshold_cents"] = reload_threshold_cents
        if reload_amount_cents is not None:
            body["reload_amount_cents"] = reload_amount_cents
        reply = await self._request("PATCH", "/v1/billing/balance", body=body)
        return self._one(Balance, reply, "update_balance")

    async def create_topup(self, amount_cents: int, *, idempotency_key: str | None = None) -> TopupSession:
        """``POST /v1/billing/topup``: a Checkout URL that a human must complete (assumed shape)."""
        reply = await self._request(
            "POST", "/v1/billing/topup", body={"amount_cents": amount_cents}, idempotency_key=idempotency_key
        )
        return self._one(TopupSession, reply, "create_topup")

    # -- personas and sources ----------------------------------------------------------------

    async def create_persona(self, name: str, writing_style: str, *, idempotency_key: str | None = None) -> Persona:
        """``POST /v1/personas``. Names are not unique: list first if "my" persona may exist."""
        reply = await self._request(
            "POST",
            "/v1/personas",
            body={"name": name, "writing_style": writing_style},
            idempotency_key=idempotency_key,
        )
        return self._one(Persona, reply, "create_persona")

    async def list_personas(self) -> list[Persona]:
        """``GET /v1/personas`` (assumed)."""
        return self._many(Persona, await self._request("GET", "/v1/personas"), "list_personas")

    async def get_persona(self, id: str) -> Persona:
        """``GET /v1/personas/{id}`` (assumed)."""
        reply = await self._request("GET", f"/v1/personas/{_segment(id)}")
        return self._one(Persona, reply, "get_persona")

    async def add_source(
        self,
        persona_id: str,
        platform: str,
        username: str,
        automation_mode: str = "sync_only",
        *,
        idempotency_key: str | None = None,
    ) -> Source:
        """``POST /v1/personas/{id}/sources``; the same platform+username twice is 409 (already there)."""
        reply = await self._request(
            "POST",
            f"/v1/personas/{_segment(persona_id)}/sources",
            body={"platform": platform, "username": username, "automation_mode": automation_mode},
            idempotency_key=idempotency_key,
        )
        return self._one(Source, reply, "add_source")

    async def update_source(self, persona_id: str, source_id: str, automation_mode: str) -> Source:
        """``PATCH /v1/personas/{id}/sources/{source_id}``: change the automation mode."""
        reply = await self._request(
            "PATCH",
            f"/v1/personas/{_segment(persona_id)}/sources/{_segment(source_id)}",
            body={"automation_mode": automation_mode},
        )
        return self._one(Source, reply, "update_source")

    async def list_sources(self, persona_id: str) -> list[Source]:
        """``GET /v1/personas/{id}/sources`` (assumed; ``last_synced_at`` when the server has it)."""
        reply = await self._request("GET", f"/v1/personas/{_segment(persona_id)}/sources")
        return self._many(Source, reply, "list_sources")

    # -- publishing accounts and targets -----------------------------------------------------

    async def list_publishing_accounts(self) -> list[ConnectedAccount]:
        """``GET /v1/publishing/accounts``: accounts a human connected in the dashboard."""
        reply = await self._request("GET", "/v1/publishing/accounts")
        return self._many(ConnectedAccount, reply, "list_publishing_accounts")

    async def add_publishing_target(
        self, persona_id: str, connected_account_id: str, *, idempotency_key: str | None = None
    ) -> PublishingTarget:
        """``POST /v1/personas/{id}/publishing-targets``; the same account twice is 409."""
        reply = await self._request(
            "POST",
            f"/v1/personas/{_segment(persona_id)}/publishing-targets",
            body={"connected_account_id": connected_account_id},
            idempotency_key=idempotency_key,
        )
        return self._one(PublishingTarget, reply, "add_publishing_target")

    async def list_publishing_targets(self, persona_id: str) -> list[PublishingTarget]:
        """``GET /v1/personas/{id}/publishing-targets``."""
        reply = await self._request("GET", f"/v1/personas/{_segment(persona_id)}/publishing-targets")
        return self._many(PublishingTarget, reply, "list_publishing_targets")

    # -- sync --------------------------------------------------------------------------------

    async def sync_persona(self, persona_id: str, *, idempotency_key: str | None = None) -> SyncStarted:
        """``POST /v1/personas/{id}/sync``: one job per source (``skipped`` within 15 minutes)."""
        reply = await self._request(
            "POST", f"/v1/personas/{_segment(persona_id)}/sync", idempotency_key=idempotency_key
        )
        return self._one(SyncStarted, reply, "sync_persona")

    async def get_sync_job(self, job_id: str) -> SyncJob:
        """``GET /v1/sync-jobs/{id}`` (``.data.status``); ``.id`` is ``job_id`` when the answer omits it."""
        reply = await self._request("GET", f"/v1/sync-jobs/{_segment(job_id)}")
        return _with_id(self._one(SyncJob, reply, "get_sync_job"), job_id)

    async def list_source_posts(self, persona_id: str) -> list[SourcePost]:
        """``GET /v1/personas/{id}/source-posts``."""
        return await self._all_pages(
            SourcePost, f"/v1/personas/{_segment(persona_id)}/source-posts", "list_source_posts"
        )

    # -- generation and publishing -----------------------------------------------------------

    async def generate(
        self, source_post_id: str, persona_id: str, *, idempotency_key: str | None = None
    ) -> GenerateResult:
        """``POST /v1/generate``: charged and NOT idempotent; check :meth:`list_generated_posts` first."""
        reply = await self._request(
            "POST",
            "/v1/generate",
            body={"source_post_id": source_post_id, "persona_id": persona_id},
            idempotency_key=idempotency_key,
        )
        return self._one(GenerateResult, reply, "generate")

    async def get_generated_post(self, id: str) -> GeneratedPost:
        """``GET /v1/generated-posts/{id}``: ``.data.media_items[].status`` is checked (the promise);
        ``.id`` is ``id`` when the answer omits it."""
        reply = await self._request("GET", f"/v1/generated-posts/{_segment(id)}")
        post = self._one(GeneratedPost, reply, "get_generated_post", promise=_GeneratedPostPromise)
        return _with_id(post, id)

    async def list_generated_posts(self, persona_id: str, source_post_id: str | None = None) -> list[GeneratedPost]:
        """``GET /v1/personas/{id}/generated-posts[?source_post_id=]``: the dedup check before generate.

        Only "a list" is promised: items may lack ``id`` or ``source_post_id``, and the server may
        ignore the filter; a caller that dedups must handle both.
        """
        params = {"source_post_id": source_post_id} if source_post_id is not None else None
        path = f"/v1/personas/{_segment(persona_id)}/generated-posts"
        return await self._all_pages(GeneratedPost, path, "list_generated_posts", params)

    async def approve(self, id: str, *, idempotency_key: str | None = None) -> ApproveResult:
        """``POST /v1/generated-posts/{id}/approve`` (400 when the persona has no publishing targets)."""
        reply = await self._request(
            "POST", f"/v1/generated-posts/{_segment(id)}/approve", idempotency_key=idempotency_key
        )
        return self._one(ApproveResult, reply, "approve")

    async def reject(self, id: str, reason: str | None = None, *, idempotency_key: str | None = None) -> GeneratedPost:
        """``POST /v1/generated-posts/{id}/reject`` (assumed path) with an optional reason."""
        body = {"reason": reason} if reason is not None else {}
        reply = await self._request(
            "POST", f"/v1/generated-posts/{_segment(id)}/reject", body=body, idempotency_key=idempotency_key
        )
        return _with_id(self._one(GeneratedPost, reply, "reject"), id)

    async def send_to_compose(self, id: str, *, idempotency_key: str | None = None) -> GeneratedPost:
        """``POST /v1/generated-posts/{id}/send-to-compose`` (assumed path): park the post for a human."""
        reply = await self._request(
            "POST", f"/v1/generated-posts/{_segment(id)}/send-to-compose", idempotency_key=idempotency_key
        )
        return _with_id(self._one(GeneratedPost, reply, "send_to_compose"), id)

    async def get_publishing_post(self, outgoing_post_id: str) -> OutgoingPost:
        """``GET /v1/publishing/posts/{id}`` (``.post.deliveries[].status``); ``.id`` is
        ``outgoing_post_id`` when the answer omits it."""
        reply = await self._request("GET", f"/v1/publishing/posts/{_segment(outgoing_post_id)}")
        post = self._one(OutgoingPost, reply, "get_publishing_post", envelopes=("data", "post"))
        return _with_id(post, outgoing_post_id)


class _Reply:
    """A decoded 2xx response: status and rate limit kept so a malformed body's error can report them."""

    __slots__ = ("payload", "rate_limit", "status")

    def __init__(self, status: int, payload: Any, rate_limit: RateLimitInfo | None) -> None:
        self.status = status
        self.payload = payload
        self.rate_limit = rate_limit


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
