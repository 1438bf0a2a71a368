"""A simulated continuous-batching OpenAI-compatible server, for benchmarks and fault tests.

Model of the server (documented so benchmark figures can be read against it):

* Every running sequence advances one token per **decoding step**; all running sequences share
  the step. A request with ``n`` choices puts ``n`` sequences in the batch.
* The step time depends on the batch size, interpolated from a measured decode curve
  (default: ``decode-curve-h100.json``, a 7B model on an H100: ≈24–30 ms a step from batch 1 to
  512). ``time_scale`` multiplies it (benchmarks may speed time up uniformly).
* At most ``max_batch`` sequences run; the rest wait and join at the next step (continuous
  batching). Prefill is not modelled.
* A reply of w words costs ``round(w × length_scale)`` decoding steps (capped by
  ``max_tokens``): the scripted texts are short, ``length_scale`` gives them realistic lengths.
* Replies come from a deterministic **responder** (messages, n, seed) → texts; the default one
  recognises rader-queue's MCTS prompts and answers in their formats, so the same scripted
  outputs reach every client that asks the same question.

Faults for reliability tests: ``fail_rate`` (HTTP 500), ``hang_rate`` (never answers),
``garbage_rate`` (unparseable text), each drawn from a seeded RNG. With ``api_key`` set, a
request without ``Authorization: Bearer <api_key>`` gets HTTP 401 quoting the key it was sent
(as some providers do), so tests can check the key is sent and never leaks from errors.

Run: ``python -m rader_queue.testing.simulated_llm --port 8800 [--max-batch 256]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import subprocess
import sys
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

DEFAULT_CURVE = [(1, 23.76), (4, 24.97), (16, 29.55), (64, 24.22), (128, 29.62), (256, 23.71),
                 (512, 27.08)]  # (batch, step ms) from decode-curve-h100.json


def load_curve(path: str | Path | None) -> list[tuple[int, float]]:
    if path is None:
        return list(DEFAULT_CURVE)
    rows = json.loads(Path(path).read_text())["rows"]
    return [(int(r["batch"]), float(r["step_ms"])) for r in rows]


def step_ms(curve: list[tuple[int, float]], batch: int) -> float:
    """Step time at ``batch`` (linear interpolation, clamped to the curve's ends)."""
    sizes = [b for b, _ in curve]
    if batch <= sizes[0]:
        return curve[0][1]
    if batch >= sizes[-1]:
        return curve[-1][1]
    i = bisect_left(sizes, batch)
    (b0, t0), (b1, t1) = curve[i - 1], curve[i]
    return t0 + (t1 - t0) * (batch - b0) / (b1 - b0)


def _digest(*parts: object) -> int:
    return int(hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12], 16)


def mcts_responder(messages: list[dict], n: int, seed: int | None) -> list[str]:
    """Deterministic replies in the formats of rader-queue's prompts."""
    prompt = "\n".join(m.get("content", "") for m in messages)
    head = prompt[:400].lower()
    out = []
    for i in range(n):
        rng = random.Random(_digest(prompt, seed, i))
        words = " ".join(rng.choice(["we", "compute", "the", "sum", "of", "both", "sides", "so",
                                     "then", "value", "equals", "term", "each"]) for _ in range(18))
        answer = rng.choice(["2", "3", "5", "12", "239"])
        if "one step at a time" in head:
            text = (f"Next we note that {words}." if rng.random() < 0.6 else
                    f"Therefore {words}. The answer is \\boxed{{{answer}}}.")
        elif "finish solutions" in head:
            text = f"First {words}. Then {words}. So the final answer is \\boxed{{{answer}}}."
        elif "find theorems" in head:
            k = 1 + rng.randrange(2)
            text = "\n".join(
                f"Theorem {j + 1}: {rng.choice(['Pythagorean theorem', 'Binomial theorem', 'Vieta formulas', 'Pigeonhole principle'])}\n"
                f"Theorem Statement: {words}\nPreconditions: {words}\nSubject: algebra" for j in range(k))
        elif "rewrite formal theorems" in head:
            text = f"The theorem says that {words}."
        elif "retrieved theorem helps" in head or "check whether a retrieved theorem" in head:
            text = f"Relevant: {'True' if rng.random() < 0.5 else 'False'}\nReason: {words}."
        elif "compare two final answers" in head:
            text = rng.choice(["True", "False"])
        elif "search query from a theorem alone" in head:       # querygen qlexical
            theorem = prompt.rsplit("Theorem:", 1)[-1].split()
            text = f"Query: which result says {' '.join(theorem[:8])}?"
        elif "theorem helps answer a search query" in head:     # querygen query judge
            text = f"Relevant: {'True' if rng.random() < 0.75 else 'False'}\nReason: {words}."
        else:
            text = f"Query: {words}?"
        out.append(text)
    return out


def n_tokens(text: str) -> int:
    return max(1, len(text.split()))


@dataclass
class Sequence:
    remaining: int
    done: asyncio.Future


