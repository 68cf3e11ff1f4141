"""syncd: keeps a professional's relationships alive from their own mail and calendars."""

__version__ = "0.1.0"
