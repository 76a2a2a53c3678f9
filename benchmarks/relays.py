"""The gateway scenario's relays: ``python -m benchmarks.relays KIND CONFIG_JSON``.

A relay is an OpenAI-compatible gateway between the downstream clients
and the benchmark server: it serves ``POST /v1/chat/completions`` on
127.0.0.1, maps the request's ``model`` (an alias: ``bench-run``,
``bench-warmup``) to the upstream model name (a :class:`benchmarks.wire.Spec`,
which a real gateway could not take as a model name: LiteLLM reads a comma
in it as a list of models), checks the bearer key, and streams the answer
back as it comes. ``KIND`` is one of:

* ``floor``: aiohttp.web and an aiohttp client, forwarding the upstream's
  SSE lines as they arrive, unparsed, one write per event (at each blank
  line): about the least a Python relay can do. The downstream gets
  OpenAI's wire format, byte for byte as the upstream sent it.
* ``sk-relay``: streamkit, ``sse_response(request, ChatOpenAI(...).stream(messages,
  model=...))``: the upstream parsed into events and relayed as streamkit's
  own SSE format (``event: token`` ... ``event: done``), resume store off.

(The third contender, LiteLLM's proxy, is its own program: see
:mod:`benchmarks.gateway`.)

``CONFIG_JSON``: ``{"upstream": "http://127.0.0.1:PORT", "models": {alias:
upstream model}, "key": bearer key}``. Prints ``{"port": N, "pid": P}``
once it listens, then serves until terminated. Both run on the default
asyncio event loop, as ``aiohttp.web.run_app`` does, with no access log.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .server import raise_nofile_limit

__all__ = ["main"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _check(request: web.Request, key: str) -> web.Response | None:
    """401 unless ``Authorization: Bearer <key>``; None when it is right."""
    given = request.headers.get("Authorization", "")
    if hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
        return None
    return web.json_response({"error": {"message": "bad key"}}, status=401)


def _floor(config: dict[str, Any], app: web.Application) -> Handler:
    import aiohttp

    url = config["upstream"] + "/v1/chat/completions"
    models: dict[str, str] = config["models"]
    key: str = config["key"]
    upstream_headers = {"Authorization": "Bearer bench", "Content-Type": "application/json"}
    sessions: list[aiohttp.ClientSession] = []

    async def on_startup(app: web.Application) -> None:
        sessions.append(
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None)
            )
        )

    async def on_cleanup(app: web.Application) -> None:
        await sessions[0].close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)

    async def handler(request: web.Request) -> web.StreamResponse:
        denied = _check(request, key)
        if denied is not None:
            return denied
        body = await request.json()
        body["model"] = models[body["model"]]
        async with sessions[0].post(url, data=json.dumps(body), headers=upstream_headers) as upstream:
            if upstream.status != 200:
                return web.Response(status=upstream.status, body=await upstream.read())
            response = web.StreamResponse(
                headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
            )
            await response.prepare(request)
            event: list[bytes] = []
            async for line in upstream.content:
                event.append(line)
                if line in (b"\n", b"\r\n"):  # the end of an event: send it on now
                    await response.write(b"".join(event))
                    event.clear()
            if event:
                await response.write(b"".join(event))
            await response.write_eof()
        return response

    return handler


def _sk_relay(config: dict[str, Any], app: web.Application) -> Handler:
    from streamkit import AIMessage, BaseMessage, ChatOpenAI, HumanMessage, SystemMessage
    from streamkit.web import sse_response

    models: dict[str, str] = config["models"]
    key: str = config["key"]
    kinds: dict[str, type[BaseMessage]] = {
        "user": HumanMessage,
        "system": SystemMessage,
        "developer": SystemMessage,
        "assistant": AIMessage,
    }
    chats: list[ChatOpenAI] = []

    async def on_startup(app: web.Application) -> None:
        # Default settings (timeouts included), no retries: a failure must show.
        chats.append(ChatOpenAI(base_url=config["upstream"] + "/v1", api_key="bench", max_retries=0))

    async def on_cleanup(app: web.Application) -> None:
        await chats[0].aclose()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)

    async def handler(request: web.Request) -> web.StreamResponse:
        denied = _check(request, key)
        if denied is not None:
            return denied
        body = await request.json()
        messages = [kinds[m["role"]](content=m["content"]) for m in body["messages"]]
        return await sse_response(request, chats[0].stream(messages, model=models[body["model"]]))

    return handler


RELAYS: dict[str, Callable[[dict[str, Any], web.Application], Handler]] = {
    "floor": _floor,
    "sk-relay": _sk_relay,
}


async def serve(kind: str, config: dict[str, Any]) -> None:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", RELAYS[kind](config, app))
    runner = web.AppRunner(app, access_log=None, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    port = runner.addresses[0][1]
    print(json.dumps({"port": port, "pid": os.getpid()}), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    kind, config = args[0], json.loads(args[1])
    raise_nofile_limit()
    try:
        asyncio.run(serve(kind, config))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
