"""Quick single-stream throughput check: raw aiohttp floor vs streamkit.

    python benchmarks/quick.py [--tokens 20000] [--reps 5]

A loopback server in a child process serves a pre-rendered OpenAI chat
stream. Each client reads it in this process; the text is checked so that
no client cheats. Prints tokens/s (median of reps, alternating order) and
the ratio to the floor measured in the same run. Not a test: timings are
never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import time

import aiohttp
from aiohttp import web

from streamkit import ChatOpenAI
from streamkit.callbacks import AsyncCallbackHandler


def render(tokens: int) -> tuple[bytes, str]:
    parts = [f" tok{i % 97}" for i in range(tokens)]
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "bench"}
    out = [json.dumps({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})]
    out += [
        json.dumps(
            {
                **base,
                "choices": [{"index": 0, "delta": {"content": p}, "logprobs": None, "finish_reason": None}],
            }
        )
        for p in parts
    ]
    out.append(json.dumps({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    out.append(
        json.dumps(
            {
                **base,
                "choices": [],
                "usage": {"prompt_tokens": 1, "completion_tokens": tokens, "total_tokens": tokens + 1},
            }
        )
    )
    body = "".join(f"data: {o}\n\n" for o in out) + "data: [DONE]\n\n"
    return body.encode(), "".join(parts)


def serve(port: int, tokens: int) -> None:
    body, _ = render(tokens)

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for i in range(0, len(body), 16384):
            await resp.write(body[i : i + 16384])
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


async def floor(url: str, session: aiohttp.ClientSession) -> str:
    parts = []
    async with session.post(url + "/chat/completions", json={"stream": True}) as resp:
        async for line in resp.content:
            if line.startswith(b"data: ") and not line.startswith(b"data: [DONE]"):
                obj = json.loads(line[6:])
                for c in obj["choices"]:
                    t = c["delta"].get("content")
                    if t:
                        parts.append(t)
    return "".join(parts)


class Tok(AsyncCallbackHandler):
    n = 0

    async def on_llm_new_token(self, token: str, **kwargs: object) -> None:
        self.n += 1


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=20000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--port", type=int, default=18931)
    args = ap.parse_args()
    proc = multiprocessing.Process(target=serve, args=(args.port, args.tokens), daemon=True)
    proc.start()
    url = f"http://127.0.0.1:{args.port}/v1"
    _, expected = render(args.tokens)
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            try:
                await floor(url, session)
                break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
        chat = ChatOpenAI(base_url=url)
        chat_h = ChatOpenAI(base_url=url, streaming=True, callbacks=[Tok()])

        async def sk_stream() -> str:
            return "".join([t async for t in chat.stream("x")])

        async def sk_generate() -> str:
            return (await chat_h.generate([["x"]])).generations[0][0].text

        async def fl() -> str:
            return await floor(url, session)

        clients = {
            "floor (aiohttp lines + json)": fl,
            "streamkit stream()": sk_stream,
            "streamkit generate()+handler": sk_generate,
        }
        times: dict[str, list[float]] = {k: [] for k in clients}
        for rep in range(args.reps):
            order = list(clients) if rep % 2 == 0 else list(reversed(clients))
            for name in order:
                t0 = time.perf_counter()
                text = await clients[name]()
                times[name].append(time.perf_counter() - t0)
                assert text == expected, name
        await chat.aclose()
        await chat_h.aclose()
    proc.terminate()
    base = statistics.median(times["floor (aiohttp lines + json)"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(
            f"{name:32s} {args.tokens / med:>10,.0f} tok/s  "
            f"{med / args.tokens * 1e6:6.2f} us/token  x{base / med:.2f} vs floor"
        )


if __name__ == "__main__":
    asyncio.run(main())
