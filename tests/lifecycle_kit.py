"""Helpers for the lifecycle and timing tests: a scripted loopback server and SSE bytes.

``scripted(script)`` runs a raw TCP server on 127.0.0.1 whose every
connection is handed to ``script(reader, writer)``: the test writes exactly
the bytes it wants (broken chunked framing included) when it wants them
(gated by events, never by sleeps). The SSE helpers build OpenAI Chat
Completions chunks (https://platform.openai.com/docs/api-reference/chat-streaming).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any

from streamkit.callbacks import AsyncCallbackHandler
from streamkit.deadlines import Cancellable, Clock

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

#: Seconds a test waits for something that should happen at once, before it
#: calls it a hang. A guard against hanging until pytest's timeout, far above
#: every promise; never a measure of speed.
GUARD = 10.0

HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


def chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk (RFC 9112 section 7.1): hex size, CRLF, data, CRLF."""
    return b"%x\r\n" % len(data) + data + b"\r\n"


LAST_CHUNK = b"0\r\n\r\n"


def sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def delta(text: str | None = None, *, index: int = 0, finish: str | None = None, **fields: Any) -> bytes:
    """One ``chat.completion.chunk`` with one choice."""
    body: dict[str, Any] = dict(fields)
    if text is not None:
        body["content"] = text
    choice = {"index": index, "delta": body, "finish_reason": finish}
    return sse(
        {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]}
    )


ROLE = delta(role="assistant")
DONE = b"data: [DONE]\n\n"


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """The request head and its body (Content-Length), as bytes."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return head + body


class Scripted:
    """A running scripted server: its URL, and how many connections it has had."""

    def __init__(self) -> None:
        self.url = ""
        self.connections = 0
        self.closed = asyncio.Event()  # set when a script's connection ends (either side)


@asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[Scripted]:
    state = Scripted()
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went, or the server is shutting down
        finally:
            writer.close()
            state.closed.set()
            tasks.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    try:
        yield state
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        for task in list(tasks):
            with suppress(BaseException):
                await task
        await server.wait_closed()


@contextmanager
def unaccepting_listener() -> Iterator[int]:
    """A loopback port whose accept queue is full, so a new connect hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        with suppress(BlockingIOError):
            s.connect(("127.0.0.1", port))
        fillers.append(s)
    try:
        yield port
    finally:
        for s in fillers:
            s.close()
        listener.close()


class Recorder(AsyncCallbackHandler):
    """Records every hook; ``first_token`` and ``retrying`` are events a test can await."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.errors: list[BaseException] = []
        self.retries: list[dict[str, Any]] = []
        self.ends = 0
        self.first_token = asyncio.Event()
        self.retrying = asyncio.Event()

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)
        self.first_token.set()

    async def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.errors.append(error)

    async def on_retry(self, error: BaseException, **kwargs: Any) -> None:
        self.retries.append({"error": error, **kwargs})
        self.retrying.set()

    async def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self.ends += 1


async def settle(turns: int = 50) -> None:
    """Let the loop run ``turns`` iterations (loopback bytes already sent get read)."""
    for _ in range(turns):
        await asyncio.sleep(0)


class _Timer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock(Clock):
    """A :class:`streamkit.deadlines.Clock` whose time moves only by :meth:`advance`.

    Install it with ``streamkit.deadlines.use_clock(clock)`` around the
    creation of a stream: the stream's deadlines, back-off sleeps and the
    bound on ``on_llm_error`` then follow it. Each network read still waits
    in real time, for (deadline - now) seconds computed when the read starts:
    a test moves the clock *before* the read it wants to see expire (in a
    handler, say), and gates the server with events.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []  # every back-off asked for, in seconds
        self.registered = asyncio.Event()  # set whenever a timer or sleep starts
        self._timers: list[_Timer] = []

    def now_function(self) -> Callable[[], float]:
        return lambda: self.t

    def loop_time(self, when: float) -> float:
        return asyncio.get_running_loop().time() + (when - self.t)

    def call_later(self, seconds: float, callback: Callable[[], object]) -> Cancellable:
        timer = _Timer(self.t + seconds, callback)
        self._timers.append(timer)
        self.registered.set()
        return timer

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = self.call_later(seconds, lambda: future.done() or future.set_result(None))
        try:
            await future
        finally:
            timer.cancel()

    def advance(self, seconds: float) -> None:
        """Move time on, running every timer now due (in time order)."""
        self.t += seconds
        due = sorted((t for t in self._timers if t.when <= self.t and not t.cancelled), key=lambda t: t.when)
        self._timers = [t for t in self._timers if t not in due and not t.cancelled]
        for timer in due:
            timer.callback()
