"""Google's Gemini API, native: ``generateContent`` and ``streamGenerateContent``.

``POST {base_url}/{api_version}/models/{model}:streamGenerateContent?alt=sse``
streams, ``...:generateContent`` answers whole; the model is in the path,
never in the body (:meth:`GeminiProvider.endpoint`). The key goes in the
``x-goog-api-key`` header. Both answers are ``GenerateContentResponse``
objects (a streamed one per SSE event), mapped by the same
:class:`GeminiMapper`.

Wire facts this module relies on, with their public sources:

* Request and response shapes (``contents`` of ``role`` ``user``/``model``
  with ``parts``; ``systemInstruction``; ``tools[].functionDeclarations``
  with ``parametersJsonSchema``; ``toolConfig.functionCallingConfig``
  ``mode`` AUTO/ANY/NONE and ``allowedFunctionNames``; ``generationConfig``
  with ``thinkingConfig``): the API reference
  (https://ai.google.dev/api/generate-content) and the official SDK's
  request converters (googleapis/python-genai, ``google/genai/models.py``,
  ``_GenerateContentConfig_to_mldev``, ``_Part_to_mldev``), and live
  requests the official JS SDK recorded (googleapis/js-genai,
  ``test/system/recordings/``; see ``tests/fixtures/wire/gemini/README.md``).
* A streamed answer is one ``data: {GenerateContentResponse}`` event per
  chunk, events separated by ``\\r\\n\\r\\n`` on the live API; there is **no
  end marker**: the body ends after the chunk with ``finishReason``. A
  function call arrives whole in one ``functionCall`` part (its ``args``
  an object, never streamed), usually without an ``id`` (ids are generated
  here: ``call_<responseId>_<n>``).
* Thoughts are parts with ``"thought": true`` (thought summaries, when
  ``thinkingConfig.includeThoughts`` is set). ``thoughtSignature`` may sit
  on *any* part (a function call, the last text part, an empty text part at
  the end of a stream) and must go back on the same part in the next turn
  (https://ai.google.dev/gemini-api/docs/thought-signatures). Every part is
  kept whole, in order, in ``AIMessage.content_blocks`` (and a call's other
  fields, the signature, in ``ToolCall.extras``); sending the message back
  sends those parts, with unsigned text runs merged.
* ``usageMetadata`` is on every chunk and **cumulative**: each report
  replaces the last. ``promptTokenCount`` includes cached tokens
  (``cachedContentTokenCount``); ``totalTokenCount`` is prompt + candidates
  + toolUsePrompt + thoughts (python-genai ``types.py``,
  ``GenerateContentResponseUsageMetadata``). See :meth:`GeminiMapper.usage_event`.
* ``finishReason`` values (python-genai ``types.FinishReason``) are
  normalized by :data:`_FINISH`. Gemini ends a function-calling turn with
  ``STOP``: normalized ``tool_calls`` when the answer called client tools.
* A blocked prompt has no candidates, only ``promptFeedback.blockReason``
  (python-genai ``types.BlockedReason``): see :meth:`GeminiMapper.map_object`.
* Errors are ``{"error": {"code", "message", "status"}}`` (Google's RPC
  status; https://ai.google.dev/gemini-api/docs/troubleshooting), sometimes
  wrapped in a JSON list (quoted in continuedev/continue#8516); inside a
  stream as a ``data:`` event (python-genai
  ``tests/client/test_async_stream.py``). That SDK also reads an error
  written as plain JSON lines without ``data:``; the shared SSE decoder
  drops such lines mid-stream (a body made only of them is still read as
  the error), so that case ends as an :class:`IncompleteStreamError`.

Server-side tools (MCP servers, code execution, search grounding) produce
parts the server ran itself: a ``functionCall`` answered by a
``functionResponse`` in the model's own output is such a call and never
becomes a client tool call (recorded in js-genai's
``Client_Tests_server_side_MCP_server_ML_Dev_should_call_server_side_MCP_server,_stream``).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Unpack
from urllib.parse import quote

from pydantic import Field, SecretStr

from .._content import Part, parse_part, where_type
from .._sse import ServerSentEvent
from ..errors import (
    APIError,
    APIStatusError,
    IncompleteStreamError,
    InvalidArgumentError,
    ProtocolError,
    ProviderStreamError,
    error_from_payload,
    error_message,
    status_error,
)
from ..events import (
    Citation,
    ContentBlock,
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
from .base import Provider, StreamMapper, bad_value, count, error_event_payload, loads, optional_str

__all__ = [
    "MOCK",
    "ChatGoogleGenerativeAI",
    "ChatGoogleGenerativeAISettings",
    "GeminiMapper",
    "GeminiProvider",
    "contents_to_wire",
]

#: LangChain's ``response_metadata["model_provider"]`` for ChatGoogleGenerativeAI
#: (langchain-ai/langchain-google, ``libs/genai/langchain_google_genai/chat_models.py``).
MODEL_PROVIDER = "google_genai"

#: Gemini's finish reasons (python-genai ``types.FinishReason``), normalized.
_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "MODEL_ARMOR": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
    # LANGUAGE, OTHER, TOO_MANY_TOOL_CALLS, NO_IMAGE, IMAGE_OTHER,
    # FINISH_REASON_UNSPECIFIED and values added later: "other".
}

#: Part fields that carry no content of their own (metadata beside the data field).
_PART_METADATA = frozenset(
    {"thought", "thoughtSignature", "partMetadata", "videoMetadata", "mediaResolution"}
)
#: A part's data fields (python-genai ``_Part_to_mldev``): a dict holding one of
#: these and no ``type`` is a part already in Gemini's form, sent as written.
_PART_DATA = frozenset(
    {
        "text",
        "inlineData",
        "fileData",
        "functionCall",
        "functionResponse",
        "executableCode",
        "codeExecutionResult",
        "toolCall",
        "toolResponse",
    }
)

#: Candidate fields kept for the answer's ``llm_output`` (reported with its finish).
_CANDIDATE_EXTRAS = {
    "safetyRatings": "safety_ratings",
    "groundingMetadata": "grounding_metadata",
    "urlContextMetadata": "url_context_metadata",
    "finishMessage": "finish_message",
    "avgLogprobs": "avg_logprobs",
    "logprobsResult": "logprobs_result",
}


def _gemini_error(payload: Any) -> APIError:
    """The typed error of a Google error object (or a list holding one).

    Classified by :func:`~streamkit.errors.error_from_payload` (its numeric
    ``code`` is an HTTP status); one with Google's ``status`` but no code
    is classified by the status's HTTP code (:data:`_CODE_OF_STATUS`).
    ``error_type`` is Google's ``status`` (``INVALID_ARGUMENT``,
    ``RESOURCE_EXHAUSTED``...).
    """
    err = error_from_payload(payload)
    status = _status(payload)
    if status is None:
        return err
    if isinstance(err, ProviderStreamError) and status in _CODE_OF_STATUS:
        return status_error(_CODE_OF_STATUS[status], err.message, body=payload, error_type=status)
    if isinstance(err, (APIStatusError, ProviderStreamError)) and err.error_type is None:
        err.error_type = status
    return err


#: Google's RPC statuses and their HTTP codes (https://ai.google.dev/gemini-api/docs/troubleshooting).
_CODE_OF_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


def _status(body: Any) -> str | None:
    """Google's ``error.status`` (``INVALID_ARGUMENT``...), if the body has one."""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    status = error.get("status") if isinstance(error, dict) else None
    return status if isinstance(status, str) and status else None


