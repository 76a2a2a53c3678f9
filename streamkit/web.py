"""Relay a model stream to a browser as Server-Sent Events.

::

    from streamkit.web import sse_response, sse_events

    async def handler(request):                       # aiohttp.web
        return await sse_response(request, chat.stream(messages))

    StreamingResponse(sse_events(chat.stream(messages)), media_type="text/event-stream")  # Starlette/FastAPI

Wire format (one SSE event per streamkit event; ``data`` is always JSON)::

    event: token        data: {"text": "..."}                      answer text
    event: thinking     data: {"text": "..."}                      reasoning, if any
    event: refusal      data: {"text": "..."}
    event: tool_call    data: {"index": 0, "id": "...", "name": "..."}
    event: tool_call_delta  data: {"index": 0, "arguments": "...", "parsed": {...}}  (all so far, parsed)
    event: citation     data: {...}                                a citation, as the provider sent it
    event: server_tool_use     data: {"id", "name", "input"}       a tool the provider ran itself
    event: server_tool_result  data: {"tool_use_id", "type", "content"}
    event: object       data: {"parsed": {...}}                    structured output: the object so far
    event: done         data: {"text", "finish_reason", "normalized_finish_reason", "token_usage", "model",
                               "tool_calls", "thinking", "citations", "server_tool_calls", "parsed", ...}
    event: error        data: {"type": "RateLimitError", "message": "...", "status_code": 429}
    : keep-alive        (a comment, every ``heartbeat`` seconds of upstream silence)

Every event of a relayed stream carries ``id: <stream id>:<n>``: the
stream id is ``secrets.token_urlsafe(16)`` (22 characters of ``[A-Za-z0-9_-]``,
128 random bits, fresh per stream, not derived from any other id), ``n``
counts the stream's events from 1 in ASCII digits.

Structured output: relay ``chat.with_structured_output(Schema).stream(...)``
(a :class:`~streamkit.structured.StructuredStream`) the same way. Every
frame a plain stream gives is sent (the JSON text arrives as ``token``s,
or as ``tool_call_delta``s for the tool method), plus an ``object`` frame
each time the object grew: ``parsed`` is the whole partial object, only
the fields that have arrived (so frames grow with the object: for large
objects, render from the tokens instead). ``done`` carries the validated
final object as ``parsed`` (by alias, JSON-ready). An answer that does not
validate ends with an ``error`` frame of type ``OutputParserError`` (or
``RefusalError``) instead of ``done``. A plain stream's frames are
unchanged. The error message is a fixed,
safe sentence per error class: no key, no URL, no provider internals.

Closing: the browser going away (tab closed, fetch aborted) cancels the
upstream stream at once, which closes the provider connection and stops
the generation (and the bill). aiohttp: the relay watches the transport
between events, so it notices within ``poll`` seconds (0.1 by default) even
while the model is silent; ASGI: the framework cancels the iteration on
``http.disconnect`` (or calls ``aclose()``). With a resume store whose
``grace`` is over 0, the store cancels it instead, once nobody has read the
stream for ``grace`` seconds (see Resume below).

Back-pressure: frames pass through a small bounded queue; a slow client
makes ``write`` wait, the queue fills, and the relay stops reading
upstream, so memory per relayed stream stays bounded. With a resume store,
the upstream reader waits once it is ``max_frames // 2`` frames ahead of
an attached client.

Resume: give a store (:class:`ResumeBuffer` in memory, or
:class:`streamkit.resume_redis.RedisResumeStore` shared by worker
processes) *and* an ``owner``. Every frame then goes through the store: the
response reads it back from there, and a reconnecting client's
``Last-Event-ID`` (the header ``EventSource`` sends on reconnect: WHATWG
HTML, "Server-sent events",
https://html.spec.whatwg.org/multipage/server-sent-events.html) gets the
frames it missed and then the live rest of the stream, each exactly once
and in order, ending with ``done`` or ``error``. With the store's ``grace``
(seconds, default 0) the upstream keeps running that long after its
client leaves, so a client that comes back in time loses nothing; one that
does not come back has its upstream cancelled, and a late reconnect gets
what was relayed and then an ``error`` frame of type ``StreamAbandoned``
(with ``grace=0`` that happens as soon as the client leaves). The cost of
``grace`` (the model keeps generating, and billing, for nobody) and who
owns the upstream while its client is away: :mod:`streamkit._resume`. What
is guaranteed:

- ``owner`` is a non-empty ``str`` the application derives from its own
  session or authentication (a random per-visitor cookie token, a user
  id): whoever started a stream. A stream is replayed only to a request
  with the same owner (compared with :func:`hmac.compare_digest` on SHA-256
  digests; the store keeps the digest, not the owner). ``resume`` without
  an owner raises :class:`~streamkit.errors.InvalidArgumentError` naming
  ``owner`` at call time (before anything is sent): a store shared by all
  visitors with no owner would serve anyone's answer to anyone. A store
  with ``grace > 0`` that was not entered (``async with``) raises
  :class:`~streamkit.errors.StreamStateError` at call time.
- A ``Last-Event-ID`` that cannot be replayed — unknown stream, evicted
  or expired, frames after it gone, past the stream's last frame, another
  owner's stream, or malformed (not exactly ``<id>:<ASCII digits>``:
  non-ASCII digits, more than 18 digits, a sign, empty, no colon, over 160
  characters) — gets one and the same answer, so ownership cannot be
  probed: HTTP 200 with the SSE headers and a single frame, without an
  ``id``::

      event: error
      data: {"type": "ResumeUnavailable", "message": "This stream cannot be resumed: ..."}

  The new stream passed in is then closed unopened (nothing is generated).
  Parsing never raises. An ``EventSource`` client should ``close()`` on
  ``error`` (and on ``done``), or it reconnects.
- A stream that stopped without a terminal frame (a Redis worker died
  mid-answer) ends, after its frames, with an ``error`` frame of type
  ``StreamInterrupted`` (no ``id``); a client that falls more than the
  store's ``max_frames`` behind gets the ``ResumeUnavailable`` frame.
  A client that already has the terminal frame gets no frames.
- Without ``resume``, ``Last-Event-ID`` is ignored: the request starts a
  new stream, as it would without the header.

Smoothing: ``smooth=Smoothing(chunking="word", delay_ms=10)`` re-chunks the
answer (and reasoning) text into whole words or lines, paced, before it is
framed (see :mod:`streamkit.smoothing`); off by default.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import anyio
from aiohttp import web

from ._adapter import ResponseStream
from ._resume import ResumeBuffer, ResumeStore, _new_stream_id, _owner_digest, _parse_event_id
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    OutputParserError,
    OverloadedError,
    RateLimitError,
    RefusalError,
    StreamAbandoned,
    StreamkitError,
)
from .events import (
    Citation,
    RefusalDelta,
    ServerToolResult,
    ServerToolUse,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
)
from .messages import AIMessage
from .results import ChatGeneration, LLMResult
from .smoothing import Smoothing, SmoothStream
from .structured import PartialObject, StructuredStream, jsonable

if TYPE_CHECKING:
    from .web_aisdk import UIMessageStreamRelay

__all__ = [
    "RESUME_UNAVAILABLE",
    "SSE_HEADERS",
    "STREAM_INTERRUPTED",
    "ResumeBuffer",
    "ResumeStore",
    "SSERelay",
    "sse_events",
    "sse_response",
]

logger = logging.getLogger("streamkit")

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # tell nginx-style proxies not to buffer the stream
}
"""The response headers of a relayed stream (``dict[str, str]``): send them with :func:`sse_events`.

