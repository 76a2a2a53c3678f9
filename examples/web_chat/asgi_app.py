"""The same relay for ASGI frameworks: a minimal Starlette app (FastAPI is the same call).

    pip install starlette uvicorn
    uvicorn examples.web_chat.asgi_app:app

Needs OPENAI_API_KEY (or OPENAI_BASE_URL pointing at a compatible server).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from streamkit import ChatOpenAI, HumanMessage
from streamkit.web import SSE_HEADERS, sse_events

chat = ChatOpenAI(streaming=True)


async def chat_endpoint(request: Request) -> Response:
    body = await request.json()
    stream = chat.stream([HumanMessage(content=str(body.get("prompt", "")))])
    return StreamingResponse(sse_events(stream), headers=SSE_HEADERS, media_type="text/event-stream")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with chat:  # one HTTP session for the app's life, closed at shutdown
        yield


app = Starlette(routes=[Route("/api/chat", chat_endpoint, methods=["POST"])], lifespan=lifespan)