# -- the mapper ---------------------------------------------------------------


class _Pending:
    """A ``functionCall`` part met in the answer, not yet known to be the client's to run.

    A server-side tool's call (an MCP server) is answered by a
    ``functionResponse`` part in the model's own output, in the same chunk or
    the next: until the next chunk (or the end) it is held, with everything
    after it.
    """

    __slots__ = ("args", "id", "index", "name", "part", "server")

    def __init__(self, index: int, part: dict[str, Any], name: str, call_id: str | None, args: Any) -> None:
        self.index = index
        self.part = part
        self.name = name
        self.id = call_id
        self.args = args
        self.server = False

    def answered_by(self, index: int, call_id: str | None, name: str | None) -> bool:
        """Whether a ``functionResponse`` (candidate, id, name) answers this call."""
        if index != self.index:
            return False
        if self.id and call_id:
            return self.id == call_id
        return name == self.name


class _HeldFinish:
    """A candidate's finish, held with a pending call (normalized once the call is classified)."""

    __slots__ = ("extra", "index", "reason")

    def __init__(self, index: int, reason: str, extra: dict[str, Any] | None) -> None:
        self.index = index
        self.reason = reason
        self.extra = extra


class GeminiMapper(StreamMapper):
    """One ``streamGenerateContent`` stream (or one whole answer, via :meth:`map_object`).

    Per chunk: :class:`~streamkit.events.MessageStart` (``modelVersion``,
    ``responseId``) once; per part, a :class:`~streamkit.events.ContentBlock`
    holding the part exactly as received (the round trip), then its
    :class:`~streamkit.events.TextDelta` / :class:`~streamkit.events.ThinkingDelta`
    (a thought part's ``thoughtSignature`` as ``ThinkingDelta(signature=...)``),
    or, for a client function call, :class:`~streamkit.events.ToolCallStart`
    (extras: the part's other fields, e.g. ``thoughtSignature``) and one
    :class:`~streamkit.events.ToolCallDelta` with the JSON arguments;
    citations (``citationMetadata``) as :class:`~streamkit.events.Citation`;
    a :class:`~streamkit.events.Finish` per ``finishReason`` (candidate
    metadata such as ``safetyRatings`` and ``groundingMetadata`` just before
    it, in ``llm_output``); one :class:`~streamkit.events.Usage` from the
    latest (cumulative) ``usageMetadata``, with a chunk that carries a
    finish, at the end of the stream, or before a failure, never per chunk
    (and one more whenever a report's fields differ from the last one's, as
    the collector merges reports field by field).

    Raises :class:`~streamkit.errors.ProtocolError` for a value of the wrong
    type, and the typed error of an ``{"error": ...}`` event.
    """

    __slots__ = (
        "_calls",
        "_cited",
        "_client",
        "_extra",
        "_feedback_seen",
        "_finishing",
        "_held",
        "_id_seen",
        "_ids",
        "_model_seen",
        "_pending",
        "_reported",
        "_token",
        "_usage",
    )

    def __init__(self) -> None:
        super().__init__()
        self._calls: dict[int, int] = {}  # candidate index -> client calls so far
        self._client: set[int] = set()  # candidates that called client tools
        self._held: list[Any] = []  # events (and _Pending/_HeldFinish) after a pending call
        self._pending: list[_Pending] = []
        self._usage: dict[str, Any] | None = None  # the latest usageMetadata, not yet an event
        self._reported: Any = None  # the last usageMetadata made into an event
        self._finishing = False  # this chunk finished a candidate: report the usage with it
        self._model_seen = False
        self._id_seen = False
        self._feedback_seen = False
        self._token: str | None = None  # names generated call ids
        self._ids = 0
        self._cited: dict[int, set[str]] = {}
        self._extra: dict[int, dict[str, Any]] = {}  # candidate -> metadata kept for its finish

    # -- frames ------------------------------------------------------------

    def map(self, sse: ServerSentEvent, out: list[Event]) -> None:
        if sse.event == "error":
            payload = error_event_payload(sse.data)
            raise _gemini_error(payload)
        self.map_object(loads(sse.data), out)

    def feed(self, chunk: bytes) -> list[Event]:
        out = super().feed(chunk)
        if self.error is not None:
            # Received before the failure: part of the partial result.
            if self._usage is not None:
                self._end_usage(out)
            if self._held:
                self.release(out)
        return out

    def finish(self) -> list[Event]:
        out = super().finish()
        if self._usage is not None:
            self._end_usage(out)  # a stream cut before its finishReason: the usage so far
        if self._held:
            self.release(out)  # the end: a call nobody answered is the client's
        return out

    def _end_usage(self, out: list[Event]) -> None:
        """The latest usage report, at the end or a failure, as a Usage event (bad counts: :attr:`error`)."""
        try:
            self._report_usage(self._held if self._held else out)
        except ProtocolError as exc:
            if self.error is None:
                self.error = exc

    def _report_usage(self, sink: list[Any]) -> None:
        """Emit the latest ``usageMetadata`` not yet reported (unless it repeats the last one)."""
        usage, self._usage = self._usage, None
        if usage is not None and usage != self._reported:
            sink.append(self.usage_event(usage))

    def check_complete(self, finished: bool) -> None:
        """Gemini's stream has no end marker: complete when every candidate reported a ``finishReason``."""
        if not finished:
            raise IncompleteStreamError(
                "the stream ended before a finishReason: the answer may be cut short "
                "(Gemini's stream has no end marker; an error sent as plain JSON lines "
                "instead of a data: event also ends it like this)"
            )

    # -- one GenerateContentResponse ------------------------------------------

    def map_object(self, obj: Any, out: list[Event]) -> None:
        """The events of one ``GenerateContentResponse`` (a chunk, or a whole answer).

        A prompt blocked before any answer (``promptFeedback.blockReason``,
        no candidates) is not an error: it ends candidate 0 with
        ``Finish(blockReason, normalized="content_filter")`` and an empty
        answer, ``promptFeedback`` in ``llm_output["prompt_feedback"]``.
        LangChain's ChatGoogleGenerativeAI also answers it with an empty
        message; an exception would throw away the usage and the safety
        ratings that explain it.
        """
        if obj.__class__ is not dict:
            if obj.__class__ is list and obj and obj[0].__class__ is dict and "error" in obj[0]:
                raise _gemini_error(obj)
            raise bad_value("stream event", "a GenerateContentResponse object", obj)
        if obj.get("error") is not None:
            raise _gemini_error(obj)
        if self._pending:
            self._resolve(obj, out)
        sink: list[Any] = self._held if self._held else out
        if not (self._model_seen and self._id_seen):
            self._meta(obj, sink)
        candidates = obj.get("candidates")
        if candidates is not None:
            if candidates.__class__ is not list:
                raise bad_value("candidates", "a list", candidates)
            for candidate in candidates:
                sink = self._candidate(candidate, sink)
        feedback = obj.get("promptFeedback")
        if feedback is not None:
            self._feedback(feedback, sink)
        usage = obj.get("usageMetadata")
        if usage is not None:
            # Cumulative: only the latest report matters. It becomes an event
            # with a finish, at the end, or before a failure (never per chunk,
            # never per read: the events must not depend on how the body was
            # split into reads).
            if usage.__class__ is not dict:
                raise bad_value("usageMetadata", "an object", usage)
            latest = self._usage
            if latest is not None and latest.keys() != usage.keys():
                # Other counters than the report before: the collector merges
                # reports, so that one must reach it too, as it used to.
                self._report_usage(sink)
            self._usage = usage
        if self._finishing:
            self._finishing = False
            self._report_usage(sink)

    def _meta(self, obj: dict[str, Any], sink: list[Any]) -> None:
        model = None if self._model_seen else optional_str(obj.get("modelVersion"), "modelVersion")
        rid = None if self._id_seen else optional_str(obj.get("responseId"), "responseId")
        if model or rid:
            sink.append(MessageStart(model=model or None, id=rid or None))
            self._model_seen = self._model_seen or bool(model)
            if rid:
                self._id_seen = True
                if self._token is None:
                    self._token = rid

    def _candidate(self, candidate: Any, sink: list[Any]) -> list[Any]:
        if candidate.__class__ is not dict:
            raise bad_value("candidates[]", "an object", candidate)
        index = candidate.get("index", 0)
        if index.__class__ is not int:
            if index is not None:
                raise bad_value("candidates[].index", "an integer", index)
            index = 0
        content = candidate.get("content")
        if content is not None:
            if content.__class__ is not dict:
                raise bad_value("candidates[].content", "an object", content)
            parts = content.get("parts")
            if parts is not None:
                if parts.__class__ is not list:
                    raise bad_value("candidates[].content.parts", "a list", parts)
                for part in parts:
                    sink = self._part(part, index, sink)
        if len(candidate) > ("content" in candidate) + ("index" in candidate):  # metadata, a finish
            sink = self._candidate_rest(candidate, index, sink)
        return sink

    def _candidate_rest(self, candidate: dict[str, Any], index: int, sink: list[Any]) -> list[Any]:
        citations = candidate.get("citationMetadata")
        if citations is not None:
            self._citations(citations, index, sink)
        for key, name in _CANDIDATE_EXTRAS.items():
            value = candidate.get(key)
            if value is not None:
                self._extra.setdefault(index, {})[name] = value
        reason = candidate.get("finishReason")
        if reason is not None:
            if reason.__class__ is not str:
                raise bad_value("candidates[].finishReason", "a string", reason)
            self._finishing = True  # the usage is reported with a finish
            extra = self._extra.pop(index, None)
            if self._held:
                self._held.append(_HeldFinish(index, reason, extra))
            else:
                sink.extend(self._finish(index, reason, extra))
        return sink

    def _part(self, part: Any, index: int, sink: list[Any]) -> list[Any]:
        if part.__class__ is not dict:
            raise bad_value("candidates[].content.parts[]", "an object", part)
        call = part.get("functionCall")
        if call is not None:
            pending = self._pending_call(part, call, index)
            self._held.append(pending)
            self._pending.append(pending)
            return self._held
        text = part.get("text")
        if text is not None and text.__class__ is not str:
            raise bad_value("parts[].text", "a string", text)
        thought = part.get("thought")
        if thought is not None and thought.__class__ is not bool:
            raise bad_value("parts[].thought", "a boolean", thought)
        if thought:
            sink.append(ContentBlock("thought", part, index))
            if text:
                sink.append(ThinkingDelta(text, index))
            signature = optional_str(part.get("thoughtSignature"), "parts[].thoughtSignature")
            if signature:
                sink.append(ThinkingDelta("", index, signature=signature))
            return sink
        if text is not None:
            optional_str(part.get("thoughtSignature"), "parts[].thoughtSignature")
            sink.append(ContentBlock("text", part, index))
            if text:
                sink.append(TextDelta(text, index))
            return sink
        response = part.get("functionResponse")
        if response is not None and self._pending:
            self._answer_pending(response, index)
        sink.append(ContentBlock(_kind(part), part, index))
        return sink

    def _pending_call(self, part: dict[str, Any], call: Any, index: int) -> _Pending:
        if call.__class__ is not dict:
            raise bad_value("parts[].functionCall", "an object", call)
        name = call.get("name")
        if name.__class__ is not str or not name:
            raise bad_value("parts[].functionCall.name", "a non-empty string", name)
        args = call.get("args")
        if args is not None and args.__class__ is not dict:
            raise bad_value("parts[].functionCall.args", "an object", args)
        call_id = optional_str(call.get("id"), "parts[].functionCall.id") or None
        optional_str(part.get("thoughtSignature"), "parts[].thoughtSignature")
        return _Pending(index, part, name, call_id, args)

    def _answer_pending(self, response: Any, index: int) -> None:
        """A ``functionResponse`` in the answer: the server ran the call it answers."""
        if response.__class__ is not dict:
            raise bad_value("parts[].functionResponse", "an object", response)
        name = response.get("name")
        call_id = response.get("id")
        for pending in self._pending:
            if not pending.server and pending.answered_by(
                index, call_id if call_id.__class__ is str else None, name
            ):
                pending.server = True
                return

    def _resolve(self, obj: dict[str, Any], out: list[Event]) -> None:
        """A chunk after pending calls: the ones it answers ran on the server, the rest are the client's."""
        continued: set[int] = set()
        for candidate in obj.get("candidates") or ():
            if candidate.__class__ is not dict:
                continue
            index = candidate.get("index", 0)
            content = candidate.get("content")
            parts = content.get("parts") if content.__class__ is dict else None
            for part in parts if parts.__class__ is list else ():
                response = part.get("functionResponse") if part.__class__ is dict else None
                if response.__class__ is not dict:
                    continue
                call_id = response.get("id")
                for pending in self._pending:
                    if not pending.server and pending.answered_by(
                        index, call_id if call_id.__class__ is str else None, response.get("name")
                    ):
                        pending.server = True
                        continued.add(pending.index)  # the turn goes on: its earlier finish was not the end
                        break
        self.release(out, continued)

    def release(self, out: list[Event], continued: Iterable[int] = ()) -> None:
        """Hand over what was held after pending calls, each call classified.

        A call answered in the model's output (``server``) becomes a
        :class:`~streamkit.events.ContentBlock` only; any other is a client
        tool call. ``continued``: candidates whose held finish is dropped (a
        later chunk carried their answer on).
        """
        held, self._held, self._pending = self._held, [], []
        dropped = set(continued)
        for item in held:
            cls = item.__class__
            if cls is _Pending:
                if item.server:
                    out.append(ContentBlock("functionCall", item.part, item.index))
                else:
                    self._client_call(item, out)
            elif cls is _HeldFinish:
                if item.index not in dropped:
                    out.extend(self._finish(item.index, item.reason, item.extra))
            else:
                out.append(item)

    def _client_call(self, pending: _Pending, out: list[Event]) -> None:
        index = pending.index
        ordinal = self._calls.get(index, 0)
        self._calls[index] = ordinal + 1
        self._client.add(index)
        call_id = pending.id or self._new_id()
        extras = {k: v for k, v in pending.part.items() if k != "functionCall"} or None
        arguments = "{}" if pending.args is None else json.dumps(pending.args, ensure_ascii=False)
        out.append(ContentBlock("functionCall", pending.part, index))
        out.append(ToolCallStart(ordinal, call_id, pending.name, index, extras))
        out.append(ToolCallDelta(ordinal, arguments, index))

    def _new_id(self) -> str:
        """``call_<responseId>_<n>``: stable for one answer, unique across answers."""
        if self._token is None:
            self._token = uuid.uuid4().hex[:16]
        self._ids += 1
        return f"call_{self._token}_{self._ids - 1}"

    def _finish(self, index: int, reason: str, extra: dict[str, Any] | None) -> list[Event]:
        normalized = _FINISH.get(reason, "other")
        if normalized == "stop" and index in self._client:
            normalized = "tool_calls"
        events: list[Event] = []
        if extra:
            suffix = "" if index == 0 else f"_{index}"
            events.append(MessageStart(None, None, {f"{k}{suffix}": v for k, v in extra.items()}))
        events.append(Finish(reason, index, normalized))
        return events

    def _citations(self, metadata: Any, index: int, sink: list[Any]) -> None:
        if metadata.__class__ is not dict:
            raise bad_value("candidates[].citationMetadata", "an object", metadata)
        sources = metadata.get("citationSources", metadata.get("citations"))
        if sources is None:
            return
        if sources.__class__ is not list:
            raise bad_value("candidates[].citationMetadata.citationSources", "a list", sources)
        seen = self._cited.setdefault(index, set())
        for source in sources:
            if source.__class__ is not dict:
                raise bad_value("candidates[].citationMetadata.citationSources[]", "an object", source)
            key = json.dumps(source, sort_keys=True)
            if key not in seen:  # a chunk may repeat the sources so far
                seen.add(key)
                sink.append(Citation(source, index))

    def _feedback(self, feedback: Any, sink: list[Any]) -> None:
        if feedback.__class__ is not dict:
            raise bad_value("promptFeedback", "an object", feedback)
        reason = optional_str(feedback.get("blockReason"), "promptFeedback.blockReason")
        if not self._feedback_seen:
            self._feedback_seen = True
            sink.append(MessageStart(None, None, {"prompt_feedback": feedback}))
        if reason:
            self._finishing = True
            sink.append(Finish(reason, 0, "content_filter"))

    def usage_event(self, usage: Any) -> Usage:
        """``usageMetadata`` (cumulative: it replaces the previous report) as a Usage event.

        * ``prompt_tokens`` = ``promptTokenCount`` (cached tokens included,
          as the API counts them) + ``toolUsePromptTokenCount`` (tool results
          the server fed back to the model): every input token, as #9 asks;
        * ``completion_tokens`` = ``candidatesTokenCount`` +
          ``thoughtsTokenCount``, as LangChain's ChatGoogleGenerativeAI counts
          output tokens; ``output_token_details["reasoning"]`` is
          ``thoughtsTokenCount`` and ``input_token_details["cache_read"]``
          ``cachedContentTokenCount``;
        * ``total_tokens`` = ``totalTokenCount`` (their sum, per the API).

        LangChain leaves ``toolUsePromptTokenCount`` out of its input tokens
        (so its input + output can be short of the total); here they add up.
        The raw counters stay in ``details``.
        """
        if usage.__class__ is not dict:
            raise bad_value("usageMetadata", "an object", usage)
        self._reported = usage
        prompt = count(usage.get("promptTokenCount"), "usageMetadata.promptTokenCount")
        tool = count(usage.get("toolUsePromptTokenCount"), "usageMetadata.toolUsePromptTokenCount")
        candidates = count(usage.get("candidatesTokenCount"), "usageMetadata.candidatesTokenCount")
        thoughts = count(usage.get("thoughtsTokenCount"), "usageMetadata.thoughtsTokenCount")
        total = count(usage.get("totalTokenCount"), "usageMetadata.totalTokenCount")
        cached = count(usage.get("cachedContentTokenCount"), "usageMetadata.cachedContentTokenCount")
        prompt_tokens = None if prompt is None and tool is None else (prompt or 0) + (tool or 0)
        completion = None if candidates is None and thoughts is None else (candidates or 0) + (thoughts or 0)
        return Usage(
            prompt_tokens,
            completion,
            total,
            dict(usage),
            {"cache_read": cached} if cached is not None else None,
            {"reasoning": thoughts} if thoughts is not None else None,
        )


