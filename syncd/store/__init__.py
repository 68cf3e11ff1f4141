"""The store: SQLAlchemy models, engines and Alembic migrations."""
