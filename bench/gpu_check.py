"""GPU check of the train and eval workers, in three steps run on two machines.

    python bench/gpu_check.py prepare --dataset data.jsonl      # here: fills .gpu/ (git-ignored)
    python bench/gpu_check.py device --out OUT                  # on the GPU machine, from the repo
    python bench/gpu_check.py compare --gpu-results DIR         # here again: CPU vs GPU table

``prepare`` writes what the GPU machine lacks into ``.gpu/``: the default MiniLM in fp16, the
training JSONL, CHAMP's test half as a BRIGHT-layout benchmark folder, and wheels of the pure
dependencies the GPU image does not carry. ``device`` runs, with real rader-queue code paths:

  eval-base      the base model on CHAMP-test (encoding under bf16 autocast, exact GPU search)
  train-1gpu     LoRA contrastive training through ``rader_queue.train.launch`` on 1 GPU, batches
                 built by ``--workers`` DataLoader workers (and again in the loop, "-inline")
  eval-trained   the 1-GPU checkpoint on CHAMP-test
  train-2gpu     the same job on 2 GPUs (torchrun, DDP, per-device batch halved: same global
                 batch), in-batch negatives gathered across ranks
  exact-1/2gpu   dropout 0 and fp32 for a few steps on 1 and 2 GPUs: the same global batch must
                 give the same loss at every step
  zero3-2gpu     the same job under DeepSpeed ZeRO-3 on 2 GPUs, when deepspeed imports
  gather-test    tests/train/test_loss.py on the GPUs (NCCL): logits width = world × local

Everything lands in OUT/gpu_check.json with the trained adapter; ``compare`` evaluates that
adapter and the base model on the CPU here and prints both machines' metrics side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, installed or not
GPU_DIR = ROOT / ".gpu"
WHEELS = ["pydantic", "pydantic-core", "pydantic-settings", "python-dotenv", "sqlalchemy",
          "greenlet", "typing-inspection", "annotated-types", "rank_bm25", "pytrec-eval-terrier",
          "hjson", "alembic", "mako", "markupsafe", "typing-extensions"]
# NVLink multicast stays off on shared GPU hosts (the lent machines set these; a host that does
# not gets them from here, for every process this script starts).
NO_MULTICAST = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1",
                "NVSHMEM_DISABLE_NVLS": "1"}
TRAIN = dict(train_group_size=4, per_device_batch_size=32, query_max_len=256, passage_max_len=256,
             learning_rate=1e-4, warmup_ratio=0.1, temperature=0.01, seed=7, pooling="mean",
             query_prefix="", passage_prefix="", save_merged=True)


def prepare(args) -> None:
    from rader_queue.evaluation.benchmarks import load_benchmark
    from rader_queue.train.model import load_tokenizer, resolve_model_path
    from transformers import AutoModel

    GPU_DIR.mkdir(exist_ok=True)
    model_dir = GPU_DIR / "minilm-fp16"
    src = resolve_model_path("all-MiniLM-L6-v2")
    AutoModel.from_pretrained(src).half().save_pretrained(model_dir)
    load_tokenizer(src).save_pretrained(model_dir)
    (GPU_DIR / "train.jsonl").write_bytes(Path(args.dataset).read_bytes())
    bench = load_benchmark("champ:test")
    folder = GPU_DIR / "champ-test"
    folder.mkdir(exist_ok=True)
    with open(folder / "documents.jsonl", "w") as f:
        for doc in bench.docs:
            f.write(json.dumps({"id": doc.doc_id, "content": doc.text}) + "\n")
    with open(folder / "examples.jsonl", "w") as f:
        for qid, query in bench.queries.items():
            f.write(json.dumps({"id": qid, "query": query, "gold_ids": sorted(bench.qrels.get(qid, {})),
                                "excluded_ids": bench.excluded.get(qid, [])}) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
                    "--python-version", "3.12", "--platform", "manylinux2014_x86_64",
                    "--platform", "manylinux_2_28_x86_64", "--no-deps", "-d",
                    str(GPU_DIR / "wheels"), *WHEELS], check=True)
    size = sum(p.stat().st_size for p in GPU_DIR.rglob("*") if p.is_file())
    print(f"prepared {GPU_DIR} ({size / 2**20:.1f} MiB)")


# ------------------------------------------------------------------------------ on the GPU ---
def _launch(name: str, out: Path, gpus: int, train: dict, timeout: int = 400) -> dict:
    run = {"dataset": str(GPU_DIR / "train.jsonl"), "output_dir": str(out / name), "train": train}
    config = out / f"{name}.json"
    config.write_text(json.dumps(run))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}", "-m",
           "rader_queue.train.launch", "--config", str(config)]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    (out / f"{name}.log").write_text(proc.stdout[-20000:] + "\n" + proc.stderr[-20000:])
    if proc.returncode != 0:
        return {"error": proc.stderr[-1500:], "wall_s": round(time.monotonic() - started, 1)}
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    batch = train["per_device_batch_size"] * gpus
    summary |= {"gpus": gpus, "global_batch": batch, "wall_s": round(time.monotonic() - started, 1),
                "steps_per_s": round(summary["steps"] / summary["loop_seconds"], 3),
                "samples_per_s": round(summary["steps"] * batch / summary["loop_seconds"], 1)}
    return summary


def _eval(model: str, out: Path) -> dict:
    from rader_queue.evaluation.runner import EvalConfig, run_eval

    started = time.monotonic()
    outcome = run_eval(EvalConfig(model=model, benchmark=str(GPU_DIR / "champ-test"), depth=100),
                       out_dir=out / "scores", record=True)
    return {"metrics": {k: round(v, 6) for k, v in outcome.metrics.items()},
            "seconds": round(time.monotonic() - started, 2)}


def device(args) -> None:
    import torch

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for key, value in NO_MULTICAST.items():
        os.environ[key] = value
    os.environ.setdefault("RADER_DATABASE_URL", f"sqlite:///{out / 'gpu.db'}")
    os.environ.setdefault("RADER_CACHE_DIR", str(out / "cache"))
    from rader_queue.store import upgrade

    upgrade(os.environ["RADER_DATABASE_URL"])
    gpus = torch.cuda.device_count() if args.ranks is None else args.ranks
    model = str(GPU_DIR / "minilm-fp16")
    report: dict = {"device": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
                    or ["cpu"],
                    "torch": torch.__version__, "steps": args.steps}
    save = lambda: (out / "gpu_check.json").write_text(json.dumps(report, indent=1))  # noqa: E731
    train = dict(TRAIN, base_model=model, max_steps=args.steps, per_device_batch_size=args.batch,
                 dataloader_workers=args.workers)
    inline = dict(train, dataloader_workers=0)
    report["dataloader_workers"] = args.workers
    report["eval-base"] = _eval(model, out)
    save()
    report["train-1gpu"] = _launch("train-1gpu", out, 1, train)
    save()
    if args.workers:
        report["train-1gpu-inline"] = _launch("train-1gpu-inline", out, 1, inline)
        save()
    if "adapter_path" in report["train-1gpu"]:
        report["eval-trained"] = _eval(str(out / "train-1gpu"), out)
        save()
    if gpus >= 2:
        half = dict(train, per_device_batch_size=train["per_device_batch_size"] // 2)
        report["train-2gpu"] = _launch("train-2gpu", out, 2, half)
        save()
        if args.workers:
            report["train-2gpu-inline"] = _launch("train-2gpu-inline", out, 2, dict(
                half, dataloader_workers=0))
            save()
        exact = dict(train, max_steps=args.exact_steps, dropout=0.0, lora_dropout=0.0, bf16=False,
                     save_merged=False)
        report["exact-1gpu"] = _launch("exact-1gpu", out, 1, exact)
        report["exact-2gpu"] = _launch("exact-2gpu", out, 2, dict(
            exact, per_device_batch_size=exact["per_device_batch_size"] // 2))
        save()
        try:
            import deepspeed  # noqa: F401
            report["zero3-2gpu"] = _launch("zero3-2gpu", out, 2, dict(half, deepspeed="zero3"))
        except Exception as exc:  # noqa: BLE001 - reported, not hidden
            report["zero3-2gpu"] = {"error": f"deepspeed not usable here: {exc!r}"[:500]}
        save()
    test = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/train/test_loss.py"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    report["gather-test"] = {"rc": test.returncode, "tail": test.stdout[-1500:]}
    save()
    print(json.dumps(report, indent=1)[-6000:])


# ---------------------------------------------------------------------------- back here ---
def _curve_gap(a: dict, b: dict) -> dict:
    la, lb = dict(map(tuple, a.get("losses", []))), dict(map(tuple, b.get("losses", [])))
    common = sorted(set(la) & set(lb))
    if not common:
        return {}
    gaps = [abs(la[s] - lb[s]) for s in common]
    tail = common[-min(50, len(common)):]
    mean = lambda d: sum(d[s] for s in tail) / len(tail)  # noqa: E731
    return {"steps": len(common), "max_abs": max(gaps), "mean_abs": sum(gaps) / len(gaps),
            "tail_mean_a": mean(la), "tail_mean_b": mean(lb),
            "tail_rel": abs(mean(la) - mean(lb)) / max(1e-9, mean(lb))}


def compare(args) -> None:
    from rader_queue.evaluation.runner import EvalConfig, run_eval

    folder = Path(args.gpu_results)
    report = json.loads((folder / "gpu_check.json").read_text())
    cpu = {}
    for label, model in (("base", str(GPU_DIR / "minilm-fp16")),
                         ("trained", str(folder / "train-1gpu" / "adapter"))):
        if Path(model).exists():
            outcome = run_eval(EvalConfig(model=model, benchmark=str(GPU_DIR / "champ-test"),
                                          depth=100), record=False)
            cpu[label] = outcome.metrics
    print(f"device: {report['device']} · torch {report['torch']}\n")
    print(f"{'model':<8} {'metric':<14} {'GPU (bf16)':>11} {'CPU (fp32)':>11} {'|diff|':>8}")
    for label, key in (("base", "eval-base"), ("trained", "eval-trained")):
        gpu = report.get(key, {}).get("metrics", {})
        for metric in ("ndcg_cut_10", "recall_10", "recip_rank"):
            if metric in gpu and metric in cpu.get(label, {}):
                g, c = gpu[metric], cpu[label][metric]
                print(f"{label:<8} {metric:<14} {g:>11.4f} {c:>11.4f} {abs(g - c):>8.4f}")
    print(f"\n{'run':<12} {'gpus':>4} {'batch':>5} {'steps':>5} {'steps/s':>8} {'samples/s':>9} "
          f"{'first loss':>10} {'final loss':>10}")
    for key in ("train-1gpu", "train-2gpu", "train-1gpu-inline", "train-2gpu-inline",
                "zero3-2gpu", "exact-1gpu", "exact-2gpu"):
        r = report.get(key)
        if not r:
            continue
        if "error" in r:
            print(f"{key:<12} error: {r['error'][-300:]}")
            continue
        print(f"{key:<12} {r['gpus']:>4} {r['global_batch']:>5} {r['steps']:>5} "
              f"{r['steps_per_s']:>8.2f} {r['samples_per_s']:>9.1f} {r['losses'][0][1]:>10.4f} "
              f"{r['final_loss']:>10.4f}")
    for a, b in (("train-2gpu", "train-1gpu"), ("zero3-2gpu", "train-1gpu"),
                 ("exact-2gpu", "exact-1gpu")):
        if "losses" in report.get(a, {}) and "losses" in report.get(b, {}):
            gap = _curve_gap(report[a], report[b])
            print(f"{a} vs {b}: max |Δloss| {gap['max_abs']:.4g}, mean {gap['mean_abs']:.4g} over "
                  f"{gap['steps']} steps; last-50 mean {gap['tail_mean_a']:.4f} vs "
                  f"{gap['tail_mean_b']:.4f} ({100 * gap['tail_rel']:.2f} %)")
    workers = report.get("dataloader_workers", 0)
    for suffix, how in (("", f"{workers} dataloader workers per rank"),
                        ("-inline", "batches built in the loop")):
        r1, r2 = report.get(f"train-1gpu{suffix}", {}), report.get(f"train-2gpu{suffix}", {})
        if "steps_per_s" in r1 and "steps_per_s" in r2:
            print(f"scaling, {how} (same global batch): 2-GPU steps/s ÷ 1-GPU = "
                  f"{r2['steps_per_s'] / r1['steps_per_s']:.2f}")
    for gpus in ("1gpu", "2gpu"):
        a, b = report.get(f"train-{gpus}", {}), report.get(f"train-{gpus}-inline", {})
        if "steps_per_s" in a and "steps_per_s" in b:
            print(f"{gpus}: dataloader workers ÷ in-loop steps/s = "
                  f"{a['steps_per_s'] / b['steps_per_s']:.2f}")
    print(f"\ngather test on the GPUs: rc={report['gather-test']['rc']} "
          f"{report['gather-test']['tail'].strip().splitlines()[-1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--dataset", required=True, help="Tevatron JSONL built by the pipeline")
    d = sub.add_parser("device")
    d.add_argument("--out", required=True)
    d.add_argument("--steps", type=int, default=300)
    d.add_argument("--exact-steps", type=int, default=20)
    d.add_argument("--batch", type=int, default=32, help="global batch (per device on 1 GPU)")
    d.add_argument("--workers", type=int, default=2,
                   help="dataloader workers per rank (0: in-loop only; otherwise the in-loop "
                        "runs are repeated for comparison)")
    d.add_argument("--ranks", type=int, default=None,
                   help="processes for the multi-rank runs (default: the GPU count; on a CPU, "
                        "e.g. --ranks 2 --batch 4 --steps 2 smoke-tests the script with gloo)")
    c = sub.add_parser("compare")
    c.add_argument("--gpu-results", required=True)
    args = parser.parse_args()
    {"prepare": prepare, "device": device, "compare": compare}[args.cmd](args)


if __name__ == "__main__":
    main()
