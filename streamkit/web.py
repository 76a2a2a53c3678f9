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
``http.disconnect``.

Back-pressure: frames pass through a small bounded queue; a slow client
makes ``write`` wait, the queue fills, and the relay stops reading
upstream, so memory per relayed stream stays bounded.

Resume: give a :class:`ResumeBuffer` *and* an ``owner`` and a reconnecting
client's ``Last-Event-ID`` (the header ``EventSource`` sends on reconnect:
WHATWG HTML, "Server-sent events",
https://html.spec.whatwg.org/multipage/server-sent-events.html) replays
the frames it missed (bounded per stream and in number of streams). The
upstream is not kept running for absent clients: a stream whose client
left mid-answer replays what was relayed, without a ``done``/``error``,
and a replay from the last id on is empty. What is guaranteed:

- ``owner`` is a non-empty ``str`` the application derives from its own
  session or authentication (a random per-visitor cookie token, a user
  id): whoever started a stream. A stream is replayed only to a request
  with the same owner (compared with :func:`hmac.compare_digest` on SHA-256
  digests; the buffer keeps the digest, not the owner). ``resume`` without
  an owner raises :class:`~streamkit.errors.InvalidArgumentError` naming
  ``owner`` at call time (before anything is sent): a buffer shared by all
  visitors with no owner would serve anyone's answer to anyone.
- A ``Last-Event-ID`` that cannot be replayed — unknown stream, evicted
  (expired) frames, another owner's stream, or malformed (not exactly
  ``<id>:<ASCII digits>``: non-ASCII digits, more than 18 digits, a sign,
  empty, no colon, over 160 characters) — gets one and the same answer,
  so ownership cannot be probed: HTTP 200 with the SSE headers and a
  single frame, without an ``id``::

      event: error
      data: {"type": "ResumeUnavailable", "message": "This stream cannot be resumed: ..."}

  The new stream passed in is then closed unopened (nothing is generated).
  Parsing never raises. An ``EventSource`` client should ``close()`` on
  ``error`` (and on ``done``), or it reconnects.
- Without ``resume``, ``Last-Event-ID`` is ignored: the request starts a
  new stream, as it would without the header.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections import OrderedDict, deque
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web

from .adapter import ResponseStream
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    InvalidArgumentError,
    OutputParserError,
    OverloadedError,
    RateLimitError,
    RefusalError,
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
from .structured import PartialObject, StructuredStream, jsonable

if TYPE_CHECKING:
    from .web_aisdk import UIMessageStreamRelay

__all__ = [
    "RESUME_UNAVAILABLE",
    "SSE_HEADERS",
    "ResumeBuffer",
    "SSERelay",
    "done_payload",
    "safe_error",
    "sse_events",
    "sse_response",
]

logger = logging.getLogger("streamkit")

#: The response headers of a relayed stream.
SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # tell nginx-style proxies not to buffer the stream
}

_KEEPALIVE = b": keep-alive\n\n"
_END = object()

#: The ``type`` of the ``error`` frame sent for a ``Last-Event-ID`` that cannot be replayed.
RESUME_UNAVAILABLE = "ResumeUnavailable"
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
# ``<stream id>:<n>``; the id part as ``secrets.token_urlsafe`` spells it (or a
# caller's own ``record`` ids), ``n`` in ASCII digits only: ``int()`` would take
# Arabic-Indic or fullwidth digits, and raise on a superscript or on 5,000 digits.
_EVENT_ID = re.compile(r"([A-Za-z0-9_-]{1,128}):([0-9]{1,18})")
_MAX_EVENT_ID = 160


def _new_stream_id() -> str:
    """A fresh, unguessable stream id: 128 random bits, 22 URL-safe characters."""
    return secrets.token_urlsafe(16)


def _owner_digest(owner: object, where: str) -> bytes:
    """SHA-256 of a checked owner; raises InvalidArgumentError naming ``owner``."""
    if not isinstance(owner, str) or not owner:
        raise InvalidArgumentError(
            f"{where}: a resume buffer needs owner=<a non-empty str from your session or auth> "
            "(whoever started the stream; only they may replay it); "
            f"got owner={owner!r}"
        )
    return hashlib.sha256(owner.encode("utf-8", "surrogatepass")).digest()


def _parse_event_id(last_event_id: object) -> tuple[str, int] | None:
    """``(stream id, n)`` from a ``Last-Event-ID``, or None if it is not one of ours. Never raises."""
    if not isinstance(last_event_id, str) or len(last_event_id) > _MAX_EVENT_ID:
        return None
    match = _EVENT_ID.fullmatch(last_event_id)
    if match is None:
        return None
    return match.group(1), int(match.group(2))


