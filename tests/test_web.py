"""streamkit.web: the SSE relay for aiohttp.web and ASGI, over real sockets."""

from __future__ import annotations

import asyncio
import base64
import hmac
import importlib
import itertools
import json
import secrets
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from streamkit import ChatOpenAI, HumanMessage, InvalidArgumentError
from streamkit._adapter import ResponseStream
from streamkit._sse import ServerSentEvent, SSEDecoder
from streamkit.testing import MockResponse, MockServer
from streamkit.web import SSE_HEADERS, ResumeBuffer, SSERelay, sse_events, sse_response

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
        options = dict(self.options)
        if "resume" in options:  # the test's stand-in for a session: whoever says X-Owner
            options["owner"] = request.headers.get("X-Owner")
        return await sse_response(request, stream, **options)

    async def __aenter__(self) -> Relay:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
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
    metrics = done.pop("metrics")  # streamkit._metrics: timings vary, their keys do not
    assert metrics["output_deltas"] == len(tokens) and metrics["time_to_first_token_s"] is not None
    assert done == {
        "text": "Hello there, browser!",
        "finish_reason": "stop",
        "normalized_finish_reason": "stop",
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
        async with client.post(relay.url, json={"prompt": "hi"}, headers={"X-Owner": "alice"}) as resp:
            first_events, _ = decode(await resp.read())
        missed_from = first_events[1].id
        async with client.post(
            relay.url, json={"prompt": "hi"}, headers={"Last-Event-ID": missed_from, "X-Owner": "alice"}
        ) as resp:
            replayed, _ = decode(await resp.read())
        assert len(mock_server.requests) == 1  # replayed from the buffer: no second generation
    assert [(e.id, e.data) for e in replayed] == [(e.id, e.data) for e in first_events[2:]]


def test_resume_buffer_is_bounded() -> None:
    buffer = ResumeBuffer(max_streams=2, max_frames=3)
    for stream in ("s1", "s2", "s3"):
        for n in range(1, 6):
            buffer.record(stream, n, f"{stream}:{n}".encode(), owner="o")
    assert buffer.replay("s1:1", owner="o") is None  # evicted stream
    assert buffer.replay("s3:3", owner="o") == [b"s3:4", b"s3:5"]
    assert buffer.replay("s3:1", owner="o") is None  # frames 2.. are gone: refuse rather than skip
    assert buffer.replay("garbage", owner="o") is None


async def _asgi_call(
    app: Any,
    body: dict[str, Any],
    *,
    disconnect_after: int | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
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
        "headers": [(b"content-type", b"application/json"), *(headers or [])],
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
        frames = [f async for f in sse_events(chat.stream("hi"), resume=buffer, owner="alice")]
        first_id = decode(frames[0])[0][0].id
        assert first_id is not None
        replay = [
            f
            async for f in sse_events(chat.stream("hi"), resume=buffer, owner="alice", last_event_id=first_id)
        ]
    assert replay == frames[1:]
    assert len(mock_server.requests) == 1


# -- resume belongs to whoever started the stream (issue #10, item 1) ---------------

UNAVAILABLE = "ResumeUnavailable"
URLSAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def assert_resume_refused(raw: bytes, leaked: str = "") -> None:
    """The one answer to any Last-Event-ID that cannot be replayed: a single error frame."""
    events, _ = decode(raw)
    assert [(e.event, e.id) for e in events] == [("error", None)], raw
    assert json.loads(events[0].data)["type"] == UNAVAILABLE
    if leaked:
        assert leaked.encode() not in raw


def test_stream_ids_are_unguessable() -> None:
    class Unopened:  # SSERelay only touches its stream once iterated
        pass

    ids = [SSERelay(Unopened()).stream_id for _ in range(1000)]  # type: ignore[arg-type]
    assert len(set(ids)) == 1000
    for stream_id in ids:
        assert len(stream_id) >= 22 and set(stream_id) <= URLSAFE, stream_id
        assert len(base64.urlsafe_b64decode(stream_id + "==")) >= 16  # >= 128 bits
    # Not a counter nor derived from the previous id: every position varies,
    # and consecutive ids share no more than chance allows.
    # (The 22nd character holds the last 2 bits only: look at the first 21.)
    for position in range(21):
        assert len({i[position] for i in ids}) > 32, position
    same = sum(a[p] == b[p] for a, b in itertools.pairwise(ids) for p in range(21))
    assert same < 21 * 999 / 8, same  # chance: 1/64 per position


def test_stream_ids_come_from_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int | None] = []

    def token_urlsafe(nbytes: int | None = None) -> str:
        asked.append(nbytes)
        return "X" * 22

    monkeypatch.setattr(secrets, "token_urlsafe", token_urlsafe)
    assert SSERelay(object()).stream_id == "X" * 22  # type: ignore[arg-type]
    assert asked and all(n is not None and n >= 16 for n in asked)


async def test_wire_ids_are_random_stream_ids(mock_server: MockServer, client: aiohttp.ClientSession) -> None:
    async with Relay(mock_server) as relay:
        seen = []
        for _ in range(2):
            async with client.post(relay.url, json={"prompt": "hi"}) as resp:
                events, _ = decode(await resp.read())
            seen.append(events[0].id.rsplit(":", 1)[0])  # type: ignore[union-attr]
    for stream_id in seen:
        assert len(stream_id) >= 22 and set(stream_id) <= URLSAFE
    assert seen[0] != seen[1]


async def test_replay_is_only_for_the_owner(mock_server: MockServer, client: aiohttp.ClientSession) -> None:
    """Bob sends Alice's exact Last-Event-ID: he gets the same refusal as for an unknown id."""
    mock_server.enqueue(MockResponse(text="alice's private answer"))
    buffer = ResumeBuffer()
    async with Relay(mock_server, resume=buffer) as relay:

        async def post(owner: str, last_event_id: str) -> tuple[aiohttp.ClientResponse, bytes]:
            headers = {"X-Owner": owner, "Last-Event-ID": last_event_id}
            async with client.post(relay.url, json={"prompt": "hi"}, headers=headers) as resp:
                return resp, await resp.read()

        async with client.post(relay.url, json={"prompt": "hi"}, headers={"X-Owner": "alice"}) as resp:
            alices = decode(await resp.read())[0]
        first_id = alices[0].id
        assert first_id is not None
        stream_id = first_id.rsplit(":", 1)[0]
        refusals = []
        for owner, last_event_id in [
            ("bob", first_id),
            ("bob", f"{stream_id}:0"),
            # Close is not equal. (Not "alice ": HTTP cannot carry a trailing space in a
            # header value, RFC 9110 section 5.5, and aiohttp 3.14's parser strips it,
            # so over HTTP it *is* "alice"; the buffer test below covers it directly.)
            ("alic", first_id),
            ("Alice", first_id),
            ("bob", f"{secrets.token_urlsafe(16)}:1"),  # unknown: the answer to compare with
        ]:
            resp, raw = await post(owner, last_event_id)
            assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
            assert_resume_refused(raw, leaked="private")
            refusals.append(raw)
        assert len(set(refusals)) == 1  # not-owned and unknown are indistinguishable
        _, replay = await post("alice", first_id)  # the owner still can
        assert [(e.id, e.data) for e in decode(replay)[0]] == [(e.id, e.data) for e in alices[1:]]
        assert len(mock_server.requests) == 1  # no reconnect started a generation


def test_resume_buffer_replays_only_to_the_recorded_owner() -> None:
    buffer = ResumeBuffer()
    for n in range(1, 4):
        buffer.record("abc", n, f"frame {n}".encode(), owner="alice")
    assert buffer.replay("abc:1", owner="alice") == [b"frame 2", b"frame 3"]
    assert buffer.replay("abc:1", owner="bob") is None
    assert buffer.replay("abc:1", owner="alice ") is None  # close is not equal
    assert buffer.replay("abc:0", owner="alicé") is None  # non-ASCII owners are fine too
    with pytest.raises(InvalidArgumentError, match="another owner"):
        buffer.record("abc", 4, b"frame 4", owner="bob")
    assert buffer.replay("abc:3", owner="alice") == []


async def test_owner_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    buffer = ResumeBuffer()
    buffer.record("abc", 1, b"one", owner="alice")
    buffer.record("abc", 2, b"two", owner="alice")
    calls.clear()
    assert buffer.replay("abc:1", owner="alice") == [b"two"]
    assert len(calls) == 1
    assert buffer.replay("abc:1", owner="bob") is None
    assert buffer.replay("zzz:1", owner="bob") is None  # unknown ids take the same path
    assert len(calls) == 3
    assert all(len(a) == len(b) for a, b in calls)  # fixed-length digests: no length leak
    # The decision is compare_digest's: if it says no, the owner gets nothing.
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: False)
    assert buffer.replay("abc:1", owner="alice") is None


