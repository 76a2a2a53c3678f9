"""OpenAI's Responses API (``POST /v1/responses``), streaming and not: ``ChatOpenAIResponses``.

**Why its own class.** LangChain switches ``ChatOpenAI`` to this API with
``use_responses_api=True``. Here it is a class of its own,
:class:`ChatOpenAIResponses`, because (1) a provider is one module plus one
registry line (the provider contract, issue #12): a switch on ``ChatOpenAI``
would mean editing ``streamkit/_openai.py`` and choosing the provider per
instance in shared code; (2) the two APIs take different settings
(Responses: ``reasoning``, ``store``, ``include``, ``previous_response_id``,
``instructions``, ``text``; Chat Completions: ``n``, ``logprobs``,
``stream_usage``), and one class with both would accept settings that the
API it talks to rejects; (3) the registry lists providers by name and chat
class (the mock server routes from it), so ``openai-responses`` is a provider
like any other, not a mode of another one.

Wire facts used here (the API reference for streaming events,
https://platform.openai.com/docs/api-reference/responses-streaming, and the
event and item types of the official SDK, ``openai/openai-python``
``src/openai/types/responses/``), checked against recorded streams from
``api.openai.com`` (``tests/fixtures/wire/openai_responses/README.md``):

* SSE events each name their ``type`` in the ``event:`` line and in the
  payload. ``response.created`` / ``response.in_progress`` carry the
  response (``id``, ``model``, ``created_at``); no ``[DONE]`` follows the
  end. The end is ``response.completed``, ``response.incomplete``
  (``incomplete_details.reason``: ``max_output_tokens``, ``content_filter``)
  or ``response.failed`` (``response.error``: ``{"code", "message"}``);
  each carries the whole response with its ``usage``: ``input_tokens``
  (every input token, cached ones included), ``input_tokens_details.
  cached_tokens`` (and ``cache_write_tokens``), ``output_tokens``,
  ``output_tokens_details.reasoning_tokens``, ``total_tokens``.
* An answer is a list of *output items*, each announced by
  ``response.output_item.added`` and complete at ``response.output_item.done``
  (``output_index`` is its place, ``item_id`` its id): ``message`` items
  (content parts ``output_text`` with ``annotations``, or ``refusal``),
  ``function_call`` items (``call_id`` is the id a tool result answers;
  ``arguments`` stream as ``response.function_call_arguments.delta``),
  ``reasoning`` items (``summary`` parts streamed as
  ``response.reasoning_summary_text.delta``; ``encrypted_content`` when
  asked for with ``include: ["reasoning.encrypted_content"]``; "use the
  completed reasoning item ... from the ``response.output_item.done``
  event", the SDK's ``ResponseReasoningItem`` docs), and the items of tools
  the server runs (``web_search_call``, ``file_search_call``, ...).
* Text streams as ``response.output_text.delta`` (``content_index`` is the
  part), citations as ``response.output_text.annotation.added``, refusals as
  ``response.refusal.delta``.
* An in-stream failure is an ``error`` event, documented as ``{"type":
  "error", "code", "message", "param"}`` and seen as ``{"type": "error",
  "error": {"type", "code", "message", "param"}}`` (a recorded
  ``insufficient_quota`` stream), followed by ``response.failed``.

What streamkit makes of it: text is :class:`~streamkit.events.TextDelta`;
reasoning summaries (and ``reasoning_text`` from open-weight models) are
:class:`~streamkit.events.ThinkingDelta`, separate parts joined by a blank
line (``"\\n\\n"``, added by streamkit); function calls are
:class:`~streamkit.events.ToolCallStart`/:class:`~streamkit.events.ToolCallDelta`
(numbered in order of arrival, known by ``output_index`` and ``item_id``);
annotations are :class:`~streamkit.events.Citation`; refusals
:class:`~streamkit.events.RefusalDelta`; usage :class:`~streamkit.events.Usage`
(``prompt_tokens`` = ``input_tokens``, never added to the cached count). Each
output item, when done, is also a whole :class:`~streamkit.events.ContentBlock`
(kind = the item's ``type``; the tools the server ran are
:class:`~streamkit.events.ServerToolUse`), so ``AIMessage.content_blocks`` is
the response's ``output`` exactly, and sending the message back sends those
items back as input: the reasoning items (with ``encrypted_content``) included,
as the API needs them in a tool loop with a reasoning model.

``output_item.done`` (and the final response's ``output``) is also where
content the deltas did not bring is filled in: whatever an item's text,
refusal, summary or arguments hold beyond what was streamed is emitted then.
That is how a non-streaming response is mapped: by the same mapper, each
item read as its ``response.output_item.done`` event (one mapping, not two).
"""

from __future__ import annotations

import json
import mimetypes
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Unpack

from pydantic import Field

