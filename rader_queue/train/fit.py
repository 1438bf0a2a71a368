"""Arithmetic for training a decoder-shaped retriever: parameter counts, FLOPs per step and an
estimate of the peak GPU memory, made from the model's configuration alone (nothing is loaded).

The train worker calls :func:`check_fits` before it loads a model, so a configuration that
cannot fit the GPU is refused in a second with a message naming the numbers, instead of after
minutes of loading and an out-of-memory error.

FLOPs follow the usual dense-transformer count: a forward pass costs 2 FLOPs per parameter per
token (embedding lookups excluded) plus the attention scores and weighted sums, 4·s·h per token
and layer for a sequence of s tokens (halved for a causal mask: only the lower triangle is
computed by fused kernels). "Model FLOPs" (what MFU is reported against) are 6·N·T for T tokens:
forward + backward, as if every weight were trained, without recomputation; "hardware FLOPs"
are what the run really executes (LoRA: no weight gradients for the frozen base; gradient
checkpointing: one forward pass again).

The memory model was calibrated on one H200 with a Qwen2-shaped 6.6B model (rader-queue's
trainer, LoRA on all linear layers, bf16, sdpa): activations per token of ~2·(10·h + 6·i) bytes
per layer without checkpointing, and with checkpointing the layer boundaries (2·h bytes per
layer) plus 1.6 layers' worth for the layer being recomputed and its gradients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rader_queue.errors import ConfigError

GIB = 2 ** 30
# allocator slack, CUDA context and kernels' workspaces (measured: ~1.5 GiB on an H200)
OVERHEAD_BYTES = 2 * GIB
# the estimate came within -4 %..+35 % of the measured peaks (bench/results/): refuse only what
# exceeds the free memory even after a 5 % allowance for under-estimates
MARGIN = 0.05


@dataclass(frozen=True)
class ModelShape:
    """What the arithmetic needs from a transformer's configuration."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    vocab: int
    qkv_bias: bool = True
    tied_embeddings: bool = False

    @classmethod
    def from_config(cls, config: Any) -> ModelShape:
        """From a ``transformers`` config object or its ``config.json`` dict (Llama/Qwen/Mistral
        names, with BERT's names as a fallback)."""
        get = config.get if isinstance(config, dict) else (lambda k, d=None: getattr(config, k, d))
        hidden = get("hidden_size")
        layers = get("num_hidden_layers")
        if not hidden or not layers:
            raise ConfigError("model config: needs hidden_size and num_hidden_layers")
        heads = get("num_attention_heads") or max(1, hidden // 128)
        model_type = get("model_type") or ""
        return cls(layers=int(layers), hidden=int(hidden),
                   intermediate=int(get("intermediate_size") or 4 * hidden), heads=int(heads),
                   kv_heads=int(get("num_key_value_heads") or heads), vocab=int(get("vocab_size") or 0),
                   qkv_bias=model_type in ("qwen2", "bert", "roberta", "xlm-roberta"),
                   tied_embeddings=bool(get("tie_word_embeddings", False)))

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def layer_params(self) -> int:
        """Weights of one decoder layer: attention (grouped K/V), gated MLP, two norms."""
        h, kv = self.hidden, self.kv_heads * self.head_dim
        attn = h * h + 2 * h * kv + h * h + ((h + 2 * kv) if self.qkv_bias else 0)
        mlp = 3 * h * self.intermediate
        return attn + mlp + 2 * h

    def body_params(self) -> int:
        """Parameters that take part in matrix products (all but the embedding table)."""
        return self.layers * self.layer_params() + self.hidden

    def total_params(self) -> int:
        return self.body_params() + self.vocab * self.hidden

    def lora_params(self, r: int, targets: tuple[str, ...] = (
            "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")) -> int:
        """LoRA A (r × in) and B (out × r) for each targeted linear layer of every layer."""
        h, i, kv = self.hidden, self.intermediate, self.kv_heads * self.head_dim
        shapes = {"q_proj": (h, h), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (h, h),
                  "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}
        return self.layers * sum(r * (a + b) for name, (a, b) in shapes.items() if name in targets)


# ------------------------------------------------------------------------------- FLOPs ---
def attention_flops(shape: ModelShape, seq_len: int, *, causal: bool = True) -> float:
    """Forward FLOPs of attention scores and weighted sums, per token over all layers."""
    per_token_layer = 4 * seq_len * shape.hidden
    return shape.layers * per_token_layer * (0.5 if causal else 1.0)


def model_flops(shape: ModelShape, tokens: int) -> float:
    """6·N·T: the step as if every weight were trained, no recomputation (the MFU count)."""
    return 6.0 * shape.body_params() * tokens


def hardware_flops(shape: ModelShape, seqs: list[tuple[int, int]], *, lora: bool,
                   checkpointing: bool, trainable_layers: int | None = None) -> float:
    """FLOPs the step executes for ``seqs`` = [(sequences, padded length), ...]: forward, the
    backward's activation gradients (and weight gradients where weights train), one more
    forward for checkpointed layers. LoRA's own small products are left out (< 1 %)."""
    total = 0.0
    for count, length in seqs:
        tokens = count * length
        lin = 2.0 * shape.body_params() * tokens
        att = attention_flops(shape, length) * tokens
        fwd = lin + att
        if trainable_layers:  # backward only through the last layers, with their weight grads
            frac = trainable_layers / shape.layers
            back = frac * (2 * lin + 2 * att)
            redo = frac * fwd if checkpointing else 0.0
        else:
            back = (lin if lora else 2 * lin) + 2 * att
            redo = fwd if checkpointing else 0.0
        total += fwd + back + redo
    return total


# ------------------------------------------------------------------------------ memory ---
@dataclass(frozen=True)
class MemoryEstimate:
    weights: int
    trainable: int  # gradients + AdamW states of the trained parameters
    activations: int
    overhead: int = OVERHEAD_BYTES

    @property
    def total(self) -> int:
        return self.weights + self.trainable + self.activations + self.overhead

    def describe(self) -> str:
        return (f"{self.total / GIB:.1f} GiB (weights {self.weights / GIB:.1f}, gradients+optimizer "
                f"{self.trainable / GIB:.1f}, activations {self.activations / GIB:.1f}, "
                f"overhead {self.overhead / GIB:.1f})")


def activation_bytes_per_token(shape: ModelShape, *, checkpointing: bool,
                               trainable_layers: int | None = None) -> float:
    layer = 2.0 * (10 * shape.hidden + 6 * shape.intermediate)
    if checkpointing:
        kept = trainable_layers or shape.layers
        return 2.0 * shape.hidden * kept + 1.6 * layer
    return layer * (trainable_layers or shape.layers)


def estimate_memory(shape: ModelShape, *, tokens: int, lora: bool, lora_r: int = 16,
                    checkpointing: bool, bf16: bool = True,
                    trainable_layers: int | None = None) -> MemoryEstimate:
    """Peak bytes of one training micro-step over ``tokens`` padded tokens (queries and
    passages together), as rader-queue's trainer runs it: LoRA loads the base in bf16 with
    fp32 adapters; full fine-tuning loads fp32 weights and autocasts (bf16 copies of the
    weights are cached during the forward pass)."""
    n = shape.total_params()
    if lora:
        weights = 2 * n if bf16 else 4 * n
        trained = shape.lora_params(lora_r)
    else:
        weights = (4 + (2 if bf16 else 0)) * n
        trained = trainable_layers * shape.layer_params() if trainable_layers else n
    trainable = 12 * trained  # fp32 gradient + AdamW exp_avg + exp_avg_sq
    acts = activation_bytes_per_token(shape, checkpointing=checkpointing,
                                      trainable_layers=None if lora else trainable_layers)
    return MemoryEstimate(int(weights), int(trainable), int(acts * tokens))


def step_tokens(cfg, *, passage_len: int | None = None, query_len: int | None = None) -> int:
    """Padded tokens of one micro-batch: queries + group_size passages per query, at most the
    configured lengths (the worst case a batch can reach)."""
    q = query_len or cfg.query_max_len
    p = passage_len or cfg.passage_max_len
    return cfg.per_device_batch_size * (q + cfg.train_group_size * p)


def check_fits(cfg, config: Any, free_bytes: int, *, total_bytes: int | None = None) -> MemoryEstimate:
    """Raise :class:`ConfigError` when the worst-case micro-step of ``cfg`` cannot fit in
    ``free_bytes`` of GPU memory; return the estimate otherwise."""
    shape = ModelShape.from_config(config)
    est = estimate_memory(shape, tokens=step_tokens(cfg), lora=cfg.lora, lora_r=cfg.lora_r,
                          checkpointing=cfg.gradient_checkpointing,
                          bf16=cfg.resolved_bf16(),
                          trainable_layers=getattr(cfg, "trainable_last_layers", None))
    if est.total * (1 + MARGIN) > free_bytes:
        hint = "turn gradient_checkpointing on, " if not cfg.gradient_checkpointing else ""
        where = f" of {total_bytes / GIB:.0f} GiB" if total_bytes else ""
        raise ConfigError(
            f"TrainConfig: a micro-batch of {cfg.per_device_batch_size} queries × "
            f"{cfg.train_group_size} passages at {cfg.passage_max_len} tokens needs about "
            f"{est.describe()}, but the GPU has {free_bytes / GIB:.1f} GiB free{where}; "
            f"{hint}lower per_device_batch_size (raise gradient_accumulation_steps to keep the "
            f"batch) or shorten passage_max_len")
    return est


def check_before_loading(cfg) -> MemoryEstimate | None:
    """The train worker's gate: on a CUDA device, read the model's config (no weights) and
    refuse a configuration that cannot fit the free memory. Skipped on CPU and under DeepSpeed
    (ZeRO shards weights and optimizer states over ranks, which this estimate does not model)."""
    import torch

    if not torch.cuda.is_available() or cfg.deepspeed:
        return None
    from transformers import AutoConfig

    from rader_queue.train.model import resolve_model_path

    try:
        config = AutoConfig.from_pretrained(resolve_model_path(cfg.base_model))
    except (OSError, ValueError):
        return None  # loading the model reports the problem with its own message
    free, total = torch.cuda.mem_get_info()
    return check_fits(cfg, config, free, total_bytes=total)