async def test_resume_without_an_owner_is_refused_at_call_time(mock_server: MockServer) -> None:
    buffer = ResumeBuffer()
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        for owner in (None, ""):
            with pytest.raises(InvalidArgumentError, match="owner"):
                sse_events(chat.stream("hi"), resume=buffer, owner=owner)
            with pytest.raises(InvalidArgumentError, match="owner"):
                sse_events(chat.stream("hi"), resume=buffer, owner=owner, last_event_id="abc:1")
            with pytest.raises(InvalidArgumentError, match="owner"):
                SSERelay(chat.stream("hi"), resume=buffer, owner=owner)
            request = make_mocked_request("POST", "/chat", headers={"Last-Event-ID": "abc:1"})
            with pytest.raises(InvalidArgumentError, match="owner"):
                await sse_response(request, chat.stream("hi"), resume=buffer, owner=owner)
            with pytest.raises(InvalidArgumentError, match="owner"):
                buffer.replay("abc:1", owner=owner)  # type: ignore[arg-type]
            with pytest.raises(InvalidArgumentError, match="owner"):
                buffer.record("abc", 1, b"x", owner=owner)  # type: ignore[arg-type]
    assert mock_server.requests == []


MALFORMED_IDS: dict[str, str] = {
    "arabic-indic digit": "{sid}:\u0663",
    "fullwidth digit": "{sid}:\uff11",
    "superscript digit": "{sid}:\u00b9",
    "thousands of digits": "{sid}:" + "7" * 5000,
    "19 digits": "{sid}:" + "9" * 19,
    "negative": "{sid}:-1",
    "plus sign": "{sid}:+1",
    "decimal": "{sid}:1.0",
    "inner space": "{sid}: 1",
    "two colons": "{sid}:1:1",
    "missing colon": "{sid}",
    "no sequence": "{sid}:",
    "only a colon": ":",
    "no stream": ":1",
    "garbage": "garbage",
    "empty": "",
    "non-ascii stream id": "str\u00e9am:1",
    "huge header": "{sid}:1" + "9" * 7000,
}