from .._content import Part, parse_part, where_type
from .._sse import ServerSentEvent
from ..errors import (
    ERROR_TYPE_STATUS,
    APIError,
    APIStatusError,
    IncompleteStreamError,
    InvalidArgumentError,
    ProtocolError,
    ProviderStreamError,
    error_from_payload,
    error_message,
    payload_is_error,
)
from ..events import (
    Citation,
    ContentBlock,
    Event,
    Finish,
    FinishReason,
    MessageStart,
    RefusalDelta,
    ServerToolUse,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from ..messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from ..models import ChatModel, ChatModelSettings
from ..testing._render import Answer, sse
from ..testing.wire import MockWire
from ..tools import ToolSpec
from .base import Provider, StreamMapper, bad_value, count, error_event_payload, loads, optional_str

__all__ = [
    "DEFAULT_MODEL",
    "MOCK",
    "ChatOpenAIResponses",
    "ChatOpenAIResponsesSettings",
    "OpenAIResponsesProvider",
    "ResponsesMapper",
    "messages_to_input",
]

#: The default model: a small reasoning model, as ``ChatOpenAI`` defaults to a
#: small one. (The SDK's README uses its flagship; any Responses model works.)
DEFAULT_MODEL = "gpt-5-mini"

#: Asks for reasoning items' ``encrypted_content``
#: (https://platform.openai.com/docs/api-reference/responses/create#responses-create-include).
ENCRYPTED_REASONING = "reasoning.encrypted_content"

#: ``incomplete_details.reason`` values, normalised (SDK ``Response.IncompleteDetails``).
_INCOMPLETE: dict[str, FinishReason] = {
    "max_output_tokens": "length",
    "content_filter": "content_filter",
}

#: Output items of tools the server runs itself, and the name each is shown with.
_HOSTED = {
    "web_search_call": "web_search",
    "file_search_call": "file_search",
    "code_interpreter_call": "code_interpreter",
    "image_generation_call": "image_generation",
    "mcp_call": "mcp",
}

#: The part types the Responses API takes in input messages, as written by users.
_NATIVE_PARTS = ("input_text", "input_image", "input_file", "input_audio")


# -- the stream mapper -------------------------------------------------------


class _Item:
    """What has been streamed of one output item.

    Counts are in characters (``str`` length) per part index: at
    ``output_item.done`` only what is beyond them is emitted.
    """

    __slots__ = ("call", "done", "kind", "named", "notes", "refusal", "text", "thinking")

    def __init__(self, kind: str | None) -> None:
        self.kind = kind
        self.done = False
        #: The tool-call ordinal of a ``function_call`` item, once started.
        self.call: int | None = None
        #: Whether its call id and name are known (else a later start updates them).
        self.named = False
        self.text: dict[int, int] = {}
        self.refusal: dict[int, int] = {}
        self.notes: dict[int, int] = {}  # annotations per content part
        self.thinking: dict[tuple[str, int], int] = {}  # ("summary"|"content", index)


def _index(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if value is None:
        return 0
    if value.__class__ is not int:
        raise bad_value(key, "an integer", value)
    return int(value)


def _position(obj: dict[str, Any]) -> int | None:
    """An item event's ``output_index``, or None when the server left it out."""
    return None if obj.get("output_index") is None else _index(obj, "output_index")


def _object(value: Any, where: str) -> dict[str, Any]:
    if value.__class__ is not dict:
        raise bad_value(where, "an object", value)
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if value.__class__ is not list:
        raise bad_value(where, "a list", value)
    return value


def stream_error(payload: Any) -> APIError:
    """The typed error for an ``error`` event or a failed response's ``error`` object.

    The documented event is ``{"type": "error", "code", "message", "param"}``;
    recorded ones nest ``{"error": {"type", "code", "message"}}``; a
    ``response.failed`` response has ``"error": {"code", "message"}``; an
    HTTP error body is ``{"error": {"message", "type", "param", "code"}}``.
    The error's kind is its ``type`` or ``code``, whichever
    :func:`~streamkit.errors.error_from_payload` classifies
    (``rate_limit_exceeded`` and ``insufficient_quota`` are a
    :class:`~streamkit.errors.RateLimitError`, ``server_error`` a retryable
    :class:`~streamkit.errors.ProviderStreamError`, an unknown one such as
    ``invalid_prompt`` a :class:`~streamkit.errors.ProviderStreamError` with
    that ``error_type``);
    ``body`` keeps the payload as it came.
    """
    if payload.__class__ is not dict:
        return error_from_payload(payload)
    inner = payload.get("error")
    source = inner if inner.__class__ is dict else payload
    code = source.get("code")
    # OpenAI's ``type`` is broad (``invalid_request_error``, ``requests``), its ``code``
    # precise (``rate_limit_exceeded``): the first the classifier knows wins, else the type.
    kinds = [k for k in (source.get("type"), code) if isinstance(k, str) and k not in ("", "error")]
    kind = next((k for k in kinds if k in ERROR_TYPE_STATUS), kinds[0] if kinds else None)
    normalized = {
        "error": {"message": source.get("message"), "type": kind, "code": code, "param": source.get("param")}
    }
    error = error_from_payload(normalized)
    if isinstance(error, (APIStatusError, ProviderStreamError)):
        error.body = payload
    return error


class ResponsesMapper(StreamMapper):
    """One Responses API stream (see the module docstring for the events it reads).

    ``terminal`` is set at ``response.completed`` / ``response.incomplete``;
    ``response.failed`` and ``error`` raise the typed error
    (:func:`stream_error`), the partial answer kept by the adapter. Event
    types this mapper does not read (``response.content_part.added``,
    ``response.web_search_call.searching``, types added later) are ignored.
    """

    __slots__ = (
        "_anon",
        "_by_id",
        "_by_index",
        "_called",
        "_fragments",
        "_last",
        "_refused",
        "_started",
        "_think_at",
    )

    def __init__(self) -> None:
        super().__init__()
        self._by_index: dict[int, _Item] = {}
        self._by_id: dict[str, _Item] = {}
        self._anon: _Item | None = None  # deltas that named no item, before any item was announced
        self._last: _Item | None = None  # the item announced last (what deltas naming none belong to)
        self._fragments: list[list[str]] = []  # each call's argument fragments
        self._started = False
        self._refused = False
        self._called = False
        self._think_at: tuple[_Item, tuple[str, int]] | None = None

    def map(self, sse: ServerSentEvent, out: list[Event]) -> None:
        if self.terminal:
            return  # nothing after the end counts
        data = sse.data
        if sse.event == "error":
            payload = error_event_payload(data)
            raise stream_error(payload)
        if data.startswith("[DONE]"):
            return  # OpenAI sends none; some compatible servers do. The end is response.completed.
        self.map_object(loads(data), out, sse.event)

    def map_object(self, obj: Any, out: list[Event], event: str = "message") -> None:
        """The events one wire event (a JSON object) stands for."""
        if obj.__class__ is not dict:
            raise bad_value("stream event", "a JSON object", obj)
        kind = obj.get("type")
        if kind.__class__ is not str:
            if kind is not None:
                raise bad_value("type", "a string", kind)
            kind = event
        if kind == "response.output_text.delta":
            delta = obj.get("delta")
            if delta.__class__ is not str:
                if delta is None:
                    return
                raise bad_value("response.output_text.delta.delta", "a string", delta)
            if delta:
                item = self._item(obj)
                part = _index(obj, "content_index")
                item.text[part] = item.text.get(part, 0) + len(delta)
                logprobs = obj.get("logprobs")
                out.append(TextDelta(delta, 0, logprobs if logprobs.__class__ is list and logprobs else None))
        elif kind == "response.reasoning_summary_text.delta" or kind == "response.reasoning_text.delta":
            delta = optional_str(obj.get("delta"), f"{kind}.delta")
            if delta:
                key = ("summary", _index(obj, "summary_index"))
                if kind == "response.reasoning_text.delta":
                    key = ("content", _index(obj, "content_index"))
                self._thinking(self._item(obj), key, delta, out)
        elif kind == "response.function_call_arguments.delta":
            delta = optional_str(obj.get("delta"), "response.function_call_arguments.delta.delta")
            if delta:
                item = self._item(obj)
                if item.call is None:
                    self._start_call(item, None, "", out)  # a delta before its item: named later
                assert item.call is not None
                self._fragment(item.call, delta, out)
        elif kind == "response.output_item.added":
            self._item_added(_position(obj), _object(obj.get("item"), "item"), out)
        elif kind == "response.output_item.done":
            self._item_done(_position(obj), _object(obj.get("item"), "item"), out)
        elif kind == "response.output_text.annotation.added":
            item = self._item(obj)
            part = _index(obj, "content_index")
            at = obj.get("annotation_index")
            seen = item.notes.get(part, 0)
            item.notes[part] = max(seen + 1, at + 1) if at.__class__ is int else seen + 1
            annotation = obj.get("annotation")
            if annotation is not None:
                out.append(Citation(_object(annotation, "annotation")))
        elif kind == "response.refusal.delta":
            delta = optional_str(obj.get("delta"), "response.refusal.delta.delta")
            if delta:
                item = self._item(obj)
                part = _index(obj, "content_index")
                item.refusal[part] = item.refusal.get(part, 0) + len(delta)
                self._refused = True
                out.append(RefusalDelta(delta))
        elif kind in ("response.created", "response.in_progress", "response.queued"):
            if not self._started:
                self._meta(_object(obj.get("response"), "response"), out)
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self._end(kind, _object(obj.get("response"), "response"), out)
        elif kind == "error":
            raise stream_error(obj)
        elif not kind.startswith("response.") and payload_is_error(obj):
            raise stream_error(obj)  # a gateway's {"error": {...}} in the stream
        # Every other event type (part boundaries, *.done events, hosted tool
        # progress, types added later) adds nothing the items' done events do not.

    # -- items -----------------------------------------------------------------

    def _item(self, obj: dict[str, Any]) -> _Item:
        """The output item an event belongs to: by ``output_index``, else ``item_id``."""
        index = obj.get("output_index")
        if index is not None:
            if index.__class__ is not int:
                raise bad_value("output_index", "an integer", index)
            item = self._by_index.get(index)
            if item is not None:
                return item
        item_id = optional_str(obj.get("item_id"), "item_id") or None
        if item_id is not None:
            item = self._by_id.get(item_id)
            if item is not None:
                if index is not None:
                    self._by_index[index] = item
                return item
        if index is None and item_id is None:
            if self._last is not None and not self._last.done:
                return self._last
            if self._anon is None:
                self._anon = _Item(None)
            return self._anon
        item = _Item(None)  # a delta whose item was never announced
        if index is not None:
            self._by_index[index] = item
        if item_id is not None:
            self._by_id[item_id] = item
        return item

    def _find(self, index: int | None, item: dict[str, Any]) -> _Item:
        """The state of the item at ``index`` (by its id when the event gave no index; made if never seen)."""
        kind = item.get("type")
        if kind.__class__ is not str:
            raise bad_value("item.type", "a string", kind)
        item_id = item.get("id")
        found = self._by_index.get(index) if index is not None else None
        if found is None and isinstance(item_id, str):
            found = self._by_id.get(item_id)
        anon = self._anon
        if found is None and anon is not None and _fits(anon, kind):
            found, self._anon = anon, None  # the deltas that named no item were this one's
        if found is None:
            found = _Item(None)
        if index is not None:
            self._by_index[index] = found
        if isinstance(item_id, str) and item_id:
            self._by_id[item_id] = found
        found.kind = kind
        return found

    def _item_added(self, index: int | None, item: dict[str, Any], out: list[Event]) -> None:
        state = self._last = self._find(index, item)
        if state.kind == "function_call" and state.call is None:
            call_id = optional_str(item.get("call_id"), "item.call_id") or None
            name = optional_str(item.get("name"), "item.name") or ""
            self._start_call(state, call_id, name, out)
            arguments = optional_str(item.get("arguments"), "item.arguments")
            if arguments:
                assert state.call is not None
                self._fragment(state.call, arguments, out)
        # Other items' content arrives as deltas, and whole at their done event.

    def _item_done(self, index: int | None, item: dict[str, Any], out: list[Event]) -> None:
        state = self._find(index, item)
        if state.done:
            return  # the final response repeats items already done
        state.done = True
        kind = state.kind
        assert kind is not None
        if kind == "message":
            for part_index, part in enumerate(_list(item.get("content"), "item.content")):
                part = _object(part, "item.content[]")
                ptype = part.get("type")
                if ptype == "output_text":
                    text = optional_str(part.get("text"), "item.content[].text") or ""
                    rest = text[state.text.get(part_index, 0) :]
                    if rest:
                        out.append(TextDelta(rest))
                    notes = _list(part.get("annotations"), "item.content[].annotations")
                    for annotation in notes[state.notes.get(part_index, 0) :]:
                        out.append(Citation(_object(annotation, "item.content[].annotations[]")))
                elif ptype == "refusal":
                    refusal = optional_str(part.get("refusal"), "item.content[].refusal") or ""
                    rest = refusal[state.refusal.get(part_index, 0) :]
                    if rest:
                        out.append(RefusalDelta(rest))
                    self._refused = True
            out.append(ContentBlock("message", dict(item)))
        elif kind == "function_call":
            call_id = optional_str(item.get("call_id"), "item.call_id") or None
            name = optional_str(item.get("name"), "item.name") or ""
            if state.call is None:
                self._start_call(state, call_id, name, out)
            elif not state.named and (call_id or name):
                state.named = True
                out.append(ToolCallStart(state.call, call_id, name))
            assert state.call is not None
            arguments = optional_str(item.get("arguments"), "item.arguments") or ""
            streamed = "".join(self._fragments[state.call])
            if len(arguments) > len(streamed) and arguments.startswith(streamed):
                self._fragment(state.call, arguments[len(streamed) :], out)
            self._called = True
            out.append(ContentBlock("function_call", dict(item)))
        elif kind == "reasoning":
            for where, field in (("summary", "summary"), ("content", "content")):
                for part_index, part in enumerate(_list(item.get(field), f"item.{field}")):
                    part = _object(part, f"item.{field}[]")
                    text = optional_str(part.get("text"), f"item.{field}[].text") or ""
                    rest = text[state.thinking.get((where, part_index), 0) :]
                    if rest:
                        self._thinking(state, (where, part_index), rest, out)
            out.append(ContentBlock("reasoning", dict(item)))
        elif kind in _HOSTED:
            item_id = optional_str(item.get("id"), "item.id") or None
            tool = _HOSTED[kind]
            if kind == "mcp_call":
                tool = optional_str(item.get("name"), "item.name") or tool
            out.append(ServerToolUse(item_id, tool, _hosted_input(item), dict(item)))
        else:
            # custom_tool_call, computer_call, mcp_list_tools, types added later:
            # kept whole, in order, and sent back as they came.
            out.append(ContentBlock(kind, dict(item)))

    def _thinking(self, item: _Item, key: tuple[str, int], text: str, out: list[Event]) -> None:
        at = (item, key)
        if self._think_at is not None and (self._think_at[0] is not item or self._think_at[1] != key):
            out.append(ThinkingDelta("\n\n"))  # a new summary part (or item): a paragraph break
        self._think_at = at
        item.thinking[key] = item.thinking.get(key, 0) + len(text)
        out.append(ThinkingDelta(text))

    def _start_call(self, item: _Item, call_id: str | None, name: str, out: list[Event]) -> None:
        item.call = len(self._fragments)
        item.named = bool(call_id or name)
        self._fragments.append([])
        out.append(ToolCallStart(item.call, call_id, name))

    def _fragment(self, call: int, text: str, out: list[Event]) -> None:
        fragments = self._fragments[call]
        fragments.append(text)
        out.append(ToolCallDelta(call, text, _fragments=fragments, _count=len(fragments)))

    # -- the response ----------------------------------------------------------

    def _meta(self, response: dict[str, Any], out: list[Event]) -> None:
        model = optional_str(response.get("model"), "response.model") or None
        rid = optional_str(response.get("id"), "response.id") or None
        created = response.get("created_at")
        extra = {"created_at": created} if created.__class__ is int else {}
        if model is not None or rid is not None:
            out.append(MessageStart(model=model, id=rid, extra=extra))
            self._started = True

    def _end(self, kind: str, response: dict[str, Any], out: list[Event]) -> None:
        """``response.completed`` / ``incomplete`` / ``failed``: the last event of a stream."""
        status = response.get("status")
        if not isinstance(status, str) or not status:
            status = kind.removeprefix("response.")
        if status == "failed":
            raise stream_error({"error": response.get("error") or {}, "status": "failed"})
        if not self._started:
            self._meta(response, out)
        # Items the stream never finished (or never sent): from the final output.
        for index, item in enumerate(_list(response.get("output"), "response.output")):
            self._item_done(index, _object(item, "response.output[]"), out)
        usage = response.get("usage")
        if usage is not None:
            out.append(usage_event(usage))
        if status == "incomplete":
            details = response.get("incomplete_details")
            reason = None
            if details is not None:
                reason = optional_str(
                    _object(details, "incomplete_details").get("reason"), "incomplete_details.reason"
                )
            out.append(Finish(reason or "incomplete", 0, _INCOMPLETE.get(reason or "", "other")))
        else:
            normalized: FinishReason = "stop"
            if status != "completed":
                normalized = "other"  # cancelled
            elif self._refused:
                normalized = "refusal"
            elif self._called:
                normalized = "tool_calls"
            out.append(Finish(status, 0, normalized))
        self.terminal = True

    def check_complete(self, finished: bool) -> None:
        if not self.terminal:
            raise IncompleteStreamError(
                "the stream ended before response.completed: the response may be incomplete"
            )
        super().check_complete(finished)


def _fits(anon: _Item, kind: str) -> bool:
    """Whether deltas that named no item can be those of an item of this ``kind``."""
    if kind == "message":
        return bool(anon.text or anon.refusal or anon.notes)
    if kind == "reasoning":
        return bool(anon.thinking)
    return kind == "function_call" and anon.call is not None


def _hosted_input(item: dict[str, Any]) -> Any:
    """What a server-run tool was given: the search action, the queries, the code, the arguments."""
    for key in ("action", "queries", "code", "arguments"):
        if item.get(key) is not None:
            return item[key]
    return None


def usage_event(usage: Any, where: str = "response.usage") -> Usage:
    """The Responses API's usage object as an event; the raw object kept in ``details``.

    ``prompt_tokens`` is ``input_tokens``, which already counts the cached
    tokens (``input_tokens_details.cached_tokens`` is a part of it, never
    added); ``input_token_details`` has ``cache_read`` (and
    ``cache_creation`` from ``cache_write_tokens``), ``output_token_details``
    ``reasoning``. Raises :class:`ProtocolError` for a count that is not a
    whole number >= 0.
    """
    usage = _object(usage, where)
    prompt = count(usage.get("input_tokens"), f"{where}.input_tokens")
    completion = count(usage.get("output_tokens"), f"{where}.output_tokens")
    total = count(usage.get("total_tokens"), f"{where}.total_tokens")
    cache: dict[str, int] = {}
    details = usage.get("input_tokens_details")
    if details is not None:
        details = _object(details, f"{where}.input_tokens_details")
        cached = count(details.get("cached_tokens"), f"{where}.input_tokens_details.cached_tokens")
        written = count(details.get("cache_write_tokens"), f"{where}.input_tokens_details.cache_write_tokens")
        if cached is not None:
            cache["cache_read"] = cached
        if written is not None:
            cache["cache_creation"] = written
    reasoning: dict[str, int] = {}
    details = usage.get("output_tokens_details")
    if details is not None:
        details = _object(details, f"{where}.output_tokens_details")
        thought = count(details.get("reasoning_tokens"), f"{where}.output_tokens_details.reasoning_tokens")
        if thought is not None:
            reasoning["reasoning"] = thought
    raw = {k: v for k, v in usage.items() if v is not None}
    return Usage(prompt, completion, total, raw, cache or None, reasoning or None)


# -- the request -------------------------------------------------------------


def _bad(where: str, problem: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"invalid argument: {where}: {problem}")


def _default_filename(mime: str) -> str:
    return "document" + (mimetypes.guess_extension(mime) or "")


def _input_part(part: Part, role: str) -> dict[str, Any]:
    """One content part as a Responses input part (``input_text``, ``input_image``, ``input_file``).

    Shapes: https://platform.openai.com/docs/api-reference/responses/create
    (``input_image``: ``image_url`` (a URL or a data URL) or ``file_id``, with
    ``detail``; ``input_file``: ``file_id``, ``file_url``, or ``file_data`` (a
    data URL) with a ``filename``). ``cache_control`` is dropped (OpenAI
    caches prompt prefixes by itself).
    """
    if part.kind == "text":
        return {"type": "input_text", "text": part.text}
    if role == "system":
        raise _bad(part.where, f"a system message takes only text parts; got {where_type(part.type)}")
    if part.kind == "image":
        image: dict[str, Any] = {"type": "input_image", "detail": part.detail or "auto"}
        if part.file_id is not None:
            image["file_id"] = part.file_id
        elif part.url is not None:
            image["image_url"] = part.url
        else:
            assert part.data is not None and part.mime_type is not None
            image["image_url"] = f"data:{part.mime_type};base64,{part.data}"
        return image
    if part.kind == "document":
        if part.file_id is not None:
            return {"type": "input_file", "file_id": part.file_id}
        if part.url is not None:
            return {"type": "input_file", "file_url": part.url}
        if part.data is None or part.mime_type is None:
            raise _bad(part.where, f"a document with a {part.source_type!r} source has no OpenAI form")
        return {
            "type": "input_file",
            "filename": part.filename or _default_filename(part.mime_type),
            "file_data": f"data:{part.mime_type};base64,{part.data}",
        }
    if part.kind == "audio" and part.raw is not None and role == "user":
        return {k: v for k, v in part.raw.items() if k != "cache_control"}
    raise _bad(part.where, f"the Responses API takes no {where_type(part.type)} in a {role} message")


def _content(message: BaseMessage, role: str, where: str) -> str | list[dict[str, Any]]:
    """A message's content: its string, or its parts as Responses input parts.

    Parts already in the Responses form (``input_text``, ``input_image``,
    ``input_file``, ``input_audio``) are sent as written; the others are read
    by :func:`streamkit._content.parse_part` (every shape it accepts) and
    converted. Raises :class:`InvalidArgumentError` naming the part.
    """
    content = message.content
    if isinstance(content, str):
        return content
    if not content:
        raise _bad(f"{where}.content", "content is an empty list; give at least one part (or a string)")
    parts: list[dict[str, Any]] = []
    for j, raw in enumerate(content):
        if isinstance(raw, dict) and raw.get("type") in _NATIVE_PARTS:
            parts.append(dict(raw))
        else:
            parts.append(_input_part(parse_part(raw, f"{where}.content[{j}]"), role))
    return parts


def _output_text(blocks: Sequence[dict[str, Any]]) -> str:
    return "".join(
        part.get("text") or ""
        for block in blocks
        if block.get("type") == "message"
        for part in (block.get("content") or ())
        if isinstance(part, dict) and part.get("type") == "output_text"
    )


def _same_arguments(arguments: Any, call: Any) -> bool:
    if not isinstance(arguments, str):
        return False
    if not call.complete:
        return bool(call.raw_args == arguments)
    try:
        return bool(json.loads(arguments) == call.args) if arguments.strip() else call.args == {}
    except ValueError:
        return False


def _blocks_agree(message: AIMessage, blocks: Sequence[dict[str, Any]]) -> bool:
    """Whether ``content_blocks`` still say what the message says (text and tool calls)."""
    if not all(isinstance(block, dict) for block in blocks):
        return False
    if _output_text(blocks) != message.content:
        return False
    calls = [block for block in blocks if block.get("type") == "function_call"]
    if len(calls) != len(message.tool_calls):
        return False
    return all(
        block.get("call_id") == call.id
        and block.get("name") == call.name
        and _same_arguments(block.get("arguments"), call)
        for block, call in zip(calls, message.tool_calls, strict=True)
    )


def _without_ids(item: dict[str, Any]) -> dict[str, Any] | None:
    """A message or function call that no longer points at an unsendable reasoning item."""
    kind = item.get("type")
    if kind == "message":
        text = _output_text([item])
        if not text:
            return None
        easy: dict[str, Any] = {"type": "message", "role": "assistant", "content": text}
        if item.get("phase") is not None:
            easy["phase"] = item["phase"]
        return easy
    if kind == "function_call":
        return {k: v for k, v in item.items() if k != "id"}
    return item


def _assistant_items(message: AIMessage, where: str, store: Any) -> list[dict[str, Any]]:
    """An ``AIMessage`` as input items.

    A message that came from this API keeps its output items in
    ``content_blocks``: they go back exactly as they came (reasoning items
    with their ``encrypted_content`` included), as long as they still agree
    with ``content`` and ``tool_calls``. With ``store=False`` a reasoning item
    without ``encrypted_content`` cannot be sent (the API answers "Item with
    id 'rs_...' not found. Items are not persisted when `store` is set to
    false ... or remove this item from your input"): it is left out, and the
    message's other items lose the ids that would point at it ("Item 'fc_...'
    of type 'function_call' was provided without its required 'reasoning'
    item"). Any other ``AIMessage`` becomes an assistant message with its text
    and one ``function_call`` item per tool call.
    """
    blocks = message.content_blocks
    if (
        blocks
        and message.response_metadata.get("model_provider") == OpenAIResponsesProvider.model_provider
        and _blocks_agree(message, blocks)
    ):
        items = [dict(block) for block in blocks]
        if store is False and any(
            item.get("type") == "reasoning" and not item.get("encrypted_content") for item in items
        ):
            kept = (
                _without_ids(item)
                for item in items
                if not (item.get("type") == "reasoning" and not item.get("encrypted_content"))
            )
            items = [item for item in kept if item is not None]
        return items
    items = []
    if message.content:
        items.append({"type": "message", "role": "assistant", "content": message.content})
    for j, call in enumerate(message.tool_calls):
        if not call.id:
            raise _bad(
                f"{where}.tool_calls[{j}]", "the Responses API needs each tool call's id (its call_id)"
            )
        arguments = (
            call.raw_args if not call.complete and call.raw_args is not None else json.dumps(call.args)
        )
        items.append({"type": "function_call", "call_id": call.id, "name": call.name, "arguments": arguments})
    return items


def messages_to_input(messages: Sequence[BaseMessage], store: Any = None) -> list[dict[str, Any]]:
    """A conversation as the Responses API's ``input`` items.

    ``SystemMessage`` -> a ``system`` message (in place, so several system
    messages keep their order; the ``instructions`` setting is the other
    way); ``HumanMessage`` -> a ``user`` message (text, ``input_image``,
    ``input_file`` parts); ``AIMessage`` -> its output items (see
    :func:`_assistant_items`); ``ToolMessage`` -> a ``function_call_output``
    with the call's ``call_id``. ``store`` is the request's ``store``
    setting. Raises :class:`InvalidArgumentError` naming a message or part
    the API cannot take.
    """
    items: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if isinstance(message, SystemMessage):
            items.append({"type": "message", "role": "system", "content": _content(message, "system", where)})
        elif isinstance(message, HumanMessage):
            items.append({"type": "message", "role": "user", "content": _content(message, "user", where)})
        elif isinstance(message, AIMessage):
            items.extend(_assistant_items(message, where, store))
        elif isinstance(message, ToolMessage):
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message.tool_call_id,
                    "output": _content(message, "tool", where),
                }
            )
        else:  # pragma: no cover - messages are validated before this
            raise TypeError(f"unsupported message type {type(message).__name__}")
    return items


