"""Ollama's native chat API (``POST {base_url}/api/chat``), streaming and not, and ``ChatOllama``.

Wire facts this module relies on, with their public sources (Ollama's API
reference https://github.com/ollama/ollama/blob/main/docs/api.md, now
https://docs.ollama.com/api; the server's types in ``api/types.go`` and
handlers in ``server/routes.go`` of https://github.com/ollama/ollama):

* the answer streams by default, as NDJSON (``Content-Type:
  application/x-ndjson``, one JSON object per line,
  https://docs.ollama.com/api/streaming); ``"stream": false`` gives one
  ``application/json`` object of the same shape;
* each object (``ChatResponse``) has ``model``, ``created_at`` (RFC 3339),
  ``message`` (``role``, ``content``, ``thinking`` when ``think`` is on,
  ``tool_calls``, ``images``), ``done`` and, with logprobs requested,
  ``logprobs`` (a list of ``{token, logprob, bytes, top_logprobs}``);
* tool calls arrive **whole**, never as argument fragments:
  ``{"function": {"name", "arguments": {...an object...}}}``; servers since
  mid-2025 add ``"id": "call_<8 chars>"`` and ``function.index`` (the
  server's ordinal of the call in the answer). Older servers send no id;
* the last object has ``"done": true`` and ``done_reason`` (``stop``,
  ``length``, ``load``, ``unload``; absent on old servers) and the metrics
  ``prompt_eval_count`` (input tokens, prompt-cache hits included:
  ``llm/llama_server_test.go`` ``TestLlamaServerChatPromptEvalCountIncludesCache``),
  ``eval_count`` (output tokens) and ``total_duration``, ``load_duration``,
  ``prompt_eval_duration``, ``eval_duration``, **in nanoseconds**
  (https://docs.ollama.com/api/usage). Every metric is ``omitempty``: a
  zero is left out. ``done: true`` is the stream's only end marker;
* Ollama's ``done_reason`` is ``stop`` even when the answer is tool calls;
  its own OpenAI-compatible layer reports ``tool_calls`` then
  (``openai/openai.go``), and so does :attr:`Finish.normalized` here;
* errors are ``{"error": "message"}``: as the HTTP error body, and, once
  the stream has begun, as one more NDJSON line, after which the stream
  ends (https://docs.ollama.com/api/errors; ``streamResponse`` in
  ``server/routes.go``).

Where streamkit puts what Ollama reports:

* text -> :class:`~streamkit.events.TextDelta` (with the line's
  ``logprobs``); ``message.thinking`` ->
  :class:`~streamkit.events.ThinkingDelta`; each tool call ->
  :class:`~streamkit.events.ToolCallStart` + one
  :class:`~streamkit.events.ToolCallDelta` holding its arguments as JSON;
* ``model`` and ``created_at`` (and a cloud model's ``remote_model`` /
  ``remote_host``) -> :class:`~streamkit.events.MessageStart`, from the
  first line: ``llm_output["model_name"]``, ``llm_output["created_at"]``;
* the final line -> :class:`~streamkit.events.Usage` (``prompt_tokens =
  prompt_eval_count``, ``completion_tokens = eval_count``; the six raw
  metrics in ``details``, so ``llm_output["token_usage"]`` holds
  ``prompt_eval_count``, ``eval_count`` and the four ``*_duration`` values
  in **nanoseconds**, summed across prompts by ``generate()``), then
  :class:`~streamkit.events.Finish` (``reason`` = ``done_reason`` as sent,
  ``None`` if absent; ``normalized``: ``stop``, ``length``, ``tool_calls``
  or ``other``).

A tool call without an ``id`` gets ``call_`` + 24 hex digits of a SHA-256
over the model, the line's ``created_at``, the call's ordinal, name and
arguments: the same bytes always give the same id (however they were cut
into reads), and different answers practically never share one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Unpack
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from .._content import Part, parse_content, where_type
from ..errors import (
    IncompleteStreamError,
    InvalidArgumentError,
    ProtocolError,
    error_from_payload,
    error_message,
)
from ..events import (
    Event,
    Finish,
    FinishReason,
    MessageStart,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from ..messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from ..models import ChatModel, ChatModelSettings
from ..testing._render import Answer
from ..testing.wire import MockWire
from ..tools import ToolSpec
from .base import Framing, Provider, StreamMapper, bad_value, count, loads, optional_str

__all__ = [
    "DEFAULT_BASE_URL",
    "MOCK",
    "ChatOllama",
    "ChatOllamaSettings",
    "OllamaMapper",
    "OllamaProvider",
    "messages_to_wire",
    "ollama_host",
]

#: Where Ollama listens by default (https://docs.ollama.com/api/introduction).
DEFAULT_BASE_URL = "http://localhost:11434"
#: The port a host without one gets (the official clients' rule).
_DEFAULT_PORT = 11434

#: Ollama's ``done_reason`` values (``llm/server.go`` ``DoneReason``; ``load``
#: and ``unload`` from ``server/routes.go``), normalised.
_FINISH: dict[str, FinishReason] = {"stop": "stop", "length": "length"}

#: The final line's metrics, in wire order; counts, and durations in nanoseconds.
_METRICS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)

#: A tool call's own fields; any other is kept as the call's extras (sent back with it).
_CALL_FIELDS = frozenset({"id", "function"})


def ollama_host(value: str) -> str:
    """``OLLAMA_HOST`` (or a ``base_url``) as a URL, the way Ollama's own clients read it.

    The variable often has no scheme (``0.0.0.0``, ``:11434``,
    ``example.com:8080/path``): such a value gets ``http://``, the host
    ``127.0.0.1`` when it names none, and the port 11434 when it names
    none, as ``_parse_host`` in ollama-python (``ollama/_client.py``) and
    ``formatHost`` in ollama-js do. A value with a scheme is kept as it is
    (its default port is the scheme's). An empty value is the default,
    :data:`DEFAULT_BASE_URL`. A value this cannot read is returned
    unchanged, for the ``base_url`` check to name what is wrong.
    """
    text = value.strip()
    if not text:
        return DEFAULT_BASE_URL
    if "://" in text:
        return text
    parts = urlsplit(f"http://{text}")
    try:
        port = parts.port or _DEFAULT_PORT
    except ValueError:
        return f"http://{text}"
    if parts.username is not None or parts.query or parts.fragment:
        return f"http://{text}"  # refused by the base_url check, which says why
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}{parts.path.rstrip('/')}"


# -- the stream ---------------------------------------------------------------


def _object(value: Any, where: str) -> dict[str, Any]:
    if value.__class__ is not dict:
        raise bad_value(where, "an object", value)
    result: dict[str, Any] = value
    return result


class OllamaMapper(StreamMapper):
    """One ``/api/chat`` answer: NDJSON lines (or one whole response) to events.

    ``terminal`` is set by the ``"done": true`` object; a stream that ends
    without one raises :class:`~streamkit.errors.IncompleteStreamError`.
    Lines after it are ignored. An ``{"error": ...}`` line raises the typed
    error :func:`~streamkit.errors.error_from_payload` gives (a
    :class:`~streamkit.errors.ProviderStreamError` carrying the message),
    with the partial result. A value of the wrong type is a
    :class:`~streamkit.errors.ProtocolError`.
    """

    __slots__ = ("_calls", "_logprobs", "_model", "_started")

    framing = "ndjson"

    def __init__(self) -> None:
        super().__init__()
        self._calls = 0  # tool calls so far (their ordinals)
        self._started = False
        self._model = ""
        # Logprobs that came on a line without text (the server sends them
        # while it holds text back to look for a tool call): they go with
        # the next text.
        self._logprobs: list[Any] | None = None

    def map(self, line: str, out: list[Event]) -> None:
        if self.terminal:
            return  # nothing after "done": true counts
        self.map_object(loads(line), out)

    def map_object(self, obj: Any, out: list[Event]) -> None:
        """The events of one ``ChatResponse`` object (a line, or a whole response)."""
        if obj.__class__ is not dict:
            raise bad_value("stream line", "a JSON object", obj)
        if obj.get("error") is not None:
            raise error_from_payload(obj)
        if not self._started:
            self._start(obj, out)
        logprobs = obj.get("logprobs")
        if logprobs is not None:
            if logprobs.__class__ is not list:
                raise bad_value("logprobs", "a list", logprobs)
            if self._logprobs is None:
                self._logprobs = list(logprobs)
            else:
                self._logprobs.extend(logprobs)
        message = obj.get("message")
        if message is not None:
            if message.__class__ is not dict:
                raise bad_value("message", "an object", message)
            thinking = message.get("thinking")
            if thinking:
                if thinking.__class__ is not str:
                    raise bad_value("message.thinking", "a string", thinking)
                out.append(ThinkingDelta(thinking))
            content = message.get("content")
            if content.__class__ is str:
                if content:
                    out.append(TextDelta(content, 0, self._logprobs))
                    self._logprobs = None
            elif content is not None:
                raise bad_value("message.content", "a string", content)
            calls = message.get("tool_calls")
            if calls is not None:
                if calls.__class__ is not list:
                    raise bad_value("message.tool_calls", "a list", calls)
                for call in calls:
                    self._tool_call(call, obj.get("created_at"), out)
        done = obj.get("done")
        if done is True:
            self._done(obj, out)
        elif done is not None and done is not False:
            raise bad_value("done", "a boolean", done)

    def _start(self, obj: dict[str, Any], out: list[Event]) -> None:
        """The answer's metadata, from its first object."""
        self._started = True
        model = optional_str(obj.get("model"), "model") or None
        self._model = model or ""
        extra: dict[str, Any] = {}
        for key in ("created_at", "remote_model", "remote_host"):
            value = optional_str(obj.get(key), key)
            if value:
                extra[key] = value
        if model is not None or extra:
            out.append(MessageStart(model=model, extra=extra))

    def _tool_call(self, call: Any, created_at: Any, out: list[Event]) -> None:
        call = _object(call, "message.tool_calls[]")
        function = _object(call.get("function"), "message.tool_calls[].function")
        name = optional_str(function.get("name"), "message.tool_calls[].function.name") or ""
        arguments = function.get("arguments")
        if arguments is None:
            text = ""
        elif arguments.__class__ is dict:
            text = json.dumps(arguments, ensure_ascii=False)
        elif arguments.__class__ is str:
            text = arguments  # a proxy that re-encoded them as OpenAI does
        else:
            raise bad_value("message.tool_calls[].function.arguments", "an object", arguments)
        ordinal = self._calls
        self._calls += 1
        call_id = optional_str(call.get("id"), "message.tool_calls[].id")
        if not call_id:
            seed = f"{self._model}\0{created_at}\0{ordinal}\0{name}\0{text}"
            call_id = "call_" + hashlib.sha256(seed.encode("utf-8", "replace")).hexdigest()[:24]
        extras = {k: v for k, v in call.items() if k not in _CALL_FIELDS} or None
        out.append(ToolCallStart(ordinal, call_id, name, 0, extras))
        if text:
            fragments = [text]
            out.append(ToolCallDelta(ordinal, text, _fragments=fragments, _count=1))

    def _done(self, obj: dict[str, Any], out: list[Event]) -> None:
        """The final object: usage (if any metric came), then the finish."""
        self.terminal = True
        details: dict[str, Any] = {}
        for key in _METRICS:
            value = count(obj.get(key), key)
            if value is not None:
                details[key] = value
        if details:
            prompt = details.get("prompt_eval_count")
            completion = details.get("eval_count")
            known = prompt is not None or completion is not None
            total = (prompt or 0) + (completion or 0) if known else None
            out.append(Usage(prompt, completion, total, details))
        reason = optional_str(obj.get("done_reason"), "done_reason") or None
        if reason is None or reason == "stop":
            normalized: FinishReason = "tool_calls" if self._calls else "stop"
        else:
            normalized = _FINISH.get(reason, "other")
        out.append(Finish(reason, 0, normalized))

    def check_complete(self, finished: bool) -> None:
        """Complete only after the ``"done": true`` object."""
        if not self.terminal:
            raise IncompleteStreamError(
                'the stream ended before Ollama\'s final object ("done": true): the answer may be cut short'
            )


# -- the request --------------------------------------------------------------


#: Settings sent inside ``options`` (``api/types.go`` ``Options`` and ``Runner``).
_OPTION_KEYS = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "typical_p",
    "seed",
    "num_predict",
    "num_ctx",
    "num_keep",
    "repeat_penalty",
    "repeat_last_n",
    "presence_penalty",
    "frequency_penalty",
    "num_gpu",
    "num_thread",
    "stop",
)


