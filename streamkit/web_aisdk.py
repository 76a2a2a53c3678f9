"""The Vercel AI SDK's UI message stream: relay a stream to ``useChat``, and read what it POSTs.

::

    from streamkit.web import sse_response
    from streamkit.web_aisdk import ui_messages_to_streamkit

    async def chat(request):                                     # aiohttp.web
        messages = ui_messages_to_streamkit(await request.json())
        return await sse_response(request, model.stream(messages), protocol="ai-sdk")

    # Starlette / FastAPI:
    StreamingResponse(sse_events(model.stream(messages), protocol="ai-sdk"),
                      headers=UI_MESSAGE_STREAM_HEADERS)

and on the page ``useChat()`` from ``@ai-sdk/react`` (its default transport
POSTs to ``/api/chat``; give ``transport: new DefaultChatTransport({api})``
for another URL).

Wire format, as the AI SDK documents it ("Stream Protocols" → "Data Stream
Protocol", https://ai-sdk.dev/docs/ai-sdk-ui/stream-protocol) and as its
reader validates it (``uiMessageChunkSchema`` in
``packages/ai/src/ui-message-stream/ui-message-chunks.ts`` of
https://github.com/vercel/ai; the npm package ``ai`` ships that source):
Server-Sent Events, one ``data: <JSON part>`` per event (no ``event:``
or ``id:`` fields), the response header ``x-vercel-ai-ui-message-stream:
v1``, and a final ``data: [DONE]``. What a stream becomes, in order::

    {"type": "start", "messageId": "<22 URL-safe chars>"}        at once, before the upstream opens
    {"type": "start-step"}
    {"type": "reasoning-start", "id": "reasoning-1"}             ThinkingDelta (non-empty text)
    {"type": "reasoning-delta", "id": "reasoning-1", "delta": "..."}
    {"type": "reasoning-end", "id": "reasoning-1"}               when another kind of part begins
    {"type": "text-start", "id": "text-1"}                       TextDelta (and RefusalDelta: shown as text)
    {"type": "text-delta", "id": "text-1", "delta": "..."}
    {"type": "text-end", "id": "text-1"}
    {"type": "source-url", "sourceId": "source-1", "url", "title"?}      a URL citation, once per URL
    {"type": "source-document", "sourceId", "mediaType", "title"}      a document citation, once per document
    {"type": "tool-input-start", "toolCallId", "toolName"}         ToolCallStart
    {"type": "tool-input-delta", "toolCallId", "inputTextDelta"}   ToolCallDelta (the JSON fragment)
    {"type": "tool-input-available", "toolCallId", "providerExecuted": true, "toolName", "input"}
                                                                   ServerToolUse (a tool the provider ran)
    {"type": "tool-output-available", "toolCallId", "providerExecuted": true, "output"}
                                                                   ServerToolResult
    {"type": "data-object", "id": "object", "data": {...}}         structured output: the object so far
    ... at the end, from ``stream.result``:
    {"type": "tool-input-available", "toolCallId", "toolName", "input": {...}}   each client tool call
    {"type": "tool-input-error", "toolCallId", "toolName", "input": "<raw>", "errorText"}
                                                                   a call whose arguments were cut off
    {"type": "finish-step"}
    {"type": "finish", "finishReason": "stop", "messageMetadata": {"model", "finishReason",
        "usage": {"inputTokens", "outputTokens", "totalTokens", "inputTokenDetails"?, "outputTokenDetails"?}}}
    [DONE]

or, when the stream fails (after whatever was already sent)::

    {"type": "error", "errorText": "The model provider is rate limiting requests; try again shortly."}
    [DONE]

``errorText`` is the fixed sentence :mod:`streamkit.web`'s ``error`` frame
carries for that error class: no key, no URL, no provider internals. ``finishReason`` is the AI SDK's
value for streamkit's normalised reason (``stop``, ``length``,
``tool-calls``, ``content-filter`` for ``content_filter`` and ``refusal``,
``error``, ``other`` for ``pause_turn`` and ``other``);
``messageMetadata.finishReason`` is the provider's own (``end_turn``...).
A text or reasoning part ends when another part begins (so parts stay in
wire order, as ``useChat`` renders them) and at a provider content-block
boundary. Only choice 0 is relayed (``n > 1`` has no UI form). The usage
names are the AI SDK's ``LanguageModelUsage`` ones. An SSE comment
(``: keep-alive``) is sent every ``heartbeat`` seconds of upstream silence;
the AI SDK's reader ignores comments.

Closing and back-pressure are those of :class:`streamkit.web.SSERelay`:
the client going away cancels the upstream at once (aiohttp: noticed
within ``poll`` seconds even while the model is silent; ASGI: the framework
cancels the iteration), and a slow client slows reading through a small
bounded queue. ``Last-Event-ID`` resume is not offered in this format.
As in :mod:`streamkit.web`, a failure that is not a streamkit error (a bug)
is logged with its traceback on the ``streamkit`` logger; provider errors
are the application's to log (``on_llm_error`` of a callback handler, as
``examples/web_chat/app.py`` does).

The request side: :func:`ui_messages_to_streamkit` turns the ``UIMessage``
list ``useChat`` POSTs into streamkit messages.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from .errors import InvalidArgumentError, StreamkitError
from .events import (
    Citation,
    ContentBlock,
    RefusalDelta,
    ServerToolResult,
    ServerToolUse,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
)
from .messages import (
    AIMessage,
    BaseMessage,
    ContentPart,
    HumanMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from .results import ChatGeneration, LLMResult
from .structured import PartialObject
from .web import SSE_HEADERS, Relayable, next_queued, safe_error

__all__ = [
    "UI_MESSAGE_STREAM_HEADERS",
    "UIMessageStreamEncoder",
    "UIMessageStreamRelay",
    "ui_message_stream",
    "ui_message_stream_response",
    "ui_messages_to_streamkit",
]

logger = logging.getLogger("streamkit")

UI_MESSAGE_STREAM_HEADERS = {**SSE_HEADERS, "x-vercel-ai-ui-message-stream": "v1"}
"""The response headers of a UI message stream (``dict[str, str]``).

