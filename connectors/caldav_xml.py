"""WebDAV multistatus replies as the CalDAV connector reads them: pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from connectors.base import SourceUnavailable

D = "{DAV:}"
C = "{urn:ietf:params:xml:ns:caldav}"


@dataclass(frozen=True, slots=True)
class DavObject:
    href: str
    etag: str | None
    data: bytes | None  # None: the server says the object is gone (404)


def check_multistatus(response: Any, url: str) -> None:
    if response.status != 207 or response.tree is None:
        raise SourceUnavailable(f"{url}: expected a multistatus, got HTTP {response.status}")


def status_code(text: str | None) -> int:
    parts = (text or "").split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 200


def responses(tree: Any) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(href, status, {property tag: element}) per DAV:response, 200-propstat props only."""
    for response in tree.iter(f"{D}response"):
        href = (response.findtext(f"{D}href") or "").strip()
        status = status_code(response.findtext(f"{D}status"))
        props: dict[str, Any] = {}
        for propstat in response.iter(f"{D}propstat"):
            if status_code(propstat.findtext(f"{D}status")) != 200:
                continue
            prop = propstat.find(f"{D}prop")
            if prop is not None:
                props.update((child.tag, child) for child in prop)
        yield href, status, props


def objects(tree: Any) -> list[DavObject]:
    found = []
    for href, status, props in responses(tree):
        if status == 404:
            found.append(DavObject(href, None, None))
            continue
        data = props.get(f"{C}calendar-data")
        if data is None or not data.text:
            continue
        etag = props.get(f"{D}getetag")
        found.append(
            DavObject(href, None if etag is None else etag.text, data.text.encode("utf-8"))
        )
    return found
