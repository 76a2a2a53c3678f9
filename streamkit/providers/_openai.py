"""OpenAI's wire formats: Chat Completions and legacy Completions.

Also spoken by vLLM, Ollama's ``/v1``, LM Studio, llama.cpp's server,
Mistral, Groq, Azure OpenAI and most gateways. Everything here keys off the
documented fields (https://platform.openai.com/docs/api-reference/chat-streaming)
and the extensions those servers are known to send:

* ``reasoning_content`` / ``reasoning`` deltas (vLLM, DeepSeek, Ollama) are
  thinking; ``delta.content`` as a list of typed parts (Mistral's reasoning
  models: ``text`` parts, and ``thinking`` parts holding text parts) is
  split into text and thinking;
* metadata (``id``, ``model``, ``system_fingerprint``, ``created``) is
  taken from the first chunk where each is non-empty (Azure's first chunk
  has ``choices: []`` and empty ones);
* usage may come on a ``choices: []`` chunk, on a content chunk, on every
  chunk cumulatively (the last report wins), or under ``x_groq.usage``
  (Groq);
* a tool call is identified by its choice, its ``index`` *and* its
  ``id``: a new ``id`` at an index already used is a new call (Ollama's
  ``/v1`` sends every call at ``index: 0``); a call without ``index`` is
  placed by its ``id``, else by its position in the chunk; ``name`` and
  ``id`` may arrive in a later delta; ``arguments`` may be a JSON object
  (serialised once) instead of a string;
* an error may arrive as ``{"error": ...}``, as an SSE event named
  ``error`` (whatever its data), as a top-level ``{"object": "error"}``
  (vLLM) / ``{"type": "error"}`` / ``{"code", "message"}`` object, or as
  a JSON document instead of a stream: all become the typed error
  :func:`~streamkit.errors.error_from_payload` classifies;
* ``[DONE]`` is the end, but only a stream in which every choice reported
  a ``finish_reason`` is complete: a proxy whose upstream failed often
  sends a bare ``[DONE]`` after partial text.

Any other value of an unexpected type (a number where text belongs, a list
where an object belongs) is a :class:`~streamkit.errors.ProtocolError`:
only ``str`` ever reaches tokens and handlers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._content import openai_parts, parse_content
from .._sse import ServerSentEvent
from ..errors import IncompleteStreamError, ProtocolError, error_from_payload, error_message, payload_is_error
from ..events import (
    Citation,
    Event,
    Finish,
    FinishReason,
    MessageStart,
    RefusalDelta,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from ..messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from ..testing._render import Answer, openai_events, openai_full
from ..testing._validate import check_openai_chat
from ..testing.wire import MockWire
from ..tools import ToolSpec
from .base import Provider, StreamMapper, bad_value, count, error_event_payload, loads, optional_str

__all__ = [
    "CHAT_MOCK",
    "COMPLETIONS_MOCK",
    "ChatMapper",
    "CompletionsMapper",
    "OpenAIChatProvider",
    "OpenAICompletionsProvider",
    "usage_event",
]

_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")


def usage_event(usage: Any, where: str = "usage") -> Usage:
    """OpenAI's usage object as an event, extras (``*_details``, a gateway's ``cost``) kept.

    Raises :class:`ProtocolError` if it is not an object or a count is not a number.
    """
    if usage.__class__ is not dict:
        raise bad_value(where, "an object", usage)
    prompt = count(usage.get("prompt_tokens"), f"{where}.prompt_tokens")
    completion = count(usage.get("completion_tokens"), f"{where}.completion_tokens")
    total = count(usage.get("total_tokens"), f"{where}.total_tokens")
    details = {k: v for k, v in usage.items() if k not in _USAGE_KEYS and v is not None}
    input_details: dict[str, int] | None = None
    output_details: dict[str, int] | None = None
    prompt_details = details.get("prompt_tokens_details")
    if isinstance(prompt_details, dict):
        cached = prompt_details.get("cached_tokens")
        if isinstance(cached, int) and not isinstance(cached, bool):
            input_details = {"cache_read": cached}
    completion_details = details.get("completion_tokens_details")
    if isinstance(completion_details, dict):
        reasoning = completion_details.get("reasoning_tokens")
        if isinstance(reasoning, int) and not isinstance(reasoning, bool):
            output_details = {"reasoning": reasoning}
    return Usage(prompt, completion, total, details, input_details, output_details)


#: A streamed tool call's documented fields; anything else is kept as the call's extras.
_CALL_FIELDS = frozenset({"index", "id", "type", "function"})


class _Calls:
    """The tool calls of one choice: wire index and id -> our ordinal."""

    __slots__ = ("by_id", "by_index", "extras", "fragments", "ids", "names")

    def __init__(self) -> None:
        self.by_index: dict[int, int] = {}
        self.by_id: dict[str, int] = {}
        self.ids: list[str | None] = []
        self.names: list[str | None] = []
        self.fragments: list[list[str]] = []
        self.extras: list[dict[str, Any] | None] = []


class _OpenAIMapper(StreamMapper):
    __slots__ = ("_meta_budget", "_meta_pending", "_seen_extra", "_seen_id", "_seen_model")

    def __init__(self) -> None:
        super().__init__()
        self._meta_pending = True
        self._meta_budget = 16
        self._seen_extra: dict[str, Any] = {}
        self._seen_id = False
        self._seen_model = False

    def map(self, sse: ServerSentEvent, out: list[Event]) -> None:
        if self.terminal:
            return  # nothing after [DONE] counts
        data = sse.data
        if sse.event == "error":
            # An SSE event named "error", whatever its data: JSON or plain text.
            payload = error_event_payload(data)
            raise error_from_payload(payload)
        if data.startswith("[DONE]"):
            self.terminal = True
            return
        self.map_object(loads(data), out)

    def map_object(self, obj: Any, out: list[Event]) -> None:
        """The events of one chunk (or of a whole non-streaming response)."""
        if obj.__class__ is not dict:
            raise bad_value("stream event", "a JSON object", obj)
        choices = obj.get("choices")
        if obj.get("error") or (choices is None and payload_is_error(obj)):
            raise error_from_payload(obj)
        if self._meta_pending:
            self._meta(obj, out)
        if choices.__class__ is list:
            if choices:
                self.map_choices(choices, out)
        elif choices is not None:
            raise bad_value("choices", "a list", choices)
        usage = obj.get("usage")
        if usage is not None and (usage or usage.__class__ is not dict):
            out.append(usage_event(usage))
        groq = obj.get("x_groq")
        if groq is not None:
            # Groq reports usage under x_groq on the last chunk
            # (https://console.groq.com/docs/api-reference#chat-create).
            if groq.__class__ is not dict:
                raise bad_value("x_groq", "an object", groq)
            if groq.get("usage") is not None:
                out.append(usage_event(groq["usage"], "x_groq.usage"))

    def _meta(self, obj: dict[str, Any], out: list[Event]) -> None:
        """Metadata from the first chunk where each field is non-empty.

        Looked for until ``id`` and ``model`` are known, and for the optional
        ``system_fingerprint``/``created`` a few chunks more (a bounded cost,
        never per token for long). Only new values are reported.
        """
        seen = self._seen_extra
        model = None if self._seen_model else obj.get("model")
        rid = None if self._seen_id else obj.get("id")
        extra: dict[str, Any] = {}
        if "system_fingerprint" not in seen:
            fingerprint = obj.get("system_fingerprint")
            if fingerprint and fingerprint.__class__ is str:
                extra["system_fingerprint"] = fingerprint
        if "created" not in seen:
            created = obj.get("created")
            if created and created.__class__ is int:
                extra["created"] = created
        model = model if model and model.__class__ is str else None
        rid = rid if rid and rid.__class__ is str else None
        if model is not None or rid is not None or extra:
            out.append(MessageStart(model=model, id=rid, extra=extra))
            self._seen_model = self._seen_model or model is not None
            self._seen_id = self._seen_id or rid is not None
            seen.update(extra)
        self._meta_budget -= 1
        self._meta_pending = not (self._seen_model and self._seen_id) or (
            len(seen) < 2 and self._meta_budget > 0
        )

    def map_choices(self, choices: list[Any], out: list[Event]) -> None:
        raise NotImplementedError

    def check_complete(self, finished: bool) -> None:
        """Complete only if every choice reported a ``finish_reason``, ``[DONE]`` or not."""
        if finished:
            return
        if self.terminal:
            raise IncompleteStreamError(
                "the stream ended with [DONE] but no finish_reason: the server (often a proxy "
                "whose upstream failed) cut the answer short"
            )
        raise IncompleteStreamError("the stream ended before the response was complete")


def _index(value: Any) -> int:
    """A choice index that is not a plain int (the hot path checks that inline)."""
    if value is None:
        return 0
    if value.__class__ is bool or not isinstance(value, int):
        raise bad_value("choices[].index", "an integer", value)
    return int(value)


#: OpenAI's finish reasons (and those compatible servers send), normalised.
#: ``error``: OpenRouter's mid-stream failures; ``eos``/``eos_token``: TGI.
_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "eos": "stop",
    "eos_token": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "model_length": "length",  # Mistral: the model's context length was reached
    "max_tokens": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "error": "error",
}


def _finish(choice: dict[str, Any], finish: Any, index: int, out: list[Event], refused: bool = False) -> None:
    """A choice's non-null ``finish_reason`` (the hot path checks for null inline)."""
    if finish.__class__ is not str:
        raise bad_value("choices[].finish_reason", "a string", finish)
    # vLLM reports the matched stop string as ``stop_reason`` (an int is a stop token id).
    matched = choice.get("stop_reason")
    normalized = "refusal" if refused else _FINISH.get(finish, "other")
    out.append(Finish(finish, index, normalized, matched if matched.__class__ is str else None))