def _frame(event: str, event_id: str, data: Any) -> bytes:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\nid: {event_id}\ndata: {payload}\n\n".encode()


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
    if "parsed" in info:  # structured output: the validated object
        payload["parsed"] = jsonable(info["parsed"])
    return payload


class ResumeBuffer:
    """Recent frames of recent streams, each with its owner, for ``Last-Event-ID`` replay.

    Bounded both ways: at most ``max_streams`` streams (the oldest is
    evicted) of at most ``max_frames`` frames each (the oldest frames go).
    A stream's owner is fixed by its first :meth:`record`; only that owner
    can :meth:`replay` it. One buffer per process serves every visitor.
    """

    def __init__(self, *, max_streams: int = 256, max_frames: int = 4096) -> None:
        self.max_streams = max_streams
        self.max_frames = max_frames
        self._streams: OrderedDict[str, tuple[bytes, deque[tuple[int, bytes]]]] = OrderedDict()
        # Compared against when the stream is unknown, so an unknown id and
        # another owner's id take the same path.
        self._nobody = secrets.token_bytes(32)

    def record(self, stream_id: str, seq: int, frame: bytes, *, owner: str) -> None:
        """Keep ``frame`` (event ``seq`` of ``stream_id``) for ``owner``.

        Raises InvalidArgumentError if ``owner`` is empty or not a str, or
        differs from the owner the stream was first recorded for.
        """
        self._record(stream_id, seq, frame, _owner_digest(owner, "ResumeBuffer.record()"))

    def _record(self, stream_id: str, seq: int, frame: bytes, digest: bytes) -> None:
        entry = self._streams.get(stream_id)
        if entry is None:
            entry = self._streams[stream_id] = (digest, deque(maxlen=self.max_frames))
            while len(self._streams) > self.max_streams:
                self._streams.popitem(last=False)
        elif not hmac.compare_digest(entry[0], digest):
            raise InvalidArgumentError(
                f"ResumeBuffer.record(): stream {stream_id!r} belongs to another owner"
            )
        entry[1].append((seq, frame))

    def replay(self, last_event_id: str, *, owner: str) -> list[bytes] | None:
        """The frames after ``last_event_id`` (``"<stream id>:<n>"``), if ``owner`` may have them.

        None — the same None whatever the reason — if the id is malformed,
        the stream is unknown or evicted, frames after ``n`` are gone
        (refuse rather than skip), or the stream belongs to another owner.
        ``[]`` if the owner already has every frame. Never raises for a bad
        ``last_event_id``; raises InvalidArgumentError for a bad ``owner``.
        """
        return self._replay(last_event_id, _owner_digest(owner, "ResumeBuffer.replay()"))

    def _replay(self, last_event_id: str, digest: bytes) -> list[bytes] | None:
        parsed = _parse_event_id(last_event_id)
        entry = self._streams.get(parsed[0]) if parsed is not None else None
        owned = hmac.compare_digest(entry[0] if entry is not None else self._nobody, digest)
        if parsed is None or entry is None or not owned:
            return None
        seq = parsed[1]
        frames = entry[1]
        if frames and frames[0][0] > seq + 1:
            return None  # the frames it missed are gone: say so rather than skip them
        return [frame for n, frame in frames if n > seq]


