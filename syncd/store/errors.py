"""The store's failures as the rest of syncd names them, so that no module outside
`syncd.store` imports SQLAlchemy to catch them."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError, SQLAlchemyError

# Any failure of the database or of the driver under it.
DatabaseError = SQLAlchemyError

__all__ = ["DatabaseError", "refusal_detail"]


def refusal_detail(exc: BaseException) -> str | None:
    """The first line of what the database said when it refused or did not answer
    (an OperationalError); None for any other exception."""
    if not isinstance(exc, OperationalError):
        return None
    return str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
