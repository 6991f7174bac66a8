"""One request, one total deadline: trickling and silent servers are cut, and the error says where.

Also the idempotency keys every POST method can send. The slow servers are real sockets on loopback
(so httpcore reports its phases) and a MockTransport whose body is an async stream that sleeps
between chunks (no sockets, no per-phase timeouts at all: only the total deadline can stop it).
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from reelmirror_fakes import BASE_URL, FakeApi, json_response, make_api_key

from reelmirror.client import IDEMPOTENCY_HEADER, ReelMirrorClient
from reelmirror.errors import TransportError
from reelmirror.transport import PhaseTracker

Call = Callable[[ReelMirrorClient], Awaitable[Any]]

# -- idempotency keys ------------------------------------------------------------------------

ANSWERS: dict[str, Any] = {
    "signup": {"status": "pending_confirmation", "user_id": "u1"},
    "create_api_key": {"id": "k1", "key": "rm_" + "k" * 24, "scopes": []},
    "create_setup_intent": {"client_secret": "seti_1_secret_2"},
    "create_topup": {"url": "u"},
    "create_persona": {"data": {"id": "p1"}},
    "add_source": {"data": {"id": "s1"}},
    "add_publishing_target": {"data": {"id": "t1"}},
    "sync_persona": {"job_ids": []},
    "generate": {"generated_post_id": "g1"},
    "approve": {"status": "publishing", "outgoing_post_id": "o1"},
    "reject": {"data": {"id": "g1"}},
    "send_to_compose": {"data": {"id": "g1"}},
}

POST_CALLS: dict[str, Callable[..., Awaitable[Any]]] = {
    "signup": lambda c, **k: c.signup("a@b.c", "pw-123456", **k),
    "create_api_key": lambda c, **k: c.create_api_key("jwt", "k", **k),
    "create_setup_intent": lambda c, **k: c.create_setup_intent(**k),
    "create_topup": lambda c, **k: c.create_topup(500, **k),
    "create_persona": lambda c, **k: c.create_persona("n", "s", **k),
    "add_source": lambda c, **k: c.add_source("p1", "instagram", "u", **k),
    "add_publishing_target": lambda c, **k: c.add_publishing_target("p1", "a1", **k),
    "sync_persona": lambda c, **k: c.sync_persona("p1", **k),
    "generate": lambda c, **k: c.generate("sp1", "p1", **k),
    "approve": lambda c, **k: c.approve("g1", **k),
    "reject": lambda c, **k: c.reject("g1", "no", **k),
    "send_to_compose": lambda c, **k: c.send_to_compose("g1", **k),
}


def test_every_method_with_an_idempotency_key_is_a_post_and_every_post_has_one() -> None:
    public = [
        (name, fn)
        for name, fn in inspect.getmembers(ReelMirrorClient, inspect.iscoroutinefunction)
        if not name.startswith("_")
    ]
    with_key = {name for name, fn in public if "idempotency_key" in inspect.signature(fn).parameters}
    posting = {name for name, fn in public if '"POST"' in inspect.getsource(fn)}
    assert with_key == posting == set(POST_CALLS)


@pytest.mark.parametrize("name", sorted(POST_CALLS))
async def test_post_sends_the_idempotency_key_only_when_given(name: str, fake_api: Any) -> None:
    client, api = fake_api(lambda request: json_response(200, ANSWERS[name]))
    await POST_CALLS[name](client, idempotency_key=f"gen-{name}-1")
    await POST_CALLS[name](client)
    assert [r.method for r in api.requests] == ["POST", "POST"]
    assert api.requests[0].headers[IDEMPOTENCY_HEADER] == f"gen-{name}-1"
    assert IDEMPOTENCY_HEADER not in api.requests[1].headers


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve", "line\nbreak"], ids=["empty", "long", "non-ascii", "newline"])
async def test_a_key_that_cannot_travel_is_refused_before_sending(key: str, fake_api: Any) -> None:
    client, api = fake_api(lambda request: json_response(200, ANSWERS["generate"]))
    with pytest.raises(ValueError, match="idempotency_key"):
        await client.generate("sp1", "p1", idempotency_key=key)
    assert api.requests == []


# -- the total deadline, without sockets -----------------------------------------------------


class Trickle(httpx.AsyncByteStream):
    """A response body that arrives one small chunk every ``interval`` seconds."""

    def __init__(self, chunks: int, interval: float) -> None:
        self.chunks = chunks
        self.interval = interval
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"data": ['
        for _ in range(self.chunks):
            await asyncio.sleep(self.interval)
            self.sent += 1
            yield b" "
        yield b"]}"


async def test_a_trickling_body_is_cut_at_the_total_deadline(api_key: str) -> None:
    stream = Trickle(chunks=100, interval=0.05)  # 5 s in all, each chunk well inside any per-read timeout

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json"}, stream=stream)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = ReelMirrorClient(BASE_URL, token=api_key, http=http, timeout=0.4)
        started = time.monotonic()
        with pytest.raises(TransportError) as caught:
            await client.list_personas()
        elapsed = time.monotonic() - started
    err = caught.value
    assert 0.35 <= elapsed < 1.5
    assert 2 <= stream.sent < 20
    assert (err.kind, err.phase, err.may_have_committed, err.status) == ("timeout", None, False, None)
    assert "total deadline of 0.4 s" in err.message and "GET /v1/personas" in err.message
    assert api_key not in str(err)


async def test_a_post_cut_by_the_deadline_may_have_committed(api_key: str) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return json_response(201, {"generated_post_id": "g1"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = ReelMirrorClient(BASE_URL, token=api_key, http=http, timeout=0.2)
        with pytest.raises(TransportError) as caught:
            await client.generate("sp1", "p1", idempotency_key="k-1")
    assert (caught.value.kind, caught.value.may_have_committed) == ("timeout", True)
    assert "phase: unknown" in caught.value.message


async def test_a_fast_answer_is_untouched_by_the_deadline(api_key: str) -> None:
    api = FakeApi(lambda r: json_response(200, {"data": []}))
    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as http:
        client = ReelMirrorClient(BASE_URL, token=api_key, http=http, timeout=0.5)
        assert client.timeout == 0.5
        assert await client.list_personas() == []


# -- the total deadline, on real sockets (phases reported by httpcore) -------------------------


async def _read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":", 1)[1]))


async def _trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n")
    for _ in range(400):
        writer.write(b" ")
        await writer.drain()
        await asyncio.sleep(0.05)


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    await asyncio.sleep(30)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Any], Awaitable[str]]]:
    """``base_url = await serve(handler)``: a loopback HTTP/1.1 server that runs ``handler`` per connection."""
    servers: list[asyncio.Server] = []
    tasks: set[asyncio.Task[None]] = set()

    async def start(handler: Any) -> str:
        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            try:
                await handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/api"

    yield start
    for task in tasks:
        task.cancel()
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_a_trickling_server_is_cut_while_receiving(serve: Any, api_key: str) -> None:
    base_url = await serve(_trickle)
    async with ReelMirrorClient(base_url, token=api_key, timeout=0.5) as client:
        started = time.monotonic()
        with pytest.raises(TransportError) as caught:
            await client.generate("sp1", "p1")
        elapsed = time.monotonic() - started
    err = caught.value
    assert 0.45 <= elapsed < 2.0  # httpx's per-read timeout (also 0.5 s) never fired: bytes kept coming
    assert (err.kind, err.phase, err.may_have_committed) == ("timeout", "receive", True)
    assert "(phase: receive)" in err.message


@pytest.mark.parametrize(("method", "committed"), [("GET", False), ("POST", True)])
async def test_a_silent_server_is_cut_while_waiting(serve: Any, api_key: str, method: str, committed: bool) -> None:
    base_url = await serve(_silent)
    async with ReelMirrorClient(base_url, token=api_key, timeout=0.3) as client:
        call = client.list_personas() if method == "GET" else client.generate("sp1", "p1")
        with pytest.raises(TransportError) as caught:
            await call
    # httpx's own read timeout is the same 0.3 s: whichever fires first, the phase and fate are the same.
    assert (caught.value.kind, caught.value.phase, caught.value.may_have_committed) == ("timeout", "wait", committed)


async def test_a_refused_connection_committed_nothing(api_key: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        async with ReelMirrorClient(f"http://127.0.0.1:{port}/api", token=api_key, timeout=2) as client:
            with pytest.raises(TransportError) as caught:
                await client.generate("sp1", "p1")
    assert (caught.value.kind, caught.value.phase, caught.value.may_have_committed) == ("connect", "connect", False)


@pytest.mark.parametrize(
    ("events", "phase"),
    [
        ([], None),
        (["connection.connect_tcp.started"], "connect"),
        (["connection.connect_tcp.complete", "http11.send_request_headers.started"], "send"),
        (["http11.send_request_body.complete", "http11.receive_response_headers.started"], "wait"),
        (["http11.receive_response_headers.complete", "http11.receive_response_body.started"], "receive"),
        (["http2.send_request_headers.started"], "send"),
        (["http11.response_closed.started"], None),
    ],
)
async def test_phase_tracker(events: list[str], phase: str | None) -> None:
    tracker = PhaseTracker()
    for event in events:
        await tracker(event, {})
    assert tracker.phase == phase


async def test_rate_limit_of_every_response_and_error(fake_api: Any) -> None:
    headers = iter(
        [
            {"x-ratelimit-limit": "120", "x-ratelimit-remaining": "1", "x-ratelimit-reset": "30"},
            {"x-ratelimit-limit": "120", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "29"},
            {},
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        h = next(headers)
        if h.get("x-ratelimit-remaining") == "0":
            return json_response(429, {"error": {"code": "RATE_LIMITED", "message": "slow"}}, h)
        return json_response(200, {"data": []}, h)

    client, _ = fake_api(handler, token=make_api_key())
    await client.list_personas()
    assert client.last_rate_limit is not None and client.last_rate_limit.remaining == 1
    with pytest.raises(Exception) as caught:
        await client.list_personas()
    assert client.last_rate_limit is not None and client.last_rate_limit.exhausted
    assert getattr(caught.value, "rate_limit", None) == client.last_rate_limit
    await client.list_personas()
    assert client.last_rate_limit is None  # the latest response carried no rate-limit headers
