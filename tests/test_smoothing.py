"""Smoothing (issue #13, point 4): tiny deltas re-chunked into words or lines, paced by an injectable sleep."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sse_client import decode, text_of

import streamkit
from streamkit import ChatOpenAI, InvalidArgumentError, OverloadedError
from streamkit.events import TextDelta, ThinkingDelta, ToolCallDelta, ToolCallStart
from streamkit.smoothing import Smoothing
from streamkit.testing import MockResponse, MockServer
from streamkit.web import sse_response

TEXT = "Hello there, wonderful   world!\nHow are you,\tdear reader? Fine. Très bien — 好的 ok"


class Sleeps:
    """An injected sleep: records each pause instead of waiting."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


def per_character(text: str, chunk_size: int | None = None) -> MockResponse:
    """One SSE event per character (with ``chunk_size=1``, one byte per network write too)."""
    return MockResponse(tokens=list(text), chunk_size=chunk_size)


@pytest.fixture
async def chat(mock_server: MockServer) -> AsyncIterator[ChatOpenAI]:
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as model:
        yield model


async def test_words_at_one_byte_chunking(mock_server: MockServer, chat: ChatOpenAI) -> None:
    mock_server.enqueue(per_character(TEXT, chunk_size=1))
    sleeps = Sleeps()
    stream = chat.stream("hi")
    chunks = [c async for c in streamkit.smooth(stream, chunking="word", delay_ms=10, sleep=sleeps)]
    assert "".join(chunks) == TEXT  # exactly preserved
    assert all(len(c.split()) == 1 for c in chunks)  # one whole word each ...
    assert all(c[-1].isspace() for c in chunks[:-1])  # ... ending on a word boundary
    assert len(chunks) == len(TEXT.split())
    assert chunks[-1] == "ok"  # the final partial word, flushed at the end
    # A pause after each paced chunk; the flushed last word is not paced.
    assert sleeps.pauses == [0.01] * (len(chunks) - 1)
    assert stream.result.text == TEXT  # the result is the provider's, untouched


async def test_lines(mock_server: MockServer, chat: ChatOpenAI) -> None:
    text = "first line\nsecond line\n\n\nthird, no newline at the end"
    mock_server.enqueue(per_character(text))
    sleeps = Sleeps()
    chunks = [c async for c in streamkit.smooth(chat.stream("hi"), chunking="line", delay_ms=5, sleep=sleeps)]
    assert chunks == ["first line\n", "second line\n", "\n", "\n", "third, no newline at the end"]
    assert "".join(chunks) == text
    assert sleeps.pauses == [0.005] * 4


async def test_custom_chunking(mock_server: MockServer, chat: ChatOpenAI) -> None:
    text = "One. Two! Three? Four"
    mock_server.enqueue(per_character(text), per_character(text))
    sentences = re.compile(r"[.!?]\s+")
    chunks = [c async for c in streamkit.smooth(chat.stream("hi"), chunking=sentences, delay_ms=None)]
    assert chunks == ["One. ", "Two! ", "Three? ", "Four"]

    def three_at_a_time(buffer: str) -> str | None:
        return buffer[:3] if len(buffer) >= 3 else None

    chunks = [c async for c in streamkit.smooth(chat.stream("hi"), chunking=three_at_a_time, delay_ms=None)]
    assert chunks == ["One", ". T", "wo!", " Th", "ree", "? F", "our"]


async def test_no_delay_never_sleeps(mock_server: MockServer, chat: ChatOpenAI) -> None:
    mock_server.enqueue(per_character(TEXT), per_character(TEXT))
    for delay in (None, 0):
        sleeps = Sleeps()
        chunks = [c async for c in streamkit.smooth(chat.stream("hi"), delay_ms=delay, sleep=sleeps)]
        assert "".join(chunks) == TEXT
        assert sleeps.pauses == []


