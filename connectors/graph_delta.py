"""Microsoft Graph delta paging, shared by the Outlook mail and calendar sources.

A delta round is a chain of pages linked by ``@odata.nextLink``; its last page carries
``@odata.deltaLink``, the link that later reads only what changed. A page fetched from a
stored link Graph no longer knows (410, or a 4xx naming the sync state) raises
`CursorExpired`, so the core reads the stream again; any other refusal is mapped to the
connector error by `GraphApi.failure`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.base import CursorExpired, SourceUnavailable
from connectors.outlook_http import GraphApi, GraphError

_SYNC_CODES = ("syncstate", "resync")

# A page reader: (link, query of the first request or None) -> the page's JSON.
PageReader = Callable[[str, "dict[str, str] | None"], "dict[str, Any]"]


def sync_state_lost(exc: GraphError) -> bool:
    """Graph no longer knows the delta token: 410, or a 4xx naming the sync state."""
    code = exc.code.lower()
    return exc.status == 410 or (400 <= exc.status < 500 and any(c in code for c in _SYNC_CODES))


def delta_page(
    api: GraphApi,
    link: str,
    params: dict[str, str] | None,
    *,
    what: str,
    headers: dict[str, str],
    resumed: bool,
    token: str,
    again: str,
    refused: Callable[[GraphError], dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """One delta page. A lost sync state of a `resumed` round raises `CursorExpired`
    ("Graph no longer knows the `token` (...); `again`"); `refused` may answer another
    4xx itself (a page, or None to let it fail)."""
    try:
        doc = api.call("GET", link, what, params=params, headers=headers, handles=range(400, 500))
    except GraphError as exc:
        if sync_state_lost(exc) and resumed:
            raise CursorExpired(
                f"Graph no longer knows the {token} ({exc.status} {exc.code}); {again}"
            ) from None
        page = refused(exc) if refused is not None else None
        if page is not None:
            return page
        raise api.failure(exc, what) from None
    return doc if isinstance(doc, dict) else {}


def following_link(page: dict[str, Any], missing: str) -> tuple[str | None, str]:
    """(nextLink or None, the link after this page: nextLink, else deltaLink); a page
    with neither is a broken answer: `SourceUnavailable(missing)`."""
    nxt, delta = page.get("@odata.nextLink"), page.get("@odata.deltaLink")
    if not nxt and not delta:
        raise SourceUnavailable(missing)
    return (str(nxt) if nxt else None), str(nxt or delta)


def read_to_delta_link(
    read: PageReader, link: str, params: dict[str, str] | None, missing: str
) -> str:
    """Read a whole round from `link` and return its deltaLink (the page contents are
    not kept)."""
    while True:
        page = read(link, params)
        params = None
        nxt, delta = page.get("@odata.nextLink"), page.get("@odata.deltaLink")
        if delta:
            return str(delta)
        if not nxt:
            raise SourceUnavailable(missing)
        link = str(nxt)


__all__ = ["PageReader", "delta_page", "following_link", "read_to_delta_link", "sync_state_lost"]
