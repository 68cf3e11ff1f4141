"""The outbox: what the rules plan becomes actions, and actions become drafts and holds."""
