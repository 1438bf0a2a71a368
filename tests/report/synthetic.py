"""Synthetic runs for the report tests and the 1,000-problem build benchmark.

Trees come from the pure MCTS core (``run_search``) driven by the scripted policy of the MCTS
tests and are stored with ``write_tree``, exactly as an MCTS job stores them; jobs, the cost
ledger, a dataset, a checkpoint with its loss curve and evaluation rows are written directly."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import random

from rader_queue.mcts import MCTSConfig, run_search
from rader_queue.mcts.nodes import Judgement as Verdict
from rader_queue.store.db import session_scope
from rader_queue.store.models import (Checkpoint, Dataset, EvalResult, Job, JobState, LLMCall,
                                      Problem, Run, TrainingExample, TrainingLog)
from rader_queue.trees.persist import write_tree
from tests.mcts.scripted import GOLD, ScriptedPolicy

PLANT = "<script>document.title='PWNED';document.documentElement.setAttribute('data-pwned','1')</script>"
PLANT_IMG = "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','2')\">"
T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)


def _policy(i: int, planted: bool) -> ScriptedPolicy:
    solvable = i % 3 != 2  # every third problem never reaches the gold answer

    def crs(ctx, n):
        right = ctx.depth % n if solvable else -1
        return [f"so the answer is \\boxed{{{GOLD if k == right else 7}}}" for k in range(n)]

    def ost(ctx, n):
        lead = f"{PLANT} {PLANT_IMG} " if planted else ""
        return [f"{lead}step at depth {ctx.depth + 1} from node {ctx.node_id} sample {k}"
                for k in range(n)]

    def verdicts(ctx, summary, doc):
        label = None if doc.doc_id == "d3" else int(doc.doc_id[1:]) % 2 == 1
        reason = f"{PLANT} reason" if planted else f"reason for {doc.doc_id}"
        return Verdict(label=label, reason=reason, raw=f"Relevant: {label}")

    return ScriptedPolicy(ost=ost, crs=crs, verdicts=verdicts)


def make_run(url: str, name: str, problems: int, *, rollouts: int = 6, planted: int | None = None,
             failed: tuple[int, ...] = (), pending: tuple[int, ...] = (),
             with_training: bool = True, seed: int = 0) -> dict:
    """Store a run of ``problems`` problems; returns ids and expected counts for assertions."""
    rng = random.Random(seed)
    config = {"mcts": {"rollouts": rollouts}, "retriever": "dense", "corpus": "theoremqa"}
    info: dict = {"problems": [], "nodes": {}, "solved": set()}
    with session_scope(url) as s:
        run = Run(name=name, dataset="SYNTH", split="test", config=config,
                  config_hash=hashlib.sha256(name.encode()).hexdigest())
        s.add(run)
        s.flush()
        info["run_id"] = run.id
        for i in range(problems):
            text = f"Problem {i}: what is six times seven?"
            if i == planted:
                text = f"{PLANT} {text} {PLANT_IMG}"
            p = Problem(run_id=run.id, source_id=f"synth/{i}", position=i, text=text,
                        gold_answer=GOLD, meta={})
            s.add(p)
            s.flush()
            info["problems"].append(p.id)
            state = (JobState.FAILED if i in failed else
                     JobState.QUEUED if i in pending else JobState.DONE)
            error = f"TimeoutError: generator did not answer {PLANT}" if i in failed else None
            s.add(Job(run_id=run.id, problem_id=p.id, stage="mcts", idempotency_key=f"{name}:mcts:{i}",
                      state=state, attempts=3 if i in failed else 1, last_error=error,
                      # wall time of a finished job: 10 + i seconds
                      started_at=None if i in pending else T0,
                      finished_at=None if i in pending else T0 + dt.timedelta(seconds=10 + i)))
            s.add_all(LLMCall(run_id=run.id, problem_id=p.id, stage=stage, model="scripted",
                              prompt_tokens=rng.randint(200, 900), completion_tokens=rng.randint(50, 300),
                              latency_s=rng.uniform(0.1, 2.0), cache_hit=rng.random() < 0.1)
                      for stage in ("mcts", "mcts", "mcts", "judge"))
            if i in failed or i in pending:
                continue
            cfg = MCTSConfig(rollouts=rollouts + i % 3, top_k=3, seed=seed + i)
            result = asyncio.run(run_search(text, _policy(i, i == planted), cfg))
            stats = write_tree(s, p.id, result, retriever="dense", model="scripted")
            info["nodes"][p.id] = stats["nodes"]
            if stats["correct_final"]:
                info["solved"].add(p.id)
        if with_training:
            _training(s, run.id, name)
    return info


def _training(s, run_id: int, name: str) -> None:
    ds = Dataset(name=f"{name}-ds", version=1, run_id=run_id, config={}, counts={})
    s.add(ds)
    s.flush()
    for qt in ("qcot", "qquestion", "qllmq", "qlexical"):
        s.add_all(TrainingExample(
            dataset_id=ds.id, query_id=f"{qt}-{k}", query_type=qt, query=f"{qt} query {k} {PLANT}",
            positive_passages=[{"docid": f"d{k}", "title": f"Theorem {k}", "text": f"statement {k}"}],
            negative_passages=[{"docid": f"d{k + j}", "title": f"Other {j}", "text": f"wrong {j}"}
                               for j in range(1, 3)]) for k in range(3 if qt != "qlexical" else 1))
    ckpt = Checkpoint(name=f"{name}-retriever", dataset_id=ds.id, base_model="Qwen2.5-0.5B",
                      config={}, state=JobState.DONE, steps=50)
    s.add(ckpt)
    s.flush()
    s.add_all(TrainingLog(checkpoint_id=ckpt.id, step=step, loss=2.0 / (1 + step / 10))
              for step in range(0, 50, 5))
    for model, bump in ((ckpt.name, 0.1), (f"{name}-baseline-bm25", 0.0)):
        for bench in ("MATH", "TheoremQA"):
            s.add(EvalResult(model=model, benchmark=bench, config={}, config_hash=f"{model}:{bench}",
                             metrics={"ndcg_cut_10": 0.3 + bump + (0.05 if bench == "MATH" else 0)}))