class ChatMapper(_OpenAIMapper):
    """``chat.completion.chunk`` events."""

    __slots__ = ("_calls", "_refused")

    def __init__(self) -> None:
        super().__init__()
        self._calls: dict[int, _Calls] = {}
        self._refused: set[int] = set()  # choices that sent a refusal

    def map_choices(self, choices: list[Any], out: list[Event]) -> None:
        for choice in choices:
            if choice.__class__ is not dict:
                raise bad_value("choices[]", "an object", choice)
            index = choice.get("index", 0)
            if index.__class__ is not int:
                index = _index(index)
            delta = choice.get("delta")
            if delta:
                if delta.__class__ is not dict:
                    raise bad_value("choices[].delta", "an object", delta)
                content = delta.get("content")
                if content.__class__ is str:
                    if content:
                        logprobs = choice.get("logprobs")
                        lp = logprobs.get("content") if logprobs.__class__ is dict else None
                        out.append(TextDelta(content, index, lp))
                    # Plain text chunks carry only "content"; anything else is rarer.
                    if len(delta) > 1:
                        self._rest(delta, index, out)
                elif content is None:
                    self._rest(delta, index, out)
                elif content.__class__ is list:
                    _content_parts(content, index, out)
                    self._rest(delta, index, out)
                else:
                    raise bad_value("choices[].delta.content", "a string, null or a list of parts", content)
            elif delta is not None and delta.__class__ is not dict:
                raise bad_value("choices[].delta", "an object", delta)
            finish = choice.get("finish_reason")
            if finish is not None:
                _finish(choice, finish, index, out, index in self._refused)

    def _rest(self, delta: dict[str, Any], index: int, out: list[Event]) -> None:
        refusal = optional_str(delta.get("refusal"), "choices[].delta.refusal")
        if refusal:
            out.append(RefusalDelta(refusal, index))
            self._refused.add(index)
        annotations = delta.get("annotations")
        if annotations is not None:
            # url_citation annotations (OpenAI's web search models), as citations.
            if annotations.__class__ is not list:
                raise bad_value("choices[].delta.annotations", "a list", annotations)
            for annotation in annotations:
                if annotation.__class__ is not dict:
                    raise bad_value("choices[].delta.annotations[]", "an object", annotation)
                out.append(Citation(annotation, index))
        reasoning = optional_str(delta.get("reasoning_content"), "choices[].delta.reasoning_content")
        if not reasoning:
            reasoning = optional_str(delta.get("reasoning"), "choices[].delta.reasoning")
        if reasoning:
            out.append(ThinkingDelta(reasoning, index))
        calls = delta.get("tool_calls")
        if calls is not None:
            if calls.__class__ is not list:
                raise bad_value("choices[].delta.tool_calls", "a list", calls)
            for position, call in enumerate(calls):
                self._tool_call(call, position, index, out)

    def _tool_call(self, call: Any, position: int, choice: int, out: list[Event]) -> None:
        if call.__class__ is not dict:
            raise bad_value("tool_calls[]", "an object", call)
        wire_index = call.get("index")
        if wire_index is not None and wire_index.__class__ is not int:
            raise bad_value("tool_calls[].index", "an integer", wire_index)
        call_id = optional_str(call.get("id"), "tool_calls[].id") or None
        function = call.get("function")
        if function is None:
            function = {}
        elif function.__class__ is not dict:
            raise bad_value("tool_calls[].function", "an object", function)
        name = optional_str(function.get("name"), "tool_calls[].function.name") or None
        arguments = function.get("arguments")

        state = self._calls.get(choice)
        if state is None:
            state = self._calls[choice] = _Calls()
        # Which call is this? By id first; else by index (or position) as
        # long as that does not contradict what the call already has.
        ordinal = state.by_id.get(call_id) if call_id is not None else None
        slot = wire_index if wire_index is not None else position
        if ordinal is None and (wire_index is not None or call_id is None):
            existing = state.by_index.get(slot)
            if (
                existing is not None
                and (call_id is None or state.ids[existing] is None)
                and (name is None or state.names[existing] in (None, name))
            ):
                ordinal = existing
        # Fields the server attached to the call beyond the documented ones
        # (Gemini's OpenAI-compatible endpoint: ``extra_content`` holding a
        # thought signature), echoed back on the same call.
        extras = {k: v for k, v in call.items() if k not in _CALL_FIELDS}
        if ordinal is None:
            ordinal = len(state.ids)
            state.ids.append(call_id)
            state.names.append(name)
            state.fragments.append([])
            state.extras.append(extras or None)
            state.by_index[slot] = ordinal
            if call_id is not None:
                state.by_id[call_id] = ordinal
            out.append(ToolCallStart(ordinal, call_id, name or "", choice, extras or None))
        elif (
            (call_id is not None and state.ids[ordinal] is None)
            or (name is not None and state.names[ordinal] is None)
            or (extras and extras != state.extras[ordinal])
        ):
            # A field that arrived in a later delta updates the call.
            if call_id is not None and state.ids[ordinal] is None:
                state.ids[ordinal] = call_id
                state.by_id[call_id] = ordinal
            if name is not None and state.names[ordinal] is None:
                state.names[ordinal] = name
            if extras:
                state.extras[ordinal] = {**(state.extras[ordinal] or {}), **extras}
            out.append(
                ToolCallStart(
                    ordinal, state.ids[ordinal], state.names[ordinal] or "", choice, state.extras[ordinal]
                )
            )
        if arguments is not None:
            if arguments.__class__ is dict:
                # Some servers send the arguments as an object: serialise once.
                arguments = json.dumps(arguments, ensure_ascii=False)
            elif arguments.__class__ is not str:
                raise bad_value("tool_calls[].function.arguments", "a string or an object", arguments)
            if arguments:
                fragments = state.fragments[ordinal]
                fragments.append(arguments)
                out.append(
                    ToolCallDelta(ordinal, arguments, choice, _fragments=fragments, _count=len(fragments))
                )


