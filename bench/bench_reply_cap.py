"""Memory a worker spends on oversized replies: the capped generator against a plain openai
client (what the generator did before the cap), on a loopback server that answers every request
with a reply of SIZE characters (default 1 MB), CONCURRENCY requests at a time.

Each side runs in a fresh process; the table shows its peak RSS growth over the run (ru_maxrss
after minus VmRSS before) and how many requests got text back.

    python bench/bench_reply_cap.py [--size 1000000] [--concurrency 16] [--max-tokens 256]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child(mode: str, size: int, concurrency: int, max_tokens: int) -> dict:
    import openai

    from rader_queue.errors import GenerationFailed
    from rader_queue.llm.generator import Generator
    from rader_queue.settings import Settings
    from tests.llm.fake_server import FakeServer, Reply, chat

    big = Reply(200, raw=json.dumps(chat("x" * size).payload).encode())
    messages = [{"role": "user", "content": "hi"}]
    with FakeServer(lambda body: big) as server:
        before = _rss_kb()

        async def capped() -> int:
            gen = Generator(Settings(llm_base_url=server.base_url, llm_model="default",
                                     llm_api_key="x", llm_max_retries=0, llm_cache=False,
                                     llm_max_in_flight=concurrency))

            async def one(i):
                try:
                    await gen.generate(messages, max_tokens=max_tokens, seed=i)
                    return 1
                except GenerationFailed:
                    return 0
            return sum(await asyncio.gather(*(one(i) for i in range(concurrency))))

        async def plain() -> int:
            client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)

            async def one(i):
                reply = await client.chat.completions.create(
                    model="default", messages=messages, max_tokens=max_tokens, seed=i)
                return int(bool(reply.choices[0].message.content))
            return sum(await asyncio.gather(*(one(i) for i in range(concurrency))))

        ok = asyncio.run(capped() if mode == "capped" else plain())
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"mode": mode, "ok": ok, "growth_mb": (peak - before) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--child", choices=["capped", "plain"])
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.size, args.concurrency, args.max_tokens)))
        return
    rows = []
    for mode in ("plain", "capped"):
        out = subprocess.run([sys.executable, __file__, "--child", mode, "--size", str(args.size),
                              "--concurrency", str(args.concurrency), "--max-tokens",
                              str(args.max_tokens)], capture_output=True, text=True, cwd=ROOT)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{args.concurrency} concurrent replies of {args.size:,} characters, "
          f"max_tokens={args.max_tokens}")
    print(f"{'client':<22}{'replies accepted':>18}{'peak RSS growth':>18}")
    for r in rows:
        name = "openai, uncapped" if r["mode"] == "plain" else "Generator (capped)"
        print(f"{name:<22}{r['ok']:>18}{r['growth_mb']:>15.1f} MB")
    plain, capped = rows
    if capped["growth_mb"] > 0:
        print(f"ratio uncapped/capped: {plain['growth_mb'] / capped['growth_mb']:.1f}x")


if __name__ == "__main__":
    main()
