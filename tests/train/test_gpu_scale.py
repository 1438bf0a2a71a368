"""CPU tests of what the 7B GPU benchmark relies on: length bucketing, EOS appending, FLOPs
arithmetic, the memory-fit refusal, and last-layer fine-tuning on a tiny Qwen2-shaped model."""

from __future__ import annotations

import pytest
import torch

from rader_queue.errors import ConfigError
from rader_queue.train.bucketing import padded, token_budget_batches
from rader_queue.train.config import TrainConfig
from rader_queue.train.fit import (GIB, ModelShape, check_fits, estimate_memory, hardware_flops,
                                   model_flops, step_tokens)

QWEN7B = dict(model_type="qwen2", hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
              num_attention_heads=28, num_key_value_heads=4, vocab_size=152064)


def padding_fraction(lengths, batches, pad_to_multiple_of=None) -> float:
    """Share of the batches' padded tokens that are padding."""
    real = sum(lengths[i] for b in batches for i in b)
    total = sum(len(b) * padded(max(lengths[i] for i in b), pad_to_multiple_of) for b in batches)
    return 1.0 - real / total


def test_token_budget_batches_cover_every_index_once_within_budget():
    lengths = [5, 300, 17, 17, 64, 3900, 120, 1, 250, 33] * 7
    batches = token_budget_batches(lengths, max_tokens=1024, max_batch=8, pad_to_multiple_of=16)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths)))
    for b in batches:
        width = max(padded(lengths[i], 16) for i in b)
        assert len(b) <= 8
        assert len(b) * width <= 1024 or len(b) == 1  # 3900 > budget: alone
    # longest first, and sorting keeps padding far below a random cut
    assert lengths[batches[0][0]] == 3900
    assert padding_fraction(lengths, batches, 16) < 0.25
    naive = [list(range(i, min(i + 8, len(lengths)))) for i in range(0, len(lengths), 8)]
    assert padding_fraction(lengths, naive, 16) > 0.5


def test_token_budget_batches_rejects_nonsense():
    with pytest.raises(ValueError):
        token_budget_batches([1, 2], max_tokens=0)


def test_qwen7b_parameter_count_matches_the_published_size():
    shape = ModelShape.from_config(QWEN7B)
    # Qwen2.5-7B: 7.62B with lm_head; the encoder (AutoModel) has no lm_head: 7.07B
    assert shape.total_params() == pytest.approx(7.07e9, rel=0.01)
    assert shape.lora_params(16) == pytest.approx(40.4e6, rel=0.01)


def test_flops_arithmetic():
    shape = ModelShape.from_config(QWEN7B)
    n = shape.body_params()
    assert model_flops(shape, 1000) == 6 * n * 1000
    # LoRA + checkpointing: forward, activation gradients, forward again = 3 × 2N per token
    # (+ attention); full training without checkpointing: forward + 2 × backward = 6N
    lora = hardware_flops(shape, [(1, 1)], lora=True, checkpointing=True)
    full = hardware_flops(shape, [(1, 1)], lora=False, checkpointing=False)
    assert lora == pytest.approx(6 * n, rel=1e-3) and full == pytest.approx(6 * n, rel=1e-3)
    # attention grows with the length: at 3,900 tokens it adds a few percent to 6N
    long = hardware_flops(shape, [(1, 3900)], lora=True, checkpointing=True) / 3900
    assert 1.02 < long / (6 * n) < 1.2
    last4 = hardware_flops(shape, [(1, 512)], lora=False, checkpointing=True, trainable_layers=4)
    assert last4 < hardware_flops(shape, [(1, 512)], lora=True, checkpointing=True)


def test_memory_estimate_follows_the_h200_measurements():
    """Measured with rader-queue's trainer on one H200 (bench/results/train_scale_h200.json):
    512 → 22 GiB, 3,900 → 78 GiB with checkpointing; 512 without → 110 GiB."""
    shape = ModelShape.from_config(QWEN7B)
    cfg = TrainConfig(base_model="x", per_device_batch_size=2, train_group_size=12,
                      query_max_len=272, passage_max_len=3904, gradient_checkpointing=True)
    ck = estimate_memory(shape, tokens=step_tokens(cfg), lora=True, checkpointing=True)
    assert 70 * GIB < ck.total < 85 * GIB
    cfg512 = TrainConfig(base_model="x", per_device_batch_size=2, train_group_size=12,
                         query_max_len=272, passage_max_len=512)
    no_ck = estimate_memory(shape, tokens=step_tokens(cfg512), lora=True, checkpointing=False)
    assert 105 * GIB < no_ck.total < 125 * GIB


def test_check_fits_refuses_with_the_numbers_and_a_way_out():
    cfg = TrainConfig(base_model="x", per_device_batch_size=2, train_group_size=12,
                      passage_max_len=1024, gradient_checkpointing=False, bf16=True)
    with pytest.raises(ConfigError, match=r"needs about .*GiB.*gradient_checkpointing on"):
        check_fits(cfg, QWEN7B, free_bytes=139 * GIB)
    cfg.gradient_checkpointing = True
    est = check_fits(cfg, QWEN7B, free_bytes=139 * GIB)
    assert est.total < 139 * GIB


