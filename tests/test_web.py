"""streamkit.web: the SSE relay for aiohttp.web and ASGI, over real sockets."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from streamkit import ChatOpenAI, HumanMessage
from streamkit.adapter import ResponseStream
from streamkit.sse import ServerSentEvent, SSEDecoder
from streamkit.testing import MockResponse, MockServer
from streamkit.web import SSE_HEADERS, ResumeBuffer, sse_events, sse_response

SECRET = "sk-SENTINEL-relay-key"


class Relay:
    """An aiohttp app relaying ChatOpenAI streams from the mock provider."""

    def __init__(self, provider: MockServer, **relay_options: Any) -> None:
        self.provider = provider
        self.streams: list[ResponseStream] = []
        self.options = relay_options
        self.chat = ChatOpenAI(base_url=provider.openai_base_url, api_key=SECRET)
        self.app = web.Application()
        self.app.router.add_post("/chat", self.handle)
        self.runner = web.AppRunner(self.app)
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        stream = self.chat.stream([HumanMessage(content=body["prompt"])])
        self.streams.append(stream)
        return await sse_response(request, stream, **self.options)

    async def __aenter__(self) -> Relay:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/chat"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()
        await self.chat.aclose()


def decode(raw: bytes) -> tuple[list[ServerSentEvent], int]:
    decoder = SSEDecoder()
    events = decoder.feed(raw) + decoder.finish()
    return events, decoder.comments


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_wire_format_and_headers(mock_server: MockServer, client: aiohttp.ClientSession) -> None:
    mock_server.enqueue(
        MockResponse(
            text="Hello there, browser!",
            model="gpt-relay",
            usage={"prompt_tokens": 5, "completion_tokens": 4},
        )
    )
    async with Relay(mock_server) as relay:
        async with client.post(relay.url, json={"prompt": "hi"}) as resp:
            raw = await resp.read()
            headers = resp.headers
    for name, value in SSE_HEADERS.items():
        assert headers[name] == value
    events, _ = decode(raw)
    tokens = [e for e in events if e.event == "token"]
    assert "".join(json.loads(e.data)["text"] for e in tokens) == "Hello there, browser!"
    assert events[-1].event == "done"
    done = json.loads(events[-1].data)
    assert done == {
        "text": "Hello there, browser!",
        "finish_reason": "stop",
        "token_usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
        "model": "gpt-relay",
        "tool_calls": [],
    }
    ids = [e.id for e in events]
    stream_id = ids[0].rsplit(":", 1)[0]  # type: ignore[union-attr]
    assert ids == [f"{stream_id}:{n}" for n in range(1, len(events) + 1)]


async def test_tool_calls_and_thinking_are_typed_events(
    mock_server: MockServer, client: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(
        MockResponse(
            text="Checking.",
            thinking="need the tool",
            tool_calls=[{"name": "weather", "args": {"city": "Oslo"}, "id": "c1"}],
        )
    )
    async with Relay(mock_server) as relay:
        async with client.post(relay.url, json={"prompt": "weather?"}) as resp:
            events, _ = decode(await resp.read())
    kinds = [e.event for e in events]
    assert "thinking" in kinds and "tool_call" in kinds and "tool_call_delta" in kinds
    assert "need the tool" not in "".join(json.loads(e.data)["text"] for e in events if e.event == "token")
    start = json.loads(next(e.data for e in events if e.event == "tool_call"))
    assert start == {"index": 0, "id": "c1", "name": "weather"}
    arguments = "".join(json.loads(e.data)["arguments"] for e in events if e.event == "tool_call_delta")
    assert json.loads(arguments) == {"city": "Oslo"}
    done = json.loads(events[-1].data)
    assert done["tool_calls"] == [
        {"id": "c1", "name": "weather", "args": {"city": "Oslo"}, "complete": True, "raw_args": None}
    ]
    assert done["thinking"] == "need the tool"


async def test_upstream_failure_is_a_safe_error_event(
    mock_server: MockServer, client: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(
        MockResponse(text="one two three four", error_after=3, error_message=f"internal shard 7 key={SECRET}")
    )
    async with Relay(mock_server) as relay:
        async with client.post(relay.url, json={"prompt": "hi"}) as resp:
            raw = await resp.read()
    events, _ = decode(raw)
    assert [e.event for e in events] == ["token", "token", "error"]
    error = json.loads(events[-1].data)
    assert error == {
        "type": "OverloadedError",
        "message": "The model provider is overloaded; try again shortly.",
        "status_code": 529,
        "partial_text": "one two",
    }
    assert SECRET.encode() not in raw and b"shard" not in raw


async def test_heartbeats_while_upstream_is_silent(
    mock_server: MockServer, client: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(MockResponse(text="a b c", stall_after=2, stall_for=0.6))
    async with Relay(mock_server, heartbeat=0.1) as relay:
        async with client.post(relay.url, json={"prompt": "hi"}) as resp:
            raw = await resp.read()
    events, comments = decode(raw)
    assert comments >= 3
    assert events[-1].event == "done" and json.loads(events[-1].data)["text"] == "a b c"


@pytest.mark.parametrize("when", ["streaming", "silent"])
async def test_client_going_away_closes_the_provider_connection(
    mock_server: MockServer, client: aiohttp.ClientSession, when: str
) -> None:
    """The browser leaves: the provider sees its connection closed within a few hundred ms."""
    if when == "streaming":
        script = MockResponse(text=" ".join(f"w{i}" for i in range(200)), delay=0.05)
    else:
        script = MockResponse(text="one two three", stall_after=2, stall_for=10.0)
    mock_server.enqueue(script)
    async with Relay(mock_server) as relay:
        resp = await client.post(relay.url, json={"prompt": "hi"})
        first = await resp.content.readuntil(b"\n\n")
        assert first.startswith(b"event: token")
        closed_at = time.perf_counter()
        resp.close()  # what an aborted fetch does
        assert await mock_server.wait_for_disconnect(1.0)
        elapsed = time.perf_counter() - closed_at
        await asyncio.sleep(0.05)
        assert relay.streams[0].finished is False
        assert mock_server.active == 0
    # The bound is the 1 s wait above (while silent, the model would not have
    # spoken for 10 s); the measured time is printed for the record (-s).
    print(f"disconnect-to-upstream-close ({when}): {elapsed * 1000:.1f} ms")


async def test_slow_client_bounds_what_is_read_upstream(
    mock_server: MockServer, client: aiohttp.ClientSession
) -> None:
    """Back-pressure: a client that stops reading stops the relay reading upstream."""
    big = "x" * 1024
    mock_server.enqueue(MockResponse(tokens=[big] * 30_000))  # ~30 MiB of answer
    async with Relay(mock_server) as relay:
        resp = await client.post(relay.url, json={"prompt": "hi"})
        await resp.content.readuntil(b"\n\n")
        await asyncio.sleep(1.0)  # the client reads nothing more
        received = len(relay.streams[0].partial_result.text)
        resp.close()
        assert await mock_server.wait_for_disconnect(1.0)
    # Socket buffers hold a few MiB; the relay itself holds at most its small queue.
    print(f"read upstream while the client was stalled: {received / 1e6:.1f} MB of ~31 MB")
    assert received < 12 * 1024 * 1024, received


async def test_last_event_id_replays_missed_frames(
    mock_server: MockServer, client: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(MockResponse(text="alpha beta gamma delta"))
    buffer = ResumeBuffer(max_streams=4, max_frames=100)
    async with Relay(mock_server, resume=buffer) as relay:
        async with client.post(relay.url, json={"prompt": "hi"}) as resp:
            first_events, _ = decode(await resp.read())
        missed_from = first_events[1].id
        async with client.post(
            relay.url, json={"prompt": "hi"}, headers={"Last-Event-ID": missed_from}
        ) as resp:
            replayed, _ = decode(await resp.read())
        assert len(mock_server.requests) == 1  # replayed from the buffer: no second generation
    assert [(e.id, e.data) for e in replayed] == [(e.id, e.data) for e in first_events[2:]]


def test_resume_buffer_is_bounded() -> None:
    buffer = ResumeBuffer(max_streams=2, max_frames=3)
    for stream in ("s1", "s2", "s3"):
        for n in range(1, 6):
            buffer.record(stream, n, f"{stream}:{n}".encode())
    assert buffer.replay("s1:1") is None  # evicted stream
    assert buffer.replay("s3:3") == [b"s3:4", b"s3:5"]
    assert buffer.replay("s3:1") is None  # frames 2.. are gone: refuse rather than skip
    assert buffer.replay("garbage") is None


async def _asgi_call(
    app: Any, body: dict[str, Any], *, disconnect_after: int | None = None
) -> tuple[dict[str, Any], list[bytes]]:
    """Drive an ASGI app by hand; optionally disconnect after N body chunks."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []
    disconnected = asyncio.Event()
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body" and message.get("body"):
            chunks.append(message["body"])
            if disconnect_after is not None and len(chunks) >= disconnect_after:
                disconnected.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/chat",
        "raw_path": b"/api/chat",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await asyncio.wait_for(app(scope, receive, send), 10)
    return start, chunks


