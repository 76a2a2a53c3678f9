"""A chat page that streams answers token by token, over SSE, from aiohttp.web.

    python examples/web_chat/app.py [--port 8080]

then open the printed URL. With OPENAI_API_KEY / ANTHROPIC_API_KEY set it
uses the real providers; without, it starts streamkit's loopback mock
server (with a little per-token delay, so you can watch it stream).

The page (static/index.html, no build step, no CDN) POSTs the prompt to
/api/chat and reads the SSE response with fetch(); its Stop button aborts
the fetch, which cancels the upstream stream (see streamkit.web).

Resume is per visitor: each browser gets a random session token in an
HttpOnly, SameSite=Strict cookie, and that token is the owner of the
streams it starts, so a ``Last-Event-ID`` replays an answer only to the
browser that asked for it (copy this part if you copy the resume buffer).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
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


# -- the per-visitor session: the resume buffer's owner ------------------------
# One ResumeBuffer serves every visitor, so each replay must be tied to whoever
# started the stream. Here that is a random token (256 bits) in a cookie set by
# the server: HttpOnly (page scripts cannot read it), SameSite=Strict (other
# sites' requests do not carry it), Secure when served over HTTPS. With your own
# login, pass the user's id (or session id) as owner instead.
SESSION_COOKIE = "webchat_session"
_SESSION_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # what secrets.token_urlsafe(32) makes


def session_of(request: web.Request) -> tuple[str, dict[str, str]]:
    """This visitor's session token, and the headers that set it if it is new."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if _SESSION_TOKEN.fullmatch(token):
        return token, {}
    token = secrets.token_urlsafe(32)
    cookie = f"{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    if request.secure:
        cookie += "; Secure"
    return token, {"Set-Cookie": cookie}


async def index(request: web.Request) -> web.FileResponse:
    _, set_cookie = session_of(request)  # the page load starts the session
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache", **set_cookie})


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
    # A request without a valid session (say from curl) gets a new one: it owns
    # only the streams it starts, so a Last-Event-ID it sends replays nothing.
    owner, set_cookie = session_of(request)
    stream = models[provider].stream([HumanMessage(content=prompt)])
    return await sse_response(request, stream, resume=request.app[RESUME], owner=owner, headers=set_cookie)


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
