"""Outlook drafts (Microsoft Graph v1.0), exactly once by documented means only.

The action key lives in a single-value extended property of the draft
(``String {guid} Name SyncKey``). Microsoft documents setting an extended property on a
new item through ``POST /messages`` (or ``POST /mailFolders/{id}/messages``) and on an
existing item through ``PATCH``; ``createReply`` is not among them, so nothing here relies
on ``createReply`` storing one. Hence:

- **a new (non-reply) draft**: ``POST {mailbox}/messages`` with the property (and the
  header ``X-Syncd-Key``) in the same request, so no draft without a key can exist;
- **a reply** (a spec naming the message it answers, as ``no_reply`` drafts do):
  ``POST {mailbox}/messages/{original}/createReply`` with the body as ``comment`` and
  the recipient in ``message``, so Exchange threads it (In-Reply-To, References,
  conversationId); then ``PATCH {mailbox}/messages/{draft}`` puts the key property (and
  the recipient again) on it. Between the two the draft has no key: a crash there, or
  an answer lost after Exchange made the draft, leaves a keyless reply draft of ours.
  Before making a reply, the Drafts folder is therefore searched for a draft in the same
  conversation with no key property whose ``bodyPreview`` begins with the draft's text
  (what ``comment`` put there); such a draft is adopted (PATCHed) instead of making
  another. A draft the user started in that conversation has other text and is left
  alone.

Every attempt, the first and each retry, starts by looking the key up
(``$filter=singleValueExtendedProperties/Any(...)`` in Drafts), so an attempt whose
answer was lost (the draft made, the answer a 429 or a dropped connection) is found and
not made again. The fingerprint is ``<id>/<changeKey>``: an edit by the user changes the
changeKey; sending or deleting the draft takes it out of Drafts.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from connectors.base import Created, DraftSpec, ObjectState, SourceUnavailable, object_state
from connectors.outlook_http import GraphApi, GraphError, odata_quote

logger = logging.getLogger(__name__)

KEY_HEADER = "X-Syncd-Key"
# The extended property that carries an action key on drafts and holds (a syncd GUID).
KEY_PROPERTY = "String {5b2f8c1e-6d0a-4c1f-9a53-3f0d8e7b6a41} Name SyncKey"
# How much of the draft's text must open a keyless draft's bodyPreview (255 characters).
PREVIEW_MATCH = 120


def key_filter(key: str) -> str:
    return (
        f"singleValueExtendedProperties/Any(ep: ep/id eq {odata_quote(KEY_PROPERTY)}"
        f" and ep/value eq {odata_quote(key)})"
    )


def key_expand() -> str:
    """``$expand`` that reads the key property back (absent on a message without it)."""
    return f"singleValueExtendedProperties($filter=id eq {odata_quote(KEY_PROPERTY)})"


def has_key(doc: dict[str, Any]) -> bool:
    return any(
        isinstance(p, dict) and p.get("id", "").lower() == KEY_PROPERTY.lower() and p.get("value")
        for p in doc.get("singleValueExtendedProperties") or []
    )


def created_of(doc: dict[str, Any]) -> Created:
    return Created(ref=str(doc["id"]), fingerprint=f"{doc['id']}/{doc.get('changeKey') or ''}")


def _text(value: str) -> str:
    return " ".join(value.split())


@dataclass(frozen=True, slots=True)
class _Original:
    id: str
    conversation: str | None


class _OriginalGone(Exception):
    """createReply answered 404: the message answered was deleted meanwhile."""


class GraphDraftSink:
    """The `DraftSink` half of `connectors.outlook_mail.OutlookMailSource`."""

    api: GraphApi

    @property
    def _base(self) -> str:
        return self.api.settings.base

    # ------------------------------------------------------------------ lookups

    def find_draft(self, key: str) -> Created | None:
        found = self._find(key)
        return created_of(found) if found else None

    def _find(self, key: str, *, retry: bool = True) -> dict[str, Any] | None:
        params = {"$filter": key_filter(key), "$select": "id,changeKey,isDraft", "$top": "10"}
        path = f"{self._base}/mailFolders/drafts/messages"
        if retry:
            doc = self.api.call("GET", path, "Graph drafts (lookup by key)", params=params)
        else:
            doc = self.api.once("GET", path, params=params)
        for m in (doc or {}).get("value", []):
            if m.get("isDraft", True):
                found: dict[str, Any] = m
                return found
        return None

    def _keyless_reply(self, conversation: str, spec: DraftSpec) -> dict[str, Any] | None:
        """A reply draft of ours that a crash left before its key was set, if any."""
        want = _text(spec.body)[:PREVIEW_MATCH]
        if not want:
            return None  # nothing to recognise it by
        doc = self.api.once(
            "GET",
            f"{self._base}/mailFolders/drafts/messages",
            params={
                "$filter": f"conversationId eq {odata_quote(conversation)}",
                "$select": "id,changeKey,isDraft,bodyPreview,conversationId",
                "$expand": key_expand(),
                "$top": "50",
            },
        )
        for m in (doc or {}).get("value", []):
            if not m.get("isDraft", True) or has_key(m):
                continue
            if m.get("conversationId") not in (None, conversation):
                continue
            if _text(str(m.get("bodyPreview") or "")).startswith(want):
                found: dict[str, Any] = m
                return found
        return None

    def _original(self, spec: DraftSpec) -> _Original | None:
        """The message a reply answers, found by its Internet Message-ID."""
        mid = f"<{spec.in_reply_to}>"
        doc = self.api.call(
            "GET",
            f"{self._base}/messages",
            "Graph message (lookup by Message-ID)",
            params={
                "$filter": f"internetMessageId eq {odata_quote(mid)}",
                "$select": "id,conversationId,isDraft",
                "$top": "10",
            },
        )
        found = [m for m in (doc or {}).get("value", []) if not m.get("isDraft")]
        if spec.thread_id:
            same = [m for m in found if m.get("conversationId") == spec.thread_id]
            found = same or found
        if not found:
            return None
        conversation = found[0].get("conversationId")
        return _Original(str(found[0]["id"]), str(conversation) if conversation else None)

    # ------------------------------------------------------------------ create

    def create_draft(self, spec: DraftSpec) -> Created:
        existing = self._find(spec.key)
        if existing is not None:
            logger.debug("outlook.draft.exists", extra={"key": spec.key, "ref": existing["id"]})
            return created_of(existing)
        original = self._original(spec) if spec.in_reply_to else None
        what = "Graph createReply" if original else "Graph create draft"
        try:
            doc = self.api.run(lambda: self._attempt(spec, original), what)
        except _OriginalGone:
            logger.info("outlook.draft.original_gone", extra={"key": spec.key})
            return self.create_draft(replace(spec, in_reply_to=None, thread_id=None))
        if not isinstance(doc, dict) or "id" not in doc:
            raise SourceUnavailable(f"{what}: the answer carries no message id")
        logger.info("outlook.draft.created", extra={"key": spec.key, "ref": doc["id"]})
        return created_of(doc)

    def _attempt(self, spec: DraftSpec, original: _Original | None) -> Any:
        """One attempt, the first or a retry: look the key up before making anything."""
        made = self._find(spec.key, retry=False)
        if made is not None:
            return made
        recipient = {"emailAddress": _address(spec.to_name, spec.to_address)}
        prop = [{"id": KEY_PROPERTY, "value": spec.key}]
        if original is None:
            return self.api.once(
                "POST",
                f"{self._base}/messages",
                body={
                    "subject": spec.subject,
                    "body": {"contentType": "text", "content": spec.body},
                    "toRecipients": [recipient],
                    "internetMessageHeaders": [{"name": KEY_HEADER, "value": spec.key}],
                    "singleValueExtendedProperties": prop,
                },
            )
        draft = self._keyless_reply(original.conversation, spec) if original.conversation else None
        if draft is not None:
            logger.info("outlook.draft.adopted", extra={"key": spec.key, "ref": draft["id"]})
        else:
            try:
                draft = self.api.once(
                    "POST",
                    f"{self._base}/messages/{quote(original.id, safe='')}/createReply",
                    body={"comment": spec.body, "message": {"toRecipients": [recipient]}},
                )
            except GraphError as exc:
                if exc.status == 404:
                    raise _OriginalGone() from None
                raise
            if not isinstance(draft, dict) or "id" not in draft:
                raise SourceUnavailable("Graph createReply: the answer carries no message id")
        return self.api.once(
            "PATCH",
            f"{self._base}/messages/{quote(str(draft['id']), safe='')}",
            body={"toRecipients": [recipient], "singleValueExtendedProperties": prop},
        )

    # ------------------------------------------------------------------ state

    def draft_state(self, key: str, fingerprint: str) -> ObjectState:
        found = self._find(key)
        current = created_of(found).fingerprint if found is not None else None
        return object_state(current, fingerprint)

    def remove_draft(self, key: str, fingerprint: str) -> bool:
        found = self._find(key)
        if found is None or created_of(found).fingerprint != fingerprint:
            return False
        # A 404: gone already (an earlier attempt whose answer was lost removed it).
        with contextlib.suppress(GraphError):
            self.api.call(
                "DELETE",
                f"{self._base}/messages/{quote(str(found['id']), safe='')}",
                "Graph delete draft",
                handles=(404,),
            )
        return True


def _address(name: str | None, address: str) -> dict[str, str]:
    doc = {"address": address}
    if name:
        doc["name"] = name
    return doc


__all__ = [
    "KEY_HEADER",
    "KEY_PROPERTY",
    "GraphDraftSink",
    "created_of",
    "has_key",
    "key_expand",
    "key_filter",
]
