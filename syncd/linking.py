"""Attaching stored participations to the contact an address belongs to.

Mail is often stored before its people become contacts (noise policy, an address added to
a contact later): these UPDATEs give those participations their contact. Both keep the
contact statistics (syncd/store/stats.py) right: `link_participants` refreshes the
contact it links to; `link_new_addresses` runs inside ingest, which refreshes the
contacts of every address of its batch. The UPDATEs are in syncd/store/contacts.py.
"""

from __future__ import annotations

from syncd.store.contacts import link_new_addresses, link_participants

__all__ = ["link_new_addresses", "link_participants"]