@pytest.fixture
def asgi_example(mock_server: MockServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("OPENAI_BASE_URL", mock_server.openai_base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-asgi")
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "examples" / "web_chat"))
    sys.modules.pop("asgi_app", None)
    module = importlib.import_module("asgi_app")
    yield module
    sys.modules.pop("asgi_app", None)


async def test_asgi_starlette_example_streams(mock_server: MockServer, asgi_example: Any) -> None:
    mock_server.enqueue(MockResponse(text="from starlette"))
    async with asgi_example.chat:
        start, chunks = await _asgi_call(asgi_example.app, {"prompt": "hi"})
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    assert start["status"] == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["x-accel-buffering"] == "no" and headers["cache-control"] == "no-cache"
    events, _ = decode(b"".join(chunks))
    assert "".join(json.loads(e.data)["text"] for e in events if e.event == "token") == "from starlette"
    assert events[-1].event == "done"


async def test_asgi_disconnect_cancels_upstream(mock_server: MockServer, asgi_example: Any) -> None:
    mock_server.enqueue(MockResponse(text=" ".join(f"w{i}" for i in range(100)), delay=0.05))
    async with asgi_example.chat:
        _, chunks = await _asgi_call(asgi_example.app, {"prompt": "hi"}, disconnect_after=2)
        assert await mock_server.wait_for_disconnect(1.0)
    assert 2 <= len(chunks) < 10


async def test_sse_events_replay_with_asgi(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text="one two"))
    buffer = ResumeBuffer()
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        frames = [f async for f in sse_events(chat.stream("hi"), resume=buffer)]
        first_id = decode(frames[0])[0][0].id
        assert first_id is not None
        replay = [f async for f in sse_events(chat.stream("hi"), resume=buffer, last_event_id=first_id)]
    assert replay == frames[1:]
    assert len(mock_server.requests) == 1
