"""The SQL store: schema (:mod:`.models`), engine and sessions (:mod:`.db`), idempotent writes."""

from rader_queue.store.db import (engine_for, insert_ignore, session_scope, sessionmaker_for,
                                  upgrade)

__all__ = ["engine_for", "insert_ignore", "session_scope", "sessionmaker_for", "upgrade"]
