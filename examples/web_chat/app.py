"""A chat page that streams answers token by token, over SSE, from aiohttp.web.

    python examples/web_chat/app.py [--port 8080]

then open the printed URL. With OPENAI_API_KEY / ANTHROPIC_API_KEY set it
uses the real providers; without, it starts streamkit's loopback mock
server (with a little per-token delay, so you can watch it stream).

The page (static/index.html, no build step, no CDN) POSTs the prompt to
/api/chat and reads the SSE response with fetch(); its Stop button aborts
the fetch, which cancels the upstream stream (see streamkit.web).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

from aiohttp import web

from streamkit import ChatAnthropic, ChatOpenAI, HumanMessage, InvalidArgumentError
from streamkit.models import ChatModel
from streamkit.testing import MockResponse, MockServer, canned_reply
from streamkit.web import ResumeBuffer, sse_response

STATIC = Path(__file__).resolve().parent / "static"
MODELS: web.AppKey[dict[str, ChatModel]] = web.AppKey("models", dict)
RESUME: web.AppKey[ResumeBuffer] = web.AppKey("resume", ResumeBuffer)


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def chat(request: web.Request) -> web.StreamResponse:
    try:
        body: Any = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="expected a JSON body") from None
    prompt = body.get("prompt") if isinstance(body, dict) else None
    provider = body.get("provider", "openai") if isinstance(body, dict) else "openai"
    models = request.app[MODELS]
    if not isinstance(prompt, str) or not prompt.strip() or provider not in models:
        raise web.HTTPBadRequest(text="expected {'prompt': str, 'provider': 'openai' | 'anthropic'}")
    stream = models[provider].stream([HumanMessage(content=prompt)])
    return await sse_response(request, stream, resume=request.app[RESUME])


def build_app(models: dict[str, ChatModel]) -> web.Application:
    app = web.Application()
    app[MODELS] = models
    app[RESUME] = ResumeBuffer()
    app.router.add_get("/", index)
    app.router.add_post("/api/chat", chat)

    async def close_models(app: web.Application) -> None:
        for model in app[MODELS].values():
            await model.aclose()

    app.on_cleanup.append(close_models)
    return app


def mock_responder(delay: float) -> Any:
    def respond(request: Any) -> MockResponse:
        messages = (request.json or {}).get("messages") or [{}]
        prompt = messages[-1].get("content", "") if isinstance(messages[-1], dict) else ""
        return MockResponse(text=canned_reply(str(prompt)), delay=delay)

    return respond


async def make_models(mock: MockServer | None) -> dict[str, ChatModel]:
    models: dict[str, ChatModel] = {}
    if mock is None or os.environ.get("OPENAI_API_KEY"):
        models["openai"] = ChatOpenAI(streaming=True)
    else:
        models["openai"] = ChatOpenAI(base_url=mock.openai_base_url, api_key="mock", streaming=True)
    try:
        if mock is not None and not os.environ.get("ANTHROPIC_API_KEY"):
            models["anthropic"] = ChatAnthropic(base_url=mock.anthropic_base_url, api_key="mock")
        else:
            models["anthropic"] = ChatAnthropic()
    except InvalidArgumentError:
        pass  # no Anthropic key: the page offers OpenAI only
    return models


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--delay", type=float, default=0.05, help="mock seconds per token")
    args = parser.parse_args()
    mock: MockServer | None = None
    if not (os.environ.get("OPENAI_API_KEY") and os.environ.get("ANTHROPIC_API_KEY")):
        mock = await MockServer().start()
        mock.responder = mock_responder(args.delay)
        print(f"(no API keys: answers come from streamkit's mock server on {mock.url})")
    runner = web.AppRunner(build_app(await make_models(mock)))
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    print(f"web chat on http://{args.host}:{args.port}/  (Ctrl-C to stop)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        if mock is not None:
            await mock.close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