@dataclass
class Engine:
    curve: list[tuple[int, float]]
    max_batch: int = 256
    time_scale: float = 1.0
    waiting: deque = field(default_factory=deque)
    running: list[Sequence] = field(default_factory=list)
    tokens: int = 0
    steps: int = 0
    busy_s: float = 0.0
    max_seen: int = 0
    _wake: asyncio.Event | None = None

    def saturated_tokens_per_s(self) -> float:
        return self.max_batch / (step_ms(self.curve, self.max_batch) / 1000 * self.time_scale)

    async def generate(self, lengths: list[int]) -> None:
        loop = asyncio.get_running_loop()
        seqs = [Sequence(length, loop.create_future()) for length in lengths]
        self.waiting.extend(seqs)
        self._wake.set()
        await asyncio.gather(*(s.done for s in seqs))

    async def run(self) -> None:
        self._wake = asyncio.Event()
        while True:
            if not self.running and not self.waiting:
                self._wake.clear()
                await self._wake.wait()
            while self.waiting and len(self.running) < self.max_batch:
                self.running.append(self.waiting.popleft())
            batch = len(self.running)
            self.max_seen = max(self.max_seen, batch)
            started = time.perf_counter()
            await asyncio.sleep(step_ms(self.curve, batch) / 1000 * self.time_scale)
            self.busy_s += time.perf_counter() - started
            self.steps += 1
            self.tokens += batch
            still = []
            for seq in self.running:
                seq.remaining -= 1
                if seq.remaining <= 0:
                    if not seq.done.done():
                        seq.done.set_result(None)
                else:
                    still.append(seq)
            self.running = still


def build_app(engine: Engine, responder: Callable = mcts_responder, *, fail_rate: float = 0.0,
              hang_rate: float = 0.0, garbage_rate: float = 0.0, fault_seed: int = 0,
              length_scale: float = 1.0, api_key: str | None = None):
    faults = random.Random(fault_seed)
    counters = {"requests": 0, "failed": 0, "hung": 0, "garbage": 0}

    async def chat(request):
        body = await request.json()
        counters["requests"] += 1
        sent = request.headers.get("authorization", "").removeprefix("Bearer ")
        if api_key is not None and sent != api_key:
            counters["unauthorized"] = counters.get("unauthorized", 0) + 1
            return JSONResponse({"error": {"message": f"Incorrect API key provided: {sent}"}},
                                status_code=401)
        draw = faults.random()
        if draw < fail_rate:
            counters["failed"] += 1
            return JSONResponse({"error": {"message": "simulated server error"}}, status_code=500)
        if draw < fail_rate + hang_rate:
            counters["hung"] += 1
            await asyncio.sleep(3600)
        n = int(body.get("n") or 1)
        texts = responder(body["messages"], n, body.get("seed"))
        if fail_rate + hang_rate <= draw < fail_rate + hang_rate + garbage_rate:
            counters["garbage"] += 1
            texts = ["\x00%%garbage%% ###" for _ in texts]
        max_tokens = int(body.get("max_tokens") or 256)
        lengths = [min(max_tokens, max(1, round(n_tokens(t) * length_scale))) for t in texts]
        await engine.generate(lengths)
        prompt_tokens = sum(n_tokens(m.get("content", "")) for m in body["messages"])
        return JSONResponse({
            "id": f"sim-{counters['requests']}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "sim"),
            "choices": [{"index": i, "message": {"role": "assistant", "content": t},
                         "finish_reason": "stop"} for i, t in enumerate(texts)],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": sum(lengths),
                      "total_tokens": prompt_tokens + sum(lengths)}})

    async def models(request):
        return JSONResponse({"object": "list", "data": [{"id": "sim", "object": "model"}]})

    async def stats(request):
        return JSONResponse({**counters, "tokens": engine.tokens, "steps": engine.steps,
                             "busy_s": engine.busy_s, "max_batch_seen": engine.max_seen,
                             "saturated_tokens_per_s": engine.saturated_tokens_per_s()})

    @asynccontextmanager
    async def lifespan(app):
        task = asyncio.get_running_loop().create_task(engine.run())
        yield
        task.cancel()

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                             Route("/v1/models", models), Route("/stats", stats)],
                     lifespan=lifespan)


@contextmanager
def simulated_server(port: int, *, max_batch: int = 256, time_scale: float = 1.0,
                     fail_rate: float = 0.0, hang_rate: float = 0.0, garbage_rate: float = 0.0,
                     length_scale: float = 1.0, log_path: Path | None = None,
                     ready_timeout: float = 30.0, api_key: str | None = None):
    """Run the server as a subprocess on 127.0.0.1:``port``; yields its ``/v1`` base URL."""
    cmd = [sys.executable, "-m", "rader_queue.testing.simulated_llm", "--port", str(port),
           "--max-batch", str(max_batch), "--time-scale", str(time_scale), "--fail-rate",
           str(fail_rate), "--hang-rate", str(hang_rate), "--garbage-rate", str(garbage_rate),
           "--length-scale", str(length_scale)]
    env = {**os.environ, "SIMULATED_LLM_API_KEY": api_key} if api_key else None  # not on argv
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            try:
                httpx.get(base + "/v1/models", timeout=1.0).raise_for_status()
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"simulated LLM server did not start (exit {proc.poll()})")
                time.sleep(0.1)
        yield base + "/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-batch", type=int, default=256)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--curve", default=None, help="decode-curve JSON (rows of batch, step_ms)")
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--hang-rate", type=float, default=0.0)
    parser.add_argument("--garbage-rate", type=float, default=0.0)
    parser.add_argument("--length-scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    engine = Engine(load_curve(args.curve), max_batch=args.max_batch, time_scale=args.time_scale)
    app = build_app(engine, fail_rate=args.fail_rate, hang_rate=args.hang_rate,
                    garbage_rate=args.garbage_rate, length_scale=args.length_scale,
                    api_key=os.environ.get("SIMULATED_LLM_API_KEY"))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
