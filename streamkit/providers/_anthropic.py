"""Anthropic's Messages API (``POST /v1/messages``), streaming and not.

Wire facts this module relies on (Anthropic's streaming docs):

* ``message_start`` carries the model, id and the input usage;
* ``content_block_start/delta/stop`` carry text (``text_delta``), tool input
  (``input_json_delta``; the first fragment may be empty), thinking
  (``thinking_delta``, ``signature_delta``) and ``citations_delta``; the
  block ``index`` counts every block, so tool calls get their own ordinal;
* ``message_delta`` carries the stop reason and **cumulative** usage: each
  report replaces the previous one (the collector never adds);
* ``message_stop`` is the terminal marker; ``ping`` may come anywhere;
  unknown event types are ignored; ``error`` may arrive mid-stream with
  HTTP 200 and becomes the same typed error as the equivalent status.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._content import anthropic_blocks, parse_content
from .._sse import ServerSentEvent
from ..errors import IncompleteStreamError, ProtocolError, error_from_payload, error_message
from ..events import (
    Citation,
    ContentBlock,
    Event,
    Finish,
    FinishReason,
    MessageStart,
    ServerToolResult,
    ServerToolUse,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from ..messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolCall, ToolMessage
from ..testing._render import Answer, anthropic_events, anthropic_full
from ..testing._validate import check_anthropic
from ..testing.wire import MockWire
from ..tools import ToolSpec
from .base import Provider, StreamMapper, bad_value, count, error_event_payload, loads, optional_str

__all__ = ["MOCK", "AnthropicMapper", "AnthropicProvider"]

#: The counters that together make every input token of a request
#: (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching#tracking-cache-performance:
#: "total input tokens = cache_read_input_tokens + cache_creation_input_tokens + input_tokens").
_INPUT_COUNTERS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
#: Anthropic's stop reasons (https://docs.anthropic.com/en/api/handling-stop-reasons), normalised.
#: ``pause_turn``: a server tool loop paused a long turn; send the conversation
#: back as it is (with this AIMessage) and the model continues.
_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "pause_turn": "pause_turn",
    "refusal": "refusal",
}


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


#: A tool_use block's own fields; any other is kept as the call's extras.
_TOOL_USE_FIELDS = frozenset({"type", "id", "name", "input"})

#: Blocks whose content streams as text/thinking/tool-call events.
_STREAMED_BLOCKS = ("text", "thinking", "tool_use")


def _index(obj: dict[str, Any]) -> int:
    index = obj.get("index", 0)
    if index.__class__ is not int:
        raise bad_value("index", "an integer", index)
    return index


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if value.__class__ is not dict:
        raise bad_value(where, "an object", value)
    return value


class AnthropicMapper(StreamMapper):
    """One Messages stream.

    Usage is cumulative: each report's counters replace the earlier ones,
    field by field. ``prompt_tokens`` is every input token, cached ones
    included (``input_tokens + cache_read_input_tokens +
    cache_creation_input_tokens``); the raw counters stay in ``details``.
    Every content block is announced in order with a
    :class:`~streamkit.events.ContentBlock`; blocks streamkit does not
    interpret (redacted thinking, server tools and their results, block
    types added later) are kept whole and never become tool calls.
    """

    __slots__ = ("_calls", "_fragments", "_opaque", "_usage")

    def __init__(self) -> None:
        super().__init__()
        self._calls: dict[int, int] = {}  # block index -> client tool-call ordinal
        self._fragments: list[list[str]] = []  # each client call's argument fragments
        self._opaque: dict[int, tuple[dict[str, Any], list[str]]] = {}  # block index -> (block, input parts)
        self._usage: dict[str, Any] = {}  # the raw counters so far

    def map(self, sse: ServerSentEvent, out: list[Event]) -> None:
        if self.terminal:
            return
        if sse.event == "error":
            payload = error_event_payload(sse.data)
            raise error_from_payload(payload)
        self.map_object(loads(sse.data), out, sse.event)

    def map_object(self, obj: Any, out: list[Event], event: str = "message") -> None:
        """The events one wire event (a JSON object) stands for."""
        if obj.__class__ is not dict:
            raise bad_value("stream event", "a JSON object", obj)
        kind = obj.get("type") or event
        if kind == "content_block_delta":
            delta = obj.get("delta")
            if delta.__class__ is not dict:
                delta = _object(delta, "delta")
            dtype = delta.get("type")
            if dtype == "text_delta":
                text = delta.get("text")
                if text.__class__ is str:
                    if text:
                        out.append(TextDelta(text))
                elif text is not None:
                    raise bad_value("delta.text", "a string", text)
            elif dtype == "input_json_delta":
                fragment = optional_str(delta.get("partial_json"), "delta.partial_json")
                if fragment:
                    index = _index(obj)
                    call = self._calls.get(index)
                    if call is not None:
                        self._call_fragment(call, fragment, out)
                    elif index in self._opaque:
                        self._opaque[index][1].append(fragment)
            elif dtype == "thinking_delta":
                thinking = optional_str(delta.get("thinking"), "delta.thinking")
                if thinking:
                    out.append(ThinkingDelta(thinking))
            elif dtype == "signature_delta":
                signature = optional_str(delta.get("signature"), "delta.signature")
                out.append(ThinkingDelta("", signature=signature or ""))
            elif dtype == "citations_delta":
                citation = delta.get("citation")
                if citation.__class__ is not dict:
                    raise bad_value("delta.citation", "an object", citation)
                out.append(Citation(citation))
            # Delta types added later are ignored.
        elif kind == "content_block_start":
            self._block_start(_index(obj), _object(obj.get("content_block"), "content_block"), out)
        elif kind == "content_block_stop":
            self._block_stop(_index(obj), out)
        elif kind == "message_start":
            message = _object(obj.get("message"), "message")
            model = optional_str(message.get("model"), "message.model") or None
            rid = optional_str(message.get("id"), "message.id") or None
            out.append(MessageStart(model=model, id=rid))
            if message.get("usage") is not None:
                out.append(self._usage_event(message["usage"], "message.usage"))
        elif kind == "message_delta":
            delta = _object(obj.get("delta"), "delta")
            if obj.get("usage") is not None:
                out.append(self._usage_event(obj["usage"], "usage"))
            stop = optional_str(delta.get("stop_reason"), "delta.stop_reason")
            if stop is not None:
                matched = optional_str(delta.get("stop_sequence"), "delta.stop_sequence")
                out.append(Finish(stop, 0, _FINISH.get(stop, "other"), matched))
        elif kind == "message_stop":
            for index in list(self._opaque):
                self._block_stop(index, out)
            self.terminal = True
        elif kind == "error":
            raise error_from_payload(obj)
        # ping and event types added later are ignored.

    def _block_start(self, index: int, block: dict[str, Any], out: list[Event]) -> None:
        btype = block.get("type")
        if btype == "text":
            out.append(ContentBlock("text"))
            text = optional_str(block.get("text"), "content_block.text")
            if text:
                out.append(TextDelta(text))
            for citation in block.get("citations") or ():
                if citation.__class__ is not dict:
                    raise bad_value("content_block.citations[]", "an object", citation)
                out.append(Citation(citation))
        elif btype == "thinking":
            out.append(ContentBlock("thinking"))
            thinking = optional_str(block.get("thinking"), "content_block.thinking")
            if thinking:
                out.append(ThinkingDelta(thinking))
            signature = optional_str(block.get("signature"), "content_block.signature")
            if signature:
                out.append(ThinkingDelta("", signature=signature))
        elif btype == "tool_use":
            call_id = optional_str(block.get("id"), "content_block.id") or None
            name = optional_str(block.get("name"), "content_block.name") or ""
            initial = _object(block.get("input"), "content_block.input")
            out.append(ContentBlock("tool_use"))
            call = self._calls[index] = len(self._calls)
            self._fragments.append([])
            # Other fields of the block (``caller`` of programmatic tool calling, ...)
            # go back with the call.
            extras = {k: v for k, v in block.items() if k not in _TOOL_USE_FIELDS} or None
            out.append(ToolCallStart(call, call_id, name, 0, extras))
            if initial:  # the stream starts with {} and sends the JSON as deltas
                self._call_fragment(call, json.dumps(initial, ensure_ascii=False), out)
        else:
            # redacted_thinking, server_tool_use, web_search_tool_result, ...:
            # kept whole (server tool input assembled from its deltas) and
            # announced when complete.
            if not isinstance(btype, str):
                raise bad_value("content_block.type", "a string", btype)
            self._opaque[index] = (dict(block), [])

    def _block_stop(self, index: int, out: list[Event]) -> None:
        pending = self._opaque.pop(index, None)
        if pending is None:
            return
        block, parts = pending
        if parts:
            raw = "".join(parts)
            try:
                block["input"] = json.loads(raw)
            except ValueError:
                raise ProtocolError(
                    f"the {block['type']} block's input is not valid JSON: {raw[:200]!r}"
                ) from None
        kind: str = block["type"]
        if kind.endswith("_tool_use"):  # server_tool_use, mcp_tool_use: the provider runs it
            name = block.get("name")
            out.append(
                ServerToolUse(
                    _str_or_none(block.get("id")),
                    name if isinstance(name, str) else "",
                    block.get("input"),
                    block,
                )
            )
        elif kind.endswith("_tool_result"):  # web_search_tool_result, code_execution_tool_result, ...
            out.append(
                ServerToolResult(_str_or_none(block.get("tool_use_id")), kind, block.get("content"), block)
            )
        else:  # redacted_thinking and block types added later
            out.append(ContentBlock(kind, block))

    def _call_fragment(self, call: int, fragment: str, out: list[Event]) -> None:
        fragments = self._fragments[call]
        fragments.append(fragment)
        out.append(ToolCallDelta(call, fragment, _fragments=fragments, _count=len(fragments)))

    def _usage_event(self, usage: Any, where: str) -> Usage:
        raw = self._usage
        for key, value in _object(usage, where).items():
            if value is not None:
                raw[key] = value
        counters = [count(raw.get(key), f"{where}.{key}") for key in _INPUT_COUNTERS]
        prompt = None if all(c is None for c in counters) else sum(c or 0 for c in counters)
        completion = count(raw.get("output_tokens"), f"{where}.output_tokens")
        total = prompt + completion if prompt is not None and completion is not None else None
        cache: dict[str, int] = {}
        if counters[1] is not None:
            cache["cache_read"] = counters[1]
        if counters[2] is not None:
            cache["cache_creation"] = counters[2]
        return Usage(prompt, completion, total, dict(raw), cache or None)

    def check_complete(self, finished: bool) -> None:
        # Anthropic always ends with a stop_reason (message_delta) and message_stop;
        # without either the answer may be cut.
        if not self.terminal:
            raise IncompleteStreamError(
                "the stream ended before message_stop: the response may be incomplete"
            )
        if not finished:
            raise IncompleteStreamError(
                "the stream ended without a stop_reason: the response may be incomplete"
            )


def _own_extras(message: AIMessage, call: ToolCall) -> dict[str, Any]:
    """A call's extra wire fields, if they are Anthropic's (not another provider's)."""
    return (call.extras or {}) if message.response_metadata.get("model_provider") == "anthropic" else {}


def _content_blocks(message: AIMessage) -> list[dict[str, Any]] | str:
    if message.content_blocks and message.response_metadata.get("model_provider") == "anthropic":
        # The blocks exactly as they came, in order: signed thinking,
        # redacted thinking and server-tool blocks must go back unchanged
        # for the API to accept the next turn.
        return [dict(block) for block in message.content_blocks]
    thinking = message.additional_kwargs.get("thinking")
    signature = message.additional_kwargs.get("thinking_signature")
    if not message.tool_calls and not (thinking and signature):
        return message.content
    blocks: list[dict[str, Any]] = []
    if thinking and signature:
        # Anthropic requires the signed thinking block back when a tool-use
        # turn with extended thinking is continued.
        blocks.append({"type": "thinking", "thinking": thinking, "signature": signature})
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": call.args,
                **_own_extras(message, call),
            }
        )
    return blocks