def _malformed(name: str, stream_id: str) -> str:
    return MALFORMED_IDS[name].replace("{sid}", stream_id)


@pytest.mark.parametrize("name", list(MALFORMED_IDS))
async def test_malformed_last_event_id_is_unknown_sse_events(mock_server: MockServer, name: str) -> None:
    buffer = ResumeBuffer()
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        frames = [f async for f in sse_events(chat.stream("hi"), resume=buffer, owner="alice")]
        stream_id = decode(frames[0])[0][0].id.rsplit(":", 1)[0]  # type: ignore[union-attr]
        last_event_id = _malformed(name, stream_id)
        source = sse_events(chat.stream("hi"), resume=buffer, owner="alice", last_event_id=last_event_id)
        assert_resume_refused(b"".join([f async for f in source]))
    assert len(mock_server.requests) == 1


@pytest.mark.parametrize("name", list(MALFORMED_IDS))
async def test_malformed_last_event_id_is_unknown_aiohttp(
    mock_server: MockServer, client: aiohttp.ClientSession, name: str
) -> None:
    async with Relay(mock_server, resume=ResumeBuffer()) as relay:
        async with client.post(relay.url, json={"prompt": "hi"}, headers={"X-Owner": "alice"}) as resp:
            stream_id = decode(await resp.read())[0][0].id.rsplit(":", 1)[0]  # type: ignore[union-attr]
        headers = {"X-Owner": "alice", "Last-Event-ID": _malformed(name, stream_id)}
        async with client.post(relay.url, json={"prompt": "hi"}, headers=headers) as resp:
            assert resp.status == 200
            assert_resume_refused(await resp.read())
    assert len(mock_server.requests) == 1