def _content_parts(parts: list[Any], index: int, out: list[Event]) -> None:
    """``content`` as a list of typed parts (Mistral: ``text`` and ``thinking`` parts).

    Mistral's reasoning models stream ``{"type": "thinking", "thinking":
    [{"type": "text", "text": ...}]}`` (https://docs.mistral.ai/capabilities/reasoning/).
    Parts of other types (``reference``, ``image_url``) carry no text and are skipped.
    """
    for part in parts:
        if part.__class__ is not dict:
            raise bad_value("choices[].delta.content[]", "an object", part)
        kind = part.get("type")
        if kind == "text":
            text = optional_str(part.get("text"), "content[].text")
            if text:
                out.append(TextDelta(text, index))
        elif kind == "thinking":
            thinking = part.get("thinking")
            if thinking.__class__ is str:
                if thinking:
                    out.append(ThinkingDelta(thinking, index))
            elif thinking.__class__ is list:
                for inner in thinking:
                    if inner.__class__ is not dict:
                        raise bad_value("content[].thinking[]", "an object", inner)
                    text = optional_str(inner.get("text"), "content[].thinking[].text")
                    if text:
                        out.append(ThinkingDelta(text, index))
            elif thinking is not None:
                raise bad_value("content[].thinking", "a string or a list of parts", thinking)


