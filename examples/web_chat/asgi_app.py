"""The same relay for ASGI frameworks: a minimal Starlette app (FastAPI is the same call).

    pip install -e '.[starlette]' uvicorn   # from a checkout: the starlette extra
    uvicorn examples.web_chat.asgi_app:app

Needs OPENAI_API_KEY (or OPENAI_BASE_URL pointing at a compatible server).
Serves the same page as app.py (OpenAI only) and, like it, ties resume to a
per-visitor session cookie; ``/api/ai-sdk/chat`` speaks the Vercel AI SDK's
UI message stream for ``useChat`` (see app.py and usechat/).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from streamkit import ChatOpenAI, HumanMessage, InvalidArgumentError
from streamkit.web import SSE_HEADERS, ResumeBuffer, sse_events
from streamkit.web_aisdk import UI_MESSAGE_STREAM_HEADERS, ui_messages_to_streamkit

chat = ChatOpenAI(streaming=True)
PAGE = Path(__file__).resolve().parent / "static" / "index.html"
resume = ResumeBuffer()  # one for every visitor: each replay is checked against its owner

# The owner of a visitor's streams: a random token (256 bits) in a cookie the
# server sets, HttpOnly (page scripts cannot read it) and SameSite=Strict (other
# sites' requests do not carry it); Secure over HTTPS. With your own login,
# pass the user's id (or session id) as owner instead.
SESSION_COOKIE = "webchat_session"
_SESSION_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # what secrets.token_urlsafe(32) makes


def session_of(request: Request) -> tuple[str, bool]:
    """This visitor's session token, and whether it is new (then set the cookie)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if _SESSION_TOKEN.fullmatch(token):
        return token, False
    return secrets.token_urlsafe(32), True


def set_session(response: Response, request: Request, token: str) -> None:
    secure = request.url.scheme == "https"
    response.set_cookie(SESSION_COOKIE, token, path="/", httponly=True, samesite="strict", secure=secure)


async def index(request: Request) -> Response:
    token, new = session_of(request)  # the page load starts the session
    response = FileResponse(PAGE)
    if new:
        set_session(response, request, token)
    return response


async def chat_endpoint(request: Request) -> Response:
    body = await request.json()
    owner, new = session_of(request)  # no valid cookie: a new session, which owns nothing yet
    stream = chat.stream([HumanMessage(content=str(body.get("prompt", "")))])
    last_event_id = request.headers.get("last-event-id")  # None when absent
    frames = sse_events(stream, resume=resume, owner=owner, last_event_id=last_event_id)
    response = StreamingResponse(frames, headers=SSE_HEADERS, media_type="text/event-stream")
    if new:
        set_session(response, request, owner)
    return response


async def ai_sdk_endpoint(request: Request) -> Response:
    """What useChat POSTs ({"id", "messages": [UIMessage...]}), answered as a UI message stream."""
    try:
        stream = chat.stream(ui_messages_to_streamkit(await request.json()))
    except (ValueError, InvalidArgumentError) as exc:  # not JSON, or not a useChat body
        return PlainTextResponse(str(exc), status_code=400)
    frames = sse_events(stream, protocol="ai-sdk")
    return StreamingResponse(frames, headers=UI_MESSAGE_STREAM_HEADERS, media_type="text/event-stream")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with chat:  # one HTTP session for the app's life, closed at shutdown
        yield


app = Starlette(
    routes=[
        Route("/", index),
        Route("/api/chat", chat_endpoint, methods=["POST"]),
        Route("/api/ai-sdk/chat", ai_sdk_endpoint, methods=["POST"]),
    ],
    lifespan=lifespan,
)
