"""Ingest: a connector's batch becomes interactions, sources, participants, contacts."""
