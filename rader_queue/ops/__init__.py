"""Operations: Prometheus metrics of workers (:mod:`rader_queue.ops.metrics`), this process's
live LLM counters (:mod:`rader_queue.ops.live_llm`), the event-loop lag monitor
(:mod:`rader_queue.ops.loop_lag`) and the Flower launcher (:mod:`rader_queue.ops.flower`).
This package imports nothing of the queue or the model clients: they report to it.
Deployment files live at the repository root (``Dockerfile``, ``docker-compose.yml``); the
scale-out guide is ``docs/scale-out.md``."""