def _part_error(part: Part, problem: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"invalid argument: {part.where} ({where_type(part.type)}): {problem}")


def _text_and_images(message: BaseMessage, where: str) -> tuple[str, list[str]]:
    """A message's text (text parts joined by newlines) and its images (base64, no ``data:`` prefix).

    Ollama's messages hold a string and a list of base64 images
    (``api/types.go`` ``Message``): an image by URL or file id, a
    document or audio raises :class:`InvalidArgumentError` naming the part.
    """
    content = parse_content(message.content, f"{where}.content")
    if isinstance(content, str):
        return content, []
    texts: list[str] = []
    images: list[str] = []
    for part in content:
        if part.kind == "text":
            texts.append(part.text)
        elif part.kind == "image":
            if part.data is None:
                raise _part_error(
                    part,
                    "Ollama takes images as base64 data only (a data: URL or a base64 block), "
                    "not by URL or file id",
                )
            images.append(part.data)
        else:
            raise _part_error(part, "Ollama's chat API takes text and images only")
    return "\n".join(texts), images


def _tool_names(messages: Sequence[BaseMessage]) -> dict[str, str]:
    """Tool call id -> tool name, from the conversation's AIMessages."""
    names: dict[str, str] = {}
    for message in messages:
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                if call.id:
                    names[call.id] = call.name
    return names


