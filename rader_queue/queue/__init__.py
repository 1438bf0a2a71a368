"""The Celery side of rader-queue: queue names and Redis keys (:mod:`.keys`), the app
(:mod:`.app`), job bookkeeping (:mod:`.jobs`), idempotent enqueueing (:mod:`.enqueue`), and what
a worker process adds to its tasks (:mod:`.worker_hooks`: metrics, queue depth, watchdog,
reconciler)."""
