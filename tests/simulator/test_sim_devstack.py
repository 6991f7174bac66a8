"""The devstack helpers the fixtures rely on: free ports and a localstripe that stops for good."""

from __future__ import annotations

import socket

import httpx

from devstack.localstripe import LocalStripe, localstripe_server
from devstack.ports import free_port, port_is_open


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    assert not port_is_open("127.0.0.1", port)


def test_localstripe_sync_helper_stops_the_process() -> None:
    with LocalStripe() as server:
        answer = httpx.get(f"{server.url}/v1/customers", headers={"Authorization": "Bearer sk_test_x"})
        assert answer.status_code == 200
        port = server.port
    assert not port_is_open("127.0.0.1", port)
    server.stop()  # idempotent


async def test_localstripe_async_helper() -> None:
    async with localstripe_server() as url:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{url}/v1/customers", headers={"Authorization": "Bearer sk_test_x"})).is_success
        port = int(url.rsplit(":", 1)[1])
    assert not port_is_open("127.0.0.1", port)
