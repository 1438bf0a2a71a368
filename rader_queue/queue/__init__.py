"""The Celery side of rader-queue: queue names and Redis keys (:mod:`.keys`), the app
(:mod:`.app`), job bookkeeping (:mod:`.jobs`) and idempotent enqueueing (:mod:`.enqueue`)."""