def messages_to_wire(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """Messages in ``/api/chat`` form (``api/types.go`` ``Message``; docs/api.md "With history, with tools").

    * system/user/assistant/tool roles, ``content`` always a string;
    * images (base64, from ``data:`` URLs or base64 blocks) in ``images``;
    * an AIMessage's calls as ``tool_calls: [{"id", "function": {"name",
      "arguments": {...}}}]`` (arguments as an object, as Ollama requires),
      and its thinking as ``thinking`` when it came from Ollama;
    * a ToolMessage as ``{"role": "tool", "content", "tool_name",
      "tool_call_id"}``: ``tool_name`` is the message's ``name``, else the
      name of the call it answers.

    Raises :class:`InvalidArgumentError` for a part Ollama cannot take.
    """
    names = _tool_names(messages)
    wire: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if isinstance(message, AIMessage):
            entry: dict[str, Any] = {"role": "assistant", "content": message.content}
            own = message.response_metadata.get("model_provider") == "ollama"
            thinking = message.additional_kwargs.get("thinking")
            if own and isinstance(thinking, str) and thinking:
                entry["thinking"] = thinking
            if message.tool_calls:
                calls = []
                for call in message.tool_calls:
                    item: dict[str, Any] = {"function": {"name": call.name, "arguments": call.args}}
                    if call.id:
                        item["id"] = call.id
                    if own and call.extras:
                        item.update(call.extras)
                    calls.append(item)
                entry["tool_calls"] = calls
            wire.append(entry)
            continue
        if isinstance(message, SystemMessage):
            role = "system"
        elif isinstance(message, HumanMessage):
            role = "user"
        elif isinstance(message, ToolMessage):
            role = "tool"
        else:  # pragma: no cover - messages are validated before this
            raise TypeError(f"unsupported message type {type(message).__name__}")
        text, images = _text_and_images(message, where)
        entry = {"role": role, "content": text}
        if images:
            entry["images"] = images
        if isinstance(message, ToolMessage):
            name = message.name or names.get(message.tool_call_id)
            if name:
                entry["tool_name"] = name
            entry["tool_call_id"] = message.tool_call_id
        wire.append(entry)
    return wire


def _format(response_format: Any) -> Any:
    """OpenAI's ``response_format`` (what ``with_structured_output`` sends) as Ollama's ``format``.

    ``json_schema`` -> its schema; ``json_object`` -> ``"json"``; ``text`` -> none.
    """
    if not isinstance(response_format, dict):
        raise InvalidArgumentError("invalid argument: response_format: must be an object")
    kind = response_format.get("type")
    if kind == "json_schema":
        holder = response_format.get("json_schema")
        schema = holder.get("schema") if isinstance(holder, dict) else None
        if not isinstance(schema, dict):
            raise InvalidArgumentError(
                "invalid argument: response_format: json_schema.schema must be an object"
            )
        return schema
    if kind == "json_object":
        return "json"
    if kind == "text":
        return None
    raise InvalidArgumentError(
        f"invalid argument: response_format: type must be json_schema, json_object or text, not {kind!r}"
    )


class OllamaProvider(Provider):
    """``POST /api/chat`` (https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-chat-completion).

    No authentication by default; an API key (``OLLAMA_API_KEY``, as the
    official clients read it) is sent as ``Authorization: Bearer``, for
    ollama.com's API and proxies that want one. ``base_url`` is the
    server's root (``http://localhost:11434``, ``https://ollama.com``), not
    ``.../api``. A local server needs no key (``requires_key = False``).
    """

    name = "ollama"
    model_provider = "ollama"
    chat = True
    path = "/api/chat"
    api_key_env = "OLLAMA_API_KEY"
    base_url_env = "OLLAMA_HOST"
    default_base_url = DEFAULT_BASE_URL
    requires_key = False

    def framing(self, stream: bool, content_type: str) -> Framing:
        """NDJSON for a streaming request (whatever the label: one compact
        JSON object is one NDJSON line) and for any ``application/x-ndjson``
        body; one JSON document otherwise."""
        if stream or "ndjson" in content_type:
            return "ndjson"
        return "json"

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def parse_error(self, body: Any) -> tuple[str | None, str | None]:
        """``{"error": "message"}`` (https://docs.ollama.com/api/errors), or any other known shape."""
        return error_message(body)

    def new_mapper(self) -> OllamaMapper:
        return OllamaMapper()

    @staticmethod
    def tools_to_wire(specs: list[ToolSpec], choice: str | None) -> dict[str, Any]:
        """``tools`` in OpenAI's function form (Ollama's ``Tool``); Ollama has no ``tool_choice``.

        ``"none"`` sends no tools; a tool's name sends that tool only;
        ``"auto"`` and ``"required"`` send them all (``required`` cannot be
        enforced: the model may still answer in text).
        """
        if not specs or choice == "none":
            return {}
        if choice not in (None, "auto", "required"):
            specs = [s for s in specs if s.name == choice]
        return {
            "tools": [
                s.raw
                if s.raw is not None
                else {
                    "type": "function",
                    "function": {"name": s.name, "description": s.description, "parameters": s.parameters},
                }
                for s in specs
            ]
        }

    def build(self, messages: Sequence[BaseMessage], params: dict[str, Any], stream: bool) -> dict[str, Any]:
        """The ``/api/chat`` body.

        Sampling settings go in ``options`` (``max_tokens`` as
        ``num_predict`` unless that is given; an ``options`` dict is merged
        last and wins); ``reasoning`` is sent as ``think`` (a per-call
        ``think`` wins); ``response_format`` (structured output) becomes
        ``format``; ``keep_alive``, ``format``, ``logprobs``,
        ``top_logprobs``, ``tools`` and any other field go at the top level
        as given; ``stream`` is always sent (Ollama streams unless told not to).
        """
        rest = {k: v for k, v in params.items() if v is not None}
        body: dict[str, Any] = {"model": rest.pop("model"), "messages": messages_to_wire(messages)}
        max_tokens = rest.pop("max_tokens", None)
        options = {key: rest.pop(key) for key in _OPTION_KEYS if key in rest}
        if max_tokens is not None:
            options.setdefault("num_predict", max_tokens)
        extra_options = rest.pop("options", None)
        if extra_options:
            options.update(extra_options)
        if options:
            body["options"] = options
        reasoning = rest.pop("reasoning", None)
        think = rest.pop("think", reasoning)
        if think is not None:
            body["think"] = think
        fmt = rest.pop("format", None)
        if "response_format" in rest:
            fmt = _format(rest.pop("response_format"))
        if fmt is not None and fmt != "":
            body["format"] = fmt
        body.update(rest)
        body["stream"] = stream
        return body

    def output_format(
        self, name: str, description: str, schema: dict[str, Any], strict: bool | None
    ) -> dict[str, Any]:
        """Ollama's ``format``: the JSON schema itself
        (https://github.com/ollama/ollama/blob/main/docs/api.md#request-structured-outputs)."""
        return {"format": schema}

    def parse_response(self, body: Any) -> list[Event]:
        """A whole ``ChatResponse`` (``"stream": false``), through the same mapper as a stream.

        A response without ``done`` is taken as final (it is the whole
        answer); ``"done": false`` is an incomplete answer
        (:class:`IncompleteStreamError`). An error object raises its typed
        error; a body with neither ``message`` nor ``done`` is a
        :class:`ProtocolError`, never an empty answer.
        """
        if body.__class__ is not dict:
            raise bad_value("response", "a JSON object", body)
        if body.get("error") is not None:
            raise error_from_payload(body)
        done = body.get("done")
        if "message" not in body and done is None:
            keys = ", ".join(list(body)[:10])
            raise ProtocolError(f"the response is not a chat response: it has no message (keys: {keys})")
        if done is False:
            raise IncompleteStreamError('the response says "done": false: the answer is incomplete')
        out: list[Event] = []
        self.new_mapper().map_object({**body, "done": True}, out)
        return out


# -- the model class ----------------------------------------------------------


class ChatOllamaSettings(ChatModelSettings, total=False):
    """``ChatOllama(...)``'s keyword arguments (:class:`~streamkit.models.ChatModelSettings` and these)."""

    top_k: int | None
    min_p: float | None
    typical_p: float | None
    seed: int | None
    num_ctx: int | None
    num_predict: int | None
    repeat_penalty: float | None
    repeat_last_n: int | None
    presence_penalty: float | None
    frequency_penalty: float | None
    num_gpu: int | None
    num_thread: int | None
    reasoning: bool | Literal["low", "medium", "high", "max"] | None
    format: Literal["", "json"] | dict[str, Any] | None
    keep_alive: int | float | str | None
    options: dict[str, Any] | None
    logprobs: bool | None
    top_logprobs: int | None


class ChatOllama(ChatModel):
    """A model served by Ollama, over its native ``/api/chat``.

    Settings keep langchain-ollama's names (``ChatOllama``):

    * ``base_url``: the server's root; default ``OLLAMA_HOST`` (read like
      the official clients do: ``0.0.0.0:11434``, ``:8080`` and ``host``
      work; see :func:`ollama_host`) or ``http://localhost:11434``. A
      scheme-less ``base_url`` is read the same way;
    * ``api_key``: none by default (a local server needs none); default
      ``OLLAMA_API_KEY``; sent as ``Authorization: Bearer``;
    * ``options`` (Ollama's ``options``): ``temperature``, ``top_p``,
      ``top_k``, ``min_p``, ``typical_p``, ``seed``, ``num_ctx``,
      ``num_predict`` (``max_tokens`` is sent as ``num_predict`` too;
      ``-1``: no limit, ``-2``: fill the context), ``repeat_penalty``,
      ``repeat_last_n``, ``presence_penalty``, ``frequency_penalty``,
      ``num_gpu``, ``num_thread``, ``stop``, and ``options={...}`` for any
      other (merged last);
    * ``reasoning``: Ollama's ``think``: ``True``/``False`` or a level
      (``"low"``, ``"medium"``, ``"high"``, ``"max"``); ``None`` leaves it
      to the model. Thinking streams as ThinkingDelta events, into
      ``additional_kwargs["thinking"]``, never into the answer;
    * ``format``: ``"json"`` or a JSON schema (structured output);
      ``with_structured_output()`` sends its schema as ``format``;
    * ``keep_alive``: how long the model stays loaded (``"5m"``, seconds,
      ``0`` to unload, ``-1`` forever);
    * ``logprobs`` / ``top_logprobs`` (0-20): per-token log-probabilities,
      in ``generation_info["logprobs"]["content"]``.

    Per call: those names, plus ``think``, ``truncate``, ``shift`` and
    ``response_format`` as body fields. ``tool_choice``: Ollama has none;
    see :meth:`OllamaProvider.tools_to_wire`.

    Timings: ``llm_output["token_usage"]`` holds Ollama's raw metrics
    beside the token counts: ``prompt_eval_count``, ``eval_count``,
    ``total_duration``, ``load_duration``, ``prompt_eval_duration``,
    ``eval_duration`` (durations in nanoseconds); ``llm_output["created_at"]``
    is the first line's timestamp.
    """

    _provider_class = OllamaProvider
    _call_options = ChatModel._call_options | {
        "top_k",
        "min_p",
        "typical_p",
        "seed",
        "num_ctx",
        "num_predict",
        "repeat_penalty",
        "repeat_last_n",
        "presence_penalty",
        "frequency_penalty",
        "num_gpu",
        "num_thread",
        "reasoning",
        "format",
        "keep_alive",
        "options",
        "logprobs",
        "top_logprobs",
    }
    # ChatRequest fields accepted per call as given (api/types.go);
    # response_format is what with_structured_output() sends (see build()).
    _body_fields = frozenset({"think", "truncate", "shift", "response_format"})
    _json_fields = ("format", "options")

    model: str = Field(default="llama3.2", alias="model_name", min_length=1)
    top_k: int | None = Field(default=None, gt=0)
    min_p: float | None = Field(default=None, ge=0.0, le=1.0)
    typical_p: float | None = Field(default=None, ge=0.0, le=1.0)
    seed: int | None = None
    num_ctx: int | None = Field(default=None, gt=0)
    num_predict: int | None = Field(default=None, ge=-2)
    repeat_penalty: float | None = None
    repeat_last_n: int | None = Field(default=None, ge=-1)
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    num_gpu: int | None = Field(default=None, ge=0)
    num_thread: int | None = Field(default=None, gt=0)
    reasoning: bool | Literal["low", "medium", "high", "max"] | None = None
    format: Literal["", "json"] | dict[str, Any] | None = None
    keep_alive: int | float | str | None = None
    options: dict[str, Any] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)

    if TYPE_CHECKING:

        def __init__(self, **settings: Unpack[ChatOllamaSettings]) -> None: ...

    @field_validator("base_url", mode="before")
    @classmethod
    def _ollama_base_url(cls, value: Any) -> Any:
        """None -> the default; a scheme-less host (``OLLAMA_HOST`` style) -> a URL."""
        if value is None:
            return DEFAULT_BASE_URL
        if isinstance(value, str):
            return ollama_host(value)
        return value

    def _extra_params(self) -> dict[str, Any]:
        return {
            "top_k": self.top_k,
            "min_p": self.min_p,
            "typical_p": self.typical_p,
            "seed": self.seed,
            "num_ctx": self.num_ctx,
            "num_predict": self.num_predict,
            "repeat_penalty": self.repeat_penalty,
            "repeat_last_n": self.repeat_last_n,
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
            "num_gpu": self.num_gpu,
            "num_thread": self.num_thread,
            "reasoning": self.reasoning,
            "format": self.format,
            "keep_alive": self.keep_alive,
            "options": self.options,
            "logprobs": self.logprobs,
            "top_logprobs": self.top_logprobs,
        }


