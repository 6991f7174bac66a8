"""Lists follow further pages when an answer offers them, in each common form, and stop on none or a loop."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from reelmirror_fakes import FakeApi, json_response

from reelmirror.client import ReelMirrorClient
from reelmirror.errors import MalformedResponseError
from reelmirror.pagination import next_page

Build = Callable[..., tuple[ReelMirrorClient, FakeApi]]
PATH = "/v1/personas/p1/source-posts"


def _posts(*ids: str) -> list[dict[str, str]]:
    return [{"id": i} for i in ids]


async def test_a_bare_array_is_one_complete_page(fake_api: Build) -> None:
    client, api = fake_api(lambda request: json_response(200, _posts("a", "b")))
    assert [p.id for p in await client.list_source_posts("p1")] == ["a", "b"]
    assert len(api.requests) == 1


async def test_next_links_are_followed_absolute_or_relative(fake_api: Build) -> None:
    pages = {
        None: {"data": _posts("a"), "next": "https://reelmirror.com/api/v1/personas/p1/source-posts?page=2"},
        "2": {"data": _posts("b"), "next": "/api/v1/personas/p1/source-posts?page=3"},
        "3": {"data": _posts("c"), "next": None},
    }
    client, api = fake_api(lambda request: json_response(200, pages[request.url.params.get("page")]))
    assert [p.id for p in await client.list_source_posts("p1")] == ["a", "b", "c"]
    assert [r.url.path for r in api.requests] == [f"/api{PATH}"] * 3


async def test_cursors_with_has_more_are_followed(fake_api: Build) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        if cursor is None:
            return json_response(200, {"data": _posts("a", "b"), "has_more": True, "next_cursor": "c2"})
        assert cursor == "c2"
        return json_response(200, {"data": _posts("c"), "has_more": False, "next_cursor": "c3"})

    client, api = fake_api(handler)
    assert [p.id for p in await client.list_source_posts("p1")] == ["a", "b", "c"]
    assert len(api.requests) == 2


async def test_offsets_are_followed_up_to_the_total(fake_api: Build) -> None:
    everything = _posts(*"abcde")

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", "0"))
        return json_response(
            200, {"data": everything[offset : offset + 2], "offset": offset, "limit": 2, "total": len(everything)}
        )

    client, api = fake_api(handler)
    assert [p.id for p in await client.list_source_posts("p1")] == list("abcde")
    assert len(api.requests) == 3


async def test_the_generated_posts_filter_stays_on_every_page(fake_api: Build) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params.get("source_post_id") == "sp1"
        if request.url.params.get("cursor") is None:
            return json_response(200, {"data": [{"id": "g1"}], "has_more": True, "cursor": "x"})
        return json_response(200, {"data": [{"id": "g2"}]})

    client, _ = fake_api(handler)
    assert [p.id for p in await client.list_generated_posts("p1", source_post_id="sp1")] == ["g1", "g2"]


async def test_a_page_that_points_back_is_a_malformed_answer(fake_api: Build) -> None:
    client, _ = fake_api(lambda request: json_response(200, {"data": _posts("a"), "has_more": True, "cursor": "x"}))
    with pytest.raises(MalformedResponseError, match="points back"):
        await client.list_source_posts("p1")


@pytest.mark.parametrize(
    ("payload", "items"),
    [
        ([{"id": "a"}], 1),
        ({"data": [{"id": "a"}]}, 1),
        ({"data": [{"id": "a"}], "has_more": False, "next_cursor": "z"}, 1),
        ({"data": [{"id": "a"}], "offset": 0, "limit": 1, "total": 1}, 1),
        ({"data": [], "next": "/v1/personas/p1/source-posts?page=2"}, 0),  # an empty page ends it
    ],
)
def test_answers_that_end_the_listing(payload: object, items: int) -> None:
    assert next_page(payload, items, PATH) is None
