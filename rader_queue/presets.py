"""Named sets of values for a whole rader-queue run: ``rader-paper`` (every value of the RaDeR
paper's runs, spec §S1–S7) and ``laptop`` (the small defaults rader-queue ships with).

``--preset NAME`` on ``enqueue``, ``dataset build``, ``train`` and ``eval run`` fills every option
the command line did not give; the preset's name is recorded with the run / dataset /
checkpoint / evaluation. Values that live in the environment (generator and embedder
endpoints) cannot be set by a command: :func:`environment` lists them as ``RADER_*`` lines,
and :func:`mismatches` says which ones the current settings contradict.

``docs/recipe.md`` explains each difference between the two presets and the paper.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from rader_queue.errors import ConfigError
from rader_queue.querygen.options import QUERY_TYPES
from rader_queue.settings import get_settings


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServingPreset(_Frozen):
    """Generator and embedder of the search (environment values: ``RADER_LLM_*``, ``RADER_EMBEDDER_*``)."""

    llm_model: str
    embedder_model: str
    embedder_remote: bool            # served by an OpenAI-compatible /v1/embeddings endpoint
    embedder_pooling: Literal["mean", "cls", "eos"]
    query_prefix: str
    passage_prefix: str
    embedder_max_length: int


class SearchPreset(_Frozen):
    """``rader-queue enqueue``: the MCTS run (spec §S1, Table 8)."""

    corpus: str
    retriever: Literal["dense", "bm25", "hybrid"]
    rollouts: int
    max_depth: int
    ost_samples: int
    crs_samples: int
    top_k: int
    exploration_weight: float
    candidate_theorems: bool
    self_reflection: bool
    temperature: float
    reflection_temperature: float
    top_p: float
    llm_judge_fallback: bool
    format_reward: bool
    seed: int


class DatasetPreset(_Frozen):
    """``rader-queue dataset build``: query types and negatives (spec §S2–S4)."""

    types: tuple[str, ...]
    min_reward: float | None
    min_negatives: int
    max_overlap: float | None
    lexical_top: int
    topup_ranks: tuple[int, int]
    dense_top: int


class TrainPreset(_Frozen):
    """``rader-queue train``: TrainConfig values (spec §S5, Table 10)."""

    base_model: str
    lora: bool
    lora_r: int
    lora_alpha: int
    lora_dropout: float
    temperature: float
    train_group_size: int
    pooling: Literal["mean", "cls", "eos"]
    query_prefix: str
    passage_prefix: str
    query_max_len: int
    passage_max_len: int
    per_device_batch_size: int
    gradient_accumulation_steps: int
    learning_rate: float
    warmup_steps: int | None
    epochs: float
    gradient_checkpointing: bool
    # issue 20 (docs/gpu-scale.md): padding to a multiple makes SDPA leave its flash kernel at
    # 3,900 tokens (+19 % samples/s without it on an H200); None: pad to the longest only
    pad_to_multiple_of: int | None
    attn_implementation: str | None   # None: the transformers default

    @property
    def queries_per_step(self) -> int:
        """Queries per optimiser step on one device."""
        return self.per_device_batch_size * self.gradient_accumulation_steps


class EvalPreset(_Frozen):
    """``rader-queue eval run`` (spec §S6/S7)."""

    benchmark: str
    query_max_len: int | None        # None: the model's own max_seq_length
    passage_max_len: int | None
    bm25_stopwords: bool
    instructions: bool               # BRIGHT's per-split query instructions
    rerank_model: str | None         # None: the generator
    rerank_k: int
    rerank_weight: float


class Preset(_Frozen):
    name: str
    summary: str
    serving: ServingPreset
    search: SearchPreset
    dataset: DatasetPreset
    train: TrainPreset
    eval: EvalPreset

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


ALL_TYPES = QUERY_TYPES

RADER_PAPER = Preset(
    name="rader-paper",
    summary="The RaDeR paper's runs: Qwen2.5-7B-Instruct search over BRIGHT's ProofWiki theorems "
            "with RepLLaMA, 16 rollouts, Tevatron-style LoRA training of Qwen2.5-7B.",
    serving=ServingPreset(
        llm_model="Qwen/Qwen2.5-7B-Instruct", embedder_model="castorini/repllama-v1-7b-lora-passage",
        embedder_remote=True, embedder_pooling="eos", query_prefix="query: ", passage_prefix="passage: ",
        embedder_max_length=4096),
    search=SearchPreset(
        corpus="bright:theoremqa_theorems", retriever="dense", rollouts=16, max_depth=6, ost_samples=2,
        crs_samples=4, top_k=5, exploration_weight=2.0, candidate_theorems=True, self_reflection=True,
        temperature=0.8, reflection_temperature=0.8, top_p=0.95, llm_judge_fallback=True,
        format_reward=False, seed=42),
    dataset=DatasetPreset(
        types=ALL_TYPES, min_reward=1.0, min_negatives=11, max_overlap=None, lexical_top=20,
        topup_ranks=(31, 50), dense_top=10),
    train=TrainPreset(
        base_model="Qwen/Qwen2.5-7B-Instruct", lora=True, lora_r=16, lora_alpha=64, lora_dropout=0.1,
        temperature=0.01, train_group_size=12, pooling="eos", query_prefix="Query: ",
        passage_prefix="Passage: ", query_max_len=512, passage_max_len=3900, per_device_batch_size=2,
        gradient_accumulation_steps=32, learning_rate=1e-4, warmup_steps=28, epochs=1.0,
        gradient_checkpointing=True, pad_to_multiple_of=None, attn_implementation="sdpa"),
    eval=EvalPreset(
        benchmark="bright:theoremqa_theorems", query_max_len=512, passage_max_len=3900,
        bm25_stopwords=True, instructions=True, rerank_model="Qwen/Qwen2.5-32B-Instruct",
        rerank_k=100, rerank_weight=0.5),
)

LAPTOP = Preset(
    name="laptop",
    summary="rader-queue's defaults: small models that run on a CPU laptop (MiniLM retriever, "
            "TheoremQA's theorem list, short passages, 8 queries a step).",
    serving=ServingPreset(
        llm_model="default", embedder_model="all-MiniLM-L6-v2", embedder_remote=False,
        embedder_pooling="mean", query_prefix="", passage_prefix="", embedder_max_length=256),
    search=SearchPreset(
        corpus="theoremqa", retriever="dense", rollouts=16, max_depth=6, ost_samples=2, crs_samples=4,
        top_k=5, exploration_weight=2.0, candidate_theorems=True, self_reflection=True,
        temperature=0.8, reflection_temperature=0.8, top_p=0.95, llm_judge_fallback=False,
        format_reward=False, seed=42),
    dataset=DatasetPreset(
        types=ALL_TYPES, min_reward=1.0, min_negatives=11, max_overlap=0.6, lexical_top=20,
        topup_ranks=(31, 50), dense_top=10),
    train=TrainPreset(
        base_model="all-MiniLM-L6-v2", lora=True, lora_r=16, lora_alpha=64, lora_dropout=0.1,
        temperature=0.01, train_group_size=12, pooling="mean", query_prefix="", passage_prefix="",
        query_max_len=512, passage_max_len=512, per_device_batch_size=8, gradient_accumulation_steps=1,
        learning_rate=1e-4, warmup_steps=None, epochs=1.0, gradient_checkpointing=False,
        pad_to_multiple_of=16, attn_implementation=None),
    eval=EvalPreset(
        benchmark="champ", query_max_len=None, passage_max_len=None, bm25_stopwords=False,
        instructions=False, rerank_model=None, rerank_k=0, rerank_weight=0.5),
)

PRESETS: dict[str, Preset] = {p.name: p for p in (RADER_PAPER, LAPTOP)}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name.strip().lower()]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None


def environment(preset: Preset) -> dict[str, str]:
    """The ``RADER_*`` settings a process needs for the preset's models (endpoints not included)."""
    s = preset.serving
    return {"RADER_LLM_MODEL": s.llm_model, "RADER_EMBEDDER_MODEL": s.embedder_model,
            "RADER_EMBEDDER_POOLING": s.embedder_pooling, "RADER_QUERY_PREFIX": s.query_prefix,
            "RADER_PASSAGE_PREFIX": s.passage_prefix,
            "RADER_EMBEDDER_MAX_LENGTH": str(s.embedder_max_length)}


