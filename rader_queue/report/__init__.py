"""Static HTML reports of a rader-queue run (``rader-queue report RUN --out DIR``).

Built from the SQL store alone: run overview and cost ledger, one page per problem with its
collapsible MCTS tree, dataset samples, and matplotlib charts. See :mod:`.build`."""

from rader_queue.report.build import BuildResult, build_report

__all__ = ["BuildResult", "build_report"]
