"""Operations: Prometheus metrics of workers (:mod:`rader_queue.ops.metrics`) and the Flower
launcher (:mod:`rader_queue.ops.flower`). Deployment files live at the repository root
(``Dockerfile``, ``docker-compose.yml``); the scale-out guide is ``docs/scale-out.md``."""