def _kind(part: dict[str, Any]) -> str:
    """A part's data field (``inlineData``, ``executableCode``...): its ContentBlock kind."""
    for key in part:
        if key not in _PART_METADATA:
            return key
    return "text"


# -- the request: messages -----------------------------------------------------


def _bad(where: str, problem: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"invalid argument: {where}: {problem}")


def _parts(content: str | list[Any], role: str, where: str) -> list[dict[str, Any]]:
    """A message's content as Gemini parts (``where`` names it in errors).

    Shapes: see :mod:`streamkit._content`; a dict already in Gemini's part
    form (``{"inlineData": ...}``, ``{"fileData": ...}``, no ``type``) is
    sent as written. ``role`` ``system`` takes text only
    (``systemInstruction``).
    """
    if isinstance(content, str):
        return [{"text": content}]
    if not content:
        raise _bad(where, "content is an empty list; give at least one part (or a string)")
    out: list[dict[str, Any]] = []
    for j, item in enumerate(content):
        if isinstance(item, dict) and "type" not in item and not item.keys().isdisjoint(_PART_DATA):
            if role == "system" and set(item) - {"text"}:
                raise _bad(f"{where}[{j}]", "Gemini's systemInstruction takes only text parts")
            out.append(dict(item))
            continue
        out.append(_gemini_part(parse_part(item, f"{where}[{j}]"), role))
    return out


