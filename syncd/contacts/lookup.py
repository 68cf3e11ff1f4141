"""Find a contact by what a person types: an address, or a name ("Lisa Taylor", "lisa").

An argument with an ``@`` is an address (`resolve_contact`). Anything else is a name: an
exact match (ignoring case) wins; otherwise every contact whose name contains the words is a
candidate. One candidate is the contact; none or several end in `NotFound`, the candidates
listed with their addresses so the next command can name one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncd.contacts.views import resolve_contact
from syncd.errors import NotFound
from syncd.store.contacts import contacts_named, contacts_named_like, first_address_by_name

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from syncd.store.models import Contact

SHOWN = 10  # candidates listed in the error


def find_contact(session: Session, owner_id: int, text: str) -> Contact:
    """The contact `text` names (an address or a name); NotFound with the candidates."""
    if "@" in text:
        return resolve_contact(session, owner_id, text)
    wanted = " ".join(text.split()).lower()
    if not wanted:
        raise NotFound("an empty name", hint="give a name or an email address")
    exact = contacts_named(session, owner_id, wanted)
    if len(exact) == 1:
        return exact[0]
    found = exact
    if not found:
        found = contacts_named_like(session, owner_id, wanted.split(), SHOWN + 1)
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFound(
            f"no contact named {text!r}",
            hint="`syncd contacts list --sort name` shows every contact; give an address"
            " for someone who is not a contact",
        )
    shown = ", ".join(_label(session, c) for c in found[:SHOWN])
    more = " and more" if len(found) > SHOWN else ""
    raise NotFound(
        f"{text!r} matches several contacts: {shown}{more}",
        hint="give one of the addresses",
    )


def _label(session: Session, contact: Contact) -> str:
    address = first_address_by_name(session, contact.id)
    return f"{contact.name} <{address}>" if address else str(contact.name)
