"""From stored MCTS trees to query rows (``generated_queries``): trajectory extraction, the four
query types (qcot, qquestion, qllmq, qlexical) and the relevance judge of generated queries.

    enqueue_querygen(run, QuerygenOptions(types=("qcot", "qllmq"), judge=True))   # queued
    run_local(run, QuerygenOptions())                                             # in-process

The rows are assembled into versioned Tevatron datasets by :mod:`rader_queue.training_data`.
"""

from rader_queue.querygen.enqueue import QuerygenReport, enqueue_querygen
from rader_queue.querygen.local import LocalReport, run_local
from rader_queue.querygen.options import (LLM_TYPES, QUERY_TYPES, STATIC_TYPES, QuerygenOptions,
                                          derive_seed, parse_types)
from rader_queue.querygen.samples import Sample, extract_samples, load_samples

__all__ = ["LLM_TYPES", "LocalReport", "QUERY_TYPES", "QuerygenOptions", "QuerygenReport",
           "STATIC_TYPES", "Sample", "derive_seed", "enqueue_querygen", "extract_samples",
           "load_samples", "parse_types", "run_local"]