class OpenAIResponsesProvider(Provider):
    """``POST /v1/responses``: the body, the mapper, the errors (``base_url`` includes ``/v1``)."""

    name = "openai-responses"
    #: LangChain's value for both OpenAI APIs; ``content_blocks`` hold Responses output items.
    model_provider = "openai"
    chat = True
    path = "/responses"
    api_key_env = "OPENAI_API_KEY"
    base_url_env = "OPENAI_BASE_URL"
    default_base_url = "https://api.openai.com/v1"

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def parse_error(self, body: Any) -> tuple[str | None, str | None]:
        return error_message(body)

    def new_mapper(self) -> ResponsesMapper:
        return ResponsesMapper()

    def build(self, messages: Sequence[BaseMessage], params: dict[str, Any], stream: bool) -> dict[str, Any]:
        """The request body (https://platform.openai.com/docs/api-reference/responses/create).

        ``max_tokens`` is sent as ``max_output_tokens``; with ``reasoning`` set and ``store=False``,
        ``include`` gets ``reasoning.encrypted_content`` (the reasoning items
        can then go back next turn). Raises :class:`InvalidArgumentError` for
        ``stop`` (the API has no stop sequences).
        """
        body = {k: v for k, v in params.items() if v is not None}
        if body.pop("stop", None):
            raise InvalidArgumentError(
                "invalid argument: stop: the Responses API has no stop sequences "
                "(use ChatOpenAI, Chat Completions, for stop)"
            )
        max_tokens = body.pop("max_tokens", None)
        if max_tokens is not None:
            body.setdefault("max_output_tokens", max_tokens)
        store = body.get("store")
        include = list(body.pop("include", None) or ())
        if body.get("reasoning") is not None and store is False and ENCRYPTED_REASONING not in include:
            include.append(ENCRYPTED_REASONING)
        if include:
            body["include"] = include
        body["input"] = messages_to_input(messages, store)
        if stream:
            body["stream"] = True
        return body

    @staticmethod
    def tools_to_wire(specs: list[ToolSpec], choice: str | None) -> dict[str, Any]:
        """Function tools in the Responses form: ``{"type": "function", "name", "description",
        "parameters", "strict"}`` (no ``function`` wrapper).

        ``strict`` is sent as given, else ``False``: when it is left out the
        Responses API normalises the schema into strict mode, which makes
        optional fields required ("If you omit strict, the default depends on
        the API: Responses requests will normalize your schema into strict
        mode", https://platform.openai.com/docs/guides/function-calling); with
        ``False`` a tool means what it means for ``ChatOpenAI``. Server tools
        (``{"type": "web_search"}``) are sent as given. ``tool_choice``: a
        function's name becomes ``{"type": "function", "name"}``, a server
        tool's ``{"type": <its type>}``.
        """
        out: dict[str, Any] = {}
        if specs:
            tools: list[dict[str, Any]] = []
            for spec in specs:
                if spec.raw is not None:
                    tools.append(spec.raw)
                    continue
                tool: dict[str, Any] = {
                    "type": "function",
                    "name": spec.name,
                    "description": spec.description,
                    "parameters": spec.parameters,
                    "strict": False,
                }
                tool.update(spec.extra)
                tools.append(tool)
            out["tools"] = tools
        if choice is not None:
            if choice in ("auto", "required", "none"):
                out["tool_choice"] = choice
            else:
                raw = next((s.raw for s in specs if s.name == choice and s.raw is not None), None)
                if raw is not None:
                    out["tool_choice"] = {"type": raw.get("type")}
                else:
                    out["tool_choice"] = {"type": "function", "name": choice}
        return out

    def output_format(
        self, name: str, description: str, schema: dict[str, Any], strict: bool | None
    ) -> dict[str, Any]:
        """``{"text": {"format": {"type": "json_schema", "name", "schema", "strict"}}}`` (plus
        ``"description"`` when there is one), strict unless ``strict=False``.

        The Responses API's form of structured output: the fields Chat
        Completions nests in ``response_format.json_schema`` sit directly in
        ``text.format`` (https://platform.openai.com/docs/guides/structured-outputs?api-mode=responses,
        and the SDK's ``ResponseFormatTextJSONSchemaConfig``). A strict
        schema is made strict-compatible as for ``ChatOpenAI`` (every
        property required, ``additionalProperties: false``:
        :func:`streamkit.structured.openai_strict_schema`). Merged into the
        body key by key, so a ``text={"verbosity": ...}`` setting stays.
        """
        from ..structured import openai_strict_schema

        strict = strict is not False
        fmt: dict[str, Any] = {
            "type": "json_schema",
            "name": name,
            "schema": openai_strict_schema(schema) if strict else schema,
            "strict": strict,
        }
        if description:
            fmt["description"] = description
        return {"text": {"format": fmt}}

    def structured_tool(
        self, name: str, description: str, schema: dict[str, Any], strict: bool | None
    ) -> dict[str, Any]:
        """The forced function tool, strict (its schema made strict-compatible) unless ``strict=False``.

        :meth:`tools_to_wire` sends a tool without ``strict`` as
        ``"strict": false``; the structured tool asks for ``"strict": true``
        as ``ChatOpenAI``'s does, so the arguments are enforced to fit
        (https://platform.openai.com/docs/guides/function-calling#strict-mode).
        """
        from ..structured import openai_strict_schema

        if strict is False:
            return {"name": name, "description": description, "parameters": schema}
        return {
            "name": name,
            "description": description,
            "parameters": openai_strict_schema(schema),
            "strict": True,
        }

    def parse_response(self, body: Any) -> list[Event]:
        """A whole ``response`` object, through the same mapper as a stream.

        Read as the stream would have ended: ``response.created``, one
        ``response.output_item.done`` per output item, then the end event of
        its ``status``. An error object raises its typed error (a ``failed``
        response too); a body without an ``output`` list, or a response still
        ``queued``/``in_progress`` (``background: true``), is a
        :class:`ProtocolError`, never an empty answer.
        """
        if body.__class__ is not dict:
            raise bad_value("response", "a JSON object", body)
        output = body.get("output")
        if output.__class__ is not list:
            if payload_is_error(body):
                raise stream_error(body)
            raise ProtocolError(
                "the response is not a Responses API response: it has no output list "
                f"(keys: {', '.join(list(body)[:10])})"
            )
        status = body.get("status")
        end = {
            "completed": "response.completed",
            "incomplete": "response.incomplete",
            "failed": "response.failed",
            "cancelled": "response.completed",
        }.get(status if isinstance(status, str) else "completed" if status is None else "")
        if end is None:
            raise ProtocolError(
                f"the response is not finished (status {status!r}): a background response is read "
                "with GET /responses/{id}"
            )
        mapper = self.new_mapper()
        out: list[Event] = []
        mapper.map_object({"type": "response.created", "response": {**body, "output": []}}, out)
        for index, item in enumerate(output):
            mapper.map_object({"type": "response.output_item.done", "output_index": index, "item": item}, out)
        mapper.map_object({"type": end, "response": body}, out)
        return out


