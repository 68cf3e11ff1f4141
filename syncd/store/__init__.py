"""The store: SQLAlchemy models, engines, Alembic migrations, and every query and write of
syncd (the modules outside it call these functions; `.importlinter` lists the few that
still hold SQL of their own)."""
