"""A chat page that streams answers token by token, over SSE, from aiohttp.web.

    python examples/web_chat/app.py [--port 8080] [--models openai:gpt-4.1,anthropic:claude-opus-4-1]

then open the printed URL. Every provider in streamkit's registry
(``streamkit.providers``: OpenAI, Anthropic, Gemini, Ollama, Azure, ...) is
offered, each with a few models: a provider the environment configures (its
API key set: ``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``...; for Ollama, its
``OLLAMA_HOST``) talks to its real server; the others run on streamkit's
loopback mock server (with a little per-token delay, so you can watch it
stream), and the OpenAI-compatible presets (Groq, DeepSeek, ...) appear
once configured.
The start-up banner says which is which.

Two front ends, two wire formats, one app:

* ``/`` (static/index.html, no build step, no CDN) POSTs ``{"prompt",
  "model"}`` to ``/api/chat`` and reads streamkit's own SSE events with
  ``fetch()``; its Stop button aborts the fetch, which cancels the
  upstream stream (see streamkit.web).
* ``/api/ai-sdk/chat`` speaks the Vercel AI SDK's UI message stream, for a
  React page using ``useChat`` from ``@ai-sdk/react``
  (``usechat/app.jsx``; ``/usechat`` serves it once bundled, see
  ``usechat/README.md``). It takes what ``useChat`` POSTs (``{"id",
  "messages": [UIMessage...], ...}``, plus ``"model"`` from the page).

``GET /api/models`` lists the picker's entries. A failed answer is logged
here (type, HTTP status, request id and the provider's message, which
streamkit keeps free of the API key; never the prompt) while the browser
gets a fixed sentence.

Resume is per visitor: each browser gets a random session token in an
HttpOnly, SameSite=Strict cookie, and that token is the owner of the
streams it starts, so a ``Last-Event-ID`` replays an answer only to the
browser that asked for it (copy this part if you copy the resume buffer).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from streamkit import HumanMessage, InvalidArgumentError, StreamAbandoned, providers
from streamkit.callbacks import BaseCallbackHandler
from streamkit.models import ChatModel
from streamkit.testing import MockResponse, MockServer, canned_reply
from streamkit.web import ResumeBuffer, sse_response
from streamkit.web_aisdk import ui_messages_to_streamkit

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
#: Where ``usechat/README.md``'s build command writes the useChat page's bundle.
USECHAT_JS = STATIC / "usechat.js"
logger = logging.getLogger("web_chat")

# -- what the picker offers -------------------------------------------------------
#: A few models per provider; a provider not listed offers its class's default
#: model. ``--models`` (or ``WEBCHAT_MODELS``) replaces these.
SUGGESTED_MODELS: dict[str, list[str]] = {
    "openai": ["gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1", "o4-mini"],
    "anthropic": ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"],
}


@dataclass(frozen=True)
class Offer:
    """One entry of the model picker."""

    id: str  # "openai:gpt-4o-mini": what the page sends back
    provider: str
    model: str
    label: str
    mock: bool


@dataclass
class Catalog:
    """The chat models the app can use: one client per provider, and the picker's entries."""

    clients: dict[str, ChatModel] = field(default_factory=dict)
    offers: list[Offer] = field(default_factory=list)
    #: provider -> where its answers come from (for the banner).
    sources: dict[str, str] = field(default_factory=dict)
    #: provider -> why it is not offered.
    missing: dict[str, str] = field(default_factory=dict)

    def pick(self, wanted: Any) -> Offer | None:
        """The offer with this id (or, for a bare provider name, that provider's first), or the first."""
        if wanted is None:
            return self.offers[0] if self.offers else None
        for offer in self.offers:
            if wanted in (offer.id, offer.provider):
                return offer
        return None

    def banner(self) -> list[str]:
        """What the app tells the developer at start-up: where each provider's answers come from."""
        lines = [f"  {provider}: {source}" for provider, source in self.sources.items()]
        lines += [f"  {provider}: not offered ({why})" for provider, why in self.missing.items()]
        return lines