def mismatches(preset: Preset, settings: Any) -> list[str]:
    """Lines naming each current setting that differs from the preset's serving values."""
    s = preset.serving
    out = []
    for field, want in (("llm_model", s.llm_model), ("embedder_model", s.embedder_model),
                        ("embedder_pooling", s.embedder_pooling), ("query_prefix", s.query_prefix),
                        ("passage_prefix", s.passage_prefix),
                        ("embedder_max_length", s.embedder_max_length)):
        have = getattr(settings, field, None)
        if have != want:
            out.append(f"RADER_{field.upper()}={have!r}, preset {preset.name} wants {want!r}")
    if s.embedder_remote and not getattr(settings, "embedder_base_url", None):
        out.append(f"RADER_EMBEDDER_BASE_URL is unset; preset {preset.name} serves the embedder "
                   "through a /v1/embeddings endpoint (e.g. vLLM)")
    return out


def explicit(ctx: Any, names: list[str]) -> set[str]:
    """The parameters of a click/typer context that the command line (or env) set. Sources are
    compared by name: typer may bring its own copy of click's ``ParameterSource``."""
    out = set()
    for name in names:
        source = ctx.get_parameter_source(name)
        if source is not None and getattr(source, "name", str(source)) not in ("DEFAULT", "DEFAULT_MAP"):
            out.add(name)
    return out


def enqueue_values(ctx: Any, name: str | None, given: dict[str, Any]
                   ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """For ``rader-queue enqueue``: the options with the preset's search values where the
    command line gave none, the MCTS fields the command has no option for, and notes on the
    environment settings that contradict the preset."""
    if not name:
        return dict(given), {}, []

    preset = get_preset(name)
    search = preset.search.model_dump()
    keep = explicit(ctx, list(given))
    values = {k: (v if k in keep or k not in search else search[k]) for k, v in given.items()}
    extra = {k: search[k] for k in ("exploration_weight", "temperature", "reflection_temperature",
                                     "top_p")}
    return values, extra, mismatches(preset, get_settings())


def train_values(name: str, data: dict[str, Any], from_file: dict[str, Any], *,
                 base_given: bool) -> dict[str, Any]:
    """For ``rader-queue train``: TrainConfig values = the preset's, then the ``--config``
    file's, then the options given (``data`` holds file + options; its ``base_model`` is the
    ``--base`` default unless ``base_given`` or the file names one). Records the preset."""
    data = dict(data)
    if not base_given and "base_model" not in from_file:
        data.pop("base_model", None)
    return {**get_preset(name).train.model_dump(), **data, "preset": name}
