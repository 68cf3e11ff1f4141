"""Find a contact by what a person types: an address, or a name ("Lisa Taylor", "lisa").

An argument with an ``@`` is an address (`resolve_contact`). Anything else is a name: an
exact match (ignoring case) wins; otherwise every contact whose name contains the words is a
candidate. One candidate is the contact; none or several end in `NotFound`, the candidates
listed with their addresses so the next command can name one.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from syncd.contacts import resolve_contact
from syncd.errors import NotFound
from syncd.store.models import Contact, ContactAddress

SHOWN = 10  # candidates listed in the error


def find_contact(session: Session, owner_id: int, text: str) -> Contact:
    """The contact `text` names (an address or a name); NotFound with the candidates."""
    if "@" in text:
        return resolve_contact(session, owner_id, text)
    wanted = " ".join(text.split()).lower()
    if not wanted:
        raise NotFound("an empty name", hint="give a name or an email address")
    by_name = select(Contact).where(Contact.owner_id == owner_id, Contact.name.is_not(None))
    exact = list(session.scalars(by_name.where(func.lower(Contact.name) == wanted)))
    if len(exact) == 1:
        return exact[0]
    found = exact
    if not found:
        words = [w.replace("%", r"\%").replace("_", r"\_") for w in wanted.split()]
        query = by_name
        for word in words:
            query = query.where(func.lower(Contact.name).like(f"%{word}%", escape="\\"))
        found = list(session.scalars(query.order_by(Contact.name, Contact.id).limit(SHOWN + 1)))
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
    address = session.scalar(
        select(ContactAddress.address)
        .where(ContactAddress.contact_id == contact.id)
        .order_by(ContactAddress.address)
        .limit(1)
    )
    return f"{contact.name} <{address}>" if address else str(contact.name)