# -- the mock server's side ---------------------------------------------------


def _now() -> str:
    """``created_at`` as Ollama writes it (Go's RFC 3339 with nanoseconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _line(obj: dict[str, Any]) -> bytes:
    """One NDJSON line, compact like Go's ``json.Marshal`` + ``\\n``."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


#: The mock's fixed timings (nanoseconds): plausible, and the same every run.
_MOCK_DURATIONS = {"total_duration": 5_000_000, "load_duration": 1_000_000}


def _mock_arguments(call: dict[str, Any]) -> Any:
    """A scripted call's arguments as the object Ollama sends (``fragments`` joined and parsed)."""
    if "args" in call or "fragments" not in call:
        return call.get("args", {})
    try:
        return json.loads("".join(call["fragments"]))
    except ValueError:
        return {}


def _mock_calls(answer: Answer) -> list[dict[str, Any]]:
    calls = []
    for index, call in enumerate(answer.tool_calls):
        function = {"index": index, "name": call["name"], "arguments": _mock_arguments(call)}
        item: dict[str, Any] = {"function": function}
        call_id = call.get("id", f"call_mock{index}")
        if call_id is not None:  # "id": None scripts an older server, which sends none
            item = {"id": call_id, **item}
        calls.append(item)
    return calls


def _final(answer: Answer, base: dict[str, Any]) -> dict[str, Any]:
    usage = answer.usage
    return {
        **base,
        "done": True,
        "done_reason": answer.finish_reason,
        **_MOCK_DURATIONS,
        "prompt_eval_count": usage.get("prompt_tokens", 0),
        "prompt_eval_duration": 1_000_000,
        "eval_count": usage.get("completion_tokens", 0),
        "eval_duration": 3_000_000,
    }