``text/event-stream`` is the SSE media type (WHATWG HTML, "Server-sent
events"); ``Cache-Control: no-cache`` keeps caches from holding the
stream; ``X-Accel-Buffering: no`` asks nginx (and proxies that follow it)
not to buffer the response.
"""

KEEPALIVE = b": keep-alive\n\n"
_KEEPALIVE = KEEPALIVE
_END = object()

RESUME_UNAVAILABLE = "ResumeUnavailable"
"""The ``type`` of the ``error`` frame sent for a ``Last-Event-ID`` that cannot be replayed."""
_RESUME_UNAVAILABLE_FRAME = (
    b"event: error\ndata: "
    + json.dumps(
        {
            "type": RESUME_UNAVAILABLE,
            "message": "This stream cannot be resumed: it is unknown, has expired, "
            "or belongs to someone else.",
        },
        separators=(",", ":"),
    ).encode()
    + b"\n\n"
)
STREAM_INTERRUPTED = "StreamInterrupted"
"""The ``type`` of the ``error`` frame that ends a resumed stream which stopped without its end."""
_INTERRUPTED_FRAME = (
    b"event: error\ndata: "
    + json.dumps(
        {"type": STREAM_INTERRUPTED, "message": "This stream stopped before its end and cannot continue."},
        separators=(",", ":"),
    ).encode()
    + b"\n\n"
)

#: A relayed stream: a model stream, a structured one, or either smoothed.
Relayable = ResponseStream | StructuredStream[Any] | SmoothStream


def _frame(event: str, event_id: str, data: Any) -> bytes:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\nid: {event_id}\ndata: {payload}\n\n".encode()


def _unnumbered_frame(event: str, data: Any) -> bytes:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n".encode()


def safe_error(error: BaseException) -> dict[str, Any]:
    """What the browser may know about a failure: a type and a fixed sentence."""
    if isinstance(error, APITimeoutError):
        message = f"The model did not respond in time ({error.phase})."
    elif isinstance(error, RateLimitError):
        message = "The model provider is rate limiting requests; try again shortly."
    elif isinstance(error, OverloadedError):
        message = "The model provider is overloaded; try again shortly."
    elif isinstance(error, AuthenticationError):
        message = "The server could not authenticate with the model provider."
    elif isinstance(error, APIStatusError):
        message = "The model provider rejected the request."
    elif isinstance(error, APIConnectionError):
        message = "The connection to the model provider failed."
    elif isinstance(error, RefusalError):
        message = "The model declined to answer."
    elif isinstance(error, OutputParserError):
        message = "The model's answer did not match the expected format."
    elif isinstance(error, StreamAbandoned):
        message = "The answer was stopped: its client left and did not come back in time."
    elif isinstance(error, StreamkitError):
        message = "The model's response was interrupted."
    else:
        message = "Internal error."
    out: dict[str, Any] = {
        "type": type(error).__name__ if isinstance(error, StreamkitError) else "InternalError",
        "message": message,
    }
    if isinstance(error, APIStatusError):
        out["status_code"] = error.status_code
    if isinstance(error, StreamkitError) and error.partial_result is not None:
        out["partial_text"] = error.partial_result.text
    return out


def done_payload(result: LLMResult) -> dict[str, Any]:
    """The ``done`` event's data: the final result, flattened for a page."""
    generation = result.generations[0][0] if result.generations and result.generations[0] else None
    info = (generation.generation_info or {}) if generation is not None else {}
    output = result.llm_output or {}
    payload: dict[str, Any] = {
        "text": generation.text if generation is not None else "",
        "finish_reason": info.get("finish_reason"),
        "normalized_finish_reason": info.get("normalized_finish_reason"),
        "token_usage": output.get("token_usage") or {},
        "model": output.get("model_name"),
    }
    if isinstance(generation, ChatGeneration) and isinstance(generation.message, AIMessage):
        message = generation.message
        payload["tool_calls"] = [
            c.model_dump(exclude={"type"}, exclude_none=True) | {"raw_args": c.raw_args}
            for c in message.tool_calls
        ]
        for key in ("server_tool_calls", "server_tool_results"):
            if key in message.additional_kwargs:
                payload[key] = message.additional_kwargs[key]
    for key in ("thinking", "citations", "stop_sequence"):
        if info.get(key) is not None:
            payload[key] = info[key]
    if output.get("metrics") is not None:
        payload["metrics"] = output["metrics"]  # time to first token, tokens/s, ... (streamkit._metrics)
    if "parsed" in info:  # structured output: the validated object
        payload["parsed"] = jsonable(info["parsed"])
    return payload


async def next_queued(
    queue: asyncio.Queue[Any],
    *,
    poll: float,
    heartbeat: float,
    is_disconnected: Callable[[], bool] | None,
) -> Any:
    """The next item a relay's reader queued, or a keep-alive frame after ``heartbeat``
    seconds of silence; checks ``is_disconnected`` every ``poll`` seconds and raises
    ``ConnectionResetError`` once the client is gone. Shared by both wire formats."""
    loop = asyncio.get_running_loop()
    silent_since = loop.time()
    while True:
        if not queue.empty():
            return queue.get_nowait()
        try:
            async with asyncio.timeout(poll):
                return await queue.get()
        except TimeoutError:
            pass
        if is_disconnected is not None and is_disconnected():
            raise ConnectionResetError("the client went away")
        if loop.time() - silent_since >= heartbeat:
            return KEEPALIVE


class SSERelay:
    """Async iterator of SSE frames (``bytes``, UTF-8, one whole event each) for one model stream.

    What :func:`sse_events` returns for a new stream. ``heartbeat``:
    seconds of upstream silence before a ``: keep-alive`` comment;
    ``queue_size``: frames buffered between the upstream reader and the
    client; ``is_disconnected`` (polled every ``poll`` seconds while
    waiting) ends the iteration with ``ConnectionResetError`` when it
    returns true. Errors of the upstream stream are not raised: they
    become the final ``error`` frame (see the module docstring).

    Reads the upstream stream on a task of its own (so heartbeats can be
    sent while it is silent). Without ``resume``, frames pass through a
    bounded queue, and ``aclose()`` — or any exit from iteration,
    cancellation included — cancels the upstream at once. With ``resume``
    (a :class:`ResumeStore`), every frame goes into the store for ``owner``
    and is read back from it; leaving cancels the upstream at once if the
    store's ``grace`` is 0, else the store keeps it running (and owns its
    task) until nobody has read the stream for ``grace`` seconds.
    ``stream_id`` is fresh and unguessable (see the module docstring).
    ``resume`` without a non-empty ``owner`` raises InvalidArgumentError
    naming ``owner``; a store with ``grace > 0`` that was not entered raises
    StreamStateError. ``smooth``: re-chunk and pace the text (see
    :class:`~streamkit.smoothing.Smoothing`).
    """

    def __init__(
        self,
        stream: Relayable,
        *,
        heartbeat: float = 15.0,
        queue_size: int = 32,
        resume: ResumeStore | None = None,
        owner: str | None = None,
        is_disconnected: Callable[[], bool] | None = None,
        poll: float = 0.1,
        smooth: Smoothing | None = None,
    ) -> None:
        self._owner_digest = _owner_digest(owner, "SSERelay()") if resume is not None else b""
        if resume is not None:
            resume._check_open("SSERelay()")
        self._stream: Relayable = smooth.wrap(stream) if smooth is not None else stream
        self._heartbeat = heartbeat
        self._queue: asyncio.Queue[Any] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        self._resume = resume
        self._is_disconnected = is_disconnected
        self._poll = poll if is_disconnected is not None else heartbeat
        self.stream_id = _new_stream_id()
        self._seq = 0
        self._closed = False
        self._handle: Any = None  # the stream in the store
        self._tail: _Tail | None = None

    def __aiter__(self) -> SSERelay:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        if self._resume is not None:
            return await self._next_stored(self._resume)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._read(), name="streamkit-sse-relay")
        try:
            item = await self._next_item()
        except BaseException:
            self._cancel()
            raise
        if item is _END:
            self._closed = True
            await self._task
            raise StopAsyncIteration
        frame: bytes = item
        return frame

    async def _next_stored(self, store: ResumeStore) -> bytes:
        """With a store: start the upstream reader into it once, then tail the stream from it."""
        if self._tail is None:
            try:
                self._handle = await store._create(self.stream_id, self._owner_digest)
            except BaseException:
                self._closed = True
                await self._stream.aclose()
                raise
            # Attached before the upstream reader starts, so it never sees an unread stream.
            self._tail = _Tail(
                store,
                self._handle,
                0,
                heartbeat=self._heartbeat,
                poll=self._poll,
                is_disconnected=self._is_disconnected,
            )
            try:
                if store.grace > 0:
                    store._start(self._produce, name="streamkit-sse-relay")  # the store owns it from now on
                else:
                    self._task = asyncio.get_running_loop().create_task(
                        self._produce(), name="streamkit-sse-relay"
                    )
            except BaseException:  # the store closed meanwhile: nothing will write this stream
                self._closed = True
                self._tail.close()
                with anyio.move_on_after(5.0, shield=True):
                    await store._finished(self._handle)
                await self._stream.aclose()
                raise
        try:
            return await self._tail.__anext__()
        except StopAsyncIteration:
            self._closed = True
            self._tail.close()
            if self._task is not None:
                await self._task
            raise
        except BaseException:
            self._cancel()
            raise

    async def _next_item(self) -> Any:
        return await next_queued(
            self._queue, poll=self._poll, heartbeat=self._heartbeat, is_disconnected=self._is_disconnected
        )

    def _next_id(self) -> tuple[int, str]:
        self._seq += 1
        return self._seq, f"{self.stream_id}:{self._seq}"

    async def _emit(self, event: str, data: Any, *, end: bool = False) -> None:
        seq, event_id = self._next_id()
        frame = _frame(event, event_id, data)
        if self._resume is not None:
            await self._resume._append(self._handle, seq, frame, end)
        else:
            await self._queue.put(frame)

    async def _produce(self) -> None:
        """With a store: read upstream into it until the end, or until nobody has read it for ``grace`` s.

        Owned by the store's task group (``grace > 0``) or by this relay
        (``grace == 0``: cancelled when the client leaves). Never raises
        but for cancellation: a store failure is logged.
        """
        store = self._resume
        assert store is not None
        try:
            async with anyio.create_task_group() as group:

                async def watch() -> None:
                    await store._unattended(self._handle)
                    group.cancel_scope.cancel()  # nobody came back in time: stop generating

                group.start_soon(watch)
                await self._read()
                group.cancel_scope.cancel()
        except Exception:
            logger.exception("streamkit.web: the resume store failed; the upstream was closed")
        finally:
            with anyio.move_on_after(5.0, shield=True):
                await store._finished(self._handle)

    async def _read(self) -> None:
        stream = self._stream
        try:
            async with stream:
                async for event in stream.events():
                    if isinstance(event, TextDelta):
                        await self._emit("token", {"text": event.text})
                    elif isinstance(event, ThinkingDelta):
                        if event.text:
                            await self._emit("thinking", {"text": event.text})
                    elif isinstance(event, RefusalDelta):
                        await self._emit("refusal", {"text": event.text})
                    elif isinstance(event, ToolCallStart):
                        await self._emit(
                            "tool_call", {"index": event.call_index, "id": event.id, "name": event.name}
                        )
                    elif isinstance(event, ToolCallDelta):
                        await self._emit(
                            "tool_call_delta",
                            {
                                "index": event.call_index,
                                "arguments": event.arguments,
                                "parsed": event.parsed_arguments,
                            },
                        )
                    elif isinstance(event, Citation):
                        await self._emit("citation", event.citation)
                    elif isinstance(event, ServerToolUse):
                        await self._emit(
                            "server_tool_use", {"id": event.id, "name": event.name, "input": event.input}
                        )
                    elif isinstance(event, ServerToolResult):
                        await self._emit(
                            "server_tool_result",
                            {"tool_use_id": event.tool_use_id, "type": event.kind, "content": event.content},
                        )
                    elif isinstance(event, PartialObject) and not event.final:  # the final one: in done
                        await self._emit("object", {"parsed": event.data})
                await self._emit("done", done_payload(stream.result), end=True)
        except Exception as exc:
            if not isinstance(exc, StreamkitError):
                logger.exception("streamkit.web: the relayed stream failed")
            await self._emit("error", safe_error(exc), end=True)
        except BaseException:
            if self._resume is not None:
                # Cancelled: the client left (and did not come back within the
                # grace period), or the app is shutting down. Say so in the
                # store, so a reconnect ends explicitly instead of waiting.
                abandoned = StreamAbandoned(
                    "the client left and did not come back in time", partial_result=stream.partial_result
                )
                with anyio.move_on_after(5.0, shield=True):
                    await self._emit("error", safe_error(abandoned), end=True)
            raise
        if self._resume is None:
            await self._queue.put(_END)

    def _cancel(self) -> None:
        self._closed = True
        if self._tail is not None:
            self._tail.close()
            if self._resume is not None and self._resume.grace > 0:
                return  # the store keeps the upstream running for the grace period
        task = self._task
        if task is not None and not task.done():
            # Cancelling the reader cancels the upstream read, which closes the
            # provider connection (and tells the handlers) right away.
            task.cancel()

    async def aclose(self) -> None:
        """Stop relaying: cancel the upstream stream now (with a store's grace period: in ``grace`` s)."""
        self._cancel()
        task = self._task
        if task is not None:
            # Shielded and bounded: this often runs while a cancellation is
            # being delivered, and the reader needs a moment to close upstream.
            await asyncio.shield(asyncio.wait({task}, timeout=5.0))
        elif self._tail is None:
            await self._stream.aclose()

    async def __aenter__(self) -> SSERelay:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class _Tail:
    """A stream's frames read back from a store, live: what was missed, then the rest as it comes.

    Ends after the terminal frame (``done``/``error``); a stream that
    stopped without one ends with a ``StreamInterrupted`` error frame, a
    reader whose frames were trimmed away with the ``ResumeUnavailable``
    one, a store failure with an ``InternalError`` one (logged). While
    nothing comes: a keep-alive every ``heartbeat`` seconds, and
    ConnectionResetError once ``is_disconnected()`` says so (checked every
    ``poll`` seconds). Attached to the stream (it counts as read) from
    creation until the end or :meth:`close`.
    """

    def __init__(
        self,
        store: ResumeStore,
        handle: Any,
        after: int,
        *,
        heartbeat: float,
        poll: float,
        is_disconnected: Callable[[], bool] | None,
    ) -> None:
        self._store = store
        self._handle = handle
        self._after = after
        self._heartbeat = heartbeat
        self._wait = min(poll, heartbeat, store._max_wait)
        self._is_disconnected = is_disconnected
        self._pending: deque[bytes] = deque()
        self._done = False
        store._attach(handle)
        self._attached = True

    async def __anext__(self) -> bytes:
        if self._pending:
            return self._pending.popleft()
        if self._done:
            raise StopAsyncIteration
        loop = asyncio.get_running_loop()
        silent_since = loop.time()
        while True:
            try:
                batch = await self._store._read(self._handle, self._after, self._wait)
            except Exception as exc:
                logger.exception("streamkit.web: reading from the resume store failed")
                self._finish()
                return _unnumbered_frame("error", safe_error(exc))
            if batch is None:
                self._finish()
                return _RESUME_UNAVAILABLE_FRAME
            if batch.frames:
                self._after = batch.frames[-1][0]
                self._pending.extend(frame for _, frame in batch.frames)
                if batch.end:
                    self._finish()
                return self._pending.popleft()
            if batch.end:
                self._finish()
                raise StopAsyncIteration
            if not batch.live:
                self._finish()
                return _INTERRUPTED_FRAME
            if self._is_disconnected is not None and self._is_disconnected():
                raise ConnectionResetError("the client went away")
            if loop.time() - silent_since >= self._heartbeat:
                return _KEEPALIVE

    def _finish(self) -> None:
        self._done = True
        self.close()

    def close(self) -> None:
        """Stop reading: the stream no longer counts this client as there."""
        if self._attached:
            self._attached = False
            self._store._detach(self._handle)