def _gemini_part(part: Part, role: str) -> dict[str, Any]:
    """One parsed part in Gemini's form: ``text``, ``inlineData`` (base64) or ``fileData`` (a URI).

    A URL goes as ``fileData.fileUri``: Files API URIs, YouTube and public or
    signed HTTPS URLs are fetched by the API
    (https://ai.google.dev/gemini-api/docs/file-input-methods); a file id is
    taken for a Files API URI. ``cache_control`` and ``detail`` have no
    Gemini form and are dropped.
    """
    if part.kind == "text":
        return {"text": part.text}
    if role == "system":
        raise _bad(
            part.where, f"Gemini's systemInstruction takes text parts only; got {where_type(part.type)}"
        )
    if part.kind == "audio":
        raw = (part.raw or {}).get("input_audio") or {}
        data, fmt = raw.get("data"), raw.get("format")
        if not isinstance(data, str) or not isinstance(fmt, str) or not data or not fmt:
            raise _bad(part.where, "input_audio needs 'data' (base64) and 'format' ('wav', 'mp3')")
        return {"inlineData": {"mimeType": f"audio/{fmt}", "data": data}}
    if part.kind in ("image", "document"):
        if part.url is not None or part.file_id is not None:
            uri = part.url if part.url is not None else part.file_id
            file: dict[str, Any] = {"fileUri": uri}
            if part.mime_type:
                file["mimeType"] = part.mime_type
            return {"fileData": file}
        if part.data is not None and part.mime_type is not None:
            return {"inlineData": {"mimeType": part.mime_type, "data": part.data}}
        raise _bad(part.where, f"a document with a {part.source_type!r} source has no Gemini form")
    raise _bad(part.where, f"{where_type(part.type)} is Anthropic-only: Gemini has no such part")


def _plain_text(part: dict[str, Any]) -> bool:
    return set(part) <= {"text", "thought"} and isinstance(part.get("text"), str)


