"""Encoding throughput of the 7B retriever over a BRIGHT-like corpus and exact top-k search."""

from __future__ import annotations

import contextlib
import math
import random
import time
from pathlib import Path

from .figures import matmul_peak
from .synthetic import _text, _words, random_weights


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
