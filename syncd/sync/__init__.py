"""Sync: one pass over an account's streams, from connector to store, cursor by cursor."""