def _merge(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Received parts for the next turn: runs of unsigned text (or thought) parts joined.

    A part with a ``thoughtSignature`` (or anything but text) stays as it
    came: a signature must go back on its own part, never merged
    (https://ai.google.dev/gemini-api/docs/thought-signatures).
    """
    out: list[dict[str, Any]] = []
    for part in parts:
        last = out[-1] if out else None
        if (
            last is not None
            and _plain_text(part)
            and _plain_text(last)
            and bool(part.get("thought")) == bool(last.get("thought"))
        ):
            out[-1] = {**last, "text": last["text"] + part["text"]}
        else:
            out.append(dict(part))
    return out


def _model_parts(message: AIMessage) -> tuple[list[dict[str, Any]], set[str]]:
    """(parts, function-call ids Gemini itself sent) of an AIMessage for a ``model`` turn.

    Gemini's own answer goes back as the parts it came in
    (``content_blocks``), signatures and all. Any other AIMessage (another
    provider's, or written by hand): its text, then its tool calls as
    ``functionCall`` parts (with their extras, the signature, only if it was
    Gemini's).
    """
    own = message.response_metadata.get("model_provider") == MODEL_PROVIDER
    if own and message.content_blocks:
        received = _merge([dict(block) for block in message.content_blocks])
        ids: set[str] = set()
        for block in received:
            function = block.get("functionCall")
            if isinstance(function, dict) and isinstance(function.get("id"), str):
                ids.add(function["id"])
        return received, ids
    parts: list[dict[str, Any]] = [{"text": message.content}] if message.content else []
    for call in message.tool_calls:
        part: dict[str, Any] = {"functionCall": {"name": call.name, "args": call.args}}
        if own and call.extras:
            part.update(call.extras)
        parts.append(part)
    # Gemini takes no content without parts; an empty model turn is one empty text part.
    return parts or [{"text": ""}], set()


def _response_object(text: str) -> dict[str, Any]:
    """A tool's result as ``functionResponse.response`` (a JSON object).

    A JSON object is sent as it is; anything else as ``{"output": value}``
    (the API reference: "Use 'output' key to specify function output"),
    the value parsed if it is JSON, else the text, as LangChain does.
    """
    try:
        value: Any = json.loads(text)
    except ValueError:
        value = text
    return value if isinstance(value, dict) else {"output": value}


def contents_to_wire(
    messages: Sequence[BaseMessage],
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(``systemInstruction``, ``contents``) for a conversation.

    SystemMessages (text only) become ``systemInstruction``; HumanMessages
    ``user`` turns; AIMessages ``model`` turns (:func:`_model_parts`);
    ToolMessages ``functionResponse`` parts, consecutive ones in one ``user``
    turn (the answers to parallel calls go back together), named after the
    call they answer (``id`` only when Gemini gave the call one). Raises
    :class:`InvalidArgumentError` naming the message (and part) Gemini
    cannot take.
    """
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    calls: dict[str, tuple[str, bool]] = {}  # tool call id -> (name, id sent by Gemini)
    tool_turn: list[dict[str, Any]] | None = None
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if isinstance(message, ToolMessage):
            response_parts = _tool_result(message, calls, where)
            if tool_turn is None:
                tool_turn = []
                contents.append({"role": "user", "parts": tool_turn})
            tool_turn.extend(response_parts)
            continue
        tool_turn = None
        if isinstance(message, SystemMessage):
            system.extend(_parts(message.content, "system", f"{where}.content"))
        elif isinstance(message, HumanMessage):
            contents.append({"role": "user", "parts": _parts(message.content, "user", f"{where}.content")})
        elif isinstance(message, AIMessage):
            parts, wire_ids = _model_parts(message)
            for call in message.tool_calls:
                if call.id:
                    calls[call.id] = (call.name, call.id in wire_ids)
            contents.append({"role": "model", "parts": parts})
        else:  # pragma: no cover - messages are validated before this
            raise TypeError(f"unsupported message type {type(message).__name__}")
    return ({"parts": system} if system else None), contents


def _tool_result(
    message: ToolMessage, calls: dict[str, tuple[str, bool]], where: str
) -> list[dict[str, Any]]:
    known = calls.get(message.tool_call_id)
    name = known[0] if known else message.name
    if not name:
        raise _bad(
            where,
            f"the ToolMessage's tool_call_id {message.tool_call_id!r} matches no earlier tool call, and "
            "Gemini's functionResponse needs the function's name: give the ToolMessage name=...",
        )
    media: list[dict[str, Any]] = []
    if isinstance(message.content, str):
        text = message.content
    else:
        given = _parts(message.content, "tool", f"{where}.content")
        text = "".join(p["text"] for p in given if set(p) == {"text"})
        media = [p for p in given if set(p) != {"text"}]
    response: dict[str, Any] = {"name": name, "response": _response_object(text)}
    if known and known[1]:
        response["id"] = message.tool_call_id
    return [{"functionResponse": response}, *media]


# -- the request: parameters and tools -------------------------------------------

#: Request parameters (streamkit's names) -> ``generationConfig`` fields.
_GENERATION = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "max_tokens": "maxOutputTokens",
    "stop": "stopSequences",
    "n": "candidateCount",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "response_mime_type": "responseMimeType",
    "response_schema": "responseJsonSchema",
    "response_modalities": "responseModalities",
}
#: Request parameters -> ``generationConfig.thinkingConfig`` fields.
_THINKING = {
    "thinking_budget": "thinkingBudget",
    "include_thoughts": "includeThoughts",
    "thinking_level": "thinkingLevel",
}
#: Request parameters -> top-level body fields.
_TOP_LEVEL = {"safety_settings": "safetySettings", "cached_content": "cachedContent"}
#: Function-declaration fields other providers' tool dicts carry that Gemini rejects.
_FOREIGN_TOOL_FIELDS = frozenset({"strict", "cache_control", "type"})


def _safety_settings(value: Any) -> Any:
    """LangChain's ``{category: threshold}`` form, or the API's list of ``{category, threshold}``."""
    if isinstance(value, dict):
        return [{"category": str(k), "threshold": str(v)} for k, v in value.items()]
    return value


# -- the provider ----------------------------------------------------------------


class GeminiProvider(Provider):
    """``POST /{api_version}/models/{model}:generateContent`` (``:streamGenerateContent?alt=sse``).

    The key: ``GOOGLE_API_KEY``, else ``GEMINI_API_KEY`` (the official SDK's
    order: python-genai ``_api_client.get_env_api_key``); the base URL:
    ``GOOGLE_GEMINI_BASE_URL`` (python-genai ``_base_url.get_base_url``),
    else ``https://generativelanguage.googleapis.com``, without the API
    version (added per request, ``v1beta`` by default, as the SDK does).
    """

    name = "gemini"
    model_provider = MODEL_PROVIDER
    chat = True
    api_key_env = "GEMINI_API_KEY"
    base_url_env = "GOOGLE_GEMINI_BASE_URL"
    default_base_url = "https://generativelanguage.googleapis.com"
    #: The API version when the request names none.
    api_version = "v1beta"

    def endpoint(self, params: dict[str, Any], stream: bool) -> str:
        """``/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse`` and the like.

        A model name without a collection gets ``models/`` (``tunedModels/x``
        and ``models/x`` are kept), as python-genai's ``t_model`` does; one
        with ``..``, ``?``, ``&`` or ``#`` raises InvalidArgumentError.
        """
        model = params.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidArgumentError("invalid argument: model: a Gemini model name is required")
        if ".." in model or any(c in model for c in "?&#"):
            raise InvalidArgumentError(f"invalid argument: model: {model!r} is not a model name")
        name = model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"
        version = params.get("api_version") or self.api_version
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"/{version}/{quote(name)}:{method}"

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        return {"x-goog-api-key": api_key} if api_key else {}

    def parse_error(self, body: Any) -> tuple[str | None, str | None]:
        """(``error.message``, ``error.status``) of Google's error body, list-wrapped or not."""
        message, kind = error_message(body)
        return message, _status(body) or kind

    def new_mapper(self) -> GeminiMapper:
        return GeminiMapper()

    def build(self, messages: Sequence[BaseMessage], params: dict[str, Any], stream: bool) -> dict[str, Any]:
        """The ``GenerateContentRequest``: contents, systemInstruction, generationConfig, the rest.

        Sampling parameters go in ``generationConfig`` (:data:`_GENERATION`),
        thinking settings in its ``thinkingConfig``; a ``generationConfig``
        given as a body field is merged over them (structured output's
        fields come from :meth:`output_format`). Any other parameter
        (``model_kwargs``, body fields) is a top-level field, as given. The
        model is not in the body (it is in the path).
        """
        rest = {k: v for k, v in params.items() if v is not None}
        rest.pop("model", None)
        rest.pop("api_version", None)
        generation: dict[str, Any] = {}
        for key, wire in _GENERATION.items():
            if key in rest:
                generation[wire] = rest.pop(key)
        thinking = {wire: rest.pop(key) for key, wire in _THINKING.items() if key in rest}
        if "thinkingLevel" in thinking:
            thinking["thinkingLevel"] = str(thinking["thinkingLevel"]).upper()
        if thinking:
            generation["thinkingConfig"] = thinking
        given = rest.pop("generationConfig", None)
        if isinstance(given, dict):
            merged_thinking = {**generation.get("thinkingConfig", {}), **(given.get("thinkingConfig") or {})}
            generation.update(given)
            if merged_thinking:
                generation["thinkingConfig"] = merged_thinking
        for key, wire in _TOP_LEVEL.items():
            if key in rest:
                value = rest.pop(key)
                rest[wire] = _safety_settings(value) if key == "safety_settings" else value
        system, contents = contents_to_wire(messages)
        body: dict[str, Any] = {"contents": contents}
        if system is not None:
            body["systemInstruction"] = system
        if generation:
            body["generationConfig"] = generation
        body.update(rest)
        return body

    def output_format(
        self, name: str, description: str, schema: dict[str, Any], strict: bool | None
    ) -> dict[str, Any]:
        """``generationConfig`` with ``responseMimeType: "application/json"`` and ``responseJsonSchema``.

        ``responseJsonSchema`` takes a full JSON schema, as pydantic writes
        it (``responseSchema`` takes only Google's OpenAPI subset); the
        request's other ``generationConfig`` fields stay (the fields are
        merged key by key). Gemini has no strict flag: the schema is always
        enforced, so ``strict`` changes nothing. The name and description
        have no field of their own: they go in the root schema's ``title``
        and ``description`` (both supported keywords) unless it has them,
        or has a ``$ref`` (which allows no sibling keywords). Sources:
        https://ai.google.dev/gemini-api/docs/structured-output, the
        ``GenerationConfig.responseJsonSchema`` reference
        (https://ai.google.dev/api/generate-content#generationconfig: the
        keywords supported, ``responseMimeType`` required with it) and
        python-genai ``_GenerateContentConfig_to_mldev``
        (``response_json_schema`` -> ``responseJsonSchema``).
        """
        if "$ref" not in schema:
            named = {"title": name, "description": description}
            schema = {**{k: v for k, v in named.items() if v and k not in schema}, **schema}
        return {"generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": schema}}

    @staticmethod
    def tools_to_wire(specs: list[ToolSpec], choice: str | None) -> dict[str, Any]:
        """``tools: [{"functionDeclarations": [...]}]`` and ``toolConfig.functionCallingConfig``.

        Parameters go as ``parametersJsonSchema`` (a full JSON schema, as
        pydantic writes it; the ``parameters`` field takes only Google's
        OpenAPI subset). ``tool_choice``: ``auto`` -> ``AUTO``, ``required``
        -> ``ANY``, ``none`` -> ``NONE``, a name -> ``ANY`` with
        ``allowedFunctionNames: [name]``. A provider-native tool dict
        (:attr:`ToolSpec.raw`) is its own entry in ``tools``, as given.
        """
        out: dict[str, Any] = {}
        declarations: list[dict[str, Any]] = []
        native: list[dict[str, Any]] = []
        for spec in specs:
            if spec.raw is not None:
                native.append(spec.raw)
                continue
            declaration: dict[str, Any] = {"name": spec.name}
            if spec.description:
                declaration["description"] = spec.description
            declaration["parametersJsonSchema"] = spec.parameters
            declaration.update({k: v for k, v in spec.extra.items() if k not in _FOREIGN_TOOL_FIELDS})
            declarations.append(declaration)
        if declarations or native:
            out["tools"] = ([{"functionDeclarations": declarations}] if declarations else []) + native
        if choice is not None:
            config: dict[str, Any]
            if choice in ("auto", "none"):
                config = {"mode": choice.upper()}
            elif choice == "required":
                config = {"mode": "ANY"}
            else:
                config = {"mode": "ANY", "allowedFunctionNames": [choice]}
            out["toolConfig"] = {"functionCallingConfig": config}
        return out

    def parse_response(self, body: Any) -> list[Event]:
        """A whole ``GenerateContentResponse``, through the same mapper as a stream.

        Also a JSON list of them (``streamGenerateContent`` without
        ``alt=sse`` answers a JSON array). An error object (or a list holding
        one) raises its typed error; a body without ``candidates`` or
        ``promptFeedback`` is a :class:`ProtocolError`, never an empty answer.
        """
        mapper = self.new_mapper()
        out: list[Event] = []
        if body.__class__ is list and body and not (body[0].__class__ is dict and "error" in body[0]):
            for item in body:
                mapper.map_object(item, out)
        elif body.__class__ is dict and "error" not in body:
            if "candidates" not in body and "promptFeedback" not in body:
                keys = ", ".join(list(body)[:10])
                raise ProtocolError(
                    f"the response is not a GenerateContentResponse: it has no candidates (keys: {keys})"
                )
            mapper.map_object(body, out)
        else:
            mapper.map_object(body, out)  # raises: an error object, or not a response at all
        mapper._report_usage(mapper._held if mapper._held else out)
        mapper.release(out)
        return out


# -- the model class ---------------------------------------------------------------


class ChatGoogleGenerativeAISettings(ChatModelSettings, total=False):
    """``ChatGoogleGenerativeAI(...)``'s keyword arguments.

    :class:`~streamkit.models.ChatModelSettings` and these; ``google_api_key``
    and ``max_output_tokens`` are langchain-google-genai's names for
    ``api_key`` and ``max_tokens``.
    """

    google_api_key: SecretStr | str | None
    max_output_tokens: int | None
    top_k: int | None
    n: int
    thinking_budget: int | None
    include_thoughts: bool | None
    thinking_level: Literal["minimal", "low", "medium", "high"] | None
    safety_settings: list[dict[str, Any]] | dict[str, str] | None
    response_mime_type: str | None
    response_schema: dict[str, Any] | None
    response_modalities: list[str] | None
    seed: int | None
    presence_penalty: float | None
    frequency_penalty: float | None
    cached_content: str | None
    api_version: str


class ChatGoogleGenerativeAI(ChatModel):
    """Gemini through Google's own API (``generateContent``), streaming or not.

    Named after LangChain's ``ChatGoogleGenerativeAI`` (langchain-google-genai):
    the class users of that package already know for this API, with its
    setting names (``model``, ``temperature``, ``top_p``, ``top_k``,
    ``max_output_tokens``, ``n``, ``thinking_budget``, ``include_thoughts``,
    ``thinking_level``, ``safety_settings``, ``response_mime_type``,
    ``cached_content``, ``google_api_key``) and its ``model_provider``
    (``google_genai``), so code and stored messages move between the two.

    * Key: ``api_key`` (or ``google_api_key``), else ``GOOGLE_API_KEY``, else
      ``GEMINI_API_KEY``; base URL: ``base_url``, else
      ``GOOGLE_GEMINI_BASE_URL``, else ``https://generativelanguage.googleapis.com``
      (no API version: ``api_version``, default ``v1beta``, is added per request).
    * Thinking: ``thinking_budget`` (tokens; 0 off, -1 dynamic) or
      ``thinking_level`` (Gemini 3: ``minimal``/``low``/``medium``/``high``);
      ``include_thoughts=True`` streams thought summaries as
      :class:`~streamkit.events.ThinkingDelta`, never into the answer.
    * Thought signatures round-trip: send the returned ``AIMessage`` back in
      the next turn, unchanged, and its parts (with their
      ``thoughtSignature``) go back as they came.
    * Tools: bind them as for any chat model; Gemini's own tools
      (``{"googleSearch": {}}``, ``{"codeExecution": {}}``, ``{"urlContext":
      {}}``, MCP servers) go in ``model_kwargs={"tools": [...]}``, sent
      beside the bound functions.
    * ``with_structured_output()``: ``method="json_schema"`` (the default)
      sends ``responseMimeType: "application/json"`` and the schema as
      ``responseJsonSchema`` in ``generationConfig``
      (:meth:`GeminiProvider.output_format`); ``method="tool"`` forces a
      function call instead.
    """

    _provider_class = GeminiProvider
    _call_options = ChatModel._call_options | {
        "top_k",
        "n",
        "thinking_budget",
        "include_thoughts",
        "thinking_level",
        "safety_settings",
        "response_mime_type",
        "response_schema",
        "response_modalities",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "cached_content",
    }
    # GenerateContentRequest fields accepted per call as given (python-genai
    # ``_GenerateContentConfig_to_mldev``).
    _body_fields = frozenset(
        {"generationConfig", "safetySettings", "toolConfig", "cachedContent", "serviceTier"}
    )
    _json_fields = ("safety_settings", "response_schema")

    model: str = Field(default="gemini-2.5-flash", alias="model_name", min_length=1)
    #: Also ``google_api_key`` (langchain-google-genai's name).
    api_key: SecretStr | str | None = Field(default=None, alias="google_api_key")
    #: ``maxOutputTokens``; also ``max_output_tokens`` (langchain-google-genai's name).
    max_tokens: int | None = Field(default=None, gt=0, alias="max_output_tokens")
    top_k: int | None = Field(default=None, gt=0)
    #: ``candidateCount``: answers per request.
    n: int = Field(default=1, ge=1)
    thinking_budget: int | None = Field(default=None, ge=-1)
    include_thoughts: bool | None = None
    thinking_level: Literal["minimal", "low", "medium", "high"] | None = None
    safety_settings: list[dict[str, Any]] | dict[str, str] | None = None
    response_mime_type: str | None = None
    #: ``responseJsonSchema``: a JSON schema the answer must follow.
    response_schema: dict[str, Any] | None = None
    response_modalities: list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    #: A cached content's name (``cachedContents/...``).
    cached_content: str | None = None
    api_version: str = Field(default="v1beta", pattern=r"^v\d+(?:alpha|beta)?\d*$")

    if TYPE_CHECKING:

        def __init__(self, **settings: Unpack[ChatGoogleGenerativeAISettings]) -> None: ...

    @classmethod
    def _new_provider(cls, data: dict[str, Any]) -> Provider:
        """LangChain's argument names, and the key from ``GOOGLE_API_KEY`` before ``GEMINI_API_KEY``."""
        alias = data.pop("google_api_key", None)
        if alias is not None and data.get("api_key") is None:
            data["api_key"] = alias
        if "max_output_tokens" in data:
            value = data.pop("max_output_tokens")
            if data.get("max_tokens") is None:
                data["max_tokens"] = value
        if data.get("api_key") is None:
            key = os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY")
            if key:
                data["api_key"] = key
        return super()._new_provider(data)

    def _extra_params(self) -> dict[str, Any]:
        return {
            "top_k": self.top_k,
            "n": self.n if self.n != 1 else None,
            "thinking_budget": self.thinking_budget,
            "include_thoughts": self.include_thoughts,
            "thinking_level": self.thinking_level,
            "safety_settings": self.safety_settings,
            "response_mime_type": self.response_mime_type,
            "response_schema": self.response_schema,
            "response_modalities": self.response_modalities,
            "seed": self.seed,
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
            "cached_content": self.cached_content,
            "api_version": self.api_version,
        }

    def _tools_to_wire(self, specs: list[ToolSpec], choice: str | None) -> dict[str, Any]:
        """Bound functions beside Gemini's own tools given in ``model_kwargs["tools"]``."""
        wire = super()._tools_to_wire(specs, choice)
        native = self.model_kwargs.get("tools")
        if "tools" in wire and isinstance(native, list):
            wire["tools"] = [*native, *wire["tools"]]
        return wire


# -- the mock server's Gemini ------------------------------------------------------

#: Google's RPC status per HTTP status (https://ai.google.dev/gemini-api/docs/troubleshooting).
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
#: The mock's in-stream error per scripted ``error_type`` (MockResponse names them as Anthropic does).
_ERROR_TYPES = {
    "overloaded_error": (503, "UNAVAILABLE"),
    "rate_limit_error": (429, "RESOURCE_EXHAUSTED"),
    "api_error": (500, "INTERNAL"),
    "server_error": (500, "INTERNAL"),
    "invalid_request_error": (400, "INVALID_ARGUMENT"),
}
#: Scripted finish reasons (MockResponse's, OpenAI-named) in Gemini's words.
_MOCK_FINISH = {
    "stop": "STOP",
    "tool_calls": "STOP",
    "length": "MAX_TOKENS",
    "max_tokens": "MAX_TOKENS",
    "content_filter": "SAFETY",
}
#: GenerateContentRequest's top-level fields and generationConfig's (python-genai
#: ``_GenerateContentParameters_to_mldev`` / ``_GenerateContentConfig_to_mldev``).
_REQUEST_FIELDS = frozenset(
    {
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "safetySettings",
        "generationConfig",
        "cachedContent",
        "serviceTier",
    }
)
_GENERATION_FIELDS = frozenset(
    {
        "audioTranscriptionConfig",
        "candidateCount",
        "enableEnhancedCivicAnswers",
        "frequencyPenalty",
        "imageConfig",
        "logprobs",
        "maxOutputTokens",
        "mediaResolution",
        "presencePenalty",
        "responseJsonSchema",
        "responseLogprobs",
        "responseMimeType",
        "responseModalities",
        "responseSchema",
        "seed",
        "speechConfig",
        "stopSequences",
        "temperature",
        "thinkingConfig",
        "topK",
        "topP",
    }
)


def _invalid(message: str) -> dict[str, Any]:
    return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}


def _unknown(name: str, where: str | None = None) -> dict[str, Any]:
    at = f" at '{where}'" if where else ""
    return _invalid(f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.')


def _sse(obj: Any) -> bytes:
    """One event as the live API frames it: ``data: <json>`` and ``\\r\\n\\r\\n``."""
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\r\n\r\n"


def _call_args(call: dict[str, Any]) -> Any:
    if "args" in call:
        return call["args"]
    try:
        return json.loads("".join(call.get("fragments") or ()))
    except ValueError:
        return {}


class _GeminiMock(MockWire):
    """The mock server's Gemini API: ``/{v1beta,v1,v1alpha}/models/{model}:{method}``.

    Streams (``:streamGenerateContent``, SSE whatever ``alt``) write one
    chunk per token, events separated by ``\\r\\n\\r\\n`` as the live API
    does, ``usageMetadata`` cumulative on every chunk (``thoughtsTokenCount``:
    the scripted thinking's pieces), thinking first as ``"thought": true``
    parts, tool calls whole in one chunk (the first with
    ``thoughtSignature: "mock-signature"`` when thinking was scripted, else a
    final empty text part carries it), ``finishReason`` on the last chunk.
    Requests are checked for what the real API rejects: unknown top-level or
    ``generationConfig`` fields (``"model"`` in the body among them), no
    ``contents``, a role other than ``user``/``model``, a turn without parts.
    """

    name = "gemini"
    routes = (
        "/v1beta/models/{call}",
        "/v1/models/{call}",
        "/v1alpha/models/{call}",
        "/v1beta/tunedModels/{call}",
    )
    keepalive = b""  # Gemini's streams send no keep-alive that is documented
    stop_reason = "STOP"
    tool_reason = "STOP"

    def __init__(self) -> None:
        # The model is in the path, which events()/full() are not given: each
        # request's is noted by streaming(), called just before them in the
        # same handler (no await in between), per thread.
        self._local = threading.local()

    def streaming(self, path: str, query: Mapping[str, str], body: Any) -> bool:
        call = path.rsplit("/", 1)[-1]
        self._local.model = call.split(":", 1)[0]
        return call.endswith(":streamGenerateContent")

    def _model(self, answer: Answer) -> str:
        if answer.model != "mock-model":
            return answer.model
        return str(getattr(self._local, "model", None) or answer.model)

    def finish(self, scripted: str, tool_calls: bool) -> str:
        return _MOCK_FINISH.get(scripted, scripted)

    def prompt(self, body: Any) -> str:
        contents = body.get("contents") if isinstance(body, dict) else None
        for content in reversed(contents if isinstance(contents, list) else []):
            if isinstance(content, dict) and content.get("role", "user") == "user":
                parts = content.get("parts")
                if not isinstance(parts, list):
                    continue
                texts = [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
                if texts:
                    return " ".join(texts)
        return ""

    def check(self, body: Any, headers: Mapping[str, str]) -> dict[str, Any] | None:
        if not isinstance(body, dict):
            return _invalid("Invalid JSON payload received. Expected an object.")
        for key in body:
            if key not in _REQUEST_FIELDS:
                return _unknown(key)
        generation = body.get("generationConfig")
        if isinstance(generation, dict):
            for key in generation:
                if key not in _GENERATION_FIELDS:
                    return _unknown(key, "generation_config")
        contents = body.get("contents")
        if not contents:
            return _invalid("* GenerateContentRequest.contents: contents is not specified\n")
        if not isinstance(contents, list):
            return _invalid("Invalid JSON payload received. Invalid value at 'contents'.")
        for content in contents:
            if not isinstance(content, dict):
                return _invalid("Invalid JSON payload received. Invalid value at 'contents'.")
            if content.get("role") not in (None, "user", "model"):
                return _invalid("Please use a valid role: user, model.")
            if not content.get("parts"):
                return _invalid(
                    "Unable to submit request because it must include at least one parts field, "
                    "which describes the prompt input."
                )
        return None

    def _usage(self, answer: Answer, candidates: int, thoughts: int) -> dict[str, Any]:
        prompt = answer.usage["prompt_tokens"]
        usage: dict[str, Any] = {"promptTokenCount": prompt}
        if candidates:
            usage["candidatesTokenCount"] = candidates
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        usage["totalTokenCount"] = prompt + candidates + thoughts
        return usage

    def _call_parts(self, answer: Answer) -> list[dict[str, Any]]:
        parts = []
        for i, call in enumerate(answer.tool_calls):
            function: dict[str, Any] = {"name": call["name"], "args": _call_args(call)}
            if call.get("id"):
                function["id"] = call["id"]
            part: dict[str, Any] = {"functionCall": function}
            if i == 0 and answer.thinking:
                part["thoughtSignature"] = "mock-signature"
            parts.append(part)
        return parts

    def events(self, answer: Answer, body: Any) -> Iterable[tuple[bytes, bool]]:
        base = {"modelVersion": self._model(answer), "responseId": "mock-response-id"}
        thoughts = 0
        produced = 0

        def chunk(candidates: list[dict[str, Any]], final: bool = False) -> bytes:
            completion = answer.usage["completion_tokens"] if final else produced
            usage = self._usage(answer, completion, thoughts)
            return _sse({"candidates": candidates, "usageMetadata": usage, **base})

        for piece in answer.thinking:
            thoughts += 1
            content = {"parts": [{"text": piece, "thought": True}], "role": "model"}
            yield chunk([{"content": content, "index": 0}]), True
        longest = max((len(t) for t in answer.token_lists), default=0)
        for position in range(longest):
            candidates = []
            for index, tokens in enumerate(answer.token_lists):
                if position < len(tokens):
                    content = {"parts": [{"text": tokens[position]}], "role": "model"}
                    candidates.append({"content": content, "index": index})
            produced += 1
            yield chunk(candidates), True
        last: list[dict[str, Any]] = []
        calls = self._call_parts(answer)
        if calls:
            produced += len(calls)
            last = calls
        elif answer.thinking:
            last = [{"text": "", "thoughtSignature": "mock-signature"}]
        final = []
        for index in range(len(answer.token_lists)):
            candidate: dict[str, Any] = {"content": {"role": "model"}, "finishReason": answer.finish_reason}
            if index == 0 and last:
                candidate["content"]["parts"] = last
            candidate["index"] = index
            final.append(candidate)
        yield chunk(final, final=True), bool(calls)

    def full(self, answer: Answer, body: Any) -> dict[str, Any]:
        candidates = []
        for index, tokens in enumerate(answer.token_lists):
            parts: list[dict[str, Any]] = []
            if index == 0 and answer.thinking:
                parts.append({"text": "".join(answer.thinking), "thought": True})
            text = "".join(tokens)
            if text:
                parts.append({"text": text})
            if index == 0:
                calls = self._call_parts(answer)
                parts.extend(calls)
                if answer.thinking and not calls:
                    parts.append({"text": "", "thoughtSignature": "mock-signature"})
            content = {"parts": parts or [{"text": ""}], "role": "model"}
            candidates.append({"content": content, "finishReason": answer.finish_reason, "index": index})
        usage = self._usage(answer, answer.usage["completion_tokens"], len(answer.thinking))
        return {
            "candidates": candidates,
            "usageMetadata": usage,
            "modelVersion": self._model(answer),
            "responseId": "mock-response-id",
        }

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}

    def error_event(self, error_type: str, message: str) -> bytes:
        code, status = _ERROR_TYPES.get(error_type, (0, error_type))
        if not code:
            code = next((c for c, s in _STATUS.items() if s == error_type), 500)
        return _sse({"error": {"code": code, "message": message, "status": status}})


MOCK = _GeminiMock()