:data:`streamkit.web.SSE_HEADERS` plus ``x-vercel-ai-ui-message-stream: v1``,
which tells the AI SDK's client which protocol it is reading (its
"Stream Protocols" page, https://ai-sdk.dev/docs/ai-sdk-ui/stream-protocol).
"""

_DONE = b"data: [DONE]\n\n"
_END = object()

#: streamkit's normalised finish reason -> the AI SDK's ``FinishReason``.
_FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool-calls",
    "content_filter": "content-filter",
    "refusal": "content-filter",
    "error": "error",
    "pause_turn": "other",
    "other": "other",
}
#: Anthropic's document citation types and the media type of the document each cites
#: (https://docs.anthropic.com/en/docs/build-with-claude/citations).
_DOCUMENT_CITATIONS = {
    "char_location": "text/plain",
    "page_location": "application/pdf",
    "content_block_location": "text/plain",
    "search_result_location": "text/plain",
}
_INCOMPLETE_TOOL_CALL = "The model's tool call arguments were cut off or are not valid JSON."


def _frame(part: dict[str, Any]) -> bytes:
    payload = json.dumps(part, ensure_ascii=False, separators=(",", ":"))
    # A lone surrogate (from a provider's "\ud800") cannot be UTF-8: replaced, never a crash.
    return f"data: {payload}\n\n".encode("utf-8", "replace")


def _new_id() -> str:
    return secrets.token_urlsafe(16)


class UIMessageStreamEncoder:
    """Sans-IO: streamkit events in, UI message stream parts (dicts) out, for one message.

    For a transport of your own (a WebSocket, a queue): frame each part as
    ``data: <JSON>`` yourself, or use :class:`UIMessageStreamRelay`.
    ``message_id`` goes in the ``start`` part (default: 128 random bits,
    22 URL-safe characters). Never raises on an event it does not know: it
    has no UI form and gives ``[]``.

    Call :meth:`start` first, :meth:`event` for each event of
    ``stream.events()``, then :meth:`finish` with ``stream.result`` or
    :meth:`error` with the exception. Each returns the parts to send, in
    order (see the module docstring).
    """

    def __init__(self, message_id: str | None = None) -> None:
        self.message_id = message_id if message_id is not None else _new_id()
        self._counts: dict[str, int] = {}
        self._text: str | None = None  # id of the open text part
        self._reasoning: str | None = None  # id of the open reasoning part
        self._sources: set[tuple[str, str]] = set()
        # call_index -> (its toolCallId once tool-input-start is sent, fragments that came before)
        self._calls: dict[int, tuple[str | None, list[str]]] = {}
        self._server_calls: set[str] = set()

    def _next(self, kind: str) -> str:
        n = self._counts[kind] = self._counts.get(kind, 0) + 1
        return f"{kind}-{n}"

    def start(self) -> list[dict[str, Any]]:
        """The message's first parts: ``start`` (with ``messageId``) and ``start-step``."""
        return [{"type": "start", "messageId": self.message_id}, {"type": "start-step"}]

    def _close(self, out: list[dict[str, Any]], *, text: bool = True, reasoning: bool = True) -> None:
        if text and self._text is not None:
            out.append({"type": "text-end", "id": self._text})
            self._text = None
        if reasoning and self._reasoning is not None:
            out.append({"type": "reasoning-end", "id": self._reasoning})
            self._reasoning = None

    def event(self, event: object) -> list[dict[str, Any]]:
        """The parts for one event of ``stream.events()`` (``[]`` for those with no UI form)."""
        out: list[dict[str, Any]] = []
        if getattr(event, "index", 0) != 0:
            return out  # choices other than the first (n > 1)
        if isinstance(event, TextDelta | RefusalDelta):
            if event.text:
                self._text_delta(event.text, out)
        elif isinstance(event, ThinkingDelta):
            if event.text:  # a signature-only delta has nothing to show
                self._close(out, reasoning=False)
                if self._reasoning is None:
                    self._reasoning = self._next("reasoning")
                    out.append({"type": "reasoning-start", "id": self._reasoning})
                out.append({"type": "reasoning-delta", "id": self._reasoning, "delta": event.text})
        elif isinstance(event, ToolCallStart):
            self._tool_call_start(event, out)
        elif isinstance(event, ToolCallDelta):
            started, pending = self._calls.setdefault(event.call_index, (None, []))
            if started is None:
                pending.append(event.arguments)  # no name yet: sent once the call starts
            elif event.arguments:
                out.append(
                    {"type": "tool-input-delta", "toolCallId": started, "inputTextDelta": event.arguments}
                )
        elif isinstance(event, Citation):
            self._citation(event.citation, out)
        elif isinstance(event, ContentBlock):
            if event.block is None and event.kind in ("text", "thinking"):
                self._close(out)  # a new provider block: a new part
        elif isinstance(event, ServerToolUse):
            self._close(out)
            call_id = event.id or self._next("server-tool")
            self._server_calls.add(call_id)
            out.append(
                {
                    "type": "tool-input-available",
                    "toolCallId": call_id,
                    "toolName": event.name,
                    "input": event.input,
                    "providerExecuted": True,
                }
            )
        elif isinstance(event, ServerToolResult):
            # The AI SDK's reader fails on an output for a call it has not seen.
            if event.tool_use_id is not None and event.tool_use_id in self._server_calls:
                self._close(out)
                out.append(
                    {
                        "type": "tool-output-available",
                        "toolCallId": event.tool_use_id,
                        "output": event.content,
                        "providerExecuted": True,
                    }
                )
        elif isinstance(event, PartialObject):
            out.append({"type": "data-object", "id": "object", "data": event.data})
        return out

    def _text_delta(self, text: str, out: list[dict[str, Any]]) -> None:
        self._close(out, text=False)
        if self._text is None:
            self._text = self._next("text")
            out.append({"type": "text-start", "id": self._text})
        out.append({"type": "text-delta", "id": self._text, "delta": text})

    def _tool_call_start(self, event: ToolCallStart, out: list[dict[str, Any]]) -> None:
        started, pending = self._calls.setdefault(event.call_index, (None, []))
        if started is not None or not event.name:
            return  # already started, or the name has not arrived yet
        self._close(out)
        call_id = event.id or f"call-{event.call_index}"
        self._calls[event.call_index] = (call_id, [])
        out.append({"type": "tool-input-start", "toolCallId": call_id, "toolName": event.name})
        fragments = "".join(pending)
        if fragments:
            out.append({"type": "tool-input-delta", "toolCallId": call_id, "inputTextDelta": fragments})

    def _citation(self, citation: dict[str, Any], out: list[dict[str, Any]]) -> None:
        kind = citation.get("type")
        if kind == "url_citation":  # OpenAI's annotation
            inner = citation.get("url_citation")
            citation = inner if isinstance(inner, dict) else {}
        url = citation.get("url")
        if not isinstance(url, str):
            source = citation.get("source")  # search_result_location: a URL or a name
            url = source if isinstance(source, str) and source.startswith(("https://", "http://")) else None
        title = citation.get("title") or citation.get("document_title")
        if url is not None:
            if ("url", url) in self._sources:
                return
            self._sources.add(("url", url))
            part: dict[str, Any] = {"type": "source-url", "sourceId": self._next("source"), "url": url}
            if isinstance(title, str) and title:
                part["title"] = title
            out.append(part)
        elif kind in _DOCUMENT_CITATIONS:
            index = citation.get("document_index", citation.get("search_result_index"))
            name = title if isinstance(title, str) and title else f"Document {index}"
            key = str(index) if index is not None else name
            if ("document", key) in self._sources:
                return
            self._sources.add(("document", key))
            out.append(
                {
                    "type": "source-document",
                    "sourceId": self._next("source"),
                    "mediaType": _DOCUMENT_CITATIONS[str(kind)],
                    "title": name,
                }
            )

    def finish(self, result: LLMResult) -> list[dict[str, Any]]:
        """The closing parts: open parts ended, each client tool call's whole input, ``finish``."""
        out: list[dict[str, Any]] = []
        self._close(out)
        generation = result.generations[0][0] if result.generations and result.generations[0] else None
        message = generation.message if isinstance(generation, ChatGeneration) else None
        if isinstance(message, AIMessage):
            for position, call in enumerate(message.tool_calls):
                started = self._calls.get(position, (None, []))[0]
                call_id = started or call.id or f"call-{position}"
                if call.complete:
                    part = {"type": "tool-input-available", "toolCallId": call_id, "toolName": call.name}
                    out.append(part | {"input": call.args})
                else:
                    part = {"type": "tool-input-error", "toolCallId": call_id, "toolName": call.name}
                    out.append(part | {"input": call.raw_args or "", "errorText": _INCOMPLETE_TOOL_CALL})
        info = (generation.generation_info or {}) if generation is not None else {}
        output = result.llm_output or {}
        metadata: dict[str, Any] = {
            "model": output.get("model_name"),
            "finishReason": info.get("finish_reason"),
        }
        usage = _usage(message, output)
        if usage:
            metadata["usage"] = usage
        finish: dict[str, Any] = {"type": "finish"}
        reason = _FINISH_REASONS.get(str(info.get("normalized_finish_reason")))
        if reason is not None:
            finish["finishReason"] = reason
        finish["messageMetadata"] = metadata
        out.append({"type": "finish-step"})
        out.append(finish)
        return out

    def error(self, error: BaseException) -> list[dict[str, Any]]:
        """The closing part of a failed stream: ``error`` with a fixed, safe sentence."""
        return [{"type": "error", "errorText": safe_error(error)["message"]}]