def sse_events(
    stream: Relayable,
    *,
    heartbeat: float = 15.0,
    resume: ResumeStore | None = None,
    owner: str | None = None,
    last_event_id: str | None = None,
    is_disconnected: Callable[[], bool] | None = None,
    smooth: Smoothing | None = None,
    protocol: Literal["streamkit", "ai-sdk"] = "streamkit",
) -> SSERelay | _Replay | UIMessageStreamRelay:
    """The stream as SSE frames, for ASGI frameworks (``StreamingResponse(sse_events(...))``).

    Returns an async iterator of ``bytes``, one whole SSE event each
    (UTF-8), ending after the ``done`` or ``error`` frame; iterating it
    starts the upstream stream, and leaving it (or ``aclose()``) cancels it.
    ``heartbeat``: seconds of upstream silence before a ``: keep-alive``
    comment. Errors of the upstream stream are not raised but sent as the
    ``error`` frame; only bad arguments raise, here.

    ``protocol="ai-sdk"``: the Vercel AI SDK's UI message stream instead,
    for ``useChat`` (send ``streamkit.web_aisdk.UI_MESSAGE_STREAM_HEADERS``
    with it; see :mod:`streamkit.web_aisdk`); it takes no ``resume``
    (InvalidArgumentError naming ``resume``).

    Send :data:`SSE_HEADERS` with it (``media_type="text/event-stream"``
    covers the first; add ``Cache-Control`` and ``X-Accel-Buffering``).
    ``resume`` needs ``owner`` (a non-empty str from the app's session or
    auth; InvalidArgumentError naming ``owner`` otherwise, raised here; a
    store with ``grace > 0`` not entered: StreamStateError, raised here).
    With both and a ``last_event_id`` (the request's ``Last-Event-ID``
    header, None when absent), ``stream`` is not started: the frames that
    owner missed are sent, then the live rest until ``done``/``error`` —
    or, for an id that is unknown, expired, another owner's or malformed, a
    single ``ResumeUnavailable`` error frame. Without ``resume``,
    ``last_event_id`` is ignored. ``smooth``: see :class:`SSERelay`.
    """
    if protocol != "streamkit":
        from .web_aisdk import _protocol_relay

        return _protocol_relay(protocol, stream, resume, heartbeat=heartbeat, is_disconnected=is_disconnected)
    poll = 0.1 if is_disconnected is not None else heartbeat
    if resume is not None:
        digest = _owner_digest(owner, "sse_events()")
        resume._check_open("sse_events()")
        if last_event_id is not None:
            return _Replay(
                resume,
                last_event_id,
                digest,
                stream,
                heartbeat=heartbeat,
                poll=poll,
                is_disconnected=is_disconnected,
            )
    return SSERelay(
        stream,
        heartbeat=heartbeat,
        resume=resume,
        owner=owner,
        is_disconnected=is_disconnected,
        poll=poll,
        smooth=smooth,
    )


