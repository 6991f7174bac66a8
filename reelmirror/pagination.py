"""Following a list's further pages, when an answer offers them; tolerant of answers that offer none.

The guide shows lists as one answer and promises no paging. REST APIs of this kind page in one of a few
ways, so each is recognised when present and nothing is required: a `next` link (absolute URL or path),
a cursor (`next_cursor`/`cursor` with `has_more`), or an offset (`offset` + `limit`/`total`). A bare
JSON array is a single, complete page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["MAX_PAGES", "NextPage", "next_page"]

#: A listing never follows more pages than this (a server that loops must not hold a worker for ever).
MAX_PAGES = 200


@dataclass(frozen=True)
class NextPage:
    """Where the next page is: a path relative to the API base (may be None) and query parameters."""

    path: str | None
    params: dict[str, str]


def next_page(payload: Any, items_on_page: int, base_path: str) -> NextPage | None:
    """The next page an answer points to, or None when it is the last (or says nothing about pages)."""
    if not isinstance(payload, dict) or items_on_page == 0:
        return None
    meta = payload.get("pagination") if isinstance(payload.get("pagination"), dict) else payload
    link = meta.get("next") or meta.get("next_url")
    if isinstance(link, str) and link:
        return _from_link(link, base_path)
    if meta.get("has_more") is False:
        return None
    cursor = meta.get("next_cursor") or (meta.get("cursor") if meta.get("has_more") else None)
    if isinstance(cursor, str | int) and str(cursor):
        return NextPage(None, {"cursor": str(cursor)})
    offset, limit, total = meta.get("offset"), meta.get("limit"), meta.get("total")
    if isinstance(offset, int) and isinstance(total, int):
        step = limit if isinstance(limit, int) and limit > 0 else items_on_page
        following = offset + step
        if following < total:
            params = {"offset": str(following)}
            if isinstance(limit, int) and limit > 0:
                params["limit"] = str(limit)
            return NextPage(None, params)
    return None


def _from_link(link: str, base_path: str) -> NextPage:
    """A `next` link as a path under the API base: the path after `/v1` is kept, with its query."""
    parts = urlsplit(link)
    params = dict(parse_qsl(parts.query))
    path = parts.path
    marker = path.find("/v1/")
    return NextPage(path[marker:] if marker >= 0 else base_path, params)