def _usage(message: AIMessage | None, output: dict[str, Any]) -> dict[str, Any]:
    """Token usage in the AI SDK's ``LanguageModelUsage`` names (only what is known)."""
    meta = (message.usage_metadata if message is not None else None) or {}
    raw = output.get("token_usage") or {}
    usage: dict[str, Any] = {}
    for name, ours, theirs in (
        ("inputTokens", "input_tokens", "prompt_tokens"),
        ("outputTokens", "output_tokens", "completion_tokens"),
        ("totalTokens", "total_tokens", "total_tokens"),
    ):
        value = meta.get(ours, raw.get(theirs))
        if isinstance(value, int):
            usage[name] = value
    input_details = meta.get("input_token_details") or {}
    details = {
        key: input_details[ours]
        for key, ours in (("cacheReadTokens", "cache_read"), ("cacheWriteTokens", "cache_creation"))
        if isinstance(input_details.get(ours), int)
    }
    if details:
        usage["inputTokenDetails"] = details
    reasoning = (meta.get("output_token_details") or {}).get("reasoning")
    if isinstance(reasoning, int):
        usage["outputTokenDetails"] = {"reasoningTokens": reasoning}
    return usage


class UIMessageStreamRelay:
    """Async iterator of UI message stream frames (``bytes``) for one model stream.

    Like :class:`streamkit.web.SSERelay`: reads the upstream on its own task
    through a bounded queue, sends ``: keep-alive`` every ``heartbeat``
    seconds of silence, and ``aclose()`` — or any exit from iteration,
    cancellation included — cancels the upstream at once.
    ``is_disconnected`` (polled every ``poll`` seconds while the model is
    silent) ends the iteration with ``ConnectionResetError`` when true.
    ``message_id`` (default: 128 random bits, 22 URL-safe characters) goes
    in the ``start`` part. ``heartbeat`` and ``poll`` are seconds,
    ``queue_size`` a number of frames. Frames are ``bytes``: ``data:
    <JSON part>`` events, then ``data: [DONE]``. Errors of the upstream
    stream are not raised: they become the ``error`` part.
    """

    def __init__(
        self,
        stream: Relayable,
        *,
        heartbeat: float = 15.0,
        queue_size: int = 32,
        message_id: str | None = None,
        is_disconnected: Callable[[], bool] | None = None,
        poll: float = 0.1,
    ) -> None:
        self._stream = stream
        self._encoder = UIMessageStreamEncoder(message_id)
        self.message_id = self._encoder.message_id
        self._heartbeat = heartbeat
        self._queue: asyncio.Queue[Any] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        self._is_disconnected = is_disconnected
        self._poll = poll if is_disconnected is not None else heartbeat
        self._closed = False

    def __aiter__(self) -> UIMessageStreamRelay:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._read(), name="streamkit-ui-message-relay"
            )
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
        return await next_queued(
            self._queue, poll=self._poll, heartbeat=self._heartbeat, is_disconnected=self._is_disconnected
        )

    async def _send(self, parts: list[dict[str, Any]]) -> None:
        for part in parts:
            await self._queue.put(_frame(part))

    async def _read(self) -> None:
        stream = self._stream
        encoder = self._encoder
        await self._send(encoder.start())
        try:
            async with stream:
                async for event in stream.events():
                    parts = encoder.event(event)
                    if parts:
                        await self._send(parts)
                await self._send(encoder.finish(stream.result))
        except Exception as exc:
            if not isinstance(exc, StreamkitError):
                logger.exception("streamkit.web_aisdk: the relayed stream failed")
            await self._send(encoder.error(exc))
        await self._queue.put(_DONE)
        await self._queue.put(_END)

    def _cancel(self) -> None:
        self._closed = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()  # cancels the upstream read, which closes the provider connection

    async def aclose(self) -> None:
        """Stop relaying: cancel the upstream stream now."""
        self._cancel()
        task = self._task
        if task is not None:
            await asyncio.shield(asyncio.wait({task}, timeout=5.0))
        else:
            await self._stream.aclose()

    async def __aenter__(self) -> UIMessageStreamRelay:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def ui_message_stream(
    stream: Relayable,
    *,
    heartbeat: float = 15.0,
    message_id: str | None = None,
    is_disconnected: Callable[[], bool] | None = None,
) -> UIMessageStreamRelay:
    """The stream as UI message stream frames, for ASGI frameworks.

    ``StreamingResponse(ui_message_stream(stream), headers=UI_MESSAGE_STREAM_HEADERS)``;
    ``sse_events(stream, protocol="ai-sdk")`` is the same. Returns a
    :class:`UIMessageStreamRelay` (an async iterator of ``bytes`` frames);
    ``heartbeat`` is in seconds. Nothing is raised for the stream's errors:
    they end it with an ``error`` part.
    """
    return UIMessageStreamRelay(
        stream, heartbeat=heartbeat, message_id=message_id, is_disconnected=is_disconnected
    )