@pytest.mark.parametrize(
    ("raw_value", "statuses"),
    [
        (b"\xff\xfe:1", {200}),  # not UTF-8
        ("\u0663".encode(), {200}),
        (b"9" * 20_000, {400, 431}),  # over aiohttp's header limit: its own 4xx, never 500
    ],
    ids=["invalid-utf8", "arabic-indic-only", "over-the-header-limit"],
)
async def test_malformed_last_event_id_raw_bytes_aiohttp(
    mock_server: MockServer, raw_value: bytes, statuses: set[int]
) -> None:
    async with Relay(mock_server, resume=ResumeBuffer()) as relay:
        host, port = relay.url.split("/")[2].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        body = b'{"prompt": "hi"}'
        writer.write(
            b"POST /chat HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Owner: alice\r\n"
            b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n"
            b"Last-Event-ID: " + raw_value + b"\r\n\r\n" + body
        )
        raw = await reader.read()
        writer.close()
        await writer.wait_closed()
    head, _, payload = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert status in statuses, head
    if status == 200:
        assert b"Transfer-Encoding: chunked" in head
        # De-chunk the body (aiohttp streams it chunked).
        out, rest = b"", payload
        while rest:
            size_text, _, rest = rest.partition(b"\r\n")
            size = int(size_text, 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2 :]
        assert_resume_refused(out)
    assert mock_server.requests == []


