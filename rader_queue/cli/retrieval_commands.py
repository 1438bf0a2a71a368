"""``rader-queue corpus …`` and ``rader-queue retrieve``: theorem corpora and retrieval."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from rader_queue.cli.common import console, friendly_errors
from rader_queue.terminal_text import cell, safe_text

corpus_app = typer.Typer(no_args_is_help=True, help="Theorem corpora: embed them into the "
                         "on-disk cache that dense and hybrid retrieval read.")

CorpusArg = Annotated[str, typer.Argument(help="theoremqa, champ, or a path to a .jsonl file with id/text(/title) fields.")]


@corpus_app.command("embed")
@friendly_errors
def embed(
    corpus: CorpusArg,
    model: Annotated[Optional[str], typer.Option(help="Embedder: all-MiniLM-L6-v2 (bundled, offline), a Hugging Face name or a local folder (default RADER_EMBEDDER_MODEL).")] = None,
    shards: Annotated[int, typer.Option(min=1, help="Number of shards; each is one task and one .npy file.")] = 1,
    enqueue: Annotated[bool, typer.Option("--enqueue/--in-process", help="Send one task per shard to the embed queue instead of embedding here.")] = False,
) -> None:
    """Embed every passage of CORPUS with the configured embedder and store the vectors in
    RADER_CACHE_DIR, keyed by the embedder's settings and the corpus content.

    Shards already stored are skipped, so the command is safe to repeat. With --enqueue, embed
    workers (``rader-queue worker -Q embed``) do the work; they must see the same corpus
    path, cache directory and embedder settings."""
    from rader_queue.retrieval.corpus import load_corpus

    docs = load_corpus(corpus)
    if enqueue:
        from rader_queue.queue.model_jobs import enqueue_model_jobs

        report = enqueue_model_jobs("embed", [
            (f"{docs.name}:{shard}/{shards}", {"corpus": corpus, "shard": shard,
                                               "num_shards": shards, "model": model})
            for shard in range(shards)], label=docs.name)
        console.print(f"enqueued {report.jobs_new} new embed job(s) of {shards} for {docs.name} "
                      f"({len(docs)} docs); `rader-queue status {report.run}` follows them")
        return

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from rader_queue.llm.embedder import embedder_from_settings
    from rader_queue.retrieval.embedding_cache import cache_folder, embed_shard

    embedder = embedder_from_settings(model=model)
    cached = 0
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task(f"embedding {docs.name}", total=len(docs))
        for shard in range(shards):
            result = embed_shard(docs, embedder, shard, shards)
            cached += result.cached
            progress.advance(task, result.docs)
    console.print(f"{len(docs)} docs in {shards} shard(s) ({cached} already cached) → "
                  f"{cache_folder(docs, embedder)}", highlight=False)


@friendly_errors
def retrieve(
    corpus: CorpusArg,
    query: Annotated[str, typer.Argument(help="The query text.")],
    retriever: Annotated[str, typer.Option(help="bm25, dense or hybrid.")] = "dense",
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Number of results.")] = 5,
    alpha: Annotated[float, typer.Option(min=0.0, max=1.0, help="Dense weight of hybrid fusion: S = α·z(dense) + (1−α)·z(bm25).")] = 0.5,
    exclude: Annotated[Optional[list[str]], typer.Option(help="Document id to leave out (repeatable).")] = None,
) -> None:
    """Search CORPUS for QUERY and print the top k theorems with their scores. Dense and hybrid
    retrieval embed the corpus first if it is not cached yet."""
    from rader_queue.retrieval import load_corpus, make_retriever

    index = make_retriever(retriever, load_corpus(corpus), alpha=alpha)
    table = Table("rank", "doc id", "score", "title", "text",
                  title=safe_text(f"{retriever}: {query}", one_line=True))
    for rank, (doc_id, score) in enumerate(index.search(query, k, exclude or ()), 1):
        title, text = index.document(doc_id)
        table.add_row(str(rank), cell(doc_id), f"{score:.4f}", cell(title, limit=40),
                      cell(text, limit=80))
    console.print(table)
