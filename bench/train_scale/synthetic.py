"""The Qwen2.5-7B-shaped model (config + tokenizer, random weights on load), the paper's
training settings and synthetic Tevatron rows that fill the configured lengths."""

from __future__ import annotations

import contextlib
import json
import random
from pathlib import Path

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
