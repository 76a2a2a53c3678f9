"""The provider contract: what one provider module owns, and nothing more.

A provider maps one wire format. It does no HTTP, retries, deadlines,
decoding, fan-out or collection: those are shared (``transport``,
``retry``, ``deadlines``, ``sse``, ``adapter``, ``collector``). What it
owns, all in its own module (the walk-through is ``providers/README.md``):

* where requests go: :attr:`Provider.default_base_url`, the environment
  variables :attr:`Provider.api_key_env` / :attr:`Provider.base_url_env`,
  and :meth:`Provider.endpoint` (the path, built from the request: Gemini
  puts the model in it);
* how they authenticate: :meth:`Provider.auth_headers`;
* the request body: :meth:`Provider.build` and :meth:`Provider.tools_to_wire`;
* the framing of its answers: :meth:`Provider.framing` picks ``"sse"``,
  ``"ndjson"`` or ``"json"`` (one whole document) from the request mode and
  the response's content type; the shared decoders do the rest;
* the mapping of wire events to streamkit events: :meth:`Provider.new_mapper`,
  a :class:`StreamMapper` fed each decoded frame (an SSE event, or an
  NDJSON line), which knows the stream's terminal marker;
* a non-streaming answer, mapped by the *same* mapper
  (:meth:`Provider.parse_response`): one mapping, not two;
* its error bodies: :meth:`Provider.parse_error`.

A provider that is not HTTP at all (a local model, a test double) is an
async generator of events: see :mod:`streamkit.providers.function`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

from pydantic_core import from_json

from .._sse import DEFAULT_MAX_EVENT_SIZE, NDJSONDecoder, ServerSentEvent, SSEDecoder
from ..errors import (
    IncompleteStreamError,
    InvalidArgumentError,
    ProtocolError,
    StreamkitError,
    error_from_payload,
    error_message,
    payload_is_error,
)
from ..events import Event
from ..tools import ToolSpec

# What a provider module needs, in one place: the contract, the value
# checks, and the shared readers of wire facts (an SSE event, a tool, an
# error body or an in-stream error object: the one classifier).
__all__ = [
    "Framing",
    "Provider",
    "ServerSentEvent",
    "StreamMapper",
    "ToolSpec",
    "bad_value",
    "count",
    "error_from_payload",
    "error_event_payload",
    "error_message",
    "loads",
    "optional_str",
]

#: How a response body is cut into frames: Server-Sent Events, one JSON
#: value per line (NDJSON), or one whole JSON document.
Framing = Literal["sse", "ndjson", "json"]

#: How an SSE line starts (a comment or a field).
_SSE_FIELDS = (":", "data", "event", "id", "retry")

#: How much of a body that never became an event stream is kept to explain it.
_HEAD_LIMIT = 64 * 1024


def _describe(value: Any) -> str:
    kind = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), f"a {type(value).__name__}"
    )
    shown = repr(value)
    return f"{kind} ({shown[:80]}{'...' if len(shown) > 80 else ''})"


def bad_value(where: str, expected: str, value: Any) -> ProtocolError:
    """The :class:`ProtocolError` for a wire value of the wrong type or shape.

    ``where`` names the field as the provider's docs do (``choices[].delta.content``).
    """
    return ProtocolError(
        f"unexpected value in the stream: {where} must be {expected}, got {_describe(value)}"
    )


def optional_str(value: Any, where: str) -> str | None:
    """``value`` if it is a ``str`` or ``None``; else a :class:`ProtocolError`."""
    if value is None or value.__class__ is str:
        return value
    raise bad_value(where, "a string", value)


def count(value: Any, where: str) -> int | None:
    """A token count: an ``int`` (or a whole float, as some servers send), or ``None``."""
    if value is None or (value.__class__ is int and value >= 0):
        return value
    if value.__class__ is float and value.is_integer() and value >= 0:
        return int(value)
    raise bad_value(where, "a whole number >= 0", value)


def loads(data: str) -> Any:
    """Parse one JSON payload.

    pydantic-core's parser (already a dependency) measured 2.6x faster than
    ``json.loads`` on a typical chunk (0.78 vs 2.07 us); it is one call per
    event, so it matters on the token path.
    """
    try:
        return from_json(data)
    except ValueError as exc:
        raise ProtocolError(f"{_MALFORMED} {data[:200]!r}") from exc


#: How bad JSON is reported: at the very end of a body it means the body was cut mid-event.
_MALFORMED = "malformed JSON in stream event:"


def error_event_payload(data: str) -> Any:
    """The payload of an SSE event named ``error``: its JSON, or its text when it is not JSON.

    Servers send either (llama.cpp and gateways send plain text). Data
    that starts as a JSON object or list but does not parse is not a
    message: it raises the malformed-JSON :class:`ProtocolError`, which
    :meth:`StreamMapper.finish` reports as an
    :class:`~streamkit.errors.IncompleteStreamError` when the body was cut
    inside the event.
    """
    try:
        return loads(data)
    except ProtocolError:
        if data.lstrip().startswith(("{", "[")):
            raise
        return data


class StreamMapper(ABC):
    """Per-stream state that maps decoded wire frames to streamkit events.

    ``framing`` (a class attribute, ``"sse"`` by default) says which shared
    decoder cuts the body into frames: ``"sse"`` hands :meth:`map` a
    :class:`~streamkit._sse.ServerSentEvent`, ``"ndjson"`` one line (a
    ``str``) per frame.

    ``map`` checks every wire value it uses: a value of the wrong type or
    shape raises :class:`ProtocolError` (see :func:`bad_value`). As a last
    line of defence, a ``TypeError``/``AttributeError``/``KeyError``/
    ``ValueError``/``IndexError`` escaping ``map`` is turned into a
    :class:`ProtocolError` too: nothing but a :class:`StreamkitError` ever
    leaves a mapper.
    """

    __slots__ = ("_head", "decoder", "error", "terminal")

    framing: ClassVar[Literal["sse", "ndjson"]] = "sse"

    def __init__(self) -> None:
        self.decoder: SSEDecoder | NDJSONDecoder = (
            NDJSONDecoder() if self.framing == "ndjson" else SSEDecoder()
        )
        #: Set when the provider's end-of-stream marker has been seen.
        self.terminal = False
        #: A failure met in the middle of a read (an error event, bad JSON).
        #: The events before it in the same read are still returned, and the
        #: adapter raises this once they are delivered: nothing received is lost.
        self.error: StreamkitError | None = None
        # The body's first bytes, kept until the first event is decoded: a
        # body that never becomes an event stream (a gateway's JSON error
        # with the wrong content type, an HTML page) is explained from it.
        self._head: bytearray | None = bytearray()

    def set_max_event_size(self, max_event_size: int) -> None:
        """Bound one frame (an SSE line or event, an NDJSON line) at ``max_event_size`` bytes."""
        if max_event_size != DEFAULT_MAX_EVENT_SIZE:
            self.decoder = (
                NDJSONDecoder(max_event_size) if self.framing == "ndjson" else SSEDecoder(max_event_size)
            )

    def feed(self, chunk: bytes) -> list[Event]:
        """All events completed by one network read, in one pass."""
        out: list[Event] = []
        try:
            events = self.decoder.feed(chunk)
            if self._head is not None:
                self._keep_head(chunk, bool(events))
            for sse in events:
                self.map(sse, out)
            if self.decoder.error is not None and not self.terminal:
                self.error = self.decoder.error
        except StreamkitError as exc:
            self.error = exc
        except (TypeError, AttributeError, KeyError, ValueError, IndexError) as exc:
            self.error = _unexpected(exc)
        return out

    def finish(self) -> list[Event]:
        """Events from a final unterminated frame."""
        out: list[Event] = []
        try:
            events = self.decoder.finish()
            if self._head is not None and not events and self.decoder.error is None:
                raise self._not_a_stream()
            for sse in events:
                self.map(sse, out)
            if self.decoder.error is not None and not self.terminal:
                self.error = self.decoder.error
        except ProtocolError as exc:
            if exc.__class__ is not ProtocolError or not exc.message.startswith(_MALFORMED):
                self.error = exc
            else:
                # Bad JSON in the unterminated last frame means the body was cut
                # mid-event, not that the server sent garbage: report (and retry)
                # it as the incomplete stream it is.
                cut = IncompleteStreamError("the stream ended in the middle of an event")
                cut.__cause__ = exc
                self.error = cut
        except StreamkitError as exc:
            self.error = exc
        except (TypeError, AttributeError, KeyError, ValueError, IndexError) as exc:
            self.error = _unexpected(exc)
        return out

    def _keep_head(self, chunk: bytes, decoded: bool) -> None:
        head = self._head
        assert head is not None
        if decoded:
            self._head = None
        elif len(head) < _HEAD_LIMIT:
            head += chunk[: _HEAD_LIMIT - len(head)]

    def _not_a_stream(self) -> StreamkitError:
        """The error for a body in which no event was ever found."""
        head = self._head or b""
        text = head.decode("utf-8", "replace").strip()
        if not text:
            return IncompleteStreamError("the response body was empty: no event arrived")
        try:
            payload = from_json(text)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and payload_is_error(payload):
            return error_from_payload(payload)
        if all(_sse_line(line) for line in text.splitlines() if line.strip()):
            # Keep-alives or an event cut before its end: a stream that stopped.
            return IncompleteStreamError("the stream ended before any event arrived")
        # JSON, HTML, a proxy's plain-text error: say what it was.
        return ProtocolError(f"the response is not an event stream: {text[:300]!r}")

    def check_complete(self, finished: bool) -> None:
        """Raise :class:`IncompleteStreamError` if the stream stopped short.

        ``finished`` says whether every choice reported a finish reason.
        """
        if not self.terminal and not finished:
            raise IncompleteStreamError("the stream ended before the response was complete")

    @abstractmethod
    def map(self, frame: Any, out: list[Event]) -> None:
        """Append the events one frame stands for to ``out``.

        ``frame`` is a :class:`~streamkit._sse.ServerSentEvent` (``framing =
        "sse"``) or one line of text (``framing = "ndjson"``).
        """


def _sse_line(line: str) -> bool:
    """A comment or field line, or the start of one (a body cut mid-line)."""
    return line.startswith(_SSE_FIELDS) or any(field.startswith(line) for field in _SSE_FIELDS)


def _unexpected(exc: Exception) -> ProtocolError:
    error = ProtocolError(f"unexpected shape in the stream ({type(exc).__name__}: {exc})")
    error.__cause__ = exc
    return error


class Provider(ABC):
    """One wire format: endpoint, auth, request body, framing, event mapping, errors.

    Subclasses set the class attributes and implement the abstract methods;
    see the module docstring and ``providers/README.md``.
    """

    #: Used in ``on_llm_start``'s ``serialized`` and in messages.
    name: ClassVar[str] = ""
    #: LangChain's ``response_metadata["model_provider"]``: whose wire form
    #: ``AIMessage.content_blocks`` are in.
    model_provider: ClassVar[str] = ""
    #: True when results are ChatGenerations with AIMessages.
    chat: ClassVar[bool] = False
    #: The request path appended to the model's ``base_url`` (the default
    #: :meth:`endpoint`).
    path: ClassVar[str] = ""
    #: The environment variable holding the API key (read when a model is
    #: made without ``api_key``), or None.
    api_key_env: ClassVar[str | None] = None
    #: The environment variable holding the base URL, or None.
    base_url_env: ClassVar[str | None] = None
    #: The provider's own API (``https://...``); "" when there is none.
    default_base_url: ClassVar[str] = ""
    #: Whether ``default_base_url`` needs an API key: a model made for it
    #: without one fails at once, naming :attr:`api_key_env` (False for a
    #: local server such as Ollama's).
    requires_key: ClassVar[bool] = True

    def endpoint(self, params: dict[str, Any], stream: bool) -> str:
        """The path (and query) of one request, appended to ``base_url``.

        ``params`` are the request's parameters (``params["model"]`` is the
        model); the default is :attr:`path` whatever the request.
        """
        return self.path

    def framing(self, stream: bool, content_type: str) -> Framing:
        """How to cut this response's body into frames.

        The default fits SSE providers: a streaming request is read as SSE,
        unless the server answered with a JSON document (``application/json``:
        a server that ignored ``stream: true``, or an error with status 200),
        which is read whole and mapped like a non-streaming answer.
        """
        if stream and "json" not in content_type:
            return "sse"
        return "json"

    @abstractmethod
    def build(self, request: Any, params: dict[str, Any], stream: bool) -> dict[str, Any]:
        """The JSON body for one prompt (str) or conversation (list of messages)."""

    def tools_to_wire(self, specs: list[ToolSpec], choice: str | None) -> dict[str, Any]:
        """The provider's ``tools``/``tool_choice`` request fields."""
        if specs or choice is not None:
            raise InvalidArgumentError(f"{type(self).__name__} does not support tools")
        return {}

    #: ``with_structured_output()``'s method when none is given: ``"json_schema"``
    #: (the provider's JSON output mode, :meth:`output_format`) or ``"tool"``
    #: (a forced tool call, :meth:`structured_tool`).
    structured_method: ClassVar[Literal["json_schema", "tool"]] = "json_schema"

    def output_format(
        self, name: str, description: str, schema: dict[str, Any], strict: bool | None
    ) -> dict[str, Any]:
        """Body fields asking for an answer that is JSON fitting ``schema`` (the ``json_schema`` method).

        They are merged into the request body key by key, nested objects
        too (a ``generationConfig`` or ``output_config`` already there keeps
        its other keys). ``strict`` is None for the provider's safe default.
        Raises :class:`~streamkit.errors.InvalidArgumentError` when the
        provider has no such mode (the default).
        """
        raise InvalidArgumentError(
            f"{type(self).__name__} has no JSON output mode: use with_structured_output(..., method='tool')"
        )

    def structured_tool(
        self, name: str, description: str, schema: dict[str, Any], strict: bool | None
    ) -> dict[str, Any]:
        """The tool forced for the ``tool`` method, as a neutral tool dict.

        ``{"name", "description", "parameters"}`` (plus ``"strict": True``
        where the provider enforces schemas): :meth:`tools_to_wire` puts it
        in the wire's form. The default sends ``schema`` as it is.
        """
        return {"name": name, "description": description, "parameters": schema}

    @abstractmethod
    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        """Headers that authenticate (and version) every request."""

    @abstractmethod
    def new_mapper(self) -> StreamMapper:
        """State for one stream."""

    @abstractmethod
    def parse_response(self, body: Any) -> list[Event]:
        """Events equivalent to one non-streaming JSON response, from :meth:`new_mapper`'s mapper.

        Raises the typed error of an error object, and
        :class:`~streamkit.errors.ProtocolError` for a body that is not an
        answer (never taken for an empty one).
        """

    @abstractmethod
    def parse_error(self, body: Any) -> tuple[str | None, str | None]:
        """(message, error type) from an error response body."""
