"""Review 10 (issue #10, adversarial pass): defects found, each a failing test.

Every server is on 127.0.0.1. These tests are expected to FAIL until the
defects are fixed; each docstring says what should happen instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from loopback import serve

from streamkit import ChatAnthropic, ChatOpenAI, InvalidArgumentError, StreamkitError
from streamkit.deadlines import Timeouts
from streamkit.models import StreamingModel
from streamkit.testing import MockResponse, MockServer

KEY = "sk-SENTINEL-key-must-stay-home-31337"


def everything_shown(error: BaseException) -> str:
    """Every way an error is shown, logged or inspected, its attributes included."""
    parts = [str(error), repr(error), repr(error.args), "".join(traceback.format_exception(error))]
    parts += [repr(value) for value in vars(error).values()]
    return "\n".join(parts)


def model_for(provider: str, url: str, **kwargs: Any) -> StreamingModel:
    if provider == "openai":
        return ChatOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, streaming=True, **kwargs)
    return ChatAnthropic(base_url=url, api_key=KEY, max_retries=0, streaming=True, **kwargs)


# -- 1. model.aclose() on one thread's loop fails the streams of other threads --


@pytest.fixture
def server_thread() -> Iterator[MockServer]:
    """A MockServer running on its own thread and loop (the test's threads are its clients)."""
    ready = threading.Event()
    stop = threading.Event()
    box: dict[str, MockServer] = {}

    def run() -> None:
        async def main() -> None:
            async with MockServer() as server:
                box["server"] = server
                ready.set()
                while not stop.is_set():
                    await asyncio.sleep(0.02)

        asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield box["server"]
    stop.set()
    thread.join(10)


def test_model_aclose_on_one_thread_leaves_another_threads_stream_alone(server_thread: MockServer) -> None:
    """README: "aclose() closes the calling loop's pool only: a model used from two threads never
    tears down the other thread's connections". Today ``model.aclose()`` fails every open stream
    of the model, on every loop, with StreamClosedError (and touches the other loop's timer from
    the wrong thread: "Non-thread-safe operation invoked on an event loop other than the current one")."""
    server_thread.enqueue(MockResponse(text="one two three four five six"))
    model = ChatOpenAI(base_url=server_thread.openai_base_url, api_key="k", max_retries=0, streaming=True)
    first_token = threading.Event()
    closed = threading.Event()
    outcome: dict[str, Any] = {}

    def reader() -> None:
        async def go() -> str:
            tokens: list[str] = []
            async with model.stream("hi") as stream:
                async for token in stream:
                    tokens.append(token)
                    if len(tokens) == 1:
                        first_token.set()
                        await asyncio.to_thread(closed.wait, 10)
            await model.aclose()
            return "".join(tokens)

        try:
            outcome["text"] = asyncio.run(asyncio.wait_for(go(), 15))
        except BaseException as exc:  # reported below
            outcome["error"] = exc

    thread = threading.Thread(target=reader)
    thread.start()
    assert first_token.wait(10)

    async def close_here() -> None:
        await model.aclose()  # this thread's loop: it has no pool and no stream of its own

    asyncio.run(close_here())
    closed.set()
    thread.join(20)
    assert "error" not in outcome, repr(outcome.get("error"))
    assert outcome["text"] == "one two three four five six"


# -- 2. an in-stream error's error_type echoing the key is not redacted --------


def _echo_error_type_stream(provider: str) -> bytes:
    error = json.dumps({"type": KEY, "message": "upstream said no"})
    if provider == "openai":
        chunk = {"id": "c", "object": "chat.completion.chunk", "model": "m"}
        chunk["choices"] = [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]
        return f'data: {json.dumps(chunk)}\n\ndata: {{"error": {error}}}\n\n'.encode()
    start = {
        "type": "message_start",
        "message": {
            "id": "m",
            "type": "message",
            "role": "assistant",
            "model": "x",
            "content": [],
            "usage": {"input_tokens": 1, "output_tokens": 0},
        },
    }
    return (
        f"event: message_start\ndata: {json.dumps(start)}\n\n"
        f'event: error\ndata: {{"type": "error", "error": {error}}}\n\n'
    ).encode()


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_an_in_stream_error_type_that_echoes_the_key_is_redacted(provider: str) -> None:
    """README: secrets are replaced by *** in every error "for ... an error event inside a stream".
    Today ``ProviderStreamError.error_type`` keeps the key (redact_error() skips error_type)."""
    async with MockServer() as server:
        server.enqueue(MockResponse(raw=_echo_error_type_stream(provider)))
        url = server.url
        async with model_for(provider, url) as model:
            with pytest.raises(StreamkitError) as info:
                await asyncio.wait_for(model("hi"), 10)
    assert KEY not in everything_shown(info.value)


# -- 3. messages are cut before they are redacted: a key prefix leaks ---------


async def test_a_plain_text_error_body_cut_at_500_characters_leaks_no_key_prefix() -> None:
    """A plain-text error body whose echoed key straddles the 500-character message cut: the message
    keeps all but the key's last 2 characters (redaction runs after the cut, on a string that no
    longer holds the whole key). Redact first, then cut."""
    text = "x" * (500 - len(KEY) + 2) + KEY

    async def echo(request: web.Request) -> web.StreamResponse:
        return web.Response(status=400, text=text, content_type="text/plain")

    async with serve(echo) as served:
        async with model_for("openai", served.url) as model:
            with pytest.raises(StreamkitError) as info:
                await asyncio.wait_for(model("hi"), 10)
    assert KEY[:-2] not in everything_shown(info.value)


async def test_a_malformed_event_excerpt_leaks_no_key_prefix() -> None:
    """The ProtocolError for malformed JSON quotes the event's first 200 characters; an echoed key
    straddling that cut leaks all but its last 2 characters."""
    data = '{"x": "' + "a" * (200 - 7 - len(KEY) + 2) + KEY + '" broken'
    async with MockServer() as server:
        server.enqueue(MockResponse(raw=f"data: {data}\n\n".encode()))
        async with model_for("openai", server.url) as model:
            with pytest.raises(StreamkitError) as info:
                await asyncio.wait_for(model("hi"), 10)
    assert KEY[:-2] not in everything_shown(info.value)


# -- 4. base_url with user:password ---------------------------------------------


async def test_a_base_url_with_credentials_is_refused_or_kept_secret() -> None:
    """``base_url="http://user:pw@host/v1"`` is accepted today; ``repr(model)`` and ``model_dump()``
    print the password, and every call fails with aiohttp's raw ValueError ("Cannot combine
    AUTHORIZATION header with ... credentials encoded in URL"). Either refuse it at construction
    (InvalidArgumentError naming base_url) or keep the password out of reprs/dumps and make calls work."""
    password = "supersecret-url-password-77"
    async with MockServer() as server:
        url = server.openai_base_url.replace("http://", f"http://user:{password}@")
        try:
            model = ChatOpenAI(base_url=url, api_key="k", max_retries=0)
        except InvalidArgumentError as exc:
            assert "base_url" in str(exc) and password not in str(exc)
            return
        assert password not in repr(model)
        assert password not in str(model.model_dump())
        async with model:
            with contextlib.suppress(StreamkitError):  # typed is fine; a bare ValueError is not
                await asyncio.wait_for(model("hi"), 10)


# -- 5. settings changed in place bypass validation -----------------------------


async def test_a_header_changed_in_place_to_hold_crlf_is_an_invalid_argument() -> None:
    """README: "At construction, on assignment and per call, a control character (CR, LF, NUL...) in
    the key or a header ... raise InvalidArgumentError naming the argument". Mutating the dict in
    place (``llm.default_headers["X"] = "a\\r\\nb"``) reaches aiohttp, which raises a bare ValueError
    ("Potential header injection attack")."""
    async with MockServer() as server:
        async with ChatOpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0) as model:
            with pytest.raises(InvalidArgumentError, match="default_headers"):
                model.default_headers["X-Evil"] = "a\r\nInjected: 1"
                await asyncio.wait_for(model("hi"), 10)