# -- the model class ---------------------------------------------------------


class ChatOpenAIResponsesSettings(ChatModelSettings, total=False):
    """``ChatOpenAIResponses(...)``'s keyword arguments (:class:`~streamkit.models.ChatModelSettings` and
    these)."""

    reasoning: dict[str, Any] | None
    store: bool | None
    include: list[str] | None
    previous_response_id: str | None
    instructions: str | None
    text: dict[str, Any] | None


class ChatOpenAIResponses(ChatModel):
    """OpenAI's Responses API (``/v1/responses``): message lists in, ``AIMessage`` out.

    ``base_url`` includes ``/v1`` (as in the official SDK); it defaults to
    ``OPENAI_BASE_URL`` or ``https://api.openai.com/v1``, the key to
    ``OPENAI_API_KEY`` (sent as ``Authorization: Bearer``).

    Settings beyond every model's (``temperature``, ``top_p``, ``max_tokens``
    sent as ``max_output_tokens``; ``stop`` is refused, the API has none):

    * ``reasoning``: ``{"effort": "low"|"medium"|"high", "summary": "auto"}``;
      summaries stream as thinking (``ThinkingDelta``,
      ``additional_kwargs["thinking"]``), never into the answer;
    * ``store``: whether OpenAI keeps the response (the API's default is
      True). With ``store=False`` and ``reasoning`` set, ``include`` asks for
      ``reasoning.encrypted_content`` so that the reasoning items can go
      back with the ``AIMessage`` next turn;
    * ``include``, ``previous_response_id``, ``instructions``, ``text``
      (``{"format": {...}, "verbosity": ...}``): sent as given;
    * per call also ``parallel_tool_calls``, ``metadata``, ``service_tier``,
      ``truncation``, ``prompt_cache_key``, ``safety_identifier``,
      ``max_tool_calls``, ``top_logprobs``, ``background``, ``conversation``,
      ``prompt``; any other field through ``extra_body``.

    Tools are sent in the Responses form (see
    :meth:`OpenAIResponsesProvider.tools_to_wire`); ``AIMessage.content_blocks``
    holds the response's output items, sent back as they came.
    ``with_structured_output()`` asks for ``text.format`` (see
    :meth:`OpenAIResponsesProvider.output_format`); Chat Completions'
    ``response_format`` is refused, as the API refuses it.
    """

    _provider_class = OpenAIResponsesProvider
    _call_options = ChatModel._call_options | {
        "reasoning",
        "store",
        "include",
        "previous_response_id",
        "instructions",
        "text",
    }
    # Responses request fields accepted per call as given
    # (https://platform.openai.com/docs/api-reference/responses/create).
    # Not ``response_format``: that is Chat Completions' name, which the
    # Responses API rejects; JSON output is ``text.format`` (``text=`` or
    # with_structured_output, through OpenAIResponsesProvider.output_format).
    _body_fields = frozenset(
        {
            "parallel_tool_calls",
            "metadata",
            "service_tier",
            "truncation",
            "user",
            "safety_identifier",
            "prompt_cache_key",
            "prompt_cache_retention",
            "max_tool_calls",
            "max_output_tokens",
            "top_logprobs",
            "background",
            "conversation",
            "prompt",
            "stream_options",
        }
    )
    _json_fields = ("reasoning", "text")

    model: str = Field(default=DEFAULT_MODEL, alias="model_name", min_length=1)
    reasoning: dict[str, Any] | None = None
    store: bool | None = None
    include: list[str] | None = None
    previous_response_id: str | None = None
    instructions: str | None = None
    text: dict[str, Any] | None = None

    if TYPE_CHECKING:

        def __init__(self, **settings: Unpack[ChatOpenAIResponsesSettings]) -> None: ...

    def _extra_params(self) -> dict[str, Any]:
        return {
            "reasoning": self.reasoning,
            "store": self.store,
            "include": self.include,
            "previous_response_id": self.previous_response_id,
            "instructions": self.instructions,
            "text": self.text,
        }