class _Replay:
    """A reconnect: the stream a ``Last-Event-ID`` names, from a store; the unneeded new stream is
    closed unopened."""

    def __init__(
        self,
        store: ResumeStore,
        last_event_id: str,
        digest: bytes,
        stream: Relayable,
        *,
        heartbeat: float,
        poll: float,
        is_disconnected: Callable[[], bool] | None,
    ) -> None:
        self._store = store
        self._last_event_id = last_event_id
        self._digest = digest
        self._stream = stream
        self._heartbeat = heartbeat
        self._poll = poll
        self._is_disconnected = is_disconnected
        self._tail: _Tail | None = None
        self._opened = False

    def __aiter__(self) -> _Replay:
        return self

    async def __anext__(self) -> bytes:
        if not self._opened:
            self._opened = True
            parsed = _parse_event_id(self._last_event_id)
            handle = None
            if parsed is not None:
                try:
                    handle = await self._store._open_reader(parsed[0], parsed[1], self._digest)
                except Exception as exc:
                    logger.exception("streamkit.web: reading from the resume store failed")
                    return _unnumbered_frame("error", safe_error(exc))
            if parsed is None or handle is None:
                return _RESUME_UNAVAILABLE_FRAME
            self._tail = _Tail(
                self._store,
                handle,
                parsed[1],
                heartbeat=self._heartbeat,
                poll=self._poll,
                is_disconnected=self._is_disconnected,
            )
        if self._tail is not None:
            try:
                return await self._tail.__anext__()
            except StopAsyncIteration:
                pass
            except BaseException:
                self._tail.close()
                raise
        await self._stream.aclose()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        if self._tail is not None:
            self._tail.close()
        await self._stream.aclose()