class CompletionsMapper(_OpenAIMapper):
    """Legacy ``text_completion`` events."""

    __slots__ = ()

    def map_choices(self, choices: list[Any], out: list[Event]) -> None:
        for choice in choices:
            if choice.__class__ is not dict:
                raise bad_value("choices[]", "an object", choice)
            index = choice.get("index", 0)
            if index.__class__ is not int:
                index = _index(index)
            text = choice.get("text")
            if text.__class__ is str:
                if text:
                    out.append(TextDelta(text, index, choice.get("logprobs")))
            elif text is not None:
                raise bad_value("choices[].text", "a string", text)
            finish = choice.get("finish_reason")
            if finish is not None:
                _finish(choice, finish, index, out)


def _content(message: BaseMessage, role: str, where: str) -> str | list[dict[str, Any]]:
    """A message's content: its string, or its parts as Chat Completions parts (:mod:`streamkit._content`)."""
    content = parse_content(message.content, f"{where}.content")
    return content if isinstance(content, str) else openai_parts(content, role)


def message_to_wire(message: BaseMessage, where: str = "messages[0]") -> dict[str, Any]:
    """One streamkit message in Chat Completions form; ``where`` names it in errors.

    Content parts are converted by :func:`streamkit._content.openai_parts`;
    one OpenAI cannot take raises :class:`InvalidArgumentError`.
    """
    if isinstance(message, SystemMessage):
        wire: dict[str, Any] = {"role": "system", "content": _content(message, "system", where)}
    elif isinstance(message, HumanMessage):
        wire = {"role": "user", "content": _content(message, "user", where)}
    elif isinstance(message, AIMessage):
        wire = {"role": "assistant", "content": message.content or None}
        if message.tool_calls:
            wire["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.args)},
                    # e.g. extra_content with a thought signature, as received (OpenAI-format calls only)
                    **(
                        call.extras or {}
                        if message.response_metadata.get("model_provider") == "openai"
                        else {}
                    ),
                }
                for call in message.tool_calls
            ]
    elif isinstance(message, ToolMessage):
        wire = {
            "role": "tool",
            "content": _content(message, "tool", where),
            "tool_call_id": message.tool_call_id,
        }
    else:  # pragma: no cover - messages are validated before this
        raise TypeError(f"unsupported message type {type(message).__name__}")
    if message.name:
        wire["name"] = message.name
    return wire


