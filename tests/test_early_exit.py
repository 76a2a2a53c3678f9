"""Early exit closes the HTTP connection at once, and leaves nothing behind.

Each test makes the server stream slowly (a long gap per token), leaves the
stream early in one way, and checks that the *server* saw the client go
away well before the next token was due, that no connection is still
checked out of the client's pool, and that no task was left running.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest
from loopback import client_tasks_left

from streamkit import ChatOpenAI, OpenAI, StreamAbandoned
from streamkit.callbacks import AsyncCallbackHandler
from streamkit.testing import MockResponse, MockServer

SLOW = MockResponse(text="one two three four five six seven eight", delay=0.5)
WITHIN = 0.4  # seconds: sooner than the next token would have come


class Errors(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    async def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.errors.append(error)


def checked_out(model: ChatOpenAI | OpenAI) -> int:
    """Connections the client's pool has handed out and not got back."""
    connector = model.transport.session.connector
    assert connector is not None
    return len(connector._acquired)  # type: ignore[attr-defined]


async def test_break_inside_async_with(mock_server: MockServer) -> None:
    mock_server.enqueue(SLOW)
    handler = Errors()
    before = set(asyncio.all_tasks())
    async with ChatOpenAI(base_url=mock_server.openai_base_url, callbacks=[handler]) as chat:
        async with chat.stream("hi") as stream:
            async for token in stream:
                assert token == "one"
                break
        assert await mock_server.wait_for_disconnect(WITHIN)
        assert checked_out(chat) == 0
        assert not client_tasks_left(before)
    assert len(handler.errors) == 1 and isinstance(handler.errors[0], StreamAbandoned)
    assert handler.errors[0].partial_result is not None
    assert handler.errors[0].partial_result.generations[0][0].text == "one"


async def test_bare_break_closes_without_garbage_collection(mock_server: MockServer) -> None:
    """No ``async with`` and no reference kept: the connection closes at the break."""
    import gc

    mock_server.enqueue(SLOW)
    gc.disable()  # prove it is not the cyclic garbage collector doing it
    try:
        async with ChatOpenAI(base_url=mock_server.openai_base_url) as chat:
            async for _ in chat.stream("hi"):
                break
            assert await mock_server.wait_for_disconnect(WITHIN)
            assert checked_out(chat) == 0
    finally:
        gc.enable()


async def test_exception_in_loop_body(mock_server: MockServer) -> None:
    mock_server.enqueue(SLOW)
    async with OpenAI(base_url=mock_server.openai_base_url) as llm:
        with pytest.raises(ZeroDivisionError):
            async with llm.stream("hi") as stream:
                async for _ in stream:
                    1 / 0  # noqa: B018
        assert await mock_server.wait_for_disconnect(WITHIN)
        assert checked_out(llm) == 0


async def test_task_cancel_propagates_and_closes(mock_server: MockServer) -> None:
    mock_server.enqueue(SLOW)
    handler = Errors()
    got: list[str] = []
    before = set(asyncio.all_tasks())
    async with ChatOpenAI(base_url=mock_server.openai_base_url, callbacks=[handler]) as chat:

        async def consume() -> None:
            async for token in chat.stream("hi"):
                got.append(token)

        task = asyncio.create_task(consume())
        while not got:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task  # CancelledError is never swallowed
        assert await mock_server.wait_for_disconnect(WITHIN)
        assert checked_out(chat) == 0
        assert not client_tasks_left(before)
    assert got == ["one"]
    assert [type(e) for e in handler.errors] == [StreamAbandoned]


async def test_anyio_cancel_scope(mock_server: MockServer) -> None:
    mock_server.enqueue(SLOW)
    handler = Errors()
    got: list[str] = []
    async with ChatOpenAI(base_url=mock_server.openai_base_url, callbacks=[handler]) as chat:
        with anyio.move_on_after(0.75) as scope:
            async for token in chat.stream("hi"):
                got.append(token)
        assert scope.cancelled_caught
        assert await mock_server.wait_for_disconnect(WITHIN)
        assert checked_out(chat) == 0
    assert got == ["one"]
    # The handler ran although the scope was cancelling: it is shielded.
    assert [type(e) for e in handler.errors] == [StreamAbandoned]


async def test_aclose_mid_stream(mock_server: MockServer) -> None:
    mock_server.enqueue(SLOW)
    async with ChatOpenAI(base_url=mock_server.openai_base_url) as chat:
        stream = chat.stream("hi")
        assert await stream.__aiter__().__anext__() == "one"
        await stream.aclose()
        await stream.aclose()  # idempotent
        assert await mock_server.wait_for_disconnect(WITHIN)
        assert checked_out(chat) == 0
        assert stream.partial_result.generations[0][0].text == "one"


async def test_generate_cancelled_closes_every_stream(mock_server: MockServer) -> None:
    for _ in range(3):
        mock_server.enqueue(SLOW)
    async with OpenAI(base_url=mock_server.openai_base_url, streaming=True) as llm:
        task = asyncio.create_task(llm.generate(["a", "b", "c"]))
        while mock_server.active < 3:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(3):
            if mock_server.disconnects < 3:
                await mock_server.wait_for_disconnect(WITHIN)
        assert mock_server.disconnects == 3
        assert checked_out(llm) == 0


async def test_completed_streams_reuse_one_connection(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text="a b"), MockResponse(text="c d"), MockResponse(text="e f"))
    async with ChatOpenAI(base_url=mock_server.openai_base_url) as chat:
        for _ in range(3):
            async with chat.stream("hi") as stream:
                async for _ in stream:
                    pass
            assert checked_out(chat) == 0
    peers = {r.peer for r in mock_server.requests}
    assert len(peers) == 1, peers
    assert mock_server.completed == 3 and mock_server.disconnects == 0


async def test_model_aclose_and_reuse_in_a_new_loop() -> None:
    """A model outlives one event loop: its session is rebuilt for the next."""
    results: list[str] = []

    async def once() -> None:
        async with MockServer() as server:
            server.enqueue(MockResponse(text="hello"))
            llm.base_url = server.openai_base_url
            llm._transport = None  # the URL changed: the next call builds a transport for it
            results.append(await llm("hi"))
            await llm.aclose()

    llm = OpenAI(base_url="http://127.0.0.1:9/v1")
    await once()
    await once()
    assert results == ["hello", "hello"]