# -- the mock server's side --------------------------------------------------


def _input_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(str(p.get("text", "")) for p in value if isinstance(p, dict))
    return ""


def _mock_usage(answer: Answer) -> dict[str, Any]:
    usage = answer.usage
    if "input_tokens" in usage:
        return dict(usage)
    return {
        "input_tokens": usage["prompt_tokens"],
        "input_tokens_details": {"cached_tokens": usage.get("cached_tokens", 0)},
        "output_tokens": usage["completion_tokens"],
        "output_tokens_details": {"reasoning_tokens": len(answer.thinking)},
        "total_tokens": usage.get("total_tokens", usage["prompt_tokens"] + usage["completion_tokens"]),
    }


#: One mock output item: the item when done, and the events streaming it (each flagged if a token).
_MockItem = tuple[dict[str, Any], list[tuple[dict[str, Any], bool]]]


def _ev(kind: str, *, token: bool = False, **fields: Any) -> tuple[dict[str, Any], bool]:
    return {"type": kind, **fields}, token


def _mock_arguments(call: dict[str, Any]) -> list[str]:
    fragments = call.get("fragments")
    if fragments is not None:
        return list(fragments)
    arguments = json.dumps(call.get("args", {}))
    step = max(1, len(arguments) // 3)
    return [arguments[i : i + step] for i in range(0, len(arguments), step)]


class _ResponsesMock(MockWire):
    """The mock server's Responses API (requests checked like the real API's schema, in part)."""

    name = "openai-responses"
    routes = ("/v1/responses",)
    base_path = "/v1"  # a ChatOpenAIResponses base_url includes /v1, as ChatOpenAI's does
    stop_reason = "completed"
    tool_reason = "completed"

    def prompt(self, body: Any) -> str:
        value = body.get("input") if isinstance(body, dict) else None
        if isinstance(value, str):
            return value
        for item in reversed(value if isinstance(value, list) else []):
            if isinstance(item, dict) and item.get("role") == "user":
                return _input_text(item.get("content"))
        return ""

    def check(self, body: Any, headers: Mapping[str, str]) -> dict[str, Any] | None:
        return check_request(body)

    def _fit(self, answer: Answer, body: Any) -> Answer:
        """The canned reply replaced by what a structured request asks for (``text.format``, forced tool)."""
        from ..testing._server import canned_reply, example_value  # aiohttp.web: only with the mock

        text = "".join(answer.token_lists[0]) if answer.token_lists else ""
        if answer.tool_calls or answer.refusal or text != canned_reply(self.prompt(body)):
            return answer
        fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            return replace(answer, token_lists=[[json.dumps(example_value(fmt.get("schema")))]])
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") == "function":
            for tool in body.get("tools") or ():
                if isinstance(tool, dict) and tool.get("name") == choice.get("name"):
                    call = {"name": tool["name"], "args": example_value(tool.get("parameters"))}
                    return replace(answer, token_lists=[[]], tool_calls=[call])
        return answer

    def _items(self, answer: Answer, body: Any) -> list[_MockItem]:
        """Each output item when done, with the events that stream it (flagged when they carry a token)."""
        items: list[_MockItem] = []
        if answer.thinking:
            summary = "".join(answer.thinking)
            at: dict[str, Any] = {"item_id": "rs_mock", "summary_index": 0}
            events = [
                _ev("response.reasoning_summary_part.added", **at, part={"type": "summary_text", "text": ""}),
                *(
                    _ev("response.reasoning_summary_text.delta", token=True, **at, delta=t)
                    for t in answer.thinking
                ),
                _ev("response.reasoning_summary_text.done", **at, text=summary),
                _ev(
                    "response.reasoning_summary_part.done",
                    **at,
                    part={"type": "summary_text", "text": summary},
                ),
            ]
            done: dict[str, Any] = {
                "id": "rs_mock",
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": summary}],
            }
            if ENCRYPTED_REASONING in (body.get("include") or ()):
                done["encrypted_content"] = "mock-encrypted-reasoning"
            items.append((done, events))
        tokens = answer.token_lists[0] if answer.token_lists else []
        if tokens or answer.refusal or not answer.tool_calls:
            parts: list[dict[str, Any]] = []
            events = []
            if tokens or not answer.refusal:
                text = "".join(tokens)
                at = {"item_id": "msg_mock", "content_index": len(parts)}
                empty = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
                part = {**empty, "annotations": list(answer.annotations), "text": text}
                events += [
                    _ev("response.content_part.added", **at, part=empty),
                    *(
                        _ev("response.output_text.delta", token=True, **at, delta=t, logprobs=[])
                        for t in tokens
                    ),
                    *(
                        _ev(
                            "response.output_text.annotation.added", **at, annotation_index=n, annotation=note
                        )
                        for n, note in enumerate(answer.annotations)
                    ),
                    _ev("response.output_text.done", **at, text=text, logprobs=[]),
                    _ev("response.content_part.done", **at, part=part),
                ]
                parts.append(part)
            if answer.refusal:
                refusal = "".join(answer.refusal)
                at = {"item_id": "msg_mock", "content_index": len(parts)}
                part = {"type": "refusal", "refusal": refusal}
                events += [
                    _ev("response.content_part.added", **at, part={"type": "refusal", "refusal": ""}),
                    *(_ev("response.refusal.delta", token=True, **at, delta=t) for t in answer.refusal),
                    _ev("response.refusal.done", **at, refusal=refusal),
                    _ev("response.content_part.done", **at, part=part),
                ]
                parts.append(part)
            message = {"id": "msg_mock", "type": "message", "status": "completed", "content": parts}
            items.append(({**message, "role": "assistant"}, events))
        for i, call in enumerate(answer.tool_calls):
            item_id = f"fc_mock_{i}"
            fragments = _mock_arguments(call)
            arguments = "".join(fragments)
            events = [
                _ev("response.function_call_arguments.delta", token=True, item_id=item_id, delta=f)
                for f in fragments
            ]
            events.append(_ev("response.function_call_arguments.done", item_id=item_id, arguments=arguments))
            done = {"id": item_id, "type": "function_call", "status": "completed", "arguments": arguments}
            items.append(
                ({**done, "call_id": call.get("id") or f"call_mock_{i}", "name": call["name"]}, events)
            )
        return items

    def _response(self, answer: Answer, body: Any, output: list[dict[str, Any]]) -> dict[str, Any]:
        finish = answer.finish_reason
        status, details = "completed", None
        if finish not in ("completed", "stop", "tool_calls"):
            status = "incomplete"
            details = {"reason": "max_output_tokens" if finish in ("length", "max_output_tokens") else finish}
        return {
            "id": "resp_mock",
            "object": "response",
            "created_at": int(time.time()),
            "status": status,
            "error": None,
            "incomplete_details": details,
            "model": answer.model,
            "output": output,
            "store": body.get("store", True),
            "usage": _mock_usage(answer),
        }

    def events(self, answer: Answer, body: Any) -> Iterable[tuple[bytes, bool]]:
        answer = self._fit(answer, body)
        return _mock_stream(self._response(answer, body, []), self._items(answer, body))

    def full(self, answer: Answer, body: Any) -> dict[str, Any]:
        answer = self._fit(answer, body)
        return self._response(answer, body, [item for item, _ in self._items(answer, body)])

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind, code = _ERROR_TYPES.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None)
        )
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def error_event(self, error_type: str, message: str) -> bytes:
        payload = {
            "type": "error",
            "code": error_type,
            "message": message,
            "param": None,
            "sequence_number": 0,
        }
        return sse(payload, "error")


