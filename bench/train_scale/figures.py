"""Step figures: the measured bf16 peak, samples/tokens per second, MFU and peak memory."""

from __future__ import annotations

import gc

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


_peak_last = [0]


def _track_peak(device: str):
    """Record the run's peak before train()'s tensors are freed (read at the last step)."""
    _peak_last[0] = _peak(device)