async def ui_message_stream_response(
    request: web.Request,
    stream: Relayable,
    *,
    heartbeat: float = 15.0,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    """Relay ``stream`` to an aiohttp.web client as a UI message stream; returns the finished response.

    ``sse_response(request, stream, protocol="ai-sdk")`` is the same.
    Returns when the stream ends or the client goes away (the upstream is
    then cancelled).
    """
    transport = request.transport

    def gone() -> bool:
        return transport is None or transport.is_closing()

    source = ui_message_stream(stream, heartbeat=heartbeat, message_id=message_id, is_disconnected=gone)
    response = web.StreamResponse(headers={**UI_MESSAGE_STREAM_HEADERS, **(headers or {})})
    try:
        await response.prepare(request)
        async for frame in source:
            await response.write(frame)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away; there is no one left to answer
    finally:
        await source.aclose()
    return response


def _check_protocol(protocol: object, resume: object) -> None:
    """For ``streamkit.web``: ``protocol`` must be known; ``ai-sdk`` takes no resume buffer."""
    if protocol != "ai-sdk":
        raise InvalidArgumentError(f"protocol must be 'streamkit' or 'ai-sdk', got {protocol!r}")
    if resume is not None:
        raise InvalidArgumentError(
            "resume: protocol='ai-sdk' relays without a resume buffer (Last-Event-ID is not part of it)"
        )


def _protocol_relay(
    protocol: object,
    stream: Relayable,
    resume: object,
    *,
    heartbeat: float,
    is_disconnected: Callable[[], bool] | None,
) -> UIMessageStreamRelay:
    """``sse_events(..., protocol=...)`` for a protocol other than streamkit's own."""
    _check_protocol(protocol, resume)
    return ui_message_stream(stream, heartbeat=heartbeat, is_disconnected=is_disconnected)


async def _protocol_response(
    protocol: object,
    request: web.Request,
    stream: Relayable,
    resume: object,
    *,
    heartbeat: float,
    headers: dict[str, str] | None,
) -> web.StreamResponse:
    """``sse_response(..., protocol=...)`` for a protocol other than streamkit's own."""
    _check_protocol(protocol, resume)
    return await ui_message_stream_response(request, stream, heartbeat=heartbeat, headers=headers)


# -- the request side: what useChat POSTs ---------------------------------------


def _bad(where: str, problem: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"invalid argument: {where}: {problem}")


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _bad(where, f"expected a string, got {type(value).__name__}")
    return value


def _file_part(part: dict[str, Any], where: str) -> dict[str, Any]:
    """A ``file`` UI part as a LangChain standard block (checked further when the request is built)."""
    media_type = _str(part.get("mediaType"), f"{where}.mediaType")
    url = _str(part.get("url"), f"{where}.url")
    block: dict[str, Any] = {
        "type": "image" if media_type.startswith("image/") else "file",
        "url": url,
        "mime_type": media_type,
    }
    filename = part.get("filename")
    if filename is not None:
        block["filename"] = _str(filename, f"{where}.filename")
    return block


def _tool_name(part: dict[str, Any], kind: str, where: str) -> str:
    if kind == "dynamic-tool":
        return _str(part.get("toolName"), f"{where}.toolName")
    name = kind[len("tool-") :]
    if not name:
        raise _bad(where, "a tool part's type is 'tool-<name>'")
    return name


def _tool_output(part: dict[str, Any], where: str) -> str | None:
    """The text to send back for a tool part, or None while it has no result."""
    state = part.get("state")
    if state == "output-available":
        output = part.get("output")
        return output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
    if state == "output-error":
        return _str(part.get("errorText"), f"{where}.errorText")
    if state == "output-denied":
        approval = part.get("approval")
        reason = approval.get("reason") if isinstance(approval, dict) else None
        return reason if isinstance(reason, str) and reason else "Tool call execution denied."
    return None


def _assistant(parts: list[Any], where: str, message_id: str | None) -> list[BaseMessage]:
    """An assistant UIMessage: one AIMessage (then its ToolMessages) per step."""
    out: list[BaseMessage] = []
    text: list[str] = []
    calls: list[ToolCall] = []
    results: list[ToolMessage] = []

    def flush() -> None:
        if text or calls:
            out.append(AIMessage("".join(text), tool_calls=list(calls), id=message_id))
            out.extend(results)
        text.clear()
        calls.clear()
        results.clear()

    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        if not isinstance(part, dict):
            raise _bad(at, f"expected an object, got {type(part).__name__}")
        kind = _str(part.get("type"), f"{at}.type")
        if kind == "text":
            text.append(_str(part.get("text"), f"{at}.text"))
        elif kind == "step-start":
            flush()
        elif kind == "dynamic-tool" or kind.startswith("tool-"):
            if part.get("state") == "input-streaming" or part.get("providerExecuted") is True:
                continue  # unfinished input; or run by the provider, which keeps its own record
            call_id = _str(part.get("toolCallId"), f"{at}.toolCallId")
            name = _tool_name(part, kind, at)
            args = part.get("input")
            if args is None:
                args = {}
            if not isinstance(args, dict):
                raise _bad(f"{at}.input", f"expected a JSON object, got {type(args).__name__}")
            calls.append(ToolCall(id=call_id, name=name, args=args))
            output = _tool_output(part, at)
            if output is not None:
                results.append(ToolMessage(output, tool_call_id=call_id))
        # reasoning, sources, files, data-* parts: shown in the UI, not sent back to the model
    flush()
    return out


def ui_messages_to_streamkit(body: Any) -> list[BaseMessage]:
    """The messages of a ``useChat`` request, as streamkit messages.

    ``body`` is the parsed JSON request (``{"id", "messages": [UIMessage...],
    "trigger", "messageId", ...}``) or its ``messages`` list. A
    ``UIMessage`` is ``{"id", "role": "system" | "user" | "assistant",
    "parts": [...], "metadata"?}`` (``packages/ai/src/ui/ui-messages.ts``
    of https://github.com/vercel/ai). Converted as the AI SDK's own
    ``convertToModelMessages`` does:

    * ``system``: its text parts joined, a :class:`SystemMessage`;
    * ``user``: a :class:`HumanMessage`: the text if it is one text part,
      else content parts: ``text`` → ``{"type": "text"}``, ``file`` →
      a standard ``image`` (``image/*``) or ``file`` block with its URL
      (``https://`` or ``data:``) and ``mime_type`` (checked when the
      request is built, see :mod:`streamkit._content`); ``data-*`` parts
      are left out;
    * ``assistant``: per step (parts between ``step-start`` parts) an
      :class:`AIMessage` with the text and the tool calls (``tool-<name>``
      and ``dynamic-tool`` parts whose input is complete), then a
      :class:`ToolMessage` per call with a result (``output-available``:
      the output, JSON-encoded unless a string; ``output-error``: the
      error text; ``output-denied``: the reason). Reasoning, sources,
      files, ``data-*`` parts and tools the provider ran are left out.

    Raises :class:`InvalidArgumentError` naming the place
    (``messages[2].parts[0].text``) for a body that is not of that shape: no
    ``messages`` list, a message or part that is not an object, an unknown
    role, a text that is not a string, a part a user message cannot carry
    (anything but ``text``, ``file``, ``data-*``), a tool input that is not
    an object.
    """
    messages = body.get("messages") if isinstance(body, dict) else body
    if not isinstance(messages, list):
        raise _bad("messages", "expected a list of UI messages (the 'messages' of a useChat request)")
    out: list[BaseMessage] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _bad(where, f"expected an object, got {type(message).__name__}")
        role = message.get("role")
        parts = message.get("parts")
        if not isinstance(parts, list):
            raise _bad(f"{where}.parts", "expected a list of parts")
        message_id = message.get("id") if isinstance(message.get("id"), str) else None
        if role == "assistant":
            out.extend(_assistant(parts, where, message_id))
            continue
        if role not in ("system", "user"):
            raise _bad(f"{where}.role", f"expected 'system', 'user' or 'assistant', got {role!r}")
        content: list[dict[str, Any]] = []
        for j, part in enumerate(parts):
            at = f"{where}.parts[{j}]"
            if not isinstance(part, dict):
                raise _bad(at, f"expected an object, got {type(part).__name__}")
            kind = _str(part.get("type"), f"{at}.type")
            if kind == "text":
                content.append({"type": "text", "text": _str(part.get("text"), f"{at}.text")})
            elif kind == "file" and role == "user":
                content.append(_file_part(part, at))
            elif not kind.startswith("data-"):
                allowed = "text parts" if role == "system" else "text, file and data-* parts"
                raise _bad(at, f"a {role} message takes {allowed}, got a {kind!r} part")
        if role == "system":
            out.append(SystemMessage("".join(p["text"] for p in content), id=message_id))
        elif len(content) == 1 and content[0]["type"] == "text":
            out.append(HumanMessage(content[0]["text"], id=message_id))
        elif content:
            out.append(HumanMessage(list[ContentPart](content), id=message_id))
        else:
            raise _bad(f"{where}.parts", "a user message needs at least one text or file part")
    return out