@pytest.fixture
def sse_starlette_app(mock_server: MockServer) -> Any:
    """A plain Starlette endpoint around sse_events, the owner from a test header."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    chat = ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k")
    buffer = ResumeBuffer()

    async def endpoint(request: Request) -> StreamingResponse:
        frames = sse_events(
            chat.stream("hi"),
            resume=buffer,
            owner=request.headers.get("x-owner"),
            last_event_id=request.headers.get("last-event-id"),
        )
        return StreamingResponse(frames, headers=SSE_HEADERS, media_type="text/event-stream")

    app = Starlette(routes=[Route("/api/chat", endpoint, methods=["POST"])])
    app.state.chat = chat
    return app


@pytest.mark.parametrize("name", list(MALFORMED_IDS))
async def test_malformed_last_event_id_is_unknown_asgi(
    mock_server: MockServer, sse_starlette_app: Any, name: str
) -> None:
    async with sse_starlette_app.state.chat:
        _, chunks = await _asgi_call(sse_starlette_app, {}, headers=[(b"x-owner", b"alice")])
        stream_id = decode(b"".join(chunks))[0][0].id.rsplit(":", 1)[0]  # type: ignore[union-attr]
        value = _malformed(name, stream_id).encode()  # raw header bytes, as a server hands them over
        start, chunks = await _asgi_call(
            sse_starlette_app, {}, headers=[(b"x-owner", b"alice"), (b"last-event-id", value)]
        )
    assert start["status"] == 200
    assert_resume_refused(b"".join(chunks))
    assert len(mock_server.requests) == 1


async def test_asgi_replay_is_only_for_the_owner(mock_server: MockServer, sse_starlette_app: Any) -> None:
    mock_server.enqueue(MockResponse(text="alice's private answer"))
    async with sse_starlette_app.state.chat:
        _, chunks = await _asgi_call(sse_starlette_app, {}, headers=[(b"x-owner", b"alice")])
        first_id = decode(b"".join(chunks))[0][0].id
        assert first_id is not None
        replays = {}
        for owner in (b"bob", b"alice"):
            headers = [(b"x-owner", owner), (b"last-event-id", first_id.encode())]
            _, replays[owner] = await _asgi_call(sse_starlette_app, {}, headers=headers)
    assert_resume_refused(b"".join(replays[b"bob"]), leaked="private")
    assert b"".join(replays[b"alice"]) == b"".join(chunks[1:])
    assert len(mock_server.requests) == 1


# -- the example apps: each visitor's cookie owns its streams ----------------------


@pytest.fixture
def web_chat_example(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "examples" / "web_chat"))
    sys.modules.pop("app", None)
    module = importlib.import_module("app")
    yield module
    sys.modules.pop("app", None)


async def test_example_app_replays_only_to_the_visitor_who_asked(
    web_chat_example: Any, mock_server: MockServer
) -> None:
    mock_server.responder = web_chat_example.mock_responder(0.0)
    runner = web.AppRunner(web_chat_example.build_app(await web_chat_example.make_models(mock_server)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    prompt = {"prompt": "Write me a song about sparkling water.", "provider": "openai"}
    try:
        # Two browsers: two cookie jars (unsafe=True: the jar takes cookies from an IP host).
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as alice,
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as bob,
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as curl,
        ):
            for visitor in (alice, bob):
                async with visitor.get(base + "/") as resp:
                    assert resp.status == 200
                    set_cookie = resp.headers["Set-Cookie"]
                attributes = {a.strip().lower() for a in set_cookie.split(";")[1:]}
                assert {"httponly", "samesite=strict", "path=/"} <= attributes, set_cookie
            tokens = [next(iter(v.cookie_jar)).value for v in (alice, bob)]
            assert tokens[0] != tokens[1] and min(map(len, tokens)) >= 43

            async with alice.post(base + "/api/chat", json=prompt) as resp:
                answer = decode(await resp.read())[0]
            assert answer[-1].event == "done" and "Bubbles rising" in json.loads(answer[-1].data)["text"]
            first_id = answer[0].id
            assert first_id is not None

            for visitor in (bob, curl):  # another visitor, and one with no session at all
                async with visitor.post(
                    base + "/api/chat", json=prompt, headers={"Last-Event-ID": first_id}
                ) as resp:
                    assert resp.status == 200
                    assert_resume_refused(await resp.read(), leaked="Bubbles")
            async with alice.post(
                base + "/api/chat", json=prompt, headers={"Last-Event-ID": first_id}
            ) as resp:
                replayed = decode(await resp.read())[0]
            assert [e.id for e in replayed] == [e.id for e in answer[1:]]
            assert len(mock_server.requests) == 1
    finally:
        await runner.cleanup()


async def test_asgi_example_replays_only_to_the_visitor_who_asked(
    mock_server: MockServer, asgi_example: Any
) -> None:
    mock_server.enqueue(MockResponse(text="alice's private answer"))

    def cookie_of(start: dict[str, Any]) -> bytes:
        headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        set_cookie = headers["set-cookie"]
        attributes = {a.strip().lower() for a in set_cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/"} <= attributes, set_cookie
        return set_cookie.split(";", 1)[0].encode()

    async with asgi_example.chat:
        start, chunks = await _asgi_call(asgi_example.app, {"prompt": "hi"})
        alice = cookie_of(start)
        first_id = decode(b"".join(chunks))[0][0].id
        assert first_id is not None
        start, _ = await _asgi_call(asgi_example.app, {"prompt": "hi"})
        bob = cookie_of(start)
        assert bob != alice
        replays = {}
        for who, cookie in (("bob", bob), ("alice", alice)):
            headers = [(b"cookie", cookie), (b"last-event-id", first_id.encode())]
            _, replays[who] = await _asgi_call(asgi_example.app, {"prompt": "hi"}, headers=headers)
    assert_resume_refused(b"".join(replays["bob"]), leaked="private")
    assert b"".join(replays["alice"]) == b"".join(chunks[1:])
    assert len(mock_server.requests) == 2  # alice's answer and bob's first one; no replay generated
