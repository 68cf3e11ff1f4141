"""Evidence from the owner's own history: who they write to, which of their messages a mail
answers.

The header classifier (`syncd.ingest.classify`) judges one message alone. Ingest knows more: the
owner's sent mail. Three rules use it (docs/classify.md):

- mail from an address the owner has written to is a person's, even from a role address or
  a service's domain, unless headers only machines write say otherwise;
- a reply to one of the owner's own messages (In-Reply-To or References naming a message
  the owner sent) is a person's, on the same terms;
- human-looking mail with a hint of automation (a role address, X-Auto-Response-Suppress)
  from a sender the owner never wrote to, answering nothing of theirs, leans to noise.

`weigh` is pure; `load_history` asks the store, set-based over a batch; `apply_owner_history`
is the ingest step that runs both over a prepared batch before it is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from syncd.errors import SyncdError
from syncd.ingest.classify import Classification
from syncd.store.accounts import missing_sqlite_file, owner_id_named
from syncd.store.db import Store
from syncd.store.errors import DatabaseError
from syncd.store.owner_mail import has_sent_mail, sent_message_keys, written_to

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from syncd.ingest.batch import IngestContext, Prepared, _Item

__all__ = [
    "OwnerHistory",
    "Verdict",
    "apply_owner_history",
    "explain_history",
    "load_history",
    "weigh",
    "with_verdict",
]


@dataclass(frozen=True, slots=True)
class OwnerHistory:
    """What the store knows of the owner's sent mail, for the addresses and ids asked."""

    known: bool = False  # the owner has sent mail at all: "never wrote to" means something
    written_to: frozenset[str] = frozenset()
    sent_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: str
    is_interaction: bool
    reason: str


def _answered(c: Classification, history: OwnerHistory) -> str | None:
    if c.in_reply_to is not None and c.in_reply_to in history.sent_ids:
        return c.in_reply_to
    return next((r for r in c.references if r in history.sent_ids), None)


def weigh(c: Classification, history: OwnerHistory) -> Verdict | None:
    """What the owner's history changes about an incoming message, or None."""
    sender = c.from_address
    if c.direction != "in" or sender is None:
        return None
    answered = _answered(c, history)
    evidence = (
        f"answers the owner's message <{answered}>"
        if answered is not None
        else f"the owner has written to {sender}"
        if sender in history.written_to
        else None
    )
    if evidence is not None and c.kind != "human" and c.soft:
        return Verdict("human", c.interaction_if_human, f"{evidence}: a person (not {c.kind})")
    if evidence is not None and c.kind == "human":
        return Verdict("human", c.is_interaction, evidence)
    if evidence is None and c.templated and history.known:
        return Verdict(
            "notification", False, f"templated mail from {sender}, whom the owner never answered"
        )
    return None


def load_history(
    session: Session, owner_id: int, addresses: Iterable[str], message_ids: Iterable[str]
) -> OwnerHistory:
    """The owner's sent mail as far as it concerns `addresses` and `message_ids`."""
    if not has_sent_mail(session, owner_id):
        return OwnerHistory()
    written = written_to(session, owner_id, addresses)
    keys = {"mid:" + m for m in message_ids}
    sent = {k.removeprefix("mid:") for k in sent_message_keys(session, owner_id, keys)}
    return OwnerHistory(True, frozenset(written), frozenset(sent))


def apply_owner_history(session: Session, ctx: IngestContext, prepared: Prepared) -> None:
    """Re-weigh the incoming mail of a prepared batch with the owner's history (the store's
    and this batch's own sent mail), in place, counts by category included."""
    items = prepared.items
    incoming = [i for i in items if i.classification is not None and i.direction == "in"]
    if not incoming:
        return
    addresses: set[str] = set()
    ids: set[str] = set()
    for item in incoming:
        c = item.classification
        assert c is not None
        if c.from_address is not None:
            addresses.add(c.from_address)
        ids.update(c.references)
        if c.in_reply_to is not None:
            ids.add(c.in_reply_to)
    stored = load_history(session, ctx.owner_id, addresses, ids)
    history = _with_batch(stored, items)
    for item in incoming:
        assert item.classification is not None
        verdict = weigh(item.classification, history)
        if verdict is not None and verdict.kind != item.category:
            counts = prepared.by_category
            counts[item.category] -= 1
            counts[verdict.kind] = counts.get(verdict.kind, 0) + 1
        if verdict is not None:
            _apply(item, verdict, ctx.contact_policy)


def _with_batch(stored: OwnerHistory, items: Sequence[_Item]) -> OwnerHistory:
    outgoing = [i for i in items if i.direction == "out" and i.classification is not None]
    if not outgoing:
        return stored
    written = {p.address for i in outgoing for p in i.parties if p.is_counterpart}
    sent = {i.classification.message_id for i in outgoing if i.classification is not None}
    return OwnerHistory(True, stored.written_to | written, stored.sent_ids | {m for m in sent if m})


def _apply(item: _Item, verdict: Verdict, contact_policy: str) -> None:
    item.reasons = f"{verdict.reason}; {item.reasons}" if item.reasons else verdict.reason
    if verdict.kind == item.category:
        return
    c = item.classification
    assert c is not None
    item.category = verdict.kind
    item.is_interaction = verdict.is_interaction
    item.creates_contacts = contact_policy == "all" and verdict.is_interaction
    for p in item.parties:
        if p.role == "from" and not p.is_owner:
            p.is_counterpart = verdict.kind == "human" and p.address == c.from_address
        elif verdict.kind != "human":
            p.is_counterpart = False


def with_verdict(c: Classification, verdict: Verdict | None) -> Classification:
    """`c` as the owner's history has it, the deciding evidence first among the reasons."""
    if verdict is None:
        return c
    human = verdict.kind == "human"
    counterparts = c.counterparts or ((c.from_address,) if human and c.from_address else ())
    return replace(
        c,
        kind=verdict.kind,  # type: ignore[arg-type]
        is_interaction=verdict.is_interaction,
        counterparts=counterparts if human else (),
        reasons=(verdict.reason, *c.reasons),
    )


def explain_history(store_url: str, owner_key: str, c: Classification) -> Verdict | None:
    """For `syncd explain`: what the owner's history in an existing store says about `c`.

    Never creates a store and never fails: without one (or without sent mail in it) the
    message is judged on its headers alone.
    """
    if missing_sqlite_file(store_url):
        return None
    store = Store(store_url)
    try:
        store.check_ready(auto_create=False)
        with store.read_session() as s:
            owner_id = owner_id_named(s, owner_key)
            if owner_id is None:
                return None
            ids = (*c.references, *((c.in_reply_to,) if c.in_reply_to else ()))
            senders = (c.from_address,) if c.from_address else ()
            return weigh(c, load_history(s, owner_id, senders, ids))
    except (SyncdError, DatabaseError):
        return None
    finally:
        store.dispose()
