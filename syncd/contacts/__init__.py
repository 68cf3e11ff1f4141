"""Contacts: their histories, listing, lookup and the vCard import."""