class _OpenAIProvider(Provider):
    model_provider = "openai"
    api_key_env = "OPENAI_API_KEY"
    base_url_env = "OPENAI_BASE_URL"
    #: ``base_url`` includes ``/v1``, as in the official SDK.
    default_base_url = "https://api.openai.com/v1"

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
                s.raw
                if s.raw is not None
                else {
                    "type": "function",
                    "function": {
                        "name": s.name,
                        "description": s.description,
                        "parameters": s.parameters,
                        **s.extra,  # strict, ...
                    },
                }
                for s in specs
            ]
        if choice is not None:
            if choice in ("auto", "required", "none"):
                out["tool_choice"] = choice
            else:
                out["tool_choice"] = {"type": "function", "function": {"name": choice}}
        return out

    def output_format(
        self, name: str, description: str, schema: dict[str, Any], strict: bool | None
    ) -> dict[str, Any]:
        """``response_format: {"type": "json_schema", ...}``, strict unless ``strict=False``
        (https://platform.openai.com/docs/guides/structured-outputs)."""
        from ..structured import openai_strict_schema

        strict = strict is not False
        json_schema: dict[str, Any] = {
            "name": name,
            "schema": openai_strict_schema(schema) if strict else schema,
            "strict": strict,
        }
        if description:
            json_schema["description"] = description
        return {"response_format": {"type": "json_schema", "json_schema": json_schema}}

    def structured_tool(
        self, name: str, description: str, schema: dict[str, Any], strict: bool | None
    ) -> dict[str, Any]:
        """A function tool, strict (schema made strict-compatible) unless ``strict=False``."""
        from ..structured import openai_strict_schema

        if strict is False:
            return {"name": name, "description": description, "parameters": schema}
        return {
            "name": name,
            "description": description,
            "parameters": openai_strict_schema(schema),
            "strict": True,
        }

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
        body["messages"] = [message_to_wire(m, f"messages[{i}]") for i, m in enumerate(messages)]
        return body

    def parse_response(self, body: Any) -> list[Event]:
        """A whole ``chat.completion``, through the same mapper as a stream
        (each choice's ``message`` read as one delta)."""
        return _parse_whole(
            self.new_mapper(),
            body,
            _message_as_delta,
        )


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
        """A whole ``text_completion``, through the same mapper as a stream."""
        return _parse_whole(self.new_mapper(), body, lambda c: c)