def _blocks(message: BaseMessage, role: str, where: str) -> str | list[dict[str, Any]]:
    """A message's content: its string, or its parts as Messages API blocks (``streamkit._content``)."""
    content = parse_content(message.content, f"{where}.content")
    return content if isinstance(content, str) else anthropic_blocks(content, role)


def _system(prompts: list[str | list[dict[str, Any]]]) -> str | list[dict[str, Any]] | None:
    """The ``system`` field: strings joined by a blank line, or, once any
    SystemMessage has blocks, every prompt as text blocks in order (an empty
    string is left out: Anthropic rejects empty text blocks)."""
    if not prompts:
        return None
    strings = [p for p in prompts if isinstance(p, str)]
    if len(strings) == len(prompts):
        return "\n\n".join(strings)
    blocks: list[dict[str, Any]] = []
    for prompt in prompts:
        if isinstance(prompt, str):
            if prompt:
                blocks.append({"type": "text", "text": prompt})
        else:
            blocks.extend(prompt)
    return blocks


def messages_to_wire(
    messages: Sequence[BaseMessage],
) -> tuple[str | list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """(system, messages) in Messages API form. Tool results become user turns.

    Content parts are converted by :func:`streamkit._content.anthropic_blocks`
    (``cache_control`` kept); one Anthropic cannot take raises
    :class:`InvalidArgumentError` naming ``messages[i].content[j]``.
    """
    system: list[str | list[dict[str, Any]]] = []
    wire: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if isinstance(message, SystemMessage):
            system.append(_blocks(message, "system", where))
        elif isinstance(message, HumanMessage):
            wire.append({"role": "user", "content": _blocks(message, "user", where)})
        elif isinstance(message, AIMessage):
            wire.append({"role": "assistant", "content": _content_blocks(message)})
        elif isinstance(message, ToolMessage):
            block = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": _blocks(message, "tool", where),
            }
            previous = wire[-1] if wire else None
            if (
                previous
                and previous["role"] == "user"
                and isinstance(previous["content"], list)
                and all(b.get("type") == "tool_result" for b in previous["content"])
            ):
                previous["content"].append(block)  # parallel results share one user turn
            else:
                wire.append({"role": "user", "content": [block]})
        else:  # pragma: no cover - messages are validated before this
            raise TypeError(f"unsupported message type {type(message).__name__}")
    return _system(system), wire


