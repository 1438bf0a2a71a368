"""Celery task modules, one per stage. Each task is thin: decode its arguments, call the
rader_queue library, persist through :func:`rader_queue.queue.job_runner.execute`."""
