"""The MCTS stage around the pure core: per-process resources, solving one problem as a job,
and the search tree in SQL (write, read back, print)."""