class AnthropicProvider(Provider):
    """``POST /v1/messages``."""

    name = "anthropic"
    model_provider = "anthropic"
    chat = True
    path = "/v1/messages"
    version = "2023-06-01"
    api_key_env = "ANTHROPIC_API_KEY"
    base_url_env = "ANTHROPIC_BASE_URL"
    #: ``base_url`` does not include ``/v1``, as in the official SDK.
    default_base_url = "https://api.anthropic.com"

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": self.version}
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def parse_error(self, body: Any) -> tuple[str | None, str | None]:
        return error_message(body)

    def new_mapper(self) -> AnthropicMapper:
        return AnthropicMapper()

    def build(self, messages: Sequence[BaseMessage], params: dict[str, Any], stream: bool) -> dict[str, Any]:
        body = {k: v for k, v in params.items() if v is not None}
        if "stop" in body:
            body["stop_sequences"] = body.pop("stop")
        system, wire = messages_to_wire(messages)
        if system is not None:
            body["system"] = system
        body["messages"] = wire
        if stream:
            body["stream"] = True
        return body

    structured_method = "tool"

    def output_format(
        self, name: str, description: str, schema: dict[str, Any], strict: bool | None
    ) -> dict[str, Any]:
        """``output_config: {"format": {"type": "json_schema", "schema"}}``, the schema adjusted to
        what the API accepts (https://docs.anthropic.com/en/docs/build-with-claude/structured-outputs)."""
        from ..structured import anthropic_schema

        return {"output_config": {"format": {"type": "json_schema", "schema": anthropic_schema(schema)}}}

    def structured_tool(
        self, name: str, description: str, schema: dict[str, Any], strict: bool | None
    ) -> dict[str, Any]:
        """A tool; strict tool use (``"strict": true``, adjusted schema) only when ``strict=True``."""
        from ..structured import anthropic_schema

        if strict is True:
            return {
                "name": name,
                "description": description,
                "input_schema": anthropic_schema(schema),
                "strict": True,
            }
        return {"name": name, "description": description, "input_schema": schema}

    @staticmethod
    def tools_to_wire(specs: list[ToolSpec], choice: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if specs:
            out["tools"] = [
                s.raw
                if s.raw is not None  # a server tool, in its own form
                else {"name": s.name, "description": s.description, "input_schema": s.parameters, **s.extra}
                for s in specs
            ]
        if choice is not None:
            if choice == "required":
                out["tool_choice"] = {"type": "any"}
            elif choice in ("auto", "none"):
                out["tool_choice"] = {"type": choice}
            else:
                out["tool_choice"] = {"type": "tool", "name": choice}
        return out

    def parse_response(self, body: Any) -> list[Event]:
        """A whole ``message``, through the same mapper as a stream.

        Each content block is read as a ``content_block_start`` carrying
        all of its content. An error object raises its typed error; a body
        without a ``content`` list is a :class:`ProtocolError`, never an
        empty answer.
        """
        if body.__class__ is not dict:
            raise bad_value("response", "a JSON object", body)
        if body.get("type") == "error" or body.get("error") is not None:
            raise error_from_payload(body)
        content = body.get("content")
        if content.__class__ is not list:
            raise ProtocolError("the response is not a message: it has no content list")
        mapper = self.new_mapper()
        out: list[Event] = []
        mapper.map_object({"type": "message_start", "message": {**body, "content": []}}, out)
        for index, block in enumerate(content):
            mapper.map_object({"type": "content_block_start", "index": index, "content_block": block}, out)
            mapper.map_object({"type": "content_block_stop", "index": index}, out)
        delta = {"stop_reason": body.get("stop_reason"), "stop_sequence": body.get("stop_sequence")}
        mapper.map_object({"type": "message_delta", "delta": delta}, out)
        return out


class _AnthropicMock(MockWire):
    """The mock server's Messages API (requests checked like the real API's schema)."""

    name = "anthropic"
    routes = ("/v1/messages",)
    keepalive = b'event: ping\ndata: {"type": "ping"}\n\n'
    stop_reason = "end_turn"
    tool_reason = "tool_use"

    def check(self, body: Any, headers: Mapping[str, str]) -> dict[str, Any] | None:
        return check_anthropic(body, headers)

    def events(self, answer: Answer, body: Any) -> Iterable[tuple[bytes, bool]]:
        return anthropic_events(answer)

    def full(self, answer: Answer, body: Any) -> dict[str, Any]:
        return anthropic_full(answer)

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"type": "error", "error": {"type": "api_error", "message": message}}

    def error_event(self, error_type: str, message: str) -> bytes:
        payload = {"type": "error", "error": {"type": error_type, "message": message}}
        return b"event: error\ndata: " + json.dumps(payload).encode() + b"\n\n"


MOCK = _AnthropicMock()
