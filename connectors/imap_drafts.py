"""Drafts in an IMAP account's \\Drafts folder (`connectors.base.DraftSink`).

The folder is found by SPECIAL-USE, then by name, and created when missing. A draft carries
a Message-ID derived from its key, so it is found again after a crash and is never appended
twice.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import imapclient  # type: ignore[import-untyped]

from connectors.base import Created, DraftSpec, ObjectState, SourceInvalid, SourceUnavailable
from connectors.imap_pool import DRAFTS, ImapPool
from connectors.maildir_drafts import draft_fingerprint, draft_message_id, render_draft

logger = logging.getLogger("connectors.imap")

DEFAULT_DRAFTS = "Drafts"
_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]", re.IGNORECASE)
_LINE_END = re.compile(rb"\r?\n")


class ImapDraftSink(ImapPool):
    """Writes, finds and removes drafts on the account's main connection."""

    def find_draft(self, key: str) -> Created | None:
        with self._guard("looking up a draft") as client:
            folder = self._drafts_folder(client)
            found = self._locate(client, folder, key)
            if found is None:
                return None
            uidvalidity, uid, data = found
            return Created(ref=f"{folder}/{uidvalidity}/{uid}", fingerprint=draft_fingerprint(data))

    def create_draft(self, spec: DraftSpec) -> Created:
        existing = self.find_draft(spec.key)
        if existing is not None:
            logger.debug("imap.draft.exists", extra={"key": spec.key, "ref": existing.ref})
            return existing
        data = _LINE_END.sub(b"\r\n", render_draft(spec))
        with self._guard("appending a draft") as client:
            folder = self._drafts_folder(client)
            answer = client.append(
                folder, data, flags=(imapclient.DRAFT, imapclient.SEEN), msg_time=spec.date
            )
            m = _APPENDUID.search(answer if isinstance(answer, bytes) else b"")
            if m is not None:
                ref = f"{folder}/{int(m.group(1))}/{int(m.group(2))}"
            else:
                found = self._locate(client, folder, spec.key)
                if found is None:
                    raise SourceUnavailable(f"IMAP {self.settings.host}: appended draft not found")
                ref = f"{folder}/{found[0]}/{found[1]}"
        return Created(ref=ref, fingerprint=draft_fingerprint(data))

    def draft_state(self, key: str, fingerprint: str) -> ObjectState:
        found = self.find_draft(key)
        if found is None:
            return "gone"
        return "untouched" if found.fingerprint == fingerprint else "changed"

    def remove_draft(self, key: str, fingerprint: str) -> bool:
        with self._guard("removing a draft") as client:
            folder = self._drafts_folder(client)
            found = self._locate(client, folder, key, readonly=False)
            if found is None or draft_fingerprint(found[2]) != fingerprint:
                return False
            uid = found[1]
            client.add_flags([uid], [imapclient.DELETED], silent=True)
            if b"UIDPLUS" in self._caps:
                client.uid_expunge([uid])
            else:
                client.expunge()
            return True

    def _drafts_folder(self, client: Any) -> str:
        if self._drafts is None:
            folder = self._special(client, DRAFTS)
            if folder is None:
                folder = DEFAULT_DRAFTS
                client.create_folder(folder)
                self._folder_list = None
            self._drafts = folder
        return self._drafts

    def _locate(
        self, client: Any, folder: str, key: str, *, readonly: bool = True
    ) -> tuple[int, int, bytes] | None:
        """(UIDVALIDITY, UID, message bytes) of the newest draft carrying `key`, or None."""
        try:
            info = self._select(client, folder, readonly=readonly)
        except SourceInvalid:
            if client.folder_exists(folder):
                raise
            # Deleted by the user: no draft is there, and the next create makes the folder.
            self._drafts = None
            self._folder_list = None
            return None
        uids = client.search(["NOT", "DELETED", "HEADER", "Message-ID", draft_message_id(key)])
        if not uids:
            return None
        uid = max(uids)
        data = client.fetch([uid], ["BODY.PEEK[]"]).get(uid, {}).get(b"BODY[]")
        if not isinstance(data, bytes):
            return None  # expunged by another client in between
        return int(info[b"UIDVALIDITY"]), uid, data
