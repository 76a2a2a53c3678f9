"""One owner per session, per event loop (issue #10, item 6).

A model's connection pools belong to it alone (copies get their own), one
per event loop, each closed on its own loop: garbage-collecting a copy or
the model itself never breaks a stream that is still open; a model made at
import time leaves nothing open behind pytest-asyncio's per-test loops (or
``asyncio.run``); a model used from two threads never closes the other
thread's pool. Users can bring their own ``aiohttp.ClientSession``
(``http_client``: never closed by streamkit) and bound the pool
(``max_connections``). Every server is on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import re
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from relays import CountingRelay, ThreadedServer

from streamkit import ChatOpenAI, InvalidArgumentError, OpenAI, StreamStateError
from streamkit.deadlines import Timeouts
from streamkit.testing import MockResponse, MockServer

SLOW = "one two three four five six"
TOOL = {"name": "f", "parameters": {"type": "object", "properties": {}}}


class Leaks:
    """Warnings (ResourceWarning: unclosed socket/transport/session) and unraisable errors, recorded."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.unraisable: list[str] = []

    def __str__(self) -> str:
        return f"warnings={self.warnings} unraisable={self.unraisable}"

    __repr__ = __str__

    def __bool__(self) -> bool:
        return bool(self.warnings or self.unraisable)


@contextmanager
def recording_leaks() -> Iterator[Leaks]:
    """Record every warning, and every exception raised in a ``__del__``, inside the block.

    Entered in the test body, inside pytest's own warning and unraisable
    hooks, so nothing escapes to them: the test asserts on what it found.
    """
    found = Leaks()
    hook = sys.unraisablehook
    sys.unraisablehook = lambda u: found.unraisable.append(f"{u.exc_type.__name__}: {u.exc_value}")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield found
            gc.collect()
            found.warnings.extend(f"{w.category.__name__}: {w.message}" for w in caught)
    finally:
        sys.unraisablehook = hook


# -- copies never close each other's pools ------------------------------------------


COPIES: dict[str, Callable[[ChatOpenAI], ChatOpenAI]] = {
    "model_copy": lambda m: m.model_copy(),
    "model_copy-update": lambda m: m.model_copy(update={"temperature": 0.5}),
    "model_copy-deep": lambda m: m.model_copy(deep=True),
    "bind_tools": lambda m: m.bind_tools([TOOL]),
    "copy.copy": copy.copy,
    "copy.deepcopy": copy.deepcopy,
}


@pytest.mark.parametrize("make_copy", COPIES.values(), ids=COPIES.keys())
async def test_dropping_a_used_copy_leaves_the_originals_open_stream_alone(
    mock_server: MockServer, make_copy: Callable[[ChatOpenAI], ChatOpenAI]
) -> None:
    """Today ``copy.copy`` shares the transport, and collecting the copy closed the original's pool."""
    mock_server.enqueue(
        MockResponse(text="warm"), MockResponse(text=SLOW, delay=0.02), MockResponse(text="c")
    )
    model = ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k", max_retries=0, timeout=5)
    async with model:
        await model("warm")  # the original's pool exists and holds a connection
        tokens: list[str] = []
        async with model.stream("hi") as stream:
            async for token in stream:
                tokens.append(token)
                if len(tokens) == 1:
                    duplicate = make_copy(model)
                    assert duplicate.transport is not model.transport
                    await duplicate("copy's call")
                    await duplicate.aclose()
                    del duplicate
                    gc.collect()
        assert "".join(tokens) == SLOW
        await model("again")  # and its pool still serves new calls
    assert mock_server.requests[0].peer == mock_server.requests[1].peer  # one pool, reused


async def test_a_stream_outlives_the_model_that_made_it(mock_server: MockServer) -> None:
    """Today the model's ``__del__`` closed the pool under its own open stream."""
    mock_server.enqueue(MockResponse(text="warm"), MockResponse(text=SLOW, delay=0.02))
    model = ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k", max_retries=0, timeout=5)
    await model("warm")
    stream = model.stream("hi")
    transport = weakref.ref(model.transport)
    tokens: list[str] = []
    async for token in stream:
        tokens.append(token)
        if len(tokens) == 1:
            del model
            gc.collect()
    assert "".join(tokens) == SLOW
    del stream
    gc.collect()
    assert transport() is None  # nothing keeps it: its pool is closed on its loop, as a task
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert mock_server.requests[0].peer == mock_server.requests[1].peer