def test_model_shape_needs_the_basic_sizes():
    with pytest.raises(ConfigError, match="hidden_size"):
        ModelShape.from_config({"model_type": "qwen2"})


def test_trainable_last_layers_validation():
    with pytest.raises(ConfigError, match="trainable_last_layers"):
        TrainConfig(base_model="x", trainable_last_layers=2)  # lora on by default
    with pytest.raises(ConfigError, match="trainable_last_layers"):
        TrainConfig(base_model="x", lora=False, trainable_last_layers=0)
    with pytest.raises(ConfigError, match="attn_implementation"):
        TrainConfig(base_model="x", attn_implementation=" ")


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory):
    from transformers import AutoConfig, AutoModel

    folder = tmp_path_factory.mktemp("tiny-qwen")
    config = AutoConfig.for_model(**dict(QWEN7B, hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=3, num_attention_heads=4,
                                         num_key_value_heads=2, vocab_size=64))
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(folder)
    return folder, config


def test_last_layers_only_train_and_fit_counts_them(tiny_qwen):
    from rader_queue.train.model import train_last_layers
    from transformers import AutoModel

    folder, config = tiny_qwen
    model = AutoModel.from_pretrained(folder)
    train_last_layers(model, 1)
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained and all(n.startswith(("layers.2.", "norm.")) for n in trained)
    shape = ModelShape.from_config(config)
    assert sum(p.numel() for n, p in model.named_parameters() if n.startswith("layers.2.")) \
        == shape.layer_params()
    assert sum(p.numel() for p in model.parameters()) == shape.total_params()
    with pytest.raises(ConfigError, match="has 3 layers"):
        train_last_layers(model, 4)


def test_eos_is_appended_and_counted_in_the_length():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from rader_queue.train.data import tokenize

    vocab = {"<eos>": 0, "<unk>": 1, **{w: i + 2 for i, w in enumerate("abcdefgh")}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<eos>", pad_token="<eos>",
                                  unk_token="<unk>")
    batch = tokenize(tok, ["a b c d e f g h", "a b"], 6, append_eos=True, pad_to_multiple_of=4)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert ids.shape == (2, 8)  # 6 tokens, padded to a multiple of 4
    assert ids[0, :6].tolist() == [2, 3, 4, 5, 6, 0]  # cut to 5 + EOS
    assert ids[1, :3].tolist() == [2, 3, 0] and mask[1].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    # the pooled position (last real token) is the EOS in every row
    last = mask.sum(1) - 1
    assert ids[torch.arange(2), last].tolist() == [0, 0]


def _word_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<eos>": 0, "<unk>": 1, **{w: i + 2 for i, w in enumerate("abcdefghijklmnop")}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<eos>", pad_token="<eos>",
                                   unk_token="<unk>")


def test_dynamic_encode_batches_give_the_same_vectors(tiny_qwen):
    """Token-budget batches (longest first) change only the grouping, not the EOS-pooled
    vectors, which come back in input order."""
    import random

    from rader_queue.train.model import BiEncoder, EncodeSpec, Encoder
    from transformers import AutoModel

    folder, _ = tiny_qwen
    rng = random.Random(0)
    texts = [" ".join(rng.choice("abcdefghijklmnop") for _ in range(rng.randint(1, 30)))
             for _ in range(23)]
    spec = EncodeSpec(base_model=str(folder), pooling="eos", normalize=True, append_eos=True,
                      passage_max_len=24)
    enc = Encoder(BiEncoder(AutoModel.from_pretrained(folder), "eos", True), _word_tokenizer(),
                  spec)
    fixed = enc.encode_passages(texts, batch_size=4)
    dynamic = enc.encode_passages(texts, batch_size=64, max_tokens=64)
    batches = enc._batches(texts, "", 24, 64, 64)
    lengths = [min(24, len(t.split()) + 1) for t in texts]  # words + EOS, cut at 24
    assert len(batches) > 1 and all(len(b) * max(lengths[i] for i in b) <= 64 for b in batches)
    assert dynamic.shape == fixed.shape == (23, 32)
    assert abs(dynamic - fixed).max() < 1e-5


def test_encoding_precision_is_checked_and_the_cpu_always_encodes_in_fp32(tiny_qwen):
    """`eval run --precision` reaches the encoder; an unknown precision is refused by name, and
    on the CPU every precision gives the fp32 vectors (autocast applies on a GPU only)."""
    from rader_queue.errors import InputError
    from rader_queue.train.model import BiEncoder, EncodeSpec, Encoder
    from transformers import AutoModel

    folder, _ = tiny_qwen
    spec = EncodeSpec(base_model=str(folder), pooling="eos", normalize=True, append_eos=True,
                      query_max_len=24, passage_max_len=24)
    model = BiEncoder(AutoModel.from_pretrained(folder), "eos", True)
    with pytest.raises(InputError, match="precision"):
        Encoder(model, _word_tokenizer(), spec, precision="int4")
    texts = ["a b c", "d e f g h", "i"]
    vectors = {p: Encoder(model, _word_tokenizer(), spec, precision=p).encode_passages(texts)
               for p in ("bf16", "fp16", "fp32")}
    assert abs(vectors["bf16"] - vectors["fp32"]).max() == 0
    assert abs(vectors["fp16"] - vectors["fp32"]).max() == 0
