"""From query rows to training data: versioned Tevatron datasets (SQL rows, a JSONL export and
an optional Hugging Face copy) built from a run's ``generated_queries``.

    report = build_dataset("CHAMP-test", "champ-all", BuildOptions(types=("qcot", "qllmq")))
    report.version, report.counts, report.jsonl_path
"""

from rader_queue.training_data.assemble import BuildOptions, BuildReport, build_dataset
from rader_queue.training_data.export import validate_jsonl

__all__ = ["BuildOptions", "BuildReport", "build_dataset", "validate_jsonl"]
