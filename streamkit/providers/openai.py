"""OpenAI's wire formats: Chat Completions and legacy Completions.

Also spoken by vLLM, Ollama's ``/v1``, LM Studio, llama.cpp's server and
most gateways: everything here keys off the documented fields and tolerates
the common extensions (``reasoning_content`` / ``reasoning`` deltas, a
missing ``[DONE]``, a ``usage`` chunk with ``choices: []``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ProviderStreamError, error_message, status_error
from ..events import (
    Event,
    Finish,
    MessageStart,
    RefusalDelta,
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

__all__ = ["OpenAIChatProvider", "OpenAICompletionsProvider", "usage_event"]

_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")


def usage_event(usage: dict[str, Any]) -> Usage:
    """OpenAI's usage object as an event, extras (``*_details``) kept."""
    return Usage(
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        total_tokens=usage.get("total_tokens"),
        details={k: v for k, v in usage.items() if k not in _USAGE_KEYS and v is not None},
    )


def _stream_error(obj: dict[str, Any]) -> Exception:
    """An ``{"error": {...}}`` payload inside a stream, as a typed error."""
    error = obj.get("error")
    if not isinstance(error, dict):
        error = {"message": str(error)}
    message = str(error.get("message") or "the provider reported an error mid-stream")
    kind = error.get("type") or error.get("code")
    kind = str(kind) if kind is not None else None
    if kind in ("rate_limit_error", "overloaded_error", "rate_limit_exceeded"):
        status = 529 if kind == "overloaded_error" else 429
        return status_error(status, message, body=obj, error_type=kind.replace("_exceeded", "_error"))
    return ProviderStreamError(message, error_type=kind, body=obj)


def _error_message(body: Any) -> tuple[str | None, str | None]:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            kind = error.get("type") or error.get("code")
            return (
                str(error.get("message")) if error.get("message") else None,
                str(kind) if kind else None,
            )
        if isinstance(error, str):
            return error, None
        if isinstance(body.get("message"), str):
            return body["message"], None
    return None, None


def _meta(obj: dict[str, Any]) -> MessageStart:
    extra: dict[str, Any] = {}
    fingerprint = obj.get("system_fingerprint")
    if fingerprint:
        extra["system_fingerprint"] = fingerprint
    return MessageStart(model=obj.get("model"), id=obj.get("id"), extra=extra)


class _OpenAIMapper(StreamMapper):
    __slots__ = ("started",)

    def __init__(self) -> None:
        super().__init__()
        self.started = False

    def map(self, sse: ServerSentEvent, out: list[Event]) -> None:
        data = sse.data
        if data.startswith("[DONE]"):
            self.terminal = True
            return
        if self.terminal:
            return  # nothing after [DONE] counts
        obj = loads(data)
        if not isinstance(obj, dict):
            return
        if obj.get("error") is not None:
            raise _stream_error(obj)
        if not self.started:
            self.started = True
            out.append(_meta(obj))
        choices = obj.get("choices")
        if choices:
            self.map_choices(choices, out)
        usage = obj.get("usage")
        if usage:
            out.append(usage_event(usage))

    def map_choices(self, choices: list[Any], out: list[Event]) -> None:
        raise NotImplementedError


class ChatMapper(_OpenAIMapper):
    """``chat.completion.chunk`` events."""

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        super().__init__()
        self._calls: set[tuple[int, int]] = set()

    def map_choices(self, choices: list[Any], out: list[Event]) -> None:
        for choice in choices:
            index = choice.get("index", 0)
            delta = choice.get("delta")
            if delta:
                content = delta.get("content")
                if content:
                    logprobs = choice.get("logprobs")
                    out.append(TextDelta(content, index, logprobs.get("content") if logprobs else None))
                # Plain text chunks carry only "content"; anything else is rarer.
                if content is None or len(delta) > 1:
                    self._rest(delta, index, out)
            finish = choice.get("finish_reason")
            if finish is not None:
                out.append(Finish(finish, index))

    def _rest(self, delta: dict[str, Any], index: int, out: list[Event]) -> None:
        refusal = delta.get("refusal")
        if refusal:
            out.append(RefusalDelta(refusal, index))
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            out.append(ThinkingDelta(reasoning, index))
        for call in delta.get("tool_calls") or ():
            call_index = call.get("index", 0)
            function = call.get("function") or {}
            key = (index, call_index)
            if key not in self._calls:
                self._calls.add(key)
                out.append(ToolCallStart(call_index, call.get("id"), function.get("name") or "", index))
            arguments = function.get("arguments")
            if arguments:
                out.append(ToolCallDelta(call_index, arguments, index))


class CompletionsMapper(_OpenAIMapper):
    """Legacy ``text_completion`` events."""

    __slots__ = ()

    def map_choices(self, choices: list[Any], out: list[Event]) -> None:
        for choice in choices:
            index = choice.get("index", 0)
            text = choice.get("text")
            if text:
                out.append(TextDelta(text, index, choice.get("logprobs")))
            finish = choice.get("finish_reason")
            if finish is not None:
                out.append(Finish(finish, index))