# -- a model made before any loop: one pool per loop, each closed on its loop ----------

# Made at import time, as applications do; used by the two tests below, each
# in its own pytest-asyncio loop, without ``aclose()``.
IMPORT_TIME_MODEL = OpenAI(base_url="http://127.0.0.1:9/v1", api_key="k", max_retries=0, timeout=5)


@pytest.fixture(scope="module")
def outliving_server() -> Iterator[MockServer]:
    """A server on its own thread, whose connections outlive each test's loop."""
    with ThreadedServer() as server:
        yield server


@pytest.mark.parametrize("run", [1, 2])
async def test_a_model_made_at_import_time_works_in_each_test_loop(
    outliving_server: MockServer, run: int
) -> None:
    if IMPORT_TIME_MODEL.base_url != outliving_server.openai_base_url:
        IMPORT_TIME_MODEL.base_url = outliving_server.openai_base_url  # the first run only
    with recording_leaks() as leaks:
        answer = await IMPORT_TIME_MODEL(f"run {run}")
        gc.collect()
    assert answer == f"This is the streamkit mock server answering: run {run}"
    # The previous test's loop closed its pool when it shut down: today that
    # pool was dropped open here, warning "unclosed transport". No aclose()
    # here either: this loop's shutdown closes this pool.
    assert not leaks, leaks


def test_a_model_used_across_event_loops_leaves_no_socket_open() -> None:
    """Three ``asyncio.Runner`` loops (as pytest-asyncio makes), no ``aclose()``, a server that
    outlives them: today each loop's pool stayed open and warned ("unclosed transport")."""
    with recording_leaks() as leaks, ThreadedServer() as server:
        model = ChatOpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0, timeout=5)
        loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

        async def once(model: ChatOpenAI) -> str:
            loops.append(weakref.ref(asyncio.get_running_loop()))
            return str((await model("hi")).content)

        for _ in range(3):
            with asyncio.Runner() as runner:
                assert runner.run(once(model)).endswith("hi")
            gc.collect()
            assert not leaks, leaks
        gc.collect()
        assert [ref() for ref in loops[:-1]] == [None, None]  # closed loops are not kept alive
        peers = {r.peer for r in server.requests}
        assert len(peers) == 3  # one connection per loop, none shared across loops
        del model
        gc.collect()
    assert not leaks, leaks


def test_a_model_used_from_two_threads_keeps_each_threads_pool() -> None:
    """Thread B's call (and its ``aclose()``) never touches thread A's open stream.

    Today B found a session made on another loop and closed its connector,
    from the wrong thread, under A's stream.
    """
    with recording_leaks() as leaks, ThreadedServer() as server:
        server.enqueue(MockResponse(text=SLOW, delay=0.02))
        server.responder = lambda r: MockResponse(text="b") if "from b" in str(r.json) else None
        model = ChatOpenAI(
            base_url=server.openai_base_url,
            api_key="k",
            max_retries=0,
            timeout=Timeouts(connect=5, idle=5, total=20),
        )
        first_token, b_done = threading.Event(), threading.Event()
        outcome: dict[str, Any] = {}

        async def thread_a(model: ChatOpenAI) -> None:
            tokens = []
            async with model.stream("from a") as stream:
                async for token in stream:
                    tokens.append(token)
                    if len(tokens) == 1:
                        first_token.set()
                        await asyncio.to_thread(b_done.wait, 10)
            outcome["a"] = "".join(tokens)

        def run_a(model: ChatOpenAI) -> None:
            try:
                asyncio.run(thread_a(model))
            except BaseException as exc:
                outcome["a"] = exc

        async def thread_b(model: ChatOpenAI) -> str:
            answer = await model("from b")
            await model.aclose()  # closes B's pool only
            return str(answer.content)

        a = threading.Thread(target=run_a, args=(model,))
        a.start()
        try:
            assert first_token.wait(10)
            outcome["b"] = asyncio.run(thread_b(model))
        finally:
            b_done.set()
            a.join(20)
        assert outcome == {"a": SLOW, "b": "b"}
        assert server.disconnects == 0
        del model
        gc.collect()
    assert not leaks, leaks


