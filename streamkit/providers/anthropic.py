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
from collections.abc import Sequence
from typing import Any

from ..errors import IncompleteStreamError, error_message, status_error
from ..events import (
    Citation,
    Event,
    Finish,
    MessageStart,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from ..messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from ..sse import ServerSentEvent
from ..tools import ToolSpec
from .base import Provider, StreamMapper, loads

__all__ = ["AnthropicProvider", "AnthropicMapper", "ERROR_STATUS"]

#: Anthropic's error types and the HTTP status each stands for.
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

_USAGE_SKIP = ("input_tokens", "output_tokens")


def _usage(usage: dict[str, Any]) -> Usage:
    return Usage(
        prompt_tokens=usage.get("input_tokens"),
        completion_tokens=usage.get("output_tokens"),
        details={k: v for k, v in usage.items() if k not in _USAGE_SKIP and v is not None},
    )


def _error(body: Any) -> tuple[str | None, str | None]:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message")
            kind = error.get("type")
            return (str(message) if message else None, str(kind) if kind else None)
    return None, None


class AnthropicMapper(StreamMapper):
    """One Messages stream."""

    __slots__ = ("_calls", "_kinds")

    def __init__(self) -> None:
        super().__init__()
        self._calls: dict[int, int] = {}  # block index -> tool-call ordinal
        self._kinds: dict[int, str] = {}  # block index -> block type

    def map(self, sse: ServerSentEvent, out: list[Event]) -> None:
        obj = loads(sse.data)
        if not isinstance(obj, dict):
            return
        kind = obj.get("type") or sse.event
        if kind == "content_block_delta":
            delta = obj.get("delta") or {}
            dtype = delta.get("type")
            if dtype == "text_delta":
                text = delta.get("text")
                if text:
                    out.append(TextDelta(text))
            elif dtype == "input_json_delta":
                fragment = delta.get("partial_json")
                if fragment:
                    call = self._calls.get(obj.get("index", 0))
                    if call is not None:
                        out.append(ToolCallDelta(call, fragment))
            elif dtype == "thinking_delta":
                thinking = delta.get("thinking")
                if thinking:
                    out.append(ThinkingDelta(thinking))
            elif dtype == "signature_delta":
                out.append(ThinkingDelta("", signature=delta.get("signature") or ""))
            elif dtype == "citations_delta":
                citation = delta.get("citation")
                if isinstance(citation, dict):
                    out.append(Citation(citation))
        elif kind == "content_block_start":
            self._block_start(obj.get("index", 0), obj.get("content_block") or {}, out)
        elif kind == "message_start":
            message = obj.get("message") or {}
            out.append(MessageStart(model=message.get("model"), id=message.get("id")))
            if message.get("usage"):
                out.append(_usage(message["usage"]))
        elif kind == "message_delta":
            delta = obj.get("delta") or {}
            if obj.get("usage"):
                out.append(_usage(obj["usage"]))
            if delta.get("stop_reason") is not None:
                out.append(Finish(delta["stop_reason"]))
        elif kind == "message_stop":
            self.terminal = True
        elif kind == "error":
            message, error_type = _error(obj)
            status = ERROR_STATUS.get(error_type or "", 500)
            raise status_error(
                status, message or "the provider reported an error", body=obj, error_type=error_type
            )
        # ping, content_block_stop and event types added later are ignored.

    def _block_start(self, index: int, block: dict[str, Any], out: list[Event]) -> None:
        btype = block.get("type", "")
        self._kinds[index] = btype
        if btype in ("tool_use", "server_tool_use"):
            call = self._calls[index] = len(self._calls)
            out.append(ToolCallStart(call, block.get("id"), block.get("name") or ""))
            initial = block.get("input")
            if initial:  # the stream normally starts with {} and sends the JSON as deltas
                out.append(ToolCallDelta(call, json.dumps(initial)))
        elif btype == "text":
            if block.get("text"):
                out.append(TextDelta(block["text"]))
        elif btype == "thinking" and block.get("thinking"):
            out.append(ThinkingDelta(block["thinking"]))

    def check_complete(self, finished: bool) -> None:
        # Anthropic always ends with message_stop; without it the answer may be cut.
        if not self.terminal:
            raise IncompleteStreamError(
                "the stream ended before message_stop: the response may be incomplete"
            )


def _content_blocks(message: AIMessage) -> list[dict[str, Any]] | str:
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
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": call.args})
    return blocks


def messages_to_wire(messages: Sequence[BaseMessage]) -> tuple[str | None, list[dict[str, Any]]]:
    """(system, messages) in Messages API form. Tool results become user turns."""
    system: list[str] = []
    wire: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            system.append(message.content)
        elif isinstance(message, HumanMessage):
            wire.append({"role": "user", "content": message.content})
        elif isinstance(message, AIMessage):
            wire.append({"role": "assistant", "content": _content_blocks(message)})
        elif isinstance(message, ToolMessage):
            block = {"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.content}
            previous = wire[-1] if wire else None
            if previous and previous["role"] == "user" and isinstance(previous["content"], list):
                previous["content"].append(block)  # parallel results share one user turn
            else:
                wire.append({"role": "user", "content": [block]})
        else:  # pragma: no cover - messages are validated before this
            raise TypeError(f"unsupported message type {type(message).__name__}")
    return ("\n\n".join(system) if system else None), wire


class AnthropicProvider(Provider):
    """``POST /v1/messages``."""

    name = "anthropic"
    chat = True
    path = "/v1/messages"
    version = "2023-06-01"

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

    @staticmethod
    def tools_to_wire(specs: list[ToolSpec], choice: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if specs:
            out["tools"] = [
                {"name": s.name, "description": s.description, "input_schema": s.parameters} for s in specs
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
        out: list[Event] = [MessageStart(model=body.get("model"), id=body.get("id"))]
        calls = 0
        for block in body.get("content") or ():
            btype = block.get("type")
            if btype == "text" and block.get("text"):
                out.append(TextDelta(block["text"]))
                for citation in block.get("citations") or ():
                    out.append(Citation(citation))
            elif btype in ("tool_use", "server_tool_use"):
                out.append(ToolCallStart(calls, block.get("id"), block.get("name") or ""))
                if block.get("input"):
                    out.append(ToolCallDelta(calls, json.dumps(block["input"])))
                calls += 1
            elif btype == "thinking":
                if block.get("thinking"):
                    out.append(ThinkingDelta(block["thinking"]))
                if block.get("signature"):
                    out.append(ThinkingDelta("", signature=block["signature"]))
        if body.get("usage"):
            out.append(_usage(body["usage"]))
        out.append(Finish(body.get("stop_reason")))
        return out