async def sse_response(
    request: web.Request,
    stream: Relayable,
    *,
    heartbeat: float = 15.0,
    resume: ResumeStore | None = None,
    owner: str | None = None,
    headers: dict[str, str] | None = None,
    smooth: Smoothing | None = None,
    protocol: Literal["streamkit", "ai-sdk"] = "streamkit",
) -> web.StreamResponse:
    """Relay ``stream`` to an aiohttp.web client as SSE; returns the finished response.

    ``protocol="ai-sdk"``: the Vercel AI SDK's UI message stream instead,
    for ``useChat`` (see :mod:`streamkit.web_aisdk`); it takes no
    ``resume`` (InvalidArgumentError naming ``resume``, before the response
    starts).

    Honours ``Last-Event-ID`` when ``resume`` is given, for ``owner`` only
    (required with ``resume``: a non-empty str from the app's session or
    auth; InvalidArgumentError naming ``owner`` otherwise, before the
    response starts). See :func:`sse_events` for what a reconnect gets.
    Returns when the stream ends or the client goes away (the upstream is
    then cancelled, or with a store's ``grace``, left to the store).
    ``heartbeat``: seconds of upstream silence before a ``: keep-alive``
    comment; ``headers`` are added to :data:`SSE_HEADERS`; ``smooth``: see
    :class:`SSERelay`. Errors of the stream become its ``error`` frame, and
    a client that went away is not an error: neither is raised.
    """
    if protocol != "streamkit":
        from .web_aisdk import _protocol_response

        return await _protocol_response(
            protocol, request, stream, resume, heartbeat=heartbeat, headers=headers
        )
    transport = request.transport

    def gone() -> bool:
        return transport is None or transport.is_closing()

    source = sse_events(
        stream,
        heartbeat=heartbeat,
        resume=resume,
        owner=owner,
        last_event_id=request.headers.get("Last-Event-ID"),
        is_disconnected=gone,
        smooth=smooth,
    )
    response = web.StreamResponse(headers={**SSE_HEADERS, **(headers or {})})
    try:
        await response.prepare(request)
        async for frame in source:
            await response.write(frame)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away; there is no one left to answer
    finally:
        # Whatever the exit (end, disconnect, cancellation): upstream stops now
        # (or, with a store's grace period, once nobody came back for it).
        await source.aclose()
    return response