class SSERelay:
    """Async iterator of SSE frames (``bytes``) for one model stream.

    Reads the upstream stream on its own task (so heartbeats can be sent
    while it is silent) through a bounded queue. ``aclose()`` — or any exit
    from iteration, cancellation included — cancels the upstream at once.
    ``stream_id`` is fresh and unguessable (see the module docstring). With
    ``resume``, every frame is recorded for ``owner``; ``resume`` without a
    non-empty ``owner`` raises InvalidArgumentError naming ``owner``.
    """

    def __init__(
        self,
        stream: ResponseStream | StructuredStream[Any],
        *,
        heartbeat: float = 15.0,
        queue_size: int = 32,
        resume: ResumeBuffer | None = None,
        owner: str | None = None,
        is_disconnected: Callable[[], bool] | None = None,
        poll: float = 0.1,
    ) -> None:
        self._owner_digest = _owner_digest(owner, "SSERelay()") if resume is not None else b""
        self._stream = stream
        self._heartbeat = heartbeat
        self._queue: asyncio.Queue[Any] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        self._resume = resume
        self._is_disconnected = is_disconnected
        self._poll = poll if is_disconnected is not None else heartbeat
        self.stream_id = _new_stream_id()
        self._seq = 0
        self._closed = False

    def __aiter__(self) -> SSERelay:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
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

    async def _next_item(self) -> Any:
        loop = asyncio.get_running_loop()
        silent_since = loop.time()
        queue = self._queue
        while True:
            if not queue.empty():
                return queue.get_nowait()
            try:
                async with asyncio.timeout(self._poll):
                    return await queue.get()
            except TimeoutError:
                pass
            if self._is_disconnected is not None and self._is_disconnected():
                raise ConnectionResetError("the client went away")
            if loop.time() - silent_since >= self._heartbeat:
                return _KEEPALIVE

    def _next_id(self) -> tuple[int, str]:
        self._seq += 1
        return self._seq, f"{self.stream_id}:{self._seq}"

    async def _emit(self, event: str, data: Any) -> None:
        seq, event_id = self._next_id()
        frame = _frame(event, event_id, data)
        if self._resume is not None:
            self._resume._record(self.stream_id, seq, frame, self._owner_digest)
        await self._queue.put(frame)

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
                await self._emit("done", done_payload(stream.result))
        except Exception as exc:
            if not isinstance(exc, StreamkitError):
                logger.exception("streamkit.web: the relayed stream failed")
            await self._emit("error", safe_error(exc))
        await self._queue.put(_END)

    def _cancel(self) -> None:
        self._closed = True
        task = self._task
        if task is not None and not task.done():
            # Cancelling the reader cancels the upstream read, which closes the
            # provider connection (and tells the handlers) right away.
            task.cancel()

    async def aclose(self) -> None:
        """Stop relaying: cancel the upstream stream now."""
        self._cancel()
        task = self._task
        if task is not None:
            # Shielded and bounded: this often runs while a cancellation is
            # being delivered, and the reader needs a moment to close upstream.
            await asyncio.shield(asyncio.wait({task}, timeout=5.0))
        else:
            await self._stream.aclose()

    async def __aenter__(self) -> SSERelay:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def sse_events(
    stream: ResponseStream | StructuredStream[Any],
    *,
    heartbeat: float = 15.0,
    resume: ResumeBuffer | None = None,
    owner: str | None = None,
    last_event_id: str | None = None,
    is_disconnected: Callable[[], bool] | None = None,
    protocol: Literal["streamkit", "ai-sdk"] = "streamkit",
) -> SSERelay | _Replay | UIMessageStreamRelay:
    """The stream as SSE frames, for ASGI frameworks (``StreamingResponse(sse_events(...))``).

    ``protocol="ai-sdk"``: the Vercel AI SDK's UI message stream instead,
    for ``useChat`` (send ``streamkit.web_aisdk.UI_MESSAGE_STREAM_HEADERS``
    with it; see :mod:`streamkit.web_aisdk`); it takes no ``resume``
    (InvalidArgumentError naming ``resume``).

    Send :data:`SSE_HEADERS` with it (``media_type="text/event-stream"``
    covers the first; add ``Cache-Control`` and ``X-Accel-Buffering``).
    ``resume`` needs ``owner`` (a non-empty str from the app's session or
    auth; InvalidArgumentError naming ``owner`` otherwise, raised here).
    With both and a ``last_event_id`` (the request's ``Last-Event-ID``
    header, None when absent), ``stream`` is not started: the frames that
    owner missed are replayed, or — for an id that is unknown, expired,
    another owner's or malformed — a single ``ResumeUnavailable`` error
    frame is sent. Without ``resume``, ``last_event_id`` is ignored.
    """
    if protocol != "streamkit":
        from .web_aisdk import _protocol_relay

        return _protocol_relay(protocol, stream, resume, heartbeat=heartbeat, is_disconnected=is_disconnected)
    if resume is not None:
        digest = _owner_digest(owner, "sse_events()")
        if last_event_id is not None:
            frames = resume._replay(last_event_id, digest)
            return _Replay(frames if frames is not None else [_RESUME_UNAVAILABLE_FRAME], stream)
    return SSERelay(stream, heartbeat=heartbeat, resume=resume, owner=owner, is_disconnected=is_disconnected)


class _Replay:
    """Frames from a :class:`ResumeBuffer`; the unneeded new stream is closed unopened."""

    def __init__(self, frames: list[bytes], stream: ResponseStream | StructuredStream[Any]) -> None:
        self._frames = iter(frames)
        self._stream = stream

    def __aiter__(self) -> _Replay:
        return self

    async def __anext__(self) -> bytes:
        for frame in self._frames:
            return frame
        await self._stream.aclose()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        await self._stream.aclose()


async def sse_response(
    request: web.Request,
    stream: ResponseStream | StructuredStream[Any],
    *,
    heartbeat: float = 15.0,
    resume: ResumeBuffer | None = None,
    owner: str | None = None,
    headers: dict[str, str] | None = None,
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
    then cancelled).
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
        # Whatever the exit (end, disconnect, cancellation): upstream stops now.
        await source.aclose()
    return response
