"""One worker process of a two-worker app sharing a Redis resume store (for tests/test_resume_redis.py).

    python tests/resume_worker.py --redis redis://127.0.0.1:PORT/0 --provider http://127.0.0.1:PORT/v1 \
        --grace 10 --ttl 60

Serves POST /chat ({"prompt": ...}, the owner in the X-Owner header: the
test's stand-in for a session) on a free loopback port, relaying ChatOpenAI
streams from the given (mock) provider through streamkit.web with a
RedisResumeStore; prints ``READY <port>`` once it listens, and runs until
SIGTERM (or SIGINT), then closes the store (cancelling the upstreams it
hosts) and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiohttp import web

from streamkit import ChatOpenAI, HumanMessage
from streamkit.resume_redis import RedisResumeStore
from streamkit.web import sse_response

STORE: web.AppKey[RedisResumeStore] = web.AppKey("store", RedisResumeStore)
CHAT: web.AppKey[ChatOpenAI] = web.AppKey("chat", ChatOpenAI)


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    stream = request.app[CHAT].stream([HumanMessage(content=body["prompt"])])
    return await sse_response(
        request, stream, resume=request.app[STORE], owner=request.headers.get("X-Owner")
    )


def build_app(redis_url: str, provider: str, grace: float, ttl: float) -> web.Application:
    app = web.Application()
    app.router.add_post("/chat", chat)

    async def lifespan(app: web.Application):  # type: ignore[no-untyped-def]
        # The store hosts the upstream readers of this worker's streams for the app's lifetime.
        async with RedisResumeStore(redis_url, grace=grace, ttl=ttl) as store:
            app[STORE] = store
            app[CHAT] = ChatOpenAI(base_url=provider, api_key="sk-worker")
            yield
            await app[CHAT].aclose()

    app.cleanup_ctx.append(lifespan)
    return app


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", required=True)
    parser.add_argument("--provider", required=True)
    parser.add_argument("--grace", type=float, required=True)
    parser.add_argument("--ttl", type=float, default=60.0)
    args = parser.parse_args()
    runner = web.AppRunner(build_app(args.redis, args.provider, args.grace, args.ttl), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"READY {runner.addresses[0][1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