class LogStreamErrors(BaseCallbackHandler):
    """Logs every failed answer server-side: the browser only gets a fixed sentence.

    Logs the error's type, HTTP status, request id and message (streamkit
    redacts the API key from it; the prompt is never part of it), not the
    prompt or the partial answer.
    """

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        if isinstance(error, StreamAbandoned):
            logger.info("answer stopped: the browser went away (run %s)", kwargs.get("run_id"))
            return
        logger.warning(
            "answer failed: %s (status %s, request id %s): %s",
            type(error).__name__,
            getattr(error, "status_code", None),
            getattr(error, "request_id", None),
            error,
        )


def wanted_models(spec: str | None) -> dict[str, list[str]]:
    """``"openai:gpt-4.1,anthropic:claude-opus-4-1"`` -> per-provider lists (None: the suggestions)."""
    if not spec:
        return SUGGESTED_MODELS
    out: dict[str, list[str]] = {}
    for item in spec.split(","):
        provider, sep, model = item.strip().partition(":")
        if not sep or not provider or not model:
            raise SystemExit(f"--models: expected provider:model[,provider:model...], got {item!r}")
        out.setdefault(provider.lower(), []).append(model)
    return out


def configuration(entry: providers.ProviderEntry) -> tuple[str, bool]:
    """The environment variable that points this provider at a real server, and whether it is set:
    its API key's, or (for a provider that needs no key, such as Ollama) its base URL's."""
    wire = entry.chat_class()._new_provider(dict(entry.preset))
    env = wire.api_key_env or wire.base_url_env or ""
    return env, bool(env and os.environ.get(env))


async def make_models(mock: MockServer | None, models: str | None = None) -> Catalog:
    """One client per registered provider (``streamkit.providers``): its real API when the
    environment configures it, else ``mock`` for the providers that have a wire of their own (the
    OpenAI-compatible presets are offered only when configured)."""
    wanted = wanted_models(models or os.environ.get("WEBCHAT_MODELS"))
    catalog = Catalog()
    handlers = [LogStreamErrors()]
    for entry in providers.entries():
        provider, label = entry.name, entry.title or entry.name
        env, configured = configuration(entry)
        if configured:
            try:
                client = entry.chat_model(streaming=True, callbacks=handlers)
            except InvalidArgumentError as exc:
                catalog.missing[provider] = str(exc)
                continue
            catalog.sources[provider] = f"the real API at {client.base_url} ({env} is set)"
            is_mock = False
        elif mock is not None and entry.mocks and not entry.preset:
            base_url = mock.base_url_for(provider)
            client = entry.chat_model(base_url=base_url, api_key="mock", streaming=True, callbacks=handlers)
            catalog.sources[provider] = f"streamkit's mock server at {base_url} ({env or 'nothing'} not set)"
            is_mock = True
        else:
            if not entry.preset:  # presets are many: only those configured are worth a line
                catalog.missing[provider] = f"{env or 'its base URL'} is not set"
            continue
        catalog.clients[provider] = client
        default = client.model
        for model in wanted.get(provider) or [default]:
            suffix = " (mock)" if is_mock else ""
            catalog.offers.append(
                Offer(f"{provider}:{model}", provider, model, f"{label} · {model}{suffix}", is_mock)
            )
    return catalog


# -- the per-visitor session: the resume buffer's owner ------------------------
# One ResumeBuffer serves every visitor, so each replay must be tied to whoever
# started the stream. Here that is a random token (256 bits) in a cookie set by
# the server: HttpOnly (page scripts cannot read it), SameSite=Strict (other
# sites' requests do not carry it), Secure when served over HTTPS. With your own
# login, pass the user's id (or session id) as owner instead.
SESSION_COOKIE = "webchat_session"
_SESSION_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # what secrets.token_urlsafe(32) makes
CATALOG: web.AppKey[Catalog] = web.AppKey("catalog", Catalog)
RESUME: web.AppKey[ResumeBuffer] = web.AppKey("resume", ResumeBuffer)
USECHAT: web.AppKey[Path] = web.AppKey("usechat", Path)


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


async def models_list(request: web.Request) -> web.Response:
    offers = request.app[CATALOG].offers
    return web.json_response([{"id": o.id, "label": o.label, "mock": o.mock} for o in offers])


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body: Any = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="expected a JSON body") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return body