class _OllamaMock(MockWire):
    """The mock server's ``/api/chat``: NDJSON lines as Ollama writes them, and its 400s.

    A scripted tool call without ``"id"`` gets ``call_mock<N>``; ``"id":
    None`` sends none (an older server). Ollama sends no keep-alives.
    """

    name = "ollama"
    routes = ("/api/chat",)
    content_type = "application/x-ndjson"
    keepalive = b""
    stop_reason = "stop"
    tool_reason = "stop"  # Ollama's done_reason for an answer that calls tools

    def streaming(self, path: str, query: Mapping[str, str], body: Any) -> bool:
        """Ollama streams unless the body says ``"stream": false``."""
        return not (isinstance(body, dict) and body.get("stream") is False)

    def check(self, body: Any, headers: Mapping[str, str]) -> dict[str, Any] | None:
        """The 400 body Ollama's ChatHandler sends (``server/routes.go``, ``api/types.go``).

        Checked: a body at all, ``model``, ``think``'s values, message
        ``content`` a string, ``images`` base64 strings, tool call
        ``arguments`` objects, ``top_logprobs`` 0-20. The wording of the
        JSON decoding errors approximates Go's ``encoding/json``.
        """
        if not isinstance(body, dict):
            return {"error": "missing request body"}
        think = body.get("think")
        allowed = '"high", "medium", "low", "max", true, or false'
        if isinstance(think, str) and think not in ("high", "medium", "low", "max"):
            return {"error": f'invalid think value: "{think}" (must be {allowed})'}
        if think is not None and not isinstance(think, (bool, str)):
            return {"error": f"think must be a boolean or string ({allowed})"}
        messages = body.get("messages")
        if messages is not None and not isinstance(messages, list):
            return {"error": "json: cannot unmarshal object into Go struct field ChatRequest.messages"}
        for message in messages or ():
            problem = _message_problem(message)
            if problem:
                return {"error": problem}
        top = body.get("top_logprobs")
        if isinstance(top, int) and not 0 <= top <= 20:
            return {"error": "top_logprobs must be between 0 and 20"}
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return {"error": "model is required"}
        return None

    def events(self, answer: Answer, body: Any) -> Iterable[tuple[bytes, bool]]:
        def chunk(**message: Any) -> bytes:
            whole = {"role": "assistant", "content": "", **message}
            return _line({"model": answer.model, "created_at": _now(), "message": whole, "done": False})

        for piece in answer.thinking:
            yield chunk(thinking=piece), True
        for token in answer.token_lists[0] if answer.token_lists else []:
            yield chunk(content=token), True
        for call in _mock_calls(answer):
            yield chunk(tool_calls=[call]), True
        base = {"model": answer.model, "created_at": _now(), "message": {"role": "assistant", "content": ""}}
        yield _line(_final(answer, base)), False

    def full(self, answer: Answer, body: Any) -> dict[str, Any]:
        tokens = answer.token_lists[0] if answer.token_lists else []
        message: dict[str, Any] = {"role": "assistant", "content": "".join(tokens)}
        if answer.thinking:
            message["thinking"] = "".join(answer.thinking)
        calls = _mock_calls(answer)
        if calls:
            message["tool_calls"] = calls
        return _final(answer, {"model": answer.model, "created_at": _now(), "message": message})

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error": message}

    def error_event(self, error_type: str, message: str) -> bytes:
        """Ollama's in-stream error line: ``{"error": "..."}`` (it carries no type)."""
        return _line({"error": message})


def _message_problem(message: Any) -> str | None:
    """Why Ollama would refuse one message object, or None."""
    if not isinstance(message, dict):
        return "json: cannot unmarshal into Go struct field ChatRequest.messages of type api.Message"
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        kind = "array" if isinstance(content, list) else type(content).__name__
        return f"json: cannot unmarshal {kind} into Go struct field .content of type string"
    images = message.get("images")
    if images is not None:
        if not isinstance(images, list):
            return "json: cannot unmarshal into Go struct field .images of type []api.ImageData"
        for image in images:
            if not isinstance(image, str):
                return "json: cannot unmarshal into Go value of type []uint8"
            try:
                base64.b64decode(image, validate=True)
            except (binascii.Error, ValueError):
                return "illegal base64 data in images"
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            return "json: cannot unmarshal into Go struct field .tool_calls of type api.ToolCall"
        arguments = function.get("arguments")
        if arguments is not None and not isinstance(arguments, dict):
            return "json: cannot unmarshal string into Go value of type map[string]interface {}"
    return None


MOCK = _OllamaMock()
