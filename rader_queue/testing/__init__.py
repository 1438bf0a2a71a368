"""Fixtures for tests and benchmarks that run real processes (like ``celery.contrib.testing``)."""