def message_to_wire(message: BaseMessage) -> dict[str, Any]:
    """One streamkit message in Chat Completions form."""
    if isinstance(message, SystemMessage):
        wire: dict[str, Any] = {"role": "system", "content": message.content}
    elif isinstance(message, HumanMessage):
        wire = {"role": "user", "content": message.content}
    elif isinstance(message, AIMessage):
        wire = {"role": "assistant", "content": message.content or None}
        if message.tool_calls:
            import json

            wire["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.args)},
                }
                for call in message.tool_calls
            ]
    elif isinstance(message, ToolMessage):
        wire = {"role": "tool", "content": message.content, "tool_call_id": message.tool_call_id}
    else:  # pragma: no cover - messages are validated before this
        raise TypeError(f"unsupported message type {type(message).__name__}")
    if message.name:
        wire["name"] = message.name
    return wire


class _OpenAIProvider(Provider):
    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def parse_error(self, body: Any) -> tuple[str | None, str | None]:
        return error_message(body)

    @staticmethod
    def tools_to_wire(specs: list[ToolSpec], choice: str | None) -> dict[str, Any]:
        """Chat Completions' ``tools`` / ``tool_choice``."""
        out: dict[str, Any] = {}
        if specs:
            out["tools"] = [
                {
                    "type": "function",
                    "function": {"name": s.name, "description": s.description, "parameters": s.parameters},
                }
                for s in specs
            ]
        if choice is not None:
            if choice in ("auto", "required", "none"):
                out["tool_choice"] = choice
            else:
                out["tool_choice"] = {"type": "function", "function": {"name": choice}}
        return out

    @staticmethod
    def common_body(params: dict[str, Any], stream: bool) -> dict[str, Any]:
        """The shared fields; ``params["stream_usage"]`` (the model setting) is not sent.

        When streaming, ``stream_options: {"include_usage": true}`` (without
        it OpenAI sends no usage) unless ``stream_usage`` is False or the
        params already hold ``stream_options`` (``model_kwargs``, sent as
        given). A non-streaming body never has ``stream_options``: OpenAI
        rejects it without ``stream: true``.
        """
        body = {k: v for k, v in params.items() if v is not None and k != "stream_usage"}
        if stream:
            body["stream"] = True
            if params.get("stream_usage", True) and "stream_options" not in body:
                body["stream_options"] = {"include_usage": True}
        else:
            body.pop("stream_options", None)
        return body


class OpenAIChatProvider(_OpenAIProvider):
    """``POST /chat/completions``."""

    name = "openai-chat"
    chat = True
    path = "/chat/completions"

    def new_mapper(self) -> ChatMapper:
        return ChatMapper()

    def build(self, messages: Sequence[BaseMessage], params: dict[str, Any], stream: bool) -> dict[str, Any]:
        body = self.common_body(params, stream)
        body["messages"] = [message_to_wire(m) for m in messages]
        return body

    def parse_response(self, body: Any) -> list[Event]:
        out: list[Event] = [_meta(body)]
        for choice in body.get("choices") or ():
            index = choice.get("index", 0)
            message = choice.get("message") or {}
            content = message.get("content")
            logprobs = choice.get("logprobs")
            if content:
                out.append(TextDelta(content, index, logprobs.get("content") if logprobs else None))
            refusal = message.get("refusal")
            if refusal:
                out.append(RefusalDelta(refusal, index))
            reasoning = message.get("reasoning_content") or message.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                out.append(ThinkingDelta(reasoning, index))
            for call_index, call in enumerate(message.get("tool_calls") or ()):
                function = call.get("function") or {}
                out.append(ToolCallStart(call_index, call.get("id"), function.get("name") or "", index))
                if function.get("arguments"):
                    out.append(ToolCallDelta(call_index, function["arguments"], index))
            out.append(Finish(choice.get("finish_reason"), index))
        if body.get("usage"):
            out.append(usage_event(body["usage"]))
        return out


class OpenAICompletionsProvider(_OpenAIProvider):
    """Legacy ``POST /completions``."""

    name = "openai"
    chat = False
    path = "/completions"

    def new_mapper(self) -> CompletionsMapper:
        return CompletionsMapper()

    def build(self, prompt: str, params: dict[str, Any], stream: bool) -> dict[str, Any]:
        body = self.common_body(params, stream)
        body["prompt"] = prompt
        return body

    def parse_response(self, body: Any) -> list[Event]:
        out: list[Event] = [_meta(body)]
        for choice in body.get("choices") or ():
            index = choice.get("index", 0)
            if choice.get("text"):
                out.append(TextDelta(choice["text"], index, choice.get("logprobs")))
            out.append(Finish(choice.get("finish_reason"), index))
        if body.get("usage"):
            out.append(usage_event(body["usage"]))
        return out
