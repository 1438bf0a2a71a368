"""The MCTS policy backed by a chat model and a theorem index.

:class:`LLMPolicy` turns each search action into one generator request (built by
:mod:`rader_queue.mcts.prompting`, read back by :mod:`rader_queue.mcts.parsers`) and rewards
solutions against the problem's gold answer (:mod:`rader_queue.mcts.reward`). The model's
answer-equivalence judge is asked only when ``config.llm_judge_fallback`` is on.

Seeds: every request carries a seed derived from ``config.seed``, the id of the node being
expanded and the action, so a rerun of the same search sends the same requests, while two
different nodes with the same prompt text (e.g. the OST fallback below a QG node) still get
different samples. Self-reflection samples at ``config.reflection_temperature`` (the original's
0.8; its reply is constrained to the verdict format); the equivalence judge uses temperature 0.
OST replies stop at the first newline (one step per expansion) and lose echoed "Step N:"
labels here, once, so the prompt's own numbering is the only one.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Collection

from rader_queue.errors import InputError
from rader_queue.llm.structured import VERDICT, ReplyFormat
from rader_queue.mcts import prompting
from rader_queue.mcts.config import MCTSConfig
from rader_queue.mcts.nodes import CandidateTheorem, Judgement, PathContext, RetrievedDoc
from rader_queue.mcts.parsers import (clean_step, parse_candidate_theorems, parse_equivalence, parse_query,
                                      parse_verdict)
from rader_queue.mcts.policy import TextGenerator, TheoremSearch
from rader_queue.mcts.reward import Reward, extract_boxed, gold_reward_async

VERDICT_TEMPERATURE = 0.0
_ACTION_CODES = {"ost": 1, "crs": 2, "qg": 3, "summary": 4, "reflection": 5, "equivalence": 6}


def _stable_hash(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


class LLMPolicy:
    """A :class:`~rader_queue.mcts.policy.Policy` over a ``TextGenerator`` and a ``TheoremSearch``.

    ``gold_answer`` is the final answer of the problem (e.g. the last boxed expression of
    its reference solution); solutions are rewarded against it.
    """

    def __init__(self, generator: TextGenerator, theorems: TheoremSearch, gold_answer: str,
                 config: MCTSConfig | None = None, *, stage: str = "mcts") -> None:
        if not isinstance(gold_answer, str) or not gold_answer.strip():
            raise InputError("a gold answer is needed to reward solutions", field="gold_answer")
        self.generator, self.theorems = generator, theorems
        self.gold_answer = gold_answer.strip()
        self.config = config or MCTSConfig()
        self.stage = stage

    # ------------------------------------------------------------------ helpers
    def _seed(self, action: str, key: int) -> int:
        # 32 seeds per action and 256 per key, so a generator that fans n samples out over
        # seed, seed+1, ... never reuses another action's seeds.
        return (self.config.seed * 1_000_003 + key * 256 + _ACTION_CODES[action] * 32) % (2 ** 31)

    async def _generate(self, messages: list[dict], *, action: str, key: int, n: int, max_tokens: int,
                        stop: list[str], temperature: float | None = None,
                        reply_format: ReplyFormat | None = None) -> list[str]:
        outputs = await self.generator.generate(
            messages, n=n, max_tokens=max_tokens,
            temperature=self.config.temperature if temperature is None else temperature,
            top_p=self.config.top_p, stop=stop, seed=self._seed(action, key), stage=self.stage,
            reply_format=reply_format)
        return [o for o in outputs or [] if isinstance(o, str)]

    # ------------------------------------------------------------------ Policy
    async def one_step_thoughts(self, ctx: PathContext, n: int) -> list[str]:
        outputs = await self._generate(prompting.ost_messages(ctx), action="ost", key=ctx.node_id, n=n,
                                       max_tokens=self.config.max_tokens_ost, stop=prompting.STOP_OST)
        return [clean_step(o) for o in outputs]

    async def complete_remaining(self, ctx: PathContext, n: int) -> list[str]:
        return await self._generate(prompting.crs_messages(ctx), action="crs", key=ctx.node_id, n=n,
                                    max_tokens=self.config.max_tokens_crs, stop=prompting.STOP_CRS)

    async def generate_queries(self, ctx: PathContext) -> list[CandidateTheorem]:
        outputs = await self._generate(prompting.query_generation_messages(ctx), action="qg", key=ctx.node_id,
                                       n=1, max_tokens=self.config.max_tokens_qg, stop=prompting.STOP_QG)
        text = outputs[0] if outputs else ""
        if self.config.llm_candidate_theorems:
            return parse_candidate_theorems(text, self.config.max_candidate_theorems)
        query = parse_query(text)
        return [CandidateTheorem(name="", statement=query, raw=text)] if query else []

    async def retrieve(self, query: str, exclude_doc_ids: Collection[str], k: int) -> list[RetrievedDoc]:
        excluded = set(exclude_doc_ids)
        hits = await asyncio.to_thread(self.theorems.search, query, k, tuple(sorted(excluded)))
        hits = [(str(doc_id), float(score)) for doc_id, score in hits if str(doc_id) not in excluded][:k]
        texts = await asyncio.gather(*(asyncio.to_thread(self.theorems.document, doc_id) for doc_id, _ in hits))
        return [RetrievedDoc(doc_id=doc_id, title=title, text=text, score=score, rank=rank)
                for rank, ((doc_id, score), (title, text)) in enumerate(zip(hits, texts), start=1)]

    async def summarize(self, doc: RetrievedDoc) -> str:
        """A plain-language summary; the cleaned theorem text itself when the model returns nothing."""
        theorem = prompting.clean_theorem_text(doc.text, self.config.max_theorem_chars)
        outputs = await self._generate(prompting.summary_messages(theorem), action="summary",
                                       key=_stable_hash(doc.doc_id), n=1,
                                       max_tokens=self.config.max_tokens_summary, stop=prompting.STOP_SUMMARY)
        summary = outputs[0].strip() if outputs else ""
        return summary or theorem

    async def judge_relevance(self, ctx: PathContext, summary: str, doc: RetrievedDoc) -> Judgement:
        outputs = await self._generate(prompting.reflection_messages(ctx, summary), action="reflection",
                                       key=ctx.node_id * 7919 + _stable_hash(doc.doc_id), n=1,
                                       max_tokens=self.config.max_tokens_reflection,
                                       stop=prompting.STOP_REFLECTION,
                                       temperature=self.config.reflection_temperature,
                                       reply_format=VERDICT)
        raw = outputs[0] if outputs else ""
        label, reason = parse_verdict(raw)
        return Judgement(label=label, reason=reason, raw=raw)

    async def reward(self, ctx: PathContext, answer_text: str) -> float:
        """Gold reward (spec §S1.4), a :class:`~rader_queue.mcts.reward.Reward` carrying its
        reason; the check runs in a bounded worker process, off the event loop. With
        ``llm_judge_fallback`` a boxed answer that the rules do not match is put to the
        model's equivalence judge (True -> 1.0)."""
        cfg = self.config
        value = await gold_reward_async(answer_text, self.gold_answer, format_reward=cfg.format_reward)
        predicted = extract_boxed(answer_text)
        if value >= 1.0 or not cfg.llm_judge_fallback or predicted is None:
            return value
        messages = prompting.equivalence_messages(ctx.question, self.gold_answer, predicted)
        outputs = await self._generate(messages, action="equivalence", key=_stable_hash(predicted), n=1,
                                       max_tokens=cfg.max_tokens_equiv, stop=prompting.STOP_EQUIV,
                                       temperature=VERDICT_TEMPERATURE)
        if outputs and parse_equivalence(outputs[0]) is True:
            return Reward(1.0, f"equivalence judge (rules: {value.reason})")
        return value
