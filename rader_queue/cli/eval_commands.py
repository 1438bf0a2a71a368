"""``rader-queue eval …``: score retrievers on CHAMP or BRIGHT and compare them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from rader_queue.cli.common import console, friendly_errors
from rader_queue.terminal_text import escaped

eval_app = typer.Typer(no_args_is_help=True, help="Evaluate retrievers (nDCG@10, Recall, MAP, "
                       "MRR via pytrec_eval) and compare them; results live in eval_results.")


@eval_app.command("run")
@friendly_errors
def run(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Checkpoint folder, checkpoint name from `rader-queue train`, hub model id, or 'bm25'.")],
    benchmark: Annotated[str, typer.Option("--benchmark", "-b", help="champ, champ:train, champ:test, bright:<task>[:gpt4] (hub), or a BRIGHT-layout folder (documents.jsonl + examples.jsonl).")] = "champ",
    hybrid_alpha: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="Fuse with BM25: alpha·z(dense) + (1-alpha)·z(bm25), per query.")] = None,
    rerank_k: Annotated[int, typer.Option(min=0, help="LLM-rerank the top K per query with the configured generator (0: off).")] = 0,
    rerank_weight: Annotated[float, typer.Option(min=0.0, max=1.0, help="Weight of the LLM rating (0-5 → 0-1) against the normalised retrieval score.")] = 0.5,
    depth: Annotated[int, typer.Option(min=1, help="Documents kept per query.")] = 1000,
    query_prefix: Annotated[Optional[str], typer.Option(help="Override the checkpoint's query prefix.")] = None,
    passage_prefix: Annotated[Optional[str], typer.Option(help="Override the checkpoint's passage prefix.")] = None,
    query_max_len: Annotated[Optional[int], typer.Option(min=8, help="Query token limit (default: the model's own: a base model's max_seq_length, a checkpoint's trained limit).")] = None,
    passage_max_len: Annotated[Optional[int], typer.Option(min=8, help="Passage token limit (default: the model's own, as for queries).")] = None,
    bm25_stopwords: Annotated[bool, typer.Option("--bm25-stopwords/--no-bm25-stopwords", help="BM25 (model 'bm25' and hybrids) drops rader-queue's small English stop-word list; off by default: every token kept, scores equal plain rank_bm25.")] = False,
    instructions: Annotated[bool, typer.Option("--instructions/--no-instructions", help="Put BRIGHT's per-split instruction in front of each query (instruction-tuned retrievers; off for MiniLM).")] = False,
    rerank_model: Annotated[Optional[str], typer.Option(help="Model of the LLM reranker on the generator endpoint (default: RADER_LLM_MODEL).")] = None,
    preset: Annotated[Optional[str], typer.Option("--preset", help="rader-paper or laptop: the preset's evaluation values for every option not given here.")] = None,
    precision: Annotated[str, typer.Option(help="GPU encoding precision: bf16 (fastest), fp16 or fp32 (fp16/fp32 match the CPU's scores; the CPU always uses fp32).")] = "bf16",
    out_dir: Annotated[Optional[Path], typer.Option(help="Where score files go (default outputs/eval).")] = None,
    enqueue: Annotated[bool, typer.Option("--enqueue/--local", help="Send a task to the eval queue, or evaluate here (default).")] = False,
) -> None:
    """Evaluate MODEL on a benchmark; metrics are printed and stored in SQL (same model,
    benchmark and settings → the same row, so repeating is safe)."""
    from rader_queue.evaluation.runner import EvalConfig, run_eval

    values = dict(benchmark=benchmark, rerank_k=rerank_k, rerank_weight=rerank_weight,
                  query_max_len=query_max_len, passage_max_len=passage_max_len,
                  bm25_stopwords=bm25_stopwords, instructions=instructions, rerank_model=rerank_model)
    if preset:
        from rader_queue.presets import explicit, get_preset

        wanted = get_preset(preset).eval.model_dump()
        given = explicit(ctx, list(values))
        values = {k: v if k in given else wanted[k] for k, v in values.items()}
        benchmark = values["benchmark"]
    cfg = EvalConfig(model=model, depth=depth, hybrid_alpha=hybrid_alpha, query_prefix=query_prefix,
                     passage_prefix=passage_prefix, preset=preset, precision=precision, **values)
    if enqueue:
        from rader_queue.queue.model_jobs import enqueue_model_jobs

        report = enqueue_model_jobs("eval", [(f"{model}@{benchmark}", {
            "config": cfg.model_dump(mode="json"), "out_dir": str(out_dir) if out_dir else None})])
        console.print(f"enqueued evaluation of [bold]{escaped(model)}[/] on {escaped(benchmark)} "
                      f"(job {report.job_ids[0]}); `rader-queue status {escaped(report.run)}` "
                      "follows it")
        return
    with console.status(f"evaluating {model} on {benchmark}"):
        outcome = run_eval(cfg, out_dir=out_dir)
    table = Table(title=f"{model} on {outcome.benchmark}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("ndcg_cut_10", "recall_10", "recall_100", "map", "mrr_10", "P_10"):
        if key in outcome.metrics:
            table.add_row(key, f"{outcome.metrics[key]:.4f}")
    console.print(table)
    console.print(f"scores: {outcome.score_path}  (eval id {outcome.eval_id}, "
                  f"{len(outcome.per_query)} queries)", highlight=False)


@eval_app.command("compare")
@friendly_errors
def compare(
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="Only these models (repeatable).")] = None,
    benchmark: Annotated[Optional[list[str]], typer.Option("--benchmark", "-b", help="Only these benchmarks (repeatable).")] = None,
) -> None:
    """Models × benchmarks table of nDCG@10 and Recall@10 (latest result of each pair)."""
    from rader_queue.evaluation.compare import collect, render

    data = collect(models=model, benchmarks=benchmark)
    if not data:
        console.print("no evaluation results yet: run `rader-queue eval run MODEL --benchmark champ`")
        return
    console.print(render(data))