def chosen(request: web.Request, body: dict[str, Any]) -> Offer:
    """The model the page picked: ``"model"`` (an offer id) or ``"provider"``; default the first."""
    catalog = request.app[CATALOG]
    offer = catalog.pick(body.get("model", body.get("provider")))
    if offer is None:
        ids = ", ".join(o.id for o in catalog.offers)
        raise web.HTTPBadRequest(text=f"unknown model; GET /api/models lists them ({ids})")
    return offer


async def chat(request: web.Request) -> web.StreamResponse:
    """streamkit's own SSE events, for static/index.html."""
    body = await json_body(request)
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise web.HTTPBadRequest(text="expected {'prompt': str, 'model'?: str} (see GET /api/models)")
    offer = chosen(request, body)
    # A request without a valid session (say from curl) gets a new one: it owns
    # only the streams it starts, so a Last-Event-ID it sends replays nothing.
    owner, set_cookie = session_of(request)
    stream = (
        request.app[CATALOG].clients[offer.provider].stream([HumanMessage(content=prompt)], model=offer.model)
    )
    return await sse_response(request, stream, resume=request.app[RESUME], owner=owner, headers=set_cookie)


async def ai_sdk_chat(request: web.Request) -> web.StreamResponse:
    """The Vercel AI SDK's UI message stream, for useChat (usechat/app.jsx)."""
    body = await json_body(request)
    offer = chosen(request, body)
    try:
        messages = ui_messages_to_streamkit(body)
        stream = request.app[CATALOG].clients[offer.provider].stream(messages, model=offer.model)
    except InvalidArgumentError as exc:  # a malformed history, or a part this provider cannot take
        raise web.HTTPBadRequest(text=str(exc)) from None
    return await sse_response(request, stream, protocol="ai-sdk")


async def usechat_page(request: web.Request) -> web.StreamResponse:
    if not request.app[USECHAT].exists():
        raise web.HTTPNotFound(text="the useChat page is not built: see examples/web_chat/usechat/README.md")
    return web.FileResponse(STATIC / "usechat.html", headers={"Cache-Control": "no-cache"})


async def usechat_js(request: web.Request) -> web.StreamResponse:
    if not request.app[USECHAT].exists():
        raise web.HTTPNotFound()
    return web.FileResponse(request.app[USECHAT], headers={"Cache-Control": "no-cache"})


def build_app(catalog: Catalog, *, usechat_js_path: Path = USECHAT_JS) -> web.Application:
    app = web.Application()
    app[CATALOG] = catalog
    app[RESUME] = ResumeBuffer()
    app[USECHAT] = usechat_js_path
    app.router.add_get("/", index)
    app.router.add_get("/api/models", models_list)
    app.router.add_post("/api/chat", chat)
    app.router.add_post("/api/ai-sdk/chat", ai_sdk_chat)
    app.router.add_get("/usechat", usechat_page)
    app.router.add_get("/usechat.js", usechat_js)

    async def close_models(app: web.Application) -> None:
        for model in app[CATALOG].clients.values():
            await model.aclose()

    app.on_cleanup.append(close_models)
    return app


def mock_responder(delay: float) -> Any:
    def respond(request: Any) -> MockResponse:
        messages = (request.json or {}).get("messages") or [{}]
        content = messages[-1].get("content", "") if isinstance(messages[-1], dict) else ""
        if isinstance(content, list):  # content parts: their text
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        return MockResponse(text=canned_reply(str(content)), delay=delay)

    return respond


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--delay", type=float, default=0.05, help="mock seconds per token")
    parser.add_argument("--models", help="provider:model[,provider:model...] to offer (default: a few each)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    mock = await MockServer().start()
    mock.responder = mock_responder(args.delay)
    catalog = await make_models(mock, args.models)
    if not any(offer.mock for offer in catalog.offers):
        await mock.close()  # every provider has a key: no mock needed
        mock = None
    print("answers come from:\n" + "\n".join(catalog.banner()))
    runner = web.AppRunner(build_app(catalog))
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    print(f"web chat on http://{args.host}:{args.port}/  (Ctrl-C to stop)", flush=True)
    if USECHAT_JS.exists():
        print(f"useChat page on http://{args.host}:{args.port}/usechat", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        if mock is not None:
            await mock.close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
