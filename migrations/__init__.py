"""Alembic migrations of the SQL store.

They live at the repository's top level (``alembic upgrade head`` works from a checkout) and are
also the package ``rader_queue.migrations`` (``rader_queue/migrations`` links here), so the wheel
ships them and ``rader-queue db upgrade`` finds them wherever rader-queue is installed."""
