"""Kept for deployments that import it; the Celery tasks are defined from the stage registry
(:mod:`rader_queue.queue.stages`) by :mod:`rader_queue.queue.stage_tasks`."""