#: OpenAI's error ``type``/``code`` per status (https://platform.openai.com/docs/guides/error-codes).
_ERROR_TYPES: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}


def _mock_stream(response: dict[str, Any], items: list[_MockItem]) -> Iterator[tuple[bytes, bool]]:
    """A Responses stream: created, in_progress, each item (added, its deltas, done), the end."""
    sequence = 0

    def event(payload: dict[str, Any], is_token: bool = False) -> tuple[bytes, bool]:
        nonlocal sequence
        payload = {"type": payload["type"], "sequence_number": sequence, **payload}
        sequence += 1
        return sse(payload, payload["type"]), is_token

    start = {**response, "status": "in_progress", "usage": None, "incomplete_details": None}
    yield event({"type": "response.created", "response": start})
    yield event({"type": "response.in_progress", "response": start})
    output: list[dict[str, Any]] = []
    for index, (done, deltas) in enumerate(items):
        added = {**done, "status": "in_progress"} if "status" in done else dict(done)
        if done["type"] == "message":
            added["content"] = []
        elif done["type"] == "function_call":
            added["arguments"] = ""
        elif done["type"] == "reasoning":
            added["summary"] = []
        yield event({"type": "response.output_item.added", "output_index": index, "item": added})
        for payload, is_token in deltas:
            yield event({**payload, "output_index": index}, is_token)
        yield event({"type": "response.output_item.done", "output_index": index, "item": done})
        output.append(done)
    kind = "response.completed" if response["status"] == "completed" else "response.incomplete"
    yield event({"type": kind, "response": {**response, "output": output}})