def _message_as_delta(choice: Any) -> Any:
    """A non-streaming choice as a chunk's choice: its ``message`` is the delta."""
    if choice.__class__ is not dict:
        return choice
    message = choice.get("message")
    if message.__class__ is not dict:
        raise bad_value("choices[].message", "an object", message)
    return {**choice, "delta": message}


def _parse_whole(mapper: _OpenAIMapper, body: Any, as_chunk: Any) -> list[Event]:
    """A non-streaming response (or a JSON body answering a streaming request) as events.

    Raises the typed error of an error object (HTTP 200 with an error body,
    as some gateways send), and :class:`ProtocolError` if there is no
    ``choices`` list: such a body is never taken for an (empty) answer.
    """
    if body.__class__ is not dict:
        raise bad_value("response", "a JSON object", body)
    if payload_is_error(body):
        raise error_from_payload(body)
    choices = body.get("choices")
    if choices.__class__ is not list:
        raise ProtocolError(
            f"the response is not a completion: it has no choices list (keys: {', '.join(list(body)[:10])})",
        )
    out: list[Event] = []
    mapper.map_object({**body, "choices": [as_chunk(c) for c in choices]}, out)
    return out


class _ChatMock(MockWire):
    """The mock server's Chat Completions (``MockServer``; ``stream_options.include_usage`` honoured)."""

    name = "openai-chat"
    routes = ("/v1/chat/completions",)
    base_path = "/v1"

    def check(self, body: Any, headers: Mapping[str, str]) -> dict[str, Any] | None:
        return check_openai_chat(body)

    def events(self, answer: Answer, body: Any) -> Iterable[tuple[bytes, bool]]:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return openai_events(True, answer, include_usage)

    def full(self, answer: Answer, body: Any) -> dict[str, Any]:
        return openai_full(True, answer)


class _CompletionsMock(_ChatMock):
    """The mock server's legacy Completions."""

    name = "openai"
    routes = ("/v1/completions",)

    def check(self, body: Any, headers: Mapping[str, str]) -> dict[str, Any] | None:
        return None

    def prompt(self, body: Any) -> str:
        return str(body.get("prompt", "")) if isinstance(body, dict) else ""

    def events(self, answer: Answer, body: Any) -> Iterable[tuple[bytes, bool]]:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return openai_events(False, answer, include_usage)

    def full(self, answer: Answer, body: Any) -> dict[str, Any]:
        return openai_full(False, answer)


CHAT_MOCK = _ChatMock()
COMPLETIONS_MOCK = _CompletionsMock()