async def test_reasoning_text_and_tool_calls_keep_their_order(
    mock_server: MockServer, chat: ChatOpenAI
) -> None:
    thinking = "the user wants weather, so call the tool"
    mock_server.enqueue(
        MockResponse(
            thinking=thinking,
            text="Checking the weather now",
            tool_calls=[{"name": "weather", "args": {"city": "Oslo"}, "id": "c1"}],
            chunk_size=1,
        )
    )
    stream = streamkit.smooth(chat.stream("weather?"), delay_ms=1, sleep=Sleeps())
    events = [e async for e in stream.events()]
    kinds = [type(e) for e in events]
    last_thought = max(i for i, k in enumerate(kinds) if k is ThinkingDelta)
    assert last_thought < kinds.index(TextDelta)  # all reasoning before the answer
    thoughts = [e.text for e in events if isinstance(e, ThinkingDelta)]
    assert "".join(thoughts) == thinking and all(t[-1] == " " for t in thoughts[:-1])
    answer = [e.text for e in events if isinstance(e, TextDelta)]
    assert "".join(answer) == "Checking the weather now"
    assert answer[-1] == "now"  # flushed before the tool call, not held past it
    last_text = max(i for i, k in enumerate(kinds) if k is TextDelta)
    assert kinds.index(ToolCallStart) > last_text and kinds.index(ToolCallDelta) > last_text
    assert stream.result.text == "Checking the weather now"


async def test_buffered_text_is_let_out_before_an_error(mock_server: MockServer, chat: ChatOpenAI) -> None:
    mock_server.enqueue(MockResponse(tokens=list("alpha beta gam"), error_after=15, chunk_size=1))
    seen: list[str] = []
    with pytest.raises(OverloadedError) as caught:
        async for chunk in streamkit.smooth(chat.stream("hi"), delay_ms=None):
            seen.append(chunk)
    assert seen == ["alpha ", "beta ", "gam"]  # the partial word too, then the error
    assert caught.value.partial_result is not None
    assert caught.value.partial_result.text == "alpha beta gam"


async def test_leaving_early_closes_the_stream(mock_server: MockServer, chat: ChatOpenAI) -> None:
    mock_server.enqueue(MockResponse(text=" ".join(["word"] * 500), delay=0.01))
    async with streamkit.smooth(chat.stream("hi"), delay_ms=None) as smoothed:
        async for _ in smoothed:
            break
    assert await mock_server.wait_for_disconnect(2.0)


async def test_relay_smooths_frames(mock_server: MockServer) -> None:
    mock_server.enqueue(per_character(TEXT, chunk_size=1))
    sleeps = Sleeps()
    chat = ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k")

    async def handle(request: web.Request) -> web.StreamResponse:
        smooth = Smoothing(chunking="word", delay_ms=20, sleep=sleeps)
        return await sse_response(request, chat.stream("hi"), smooth=smooth)

    app = web.Application()
    app.router.add_post("/chat", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/chat"
            async with session.post(url) as resp:
                events = decode(await resp.read())
    finally:
        await runner.cleanup()
        await chat.aclose()
    tokens = [json.loads(e.data)["text"] for e in events if e.event == "token"]
    assert all(len(t.split()) == 1 for t in tokens) and all(t[-1].isspace() for t in tokens[:-1])
    assert len(tokens) == len(TEXT.split())
    assert text_of(events) == TEXT
    assert events[-1].event == "done" and json.loads(events[-1].data)["text"] == TEXT
    assert sleeps.pauses == [0.02] * (len(tokens) - 1)


async def test_relay_is_unsmoothed_by_default(mock_server: MockServer) -> None:
    from streamkit.web import sse_events

    mock_server.enqueue(per_character("a b"))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        frames = [f async for f in sse_events(chat.stream("hi"))]
    tokens = [json.loads(e.data)["text"] for e in decode(b"".join(frames)) if e.event == "token"]
    assert tokens == ["a", " ", "b"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"chunking": "sentence"},
        {"chunking": re.compile(r"\s*")},  # matches nothing: would never let text out
        {"chunking": 42},
        {"delay_ms": -1},
        {"delay_ms": float("nan")},
        {"delay_ms": True},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError):
        Smoothing(**kwargs)


async def test_a_chunker_must_return_a_prefix(mock_server: MockServer, chat: ChatOpenAI) -> None:
    mock_server.enqueue(per_character("abc def"))
    with pytest.raises(InvalidArgumentError, match="prefix"):
        async for _ in streamkit.smooth(chat.stream("hi"), chunking=lambda buffer: "zz", delay_ms=None):
            pass