# -- request validation (the mock's) -----------------------------------------

#: Chat Completions parameters the Responses API does not have; the real API
#: answers ``Unknown parameter: 'max_tokens'.`` (code ``unknown_parameter``).
_NOT_PARAMETERS = (
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "n",
    "response_format",
    "logprobs",
)
_ROLES = ("user", "assistant", "system", "developer")
_USER_PARTS = ("input_text", "input_image", "input_file", "input_audio")
_ASSISTANT_PARTS = ("output_text", "refusal", "input_text")


def _openai_error(message: str, param: str | None, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def _listing(values: Sequence[str]) -> str:
    quoted = [f"'{v}'" for v in values]
    return ", ".join(quoted[:-1]) + (", and " if len(quoted) > 2 else " and ") + quoted[-1]


def _missing(param: str) -> dict[str, Any]:
    return _openai_error(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


def _invalid_value(param: str, value: Any, allowed: Sequence[str]) -> dict[str, Any]:
    return _openai_error(
        f"Invalid value: '{value}'. Supported values are: {_listing(allowed)}.", param, "invalid_value"
    )


def check_request(body: Any) -> dict[str, Any] | None:
    """The 400 error body the Responses API would answer ``body`` with, or None.

    Checked: ``model``; Chat Completions parameters the API does not have;
    ``input`` items: message roles and the part types each role takes,
    ``function_call`` (``call_id``, ``name``, ``arguments``),
    ``function_call_output`` (``call_id``, ``output``), ``reasoning`` (``id``,
    ``summary``); function tools in the Responses form (a ``name`` at the top,
    not under ``function``). Item types it does not know pass. Wording and
    ``param`` paths are OpenAI's (``Missing required parameter:
    'input[1].call_id'.``).
    """
    if not isinstance(body, dict):
        return _openai_error("We could not parse the JSON body of your request.", None, None)
    if not body.get("model"):
        return _missing("model")
    for name in _NOT_PARAMETERS:
        if name in body:
            return _openai_error(f"Unknown parameter: '{name}'.", name, "unknown_parameter")
    value = body.get("input")
    if value is not None and not isinstance(value, (str, list)):
        return _openai_error(
            "Invalid type for 'input': expected a string or an array.", "input", "invalid_type"
        )
    for i, item in enumerate(value if isinstance(value, list) else []):
        problem = _check_item(item, f"input[{i}]")
        if problem is not None:
            return problem
    for i, tool in enumerate(body.get("tools") or ()):
        if isinstance(tool, dict) and tool.get("type") == "function" and not tool.get("name"):
            return _missing(f"tools[{i}].name")
    return None


def _check_item(item: Any, param: str) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        return _openai_error(f"Invalid type for '{param}': expected an object.", param, "invalid_type")
    kind = item.get("type", "message" if "role" in item else None)
    if kind == "message":
        role = item.get("role")
        if role is None:
            return _missing(f"{param}.role")
        if role not in _ROLES:
            return _invalid_value(f"{param}.role", role, _ROLES)
        content = item.get("content")
        if content is None:
            return _missing(f"{param}.content")
        allowed = _ASSISTANT_PARTS if role == "assistant" else _USER_PARTS
        for j, part in enumerate(content if isinstance(content, list) else []):
            where = f"{param}.content[{j}]"
            ptype = part.get("type") if isinstance(part, dict) else None
            if ptype not in allowed:
                return _invalid_value(f"{where}.type", ptype, allowed)
            if ptype in ("input_text", "output_text") and not isinstance(part.get("text"), str):
                return _missing(f"{where}.text")
        return None
    required = {
        "function_call": ("call_id", "name", "arguments"),
        "function_call_output": ("call_id", "output"),
        "reasoning": ("id", "summary"),
    }.get(kind if isinstance(kind, str) else "", ())
    for key in required:
        if item.get(key) is None:
            return _missing(f"{param}.{key}")
    return None


MOCK = _ResponsesMock()
