"""The timing promises, pinned (issue #10, item 12).

Each test fails if its promise is broken, and none races the wall clock:
time is a :class:`lifecycle_kit.ManualClock` the test moves, the server is
gated by events, and "nothing happens" is checked after letting the loop run,
not after sleeping.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import anyio
import pytest
from lifecycle_kit import (
    DONE,
    GUARD,
    HEAD,
    LAST_CHUNK,
    ROLE,
    ManualClock,
    Recorder,
    chunk,
    delta,
    read_request,
    scripted,
    settle,
)

from streamkit import APIConnectionError, APITimeoutError, ChatOpenAI, StreamAbandoned
from streamkit.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from streamkit.callbacks._manager import ON_ERROR_TIMEOUT
from streamkit.deadlines import Timeouts, use_clock
from streamkit.testing import MockResponse, MockServer

WORDS = ["one", " two", " three", " four"]


def gated(words: list[str], gates: list[asyncio.Event]) -> Any:
    """A script sending each word once its gate is set, then the end of the answer."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(HEAD + chunk(ROLE))
        for word, gate in zip(words, gates, strict=True):
            await gate.wait()
            writer.write(chunk(delta(word)))
            await writer.drain()
        writer.write(chunk(delta(finish="stop") + DONE) + LAST_CHUNK)
        await writer.drain()
        await reader.read()

    return script


class Pacer(BaseCallbackHandler):
    """On each token: move the clock on by ``step``, then let the server send the next one."""

    def __init__(self, clock: ManualClock, step: float, gates: list[asyncio.Event]) -> None:
        self.clock, self.step, self.gates, self.seen = clock, step, gates, 0

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.seen += 1
        self.clock.advance(self.step)
        if self.seen < len(self.gates):
            self.gates[self.seen].set()


async def paced_stream(timeouts: Timeouts, step: float) -> list[str]:
    """Read WORDS while ``step`` seconds pass (on the clock) between each and the next read."""
    gates = [asyncio.Event() for _ in WORDS]
    gates[0].set()
    clock = ManualClock()
    async with scripted(gated(WORDS, gates)) as server:
        with use_clock(clock):
            model = ChatOpenAI(base_url=server.url, api_key="k", timeout=timeouts, max_retries=0)
            stream = model.stream("hi", callbacks=[Pacer(clock, step, gates)])
        async with model:
            return await asyncio.wait_for(_tokens(stream), GUARD)


async def _tokens(stream: Any) -> list[str]:
    return [token async for token in stream]


async def test_progress_resets_the_idle_deadline() -> None:
    """6 s between events with idle=10 s: 24 s in all, never 10 s of silence."""
    assert await paced_stream(Timeouts(connect=5, idle=10), step=6) == WORDS


async def test_the_idle_deadline_still_fires() -> None:
    """...and 11 s between events with idle=10 s is a stall (the pacing above is not a no-op)."""
    with pytest.raises(APITimeoutError) as info:
        await paced_stream(Timeouts(connect=5, idle=10), step=11)
    assert info.value.phase == "idle"


async def test_the_first_token_deadline_ends_with_the_first_content() -> None:
    """first_token=10 s, then 11 s between events and no idle deadline: nothing expires."""
    assert await paced_stream(Timeouts(connect=5, first_token=10, idle=None), step=11) == WORDS


async def test_a_retry_waits_its_backoff(mock_server: MockServer) -> None:
    mock_server.enqueue_failures(1, 503, then=MockResponse(text="fine"))
    clock = ManualClock()
    recorder = Recorder()
    with use_clock(clock):
        model = ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k", max_retries=1)
        call = asyncio.create_task(model("hi", callbacks=[recorder]))
    await asyncio.wait_for(clock.registered.wait(), GUARD)
    [delay] = clock.sleeps
    assert 0.375 <= delay <= 0.5  # the first back-off: 0.5 s, jittered down to 75 %
    assert recorder.retries[0]["delay"] == delay
    await settle()
    assert len(mock_server.requests) == 1 and not call.done()  # waiting, not retrying
    clock.advance(delay * 0.99)
    await settle()
    assert len(mock_server.requests) == 1 and not call.done()
    clock.advance(delay * 0.02)
    assert (await asyncio.wait_for(call, GUARD)).content == "fine"
    assert len(mock_server.requests) == 2
    await model.aclose()


async def test_a_408_is_retried(mock_server: MockServer) -> None:
    mock_server.enqueue_failures(1, 408, retry_after=0, then=MockResponse(text="fine"))
    recorder = Recorder()
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k", max_retries=1) as model:
        assert (await model("hi", callbacks=[recorder])).content == "fine"
    assert len(mock_server.requests) == 2
    assert [r["error"].status_code for r in recorder.retries] == [408]


