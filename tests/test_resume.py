"""Resume mid-answer on one worker: ResumeBuffer(grace=...) keeps the upstream running for a client that
dropped, over real loopback sockets (issue #13, point 2)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sse_client import decode, read_events, read_rest, seq_of, text_of

from streamkit import ChatOpenAI, HumanMessage, StreamStateError
from streamkit._resume import ResumeBuffer
from streamkit.testing import MockResponse, MockServer
from streamkit.web import SSERelay, sse_events, sse_response

WORDS = [f"w{i}" for i in range(60)]
ANSWER = " ".join(WORDS)
UNAVAILABLE = "ResumeUnavailable"


class App:
    """An aiohttp app relaying ChatOpenAI streams from the mock with a resume store; owner = X-Owner."""

    def __init__(self, provider: MockServer, store: ResumeBuffer) -> None:
        self.store = store
        self.chat = ChatOpenAI(base_url=provider.openai_base_url, api_key="sk-resume")
        app = web.Application()
        app.router.add_post("/chat", self.handle)
        self.runner = web.AppRunner(app)
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        stream = self.chat.stream([HumanMessage(content=body["prompt"])])
        return await sse_response(request, stream, resume=self.store, owner=request.headers.get("X-Owner"))

    async def __aenter__(self) -> App:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/chat"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()
        await self.chat.aclose()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Wait (bounded) for ``condition()``: a state to be reached, not a duration."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def entry_of(store: ResumeBuffer, event_id: str) -> Any:
    return store._streams[event_id.rsplit(":", 1)[0]]


def assert_whole_answer_once(first: list[Any], rest: list[Any]) -> None:
    """The two halves join into the answer: every frame once, in order, ending with done."""
    events = first + rest
    stream_ids = {e.id.rsplit(":", 1)[0] for e in events}
    assert len(stream_ids) == 1
    assert [seq_of(e) for e in events] == list(range(1, len(events) + 1))
    assert events[-1].event == "done"
    assert [e.event for e in events[:-1]] == ["token"] * (len(events) - 1)
    assert text_of(events) == ANSWER
    assert json.loads(events[-1].data)["text"] == ANSWER


async def test_reconnect_mid_answer_gets_the_rest_exactly_once(
    mock_server: MockServer, client: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(MockResponse(text=ANSWER, delay=0.02))
    async with ResumeBuffer(grace=10.0) as store, App(mock_server, store) as app:
        headers = {"X-Owner": "alice"}
        resp = await client.post(app.url, json={"prompt": "hi"}, headers=headers)
        first = await read_events(resp, 5)
        resp.close()  # the connection drops mid-answer
        entry = entry_of(store, first[-1].id)
        await until(lambda: entry.readers == 0)  # the relay saw the client go
        left_at = len(entry.frames)
        await until(lambda: len(entry.frames) >= left_at + 3)  # the model kept going for nobody
        assert entry.end is None and mock_server.active == 1

        reconnect = {**headers, "Last-Event-ID": first[-1].id}
        sent = time.perf_counter()
        async with client.post(app.url, json={"prompt": "hi"}, headers=reconnect) as resp2:
            assert resp2.status == 200
            rest = await read_events(resp2, 1)
            first_frame = time.perf_counter()
            rest += await read_rest(resp2)
    assert_whole_answer_once(first, rest)
    assert len(mock_server.requests) == 1  # one generation, no second request
    assert mock_server.disconnects == 0 and mock_server.completed == 1
    print(
        f"\nreconnect (same worker, memory): first frame {1000 * (first_frame - sent):.1f} ms after the request"
    )


async def test_no_reconnect_cancels_the_upstream_after_the_grace_period(
    mock_server: MockServer, client: aiohttp.ClientSession
) -> None:
    grace = 0.3
    mock_server.enqueue(MockResponse(text=" ".join(f"x{i}" for i in range(2000)), delay=0.01))
    async with ResumeBuffer(grace=grace) as store, App(mock_server, store) as app:
        resp = await client.post(app.url, json={"prompt": "hi"}, headers={"X-Owner": "alice"})
        first = await read_events(resp, 3)
        resp.close()
        left = time.perf_counter()
        entry = entry_of(store, first[-1].id)
        await until(lambda: entry.readers == 0)
        left_at = len(entry.frames)
        await until(lambda: len(entry.frames) > left_at)  # still generating during the grace period
        assert await mock_server.wait_for_disconnect(10.0)  # ... then cancelled (bounded wait, not a speed)
        elapsed = time.perf_counter() - left
        await until(lambda: entry.end is not None and not entry.live)
        assert mock_server.active == 0 and mock_server.completed == 0
        # A late reconnect still ends explicitly: what was relayed, then StreamAbandoned.
        reconnect = {"X-Owner": "alice", "Last-Event-ID": first[-1].id}
        async with client.post(app.url, json={"prompt": "hi"}, headers=reconnect) as resp2:
            rest = await read_rest(resp2)
    assert [seq_of(e) for e in first + rest] == list(range(1, len(first) + len(rest) + 1))
    assert rest[-1].event == "error"
    error = json.loads(rest[-1].data)
    assert error["type"] == "StreamAbandoned"
    assert "did not come back" in error["message"]
    assert error["partial_text"] == text_of(first + rest)
    print(f"client left -> upstream closed: {elapsed * 1000:.0f} ms (grace {grace * 1000:.0f} ms)")


async def test_reconnect_after_completion_replays(
    mock_server: MockServer, client: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(MockResponse(text=ANSWER))
    async with ResumeBuffer(grace=5.0) as store, App(mock_server, store) as app:
        headers = {"X-Owner": "alice"}
        async with client.post(app.url, json={"prompt": "hi"}, headers=headers) as resp:
            whole = await read_rest(resp)
        for n in (1, 7, len(whole) - 1):
            reconnect = {**headers, "Last-Event-ID": whole[n - 1].id}
            async with client.post(app.url, json={"prompt": "hi"}, headers=reconnect) as resp:
                rest = await read_rest(resp)
            assert_whole_answer_once(whole[:n], rest)
        # Already has the terminal frame: nothing more to send.
        reconnect = {**headers, "Last-Event-ID": whole[-1].id}
        async with client.post(app.url, json={"prompt": "hi"}, headers=reconnect) as resp:
            assert await resp.read() == b""
    assert len(mock_server.requests) == 1


async def test_reconnect_to_an_expired_stream_is_refused(
    mock_server: MockServer, client: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(MockResponse(text="first answer"), MockResponse(text="second answer"))
    async with ResumeBuffer(grace=5.0, max_streams=1) as store, App(mock_server, store) as app:
        headers = {"X-Owner": "alice"}
        async with client.post(app.url, json={"prompt": "one"}, headers=headers) as resp:
            old = await read_rest(resp)
        async with client.post(app.url, json={"prompt": "two"}, headers=headers) as resp:
            await resp.read()  # evicts the first stream
        reconnect = {**headers, "Last-Event-ID": old[0].id}
        async with client.post(app.url, json={"prompt": "three"}, headers=reconnect) as resp:
            assert resp.status == 200
            raw = await resp.read()
    events = decode(raw)
    assert [(e.event, e.id) for e in events] == [("error", None)]
    assert json.loads(events[0].data)["type"] == UNAVAILABLE
    assert b"first" not in raw
    assert len(mock_server.requests) == 2  # the refused reconnect started nothing


async def test_reconnect_to_another_owners_live_stream_is_refused(
    mock_server: MockServer, client: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(MockResponse(text=ANSWER, delay=0.02))
    async with ResumeBuffer(grace=10.0) as store, App(mock_server, store) as app:
        resp = await client.post(app.url, json={"prompt": "hi"}, headers={"X-Owner": "alice"})
        first = await read_events(resp, 3)
        resp.close()
        refusals = []
        for owner, last_event_id in [("bob", first[-1].id), ("bob", "AAAAAAAAAAAAAAAAAAAAAA:3")]:
            headers = {"X-Owner": owner, "Last-Event-ID": last_event_id}
            async with client.post(app.url, json={"prompt": "hi"}, headers=headers) as bobs:
                refusals.append(await bobs.read())
        assert refusals[0] == refusals[1]  # another owner's live stream looks unknown
        assert [e.event for e in decode(refusals[0])] == ["error"]
        headers = {"X-Owner": "alice", "Last-Event-ID": first[-1].id}
        async with client.post(app.url, json={"prompt": "hi"}, headers=headers) as resp2:
            rest = await read_rest(resp2)
    assert_whole_answer_once(first, rest)
    assert len(mock_server.requests) == 1


async def test_without_grace_a_drop_stops_the_upstream_and_the_replay_says_so(
    mock_server: MockServer, client: aiohttp.ClientSession
) -> None:
    """grace=0 (the default): as before, leaving stops generation at once; a reconnect is never an empty 200."""
    mock_server.enqueue(MockResponse(text=ANSWER, delay=0.05))
    store = ResumeBuffer()  # grace 0: needs no entering
    async with App(mock_server, store) as app:
        resp = await client.post(app.url, json={"prompt": "hi"}, headers={"X-Owner": "alice"})
        first = await read_events(resp, 3)
        resp.close()
        assert await mock_server.wait_for_disconnect(2.0)
        entry = entry_of(store, first[-1].id)
        await until(lambda: not entry.live)
        headers = {"X-Owner": "alice", "Last-Event-ID": first[-1].id}
        async with client.post(app.url, json={"prompt": "hi"}, headers=headers) as resp2:
            rest = await read_rest(resp2)
    assert rest, "a reconnect mid-answer must not be an empty 200"
    assert rest[-1].event == "error" and json.loads(rest[-1].data)["type"] == "StreamAbandoned"
    assert [seq_of(e) for e in first + rest] == list(range(1, len(first) + len(rest) + 1))


async def test_slow_client_with_a_store_loses_nothing(mock_server: MockServer) -> None:
    """Back-pressure through the store: the upstream waits for a slow client instead of trimming its frames."""
    tokens = [f"{i:05d}" + "y" * 500 + " " for i in range(1500)]
    mock_server.enqueue(MockResponse(tokens=tokens))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        store = ResumeBuffer(max_frames=8)  # the upstream may run 4 frames ahead of the client
        relay = SSERelay(chat.stream("hi"), resume=store, owner="alice")
        frames = [await relay.__anext__()]
        entry = entry_of(store, decode(frames[0])[0].id or "")
        await until(lambda: len(entry.frames) >= 5)
        await asyncio.sleep(0.2)  # the client stalls; the upstream must wait, not run on
        written = max(n for n, _ in entry.frames)
        assert written <= entry.position + store._window < 50  # of 1,500: the window ahead, no further
        frames += [f async for f in relay]
    events = decode(b"".join(frames))
    assert events[-1].event == "done"
    assert text_of(events) == "".join(tokens)
    assert [seq_of(e) for e in events] == list(range(1, len(events) + 1))


async def test_sse_events_resume_mid_answer(mock_server: MockServer) -> None:
    """The ASGI surface: a relay closed mid-answer, then sse_events(last_event_id=...) for the rest."""
    mock_server.enqueue(MockResponse(text=ANSWER, delay=0.01))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        async with ResumeBuffer(grace=10.0) as store:
            relay = sse_events(chat.stream("hi"), resume=store, owner="alice")
            first = [await relay.__anext__() for _ in range(4)]
            await relay.aclose()  # what a framework does when the client goes
            last_id = decode(first[-1])[0].id
            rest = [
                f
                async for f in sse_events(
                    chat.stream("hi"), resume=store, owner="alice", last_event_id=last_id
                )
            ]
    assert_whole_answer_once(decode(b"".join(first)), decode(b"".join(rest)))
    assert len(mock_server.requests) == 1 and mock_server.disconnects == 0


async def test_two_reconnects_read_the_same_live_stream(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text=ANSWER, delay=0.01))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        async with ResumeBuffer(grace=10.0) as store:
            relay = sse_events(chat.stream("hi"), resume=store, owner="alice")
            first = [await relay.__anext__() for _ in range(2)]
            await relay.aclose()
            last_id = decode(first[-1])[0].id

            async def tab() -> list[bytes]:
                source = sse_events(chat.stream("hi"), resume=store, owner="alice", last_event_id=last_id)
                return [f async for f in source]

            one, two = await asyncio.gather(tab(), tab())
    assert one == two
    assert_whole_answer_once(decode(b"".join(first)), decode(b"".join(one)))


async def test_leaving_the_store_cancels_the_upstreams_it_hosts(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text=ANSWER, delay=0.05))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        store = ResumeBuffer(grace=60.0)
        async with store:
            relay = sse_events(chat.stream("hi"), resume=store, owner="alice")
            first = await relay.__anext__()
            await relay.aclose()  # the client left; the store keeps generating for 60 s ...
            entry = entry_of(store, decode(first)[0].id or "")
            assert entry.live and mock_server.active == 1
        # ... unless the app stops: leaving the store closed the upstream and ended the stream.
        assert await mock_server.wait_for_disconnect(2.0)
        assert not entry.live and entry.end is not None
        assert b'"type":"StreamAbandoned"' in entry.frames[-1][1]
        with pytest.raises(StreamStateError, match="closed"):
            sse_events(chat.stream("hi"), resume=store, owner="alice")


async def test_a_grace_store_must_be_entered(mock_server: MockServer) -> None:
    """Who owns the upstream while its client is away must be explicit: an unentered store refuses."""
    store = ResumeBuffer(grace=30.0)
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        with pytest.raises(StreamStateError, match="async with"):
            sse_events(chat.stream("hi"), resume=store, owner="alice")
        with pytest.raises(StreamStateError, match="async with"):
            sse_events(chat.stream("hi"), resume=store, owner="alice", last_event_id="abc:1")
        with pytest.raises(StreamStateError, match="async with"):
            SSERelay(chat.stream("hi"), resume=store, owner="alice")
    assert mock_server.requests == []


async def test_a_stream_cut_off_without_its_end_says_so() -> None:
    """Frames with no terminal frame and no upstream left (here: recorded by hand) end with an explicit error."""
    store = ResumeBuffer()
    for n in range(1, 4):
        store.record("cut", n, f"event: token\nid: cut:{n}\ndata: {{}}\n\n".encode(), owner="alice")

    class Unopened:
        async def aclose(self) -> None:
            pass

    source = sse_events(Unopened(), resume=store, owner="alice", last_event_id="cut:1")  # type: ignore[arg-type]
    frames = [f async for f in source]
    events = decode(b"".join(frames))
    assert [e.event for e in events] == ["token", "token", "error"]
    assert [seq_of(e) for e in events[:2]] == [2, 3]
    assert b"\nid:" not in frames[-1] and not frames[-1].startswith(b"id:")  # unnumbered
    assert json.loads(events[-1].data)["type"] == "StreamInterrupted"


def test_bad_store_settings_are_refused() -> None:
    from streamkit import InvalidArgumentError

    for kwargs in ({"grace": -1}, {"grace": float("inf")}, {"max_frames": 1}, {"max_streams": 0}):
        with pytest.raises(InvalidArgumentError):
            ResumeBuffer(**kwargs)  # type: ignore[arg-type]


async def test_a_store_failure_ends_the_stream_explicitly(
    mock_server: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The store stops taking frames mid-answer: the upstream is closed, the failure logged, the client told."""
    mock_server.enqueue(MockResponse(text=ANSWER, delay=0.01))
    store = ResumeBuffer(grace=10.0)
    real_append = store._append

    async def failing_append(handle: Any, seq: int, frame: bytes, end: bool) -> None:
        if seq > 3:
            raise ConnectionError("the store went away")
        await real_append(handle, seq, frame, end)

    store._append = failing_append  # type: ignore[method-assign]
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat, store:
        frames = [f async for f in sse_events(chat.stream("hi"), resume=store, owner="alice")]
        assert await mock_server.wait_for_disconnect(2.0)
    events = decode(b"".join(frames))
    assert [e.event for e in events] == ["token"] * 3 + ["error"]
    assert json.loads(events[-1].data)["type"] == "StreamInterrupted"
    assert "the resume store failed" in caplog.text


async def test_a_store_closed_before_the_first_frame_starts_nothing(mock_server: MockServer) -> None:
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        store = ResumeBuffer(grace=10.0)
        async with store:
            relay = sse_events(chat.stream("hi"), resume=store, owner="alice")
        with pytest.raises(StreamStateError, match="closed"):
            await relay.__anext__()
        entry = next(iter(store._streams.values()))
        assert not entry.live and entry.readers == 0
    assert mock_server.requests == []
