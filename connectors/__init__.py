"""Connectors: one module per provider, no database access, typed by `connectors.base`."""