class SlowToLearn(AsyncCallbackHandler):
    """An on_llm_error that awaits a few times before it has recorded the error."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    async def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        self.errors.append(error)


async def test_on_llm_error_runs_in_a_cancelled_scope(mock_server: MockServer) -> None:
    """anyio re-delivers a scope's cancellation at every await: the handler is shielded from it."""
    mock_server.enqueue(MockResponse(text="one two three four", stall_after=2, stall_for=60.0))
    handler = SlowToLearn()
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k", callbacks=[handler]) as model:
        got: list[str] = []
        with anyio.CancelScope() as scope:
            async for token in model.stream("hi"):
                got.append(token)
                scope.cancel()
        assert scope.cancelled_caught
    assert got == ["one"]
    assert [type(e) for e in handler.errors] == [StreamAbandoned]


async def test_on_llm_error_is_cancelled_after_its_bound(mock_server: MockServer) -> None:
    assert ON_ERROR_TIMEOUT == 5.0
    entered = asyncio.Event()
    outcome: list[str] = []

    class Stuck(AsyncCallbackHandler):
        async def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
            entered.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                outcome.append("cancelled")
                raise

    mock_server.enqueue(MockResponse(text="one two three four", drop_after=3))
    clock = ManualClock()
    with use_clock(clock):
        model = ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k", max_retries=0)
        stream = model.stream("hi", callbacks=[Stuck()])
    async with model:
        reader = asyncio.create_task(_tokens(stream))
        await asyncio.wait_for(entered.wait(), GUARD)
        clock.advance(ON_ERROR_TIMEOUT - 0.01)
        await settle()
        assert not reader.done()  # still waiting for the handler
        clock.advance(0.02)
        with pytest.raises(APIConnectionError):
            await asyncio.wait_for(reader, GUARD)
    assert outcome == ["cancelled"]


def test_a_model_moves_to_a_new_event_loop() -> None:
    """Used from a second event loop (a second asyncio.run), with no aclose() between: it works."""
    ready = threading.Event()
    shared: dict[str, Any] = {}

    async def serve() -> None:
        async with MockServer() as server:
            # Connection: close, so no pooled socket is left behind on the first loop.
            closing = {"Connection": "close"}
            server.enqueue(
                MockResponse(text="first", headers=closing), MockResponse(text="second", headers=closing)
            )
            shared.update(url=server.openai_base_url, loop=asyncio.get_running_loop(), stop=asyncio.Event())
            ready.set()
            await shared["stop"].wait()

    thread = threading.Thread(target=lambda: asyncio.run(serve()))
    thread.start()
    try:
        assert ready.wait(GUARD)
        model = ChatOpenAI(base_url=shared["url"], api_key="k", max_retries=0, timeout=GUARD)
        first = asyncio.run(model("hi"))
        second = asyncio.run(model("hi"))
        assert (first.content, second.content) == ("first", "second")
    finally:
        if "loop" in shared:
            shared["loop"].call_soon_threadsafe(shared["stop"].set)
        thread.join(GUARD)


def _choice_chunk(index: int, **delta_fields: Any) -> bytes:
    finish = delta_fields.pop("finish", None)
    choice = {"index": index, "delta": delta_fields, "finish_reason": finish}
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _call(call_id: str | None, name: str | None, arguments: str) -> dict[str, Any]:
    function: dict[str, Any] = {"arguments": arguments}
    if name is not None:
        function["name"] = name
    call: dict[str, Any] = {"index": 0, "function": function}
    if call_id is not None:
        call.update(id=call_id, type="function")
    return call


async def test_n_choices_keep_their_own_tool_calls(mock_server: MockServer) -> None:
    """Two choices, each calling a tool at wire index 0: each call stays with its choice."""
    body = b"".join(
        [
            _choice_chunk(0, role="assistant", tool_calls=[_call("call_a", "alpha", "")]),
            _choice_chunk(1, role="assistant", tool_calls=[_call("call_b", "beta", "")]),
            _choice_chunk(0, tool_calls=[_call(None, None, '{"x": 1}')]),
            _choice_chunk(1, tool_calls=[_call(None, None, '{"y": 2}')]),
            _choice_chunk(0, finish="tool_calls"),
            _choice_chunk(1, finish="tool_calls"),
            DONE,
        ]
    )
    mock_server.enqueue(MockResponse(raw=body))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k", n=2, streaming=True) as model:
        result = await model.generate([["hi"]])
    calls = [
        [(c.id, c.name, c.args) for c in g.message.tool_calls]  # type: ignore[attr-defined]
        for g in result.generations[0]
    ]
    assert calls == [[("call_a", "alpha", {"x": 1})], [("call_b", "beta", {"y": 2})]]