# -- the user's own session -------------------------------------------------------------


async def test_your_own_session_is_used_and_never_closed(mock_server: MockServer) -> None:
    async with aiohttp.ClientSession(headers={"X-From-Session": "yes"}) as session:
        model = ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k", http_client=session)
        assert model.transport.session is session
        async with model:
            await model("one")
        assert not session.closed  # aclose() / async with leave it open
        copied = model.bind_tools([TOOL])
        assert copied.http_client is session  # copies share it, never copy it
        await copied("two")
        await copied.aclose()
        del copied
        gc.collect()
        assert not session.closed
        await model("three")
        assert [r.headers.get("X-From-Session") for r in mock_server.requests] == ["yes"] * 3
        assert [r.headers.get("Authorization") for r in mock_server.requests] == ["Bearer k"] * 3
    assert "<ClientSession>" in model.model_dump_json()


@pytest.mark.parametrize(
    "conflict",
    [{"max_connections": 5}, {"proxy": "http://127.0.0.1:3128"}, {"verify": False}, {"trust_env": False}],
)
async def test_your_own_session_refuses_settings_it_would_ignore(conflict: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(InvalidArgumentError, match=rf"http_client: {next(iter(conflict))}"):
            ChatOpenAI(base_url="http://127.0.0.1:9/v1", http_client=session, **conflict)
        model = ChatOpenAI(base_url="http://127.0.0.1:9/v1", http_client=session)
        with pytest.raises(InvalidArgumentError, match="http_client"):
            setattr(model, *next(iter(conflict.items())))
        assert model.max_connections == 1000 and model.proxy is None and model.verify is True


async def test_a_closed_session_is_refused() -> None:
    session = aiohttp.ClientSession()
    await session.close()
    with pytest.raises(InvalidArgumentError, match="http_client"):
        ChatOpenAI(base_url="http://127.0.0.1:9/v1", http_client=session)
    with pytest.raises(InvalidArgumentError, match="http_client"):
        ChatOpenAI(base_url="http://127.0.0.1:9/v1", http_client="not a session")


async def test_a_session_you_closed_later_is_a_clear_error(mock_server: MockServer) -> None:
    session = aiohttp.ClientSession()
    model = ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k", http_client=session)
    await model("hi")
    await session.close()
    with pytest.raises(StreamStateError, match=r"http_client .* closed"):
        await model("hi")
    assert len(mock_server.requests) == 1


# -- a bounded pool -----------------------------------------------------------------------


@pytest.mark.parametrize(("limit", "expected"), [(2, 2), (None, 6)])
async def test_max_connections_bounds_the_connections_open_at_once(
    mock_server: MockServer, limit: int | None, expected: int
) -> None:
    mock_server.responder = lambda r: MockResponse(text=SLOW, delay=0.05)
    async with CountingRelay(mock_server.port) as relay:
        model = ChatOpenAI(
            base_url=f"http://127.0.0.1:{relay.port}/v1", api_key="k", max_connections=limit, max_retries=0
        )
        async with model:
            texts: list[str] = []

            async def one() -> None:
                texts.append((await model.stream("x").collect()).generations[0][0].text)

            with anyio.fail_after(30):
                async with anyio.create_task_group() as tg:
                    for _ in range(6):
                        tg.start_soon(one)
        assert texts == [SLOW] * 6  # the calls over the bound waited for a connection
        assert relay.max_open == expected
        assert relay.connections == expected  # and then reused the ones that were free


@pytest.mark.parametrize("value", [0, -1, 1.5, "10", True])
def test_max_connections_is_validated(value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="max_connections"):
        ChatOpenAI(base_url="http://127.0.0.1:9/v1", max_connections=value)


# -- no aiohttp private attribute -----------------------------------------------------------


def test_no_private_aiohttp_attribute_is_used() -> None:
    """``connector._close()``, ``site._server`` and friends: public API only."""
    root = Path(__file__).resolve().parent.parent / "streamkit"
    private = re.compile(r"\b(connector|site|session|runner|resp|response|request|conn)\._[a-z]\w*")
    found = [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for path in sorted(root.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if private.search(line)
    ]
    assert found == []