def test_a_nan_timeout_in_timeouts_is_an_invalid_argument() -> None:
    """README: NaN or an infinite ``timeout`` raises InvalidArgumentError. ``Timeouts(idle=nan)``
    (the documented way to set phases) raises pydantic's ValidationError instead, which an app
    catching StreamkitError does not catch."""
    with pytest.raises(InvalidArgumentError):
        ChatOpenAI(api_key="k", base_url="http://127.0.0.1:9/v1", timeout=Timeouts(idle=float("nan")))


# -- 6. any visitor can evict another visitor's live stream from the resume buffer --


async def test_other_visitors_new_streams_do_not_evict_a_live_stream() -> None:
    """With ``ResumeBuffer(grace=...)`` a stream whose client dropped keeps generating (and billing)
    for its owner to resume. Today any visitor evicts it by starting ``max_streams`` short streams
    (insertion-order eviction, live or not): the owner's reconnect within the grace period gets
    ResumeUnavailable while the upstream runs on for nobody. Evict finished streams first (or cap
    streams per owner); a live stream should stay resumable."""
    from streamkit.web import ResumeBuffer, sse_events

    async with MockServer() as server:
        server.enqueue(MockResponse(text="a b c d e f g h", delay=0.05))
        async with (
            ChatOpenAI(base_url=server.openai_base_url, api_key="k", streaming=True) as chat,
            ResumeBuffer(max_streams=2, grace=5.0) as buffer,
        ):
            relay = sse_events(chat.stream("hi"), resume=buffer, owner="alice")
            seen = [await relay.__anext__() for _ in range(2)]
            await relay.aclose()  # alice's connection drops; her upstream runs on
            last_id = seen[-1].decode().split("\nid: ")[1].split("\n")[0]
            for _ in range(2):
                [f async for f in sse_events(chat.stream("x"), resume=buffer, owner="mallory")]
            back = sse_events(chat.stream("unused"), resume=buffer, owner="alice", last_event_id=last_id)
            rest = await asyncio.wait_for(_all(back), 10)
    assert rest[-1].startswith(b"event: done"), rest[-1][:120]


async def _all(frames: Any) -> list[bytes]:
    return [f async for f in frames]
