"""Property (issue #9, class 2): whatever JSON a server puts in a valid-looking envelope,
only ``StreamkitError`` comes out, only ``str`` reaches the tokens, and the failure path
itself never raises.

Hypothesis builds each event or body of a wire format as a plausible value (a template:
which fields, which block or delta types, list sizes), then replaces a few of its fields --
any key or list item at any depth, or the whole value -- by an arbitrary JSON value
(``None``, booleans, huge and negative integers, finite floats, ``""``, unicode, ``"[DONE]"``,
nested lists and objects, bounded) or removes them. The shapes follow the public wire
documentation:

* OpenAI Chat Completions chunks and responses (platform.openai.com/docs/api-reference/chat),
  with two extensions servers send: ``reasoning_content``/``reasoning`` (vLLM, Ollama,
  DeepSeek) and ``content`` as a list of typed parts, ``text`` and ``thinking`` (Mistral's
  Magistral models: ``TextChunk``/``ThinkChunk`` in Mistral's API reference; the shape is
  also described in spring-projects/spring-ai#5020); tool-call ``arguments`` as an object;
* OpenAI legacy Completions chunks and responses (``choices[].text``, ``logprobs`` as the
  documented object of lists, or a list);
* Anthropic Messages stream events (docs.anthropic.com, "Streaming Messages" and the web
  search tool page: ``message_start``
  .. ``message_stop``, ``ping``, ``error``; content blocks ``text``, ``thinking``,
  ``redacted_thinking``, ``tool_use``, ``server_tool_use``, ``web_search_tool_result``; deltas
  ``text_delta``, ``input_json_delta``, ``thinking_delta``, ``signature_delta``,
  ``citations_delta``) and the non-streaming Messages response;
* error bodies of both (``{"error": {...}}``, Anthropic's ``{"type": "error", ...}``, and the
  ``{"object": "error"}`` / ``{"detail": ...}`` / ``{"code", "message"}`` shapes of
  OpenAI-compatible servers).

A stream is rendered as SSE bytes (``data: <json>``; Anthropic also ``event: <type>``),
sometimes with its terminal marker and sometimes without, sometimes with an ``event: error``
frame of arbitrary data, and read in arbitrary pieces.

Two properties:

* sans-IO (fast, many examples): the bytes go through ``provider.new_mapper()`` exactly as
  the adapter drives it (``feed`` per read, ``mapper.error``, then ``finish`` and
  ``check_complete`` at EOF) into a :class:`~streamkit._collector.Collector`, whose
  ``result()`` is built after every read, after a failure and at the end. ``parse_response``
  and ``parse_error`` get arbitrary bodies the same way;
* end to end (fewer examples): the same bytes over the loopback ``MockServer`` into
  ``ChatOpenAI`` / ``OpenAI`` / ``ChatAnthropic``, read with ``async for`` and with
  ``generate()``, with a handler that records what it is given.

A non-``StreamkitError`` is deliberately not caught: the example fails with it, and its
traceback shows where it escaped from. The end-to-end properties also run one explicit example
per wire (a text value of the wrong type, the class of issue #9 case 05) before the generated
ones. Runs are derandomized and use no example database, so CI sees the same examples every
time; a failure prints a ``@reproduce_failure`` blob.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from streamkit import ChatAnthropic, ChatOpenAI, LLMResult, OpenAI
from streamkit._collector import Collector
from streamkit.callbacks import AsyncCallbackHandler
from streamkit.errors import ERROR_TYPE_STATUS, StreamkitError
from streamkit.events import (
    Citation,
    ContentBlock,
    Event,
    Finish,
    MessageStart,
    RefusalDelta,
    ServerToolResult,
    ServerToolUse,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from streamkit.providers._anthropic import AnthropicProvider
from streamkit.providers._openai import OpenAIChatProvider, OpenAICompletionsProvider
from streamkit.providers.base import Provider
from streamkit.testing import MockResponse, MockServer

Draw = Callable[[st.SearchStrategy[Any]], Any]

#: A passing run takes seconds; shrinking a failure to a minimal example can take a minute or
#: two on a loaded machine, which the default 60 s would cut short (losing the example).
pytestmark = pytest.mark.timeout(300)

# -- arbitrary JSON ------------------------------------------------------------------------

_ODD_STRINGS = ["", " ", "[DONE]", "null", "{}", "0", "\u2028", "é漢😀", "\x00", "data: x"]
_ODD_INTS = [0, -1, 2**31, 2**53 + 1, 2**63, -(2**63) - 1, 2**64, 10**40, -(10**40)]
_KEYS = ["type", "text", "index", "id", "name", "content", "message", "arguments", "delta", "error"]

JSON_SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(_ODD_INTS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    st.sampled_from(_ODD_STRINGS),
)
#: Any JSON value, bounded: at most 6 leaves, so at most a few levels deep.
JSON: st.SearchStrategy[Any] = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(_KEYS), st.text(max_size=4)), children, max_size=3),
    ),
    max_leaves=6,
)

# -- valid-looking envelopes: a plausible template, then a few fields broken ------------------
#
# Each event is drawn as a plausible value of its wire format (a template), then 0..3 of its
# fields -- any key or list item at any depth, or the whole event -- are replaced by an
# arbitrary JSON value or removed. Mostly none or one, so a stream usually gets past its
# first events; the shrinker goes towards fewer mutations, so a falsifying example reads as
# "this valid event, with this one field changed". (Drawing every field both ways instead
# cost ~250 hypothesis draws per stream, several times the time budget of this file.)

_DIE = st.integers(0, 7)
_REMOVED = object()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value: the root, each key of an object, each item of a list."""
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of ``value`` with ``path`` set to ``new`` (or removed, for ``_REMOVED``)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        out = dict(value)
        if not rest and new is _REMOVED:
            del out[head]
        else:
            out[head] = _replace(value[head], rest, new)
        return out
    items = list(value)
    if not rest and new is _REMOVED:
        del items[head]
    else:
        items[head] = _replace(items[head], rest, new)
    return items


@st.composite
def mutated(draw: Draw, template: st.SearchStrategy[Any]) -> Any:
    """A value of ``template`` with 0 (4 in 8), 1, 2 or 3 places replaced or removed."""
    value = draw(template)
    roll = draw(_DIE)
    count = 0 if roll < 4 else 1 if roll < 6 else 2 if roll < 7 else 3
    for _ in range(count):
        paths = _paths(value)
        path = paths[draw(st.integers(0, len(paths) - 1))]
        removing = bool(path) and draw(_DIE) == 7  # a missing key (or list item), 1 in 8
        value = _replace(value, path, _REMOVED if removing else draw(JSON))
    return value


def obj(fields: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object template; plain values are fixed, strategies are drawn."""
    return st.fixed_dictionaries(
        {
            key: value if isinstance(value, st.SearchStrategy) else st.just(value)
            for key, value in fields.items()
        }
    )


def one_of(*values: Any) -> st.SearchStrategy[Any]:
    """One of these templates or fixed values (one draw)."""
    strategies = [v if isinstance(v, st.SearchStrategy) else st.just(v) for v in values]
    return st.one_of(*strategies)


#: Plausible text: a few fixed pieces (one draw each; arbitrary strings come from ``JSON``).
TEXT = st.sampled_from(["", "Hi", " there", "\n", "é漢😀", "[DONE]", '{"a": 1}', "\u2028"])
INDEX = st.sampled_from([0, 0, 1])
ID = st.sampled_from(["chatcmpl-1", "", "call_1", "call_2"])
MODEL = st.sampled_from(["gpt-4o", "", "claude-sonnet-4-5"])
ARGS = st.sampled_from(["", "{", '{"city": ', '"Paris"}', "{}", '{"a": 1}', "[1]"])
ARGS_OBJECT = st.sampled_from([{}, {"city": "Paris"}, {"a": [1, {"b": None}]}])

# -- OpenAI ----------------------------------------------------------------------------------

OPENAI_FINISH = st.sampled_from([None, None, "stop", "length", "tool_calls", "content_filter"])
OPENAI_USAGE = st.sampled_from(
    [
        None,
        {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        {
            "prompt_tokens": 5,
            "completion_tokens": 2,
            "total_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 1},
        },
    ]
)
OPENAI_ERROR = obj(
    {
        "message": TEXT,
        "type": st.sampled_from(
            ["server_error", "rate_limit_exceeded", "overloaded_error", "invalid_request_error"]
        ),
        "code": st.sampled_from([None, 429, 500, "rate_limit_exceeded"]),
        "param": None,
    }
)
CHAT_LOGPROBS = st.sampled_from(
    [
        None,
        {
            "content": [
                {
                    "token": "Hi",
                    "logprob": -0.1,
                    "bytes": [72, 105],
                    "top_logprobs": [{"token": "Hi", "logprob": -0.1}],
                }
            ],
            "refusal": None,
        },
    ]
)
#: ``content`` as a list of typed parts (Mistral's reasoning models).
CONTENT_PARTS = st.lists(
    one_of(
        obj({"type": "text", "text": TEXT}),
        obj({"type": "thinking", "thinking": st.lists(obj({"type": "text", "text": TEXT}), max_size=2)}),
    ),
    max_size=2,
)
FUNCTION = obj({"name": st.sampled_from(["get_weather", "bash", ""]), "arguments": one_of(ARGS, ARGS_OBJECT)})
CHAT_DELTA = one_of(
    obj({"role": "assistant", "content": st.sampled_from(["", None])}),
    obj({"content": TEXT}),
    obj({"content": CONTENT_PARTS}),
    obj({"role": "assistant", "content": None, "refusal": TEXT}),
    obj({"reasoning_content": TEXT}),
    obj({"content": None, "reasoning": TEXT}),
    obj(
        {
            "tool_calls": st.lists(
                obj({"index": INDEX, "id": ID, "type": "function", "function": FUNCTION}),
                min_size=1,
                max_size=2,
            )
        }
    ),
    {},
)
CHAT_CHOICE = obj(
    {"index": INDEX, "delta": CHAT_DELTA, "logprobs": CHAT_LOGPROBS, "finish_reason": OPENAI_FINISH}
)
LEGACY_LOGPROBS = st.sampled_from(
    [
        None,
        {"tokens": ["Hi"], "token_logprobs": [-0.1], "top_logprobs": [{"Hi": -0.1}], "text_offset": [0]},
        [{"token": "Hi", "logprob": -0.1}],
    ]
)
LEGACY_CHOICE = obj(
    {"index": INDEX, "text": TEXT, "logprobs": LEGACY_LOGPROBS, "finish_reason": OPENAI_FINISH}
)


@st.composite
def rare(draw: Draw, strategy: st.SearchStrategy[Any]) -> Any:
    """``None`` 7 times in 8: for fields that end the stream when present (``error``)."""
    return draw(strategy) if draw(_DIE) == 7 else None


def _openai_chunk(object_name: str, choice: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    fields = obj(
        {
            "id": ID,
            "object": object_name,
            "created": 1760000000,
            "model": MODEL,
            "system_fingerprint": st.sampled_from([None, "fp_1"]),
            "choices": st.lists(choice, max_size=2),
            "usage": OPENAI_USAGE,
        }
    )

    def with_error(pair: tuple[dict[str, Any], Any]) -> dict[str, Any]:
        chunk, error = pair
        return chunk if error is None else {**chunk, "error": error}

    return mutated(st.tuples(fields, rare(OPENAI_ERROR)).map(with_error))


CHAT_CHUNK = _openai_chunk("chat.completion.chunk", CHAT_CHOICE)
LEGACY_CHUNK = _openai_chunk("text_completion", LEGACY_CHOICE)

CHAT_RESPONSE = mutated(
    obj(
        {
            "id": ID,
            "object": "chat.completion",
            "created": 1760000000,
            "model": MODEL,
            "system_fingerprint": st.sampled_from([None, "fp_1"]),
            "choices": st.lists(
                obj(
                    {
                        "index": INDEX,
                        "message": obj(
                            {
                                "role": "assistant",
                                "content": one_of(TEXT, None, CONTENT_PARTS),
                                "refusal": st.sampled_from([None, "I can't"]),
                                "reasoning_content": st.sampled_from([None, "Hmm."]),
                                "tool_calls": st.lists(
                                    obj({"id": ID, "type": "function", "function": FUNCTION}), max_size=2
                                ),
                            }
                        ),
                        "logprobs": CHAT_LOGPROBS,
                        "finish_reason": OPENAI_FINISH,
                    }
                ),
                max_size=2,
            ),
            "usage": OPENAI_USAGE,
        }
    )
)
LEGACY_RESPONSE = mutated(
    obj(
        {
            "id": ID,
            "object": "text_completion",
            "created": 1760000000,
            "model": MODEL,
            "choices": st.lists(LEGACY_CHOICE, max_size=2),
            "usage": OPENAI_USAGE,
        }
    )
)
OPENAI_ERROR_BODY = mutated(
    one_of(
        obj({"error": OPENAI_ERROR}),
        obj({"object": "error", "message": TEXT, "type": "BadRequestError", "code": 400}),
        obj({"detail": one_of(TEXT, [{"loc": ["body", "model"], "msg": "field required"}])}),
        obj({"code": 429, "message": TEXT}),
    )
)

# -- Anthropic -------------------------------------------------------------------------------

ANTHROPIC_STOP = st.sampled_from(
    [None, "end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"]
)
ANTHROPIC_USAGE = st.sampled_from(
    [
        {"input_tokens": 4, "output_tokens": 1},
        {"output_tokens": 50},
        {
            "input_tokens": 4,
            "output_tokens": 50,
            "cache_creation_input_tokens": 120,
            "cache_read_input_tokens": 2400,
            "server_tool_use": {"web_search_requests": 1},
        },
    ]
)
CITATION = st.sampled_from(
    [
        {
            "type": "char_location",
            "cited_text": "Hi",
            "document_index": 0,
            "document_title": None,
            "start_char_index": 0,
            "end_char_index": 2,
        },
        {
            "type": "web_search_result_location",
            "url": "https://example.com/",
            "title": "Example",
            "encrypted_index": "Eo8B",
            "cited_text": "Hi",
        },
    ]
)
SEARCH_RESULTS = st.sampled_from(
    [
        [
            {
                "type": "web_search_result",
                "url": "https://example.com/",
                "title": "Example",
                "encrypted_content": "EqgfCioIARgB",
                "page_age": None,
            }
        ],
        {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"},
    ]
)


def _blocks(full: bool) -> st.SearchStrategy[Any]:
    """Content blocks: as ``content_block_start`` opens them (empty), or complete (a response)."""
    empty = st.just("")
    return one_of(
        obj(
            {
                "type": "text",
                "text": TEXT if full else empty,
                "citations": one_of(None, st.lists(CITATION, max_size=2)),
            }
        ),
        obj({"type": "thinking", "thinking": TEXT if full else empty, "signature": TEXT if full else empty}),
        obj({"type": "redacted_thinking", "data": "EmwKAhgB"}),
        obj(
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": ARGS_OBJECT if full else {}}
        ),
        obj({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": ARGS_OBJECT}),
        obj({"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": SEARCH_RESULTS}),
    )


ANTHROPIC_DELTA = one_of(
    obj({"type": "text_delta", "text": TEXT}),
    obj({"type": "input_json_delta", "partial_json": ARGS}),
    obj({"type": "thinking_delta", "thinking": TEXT}),
    obj({"type": "signature_delta", "signature": "EqQBCgIYAhIM"}),
    obj({"type": "citations_delta", "citation": CITATION}),
)
ANTHROPIC_ERROR = obj(
    {
        "type": "error",
        "error": obj({"type": st.sampled_from([*sorted(ERROR_TYPE_STATUS), "api_error"]), "message": TEXT}),
    }
)
_ANTHROPIC_TEMPLATES: dict[str, st.SearchStrategy[Any]] = {
    "message_start": obj(
        {
            "type": "message_start",
            "message": obj(
                {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": MODEL,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": ANTHROPIC_USAGE,
                }
            ),
        }
    ),
    "content_block_start": obj(
        {"type": "content_block_start", "index": INDEX, "content_block": _blocks(full=False)}
    ),
    "content_block_delta": obj({"type": "content_block_delta", "index": INDEX, "delta": ANTHROPIC_DELTA}),
    "content_block_stop": obj({"type": "content_block_stop", "index": INDEX}),
    "message_delta": obj(
        {
            "type": "message_delta",
            "delta": obj({"stop_reason": ANTHROPIC_STOP, "stop_sequence": None}),
            "usage": ANTHROPIC_USAGE,
        }
    ),
    "ping": obj({"type": "ping"}),
    "message_stop": obj({"type": "message_stop"}),
    "error": ANTHROPIC_ERROR,
}
#: (SSE event name, payload): the ``event:`` line names the kind the template was for; the
#: payload's own ``type`` may have been mutated into anything.
ANTHROPIC_EVENT = {
    kind: mutated(template).map(lambda payload, kind=kind: (kind, payload))
    for kind, template in _ANTHROPIC_TEMPLATES.items()
}
ANTHROPIC_MIDDLE = st.lists(
    one_of(
        *(
            ANTHROPIC_EVENT[kind]
            for kind in (
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "ping",
                "message_delta",
            )
        )
    ),
    max_size=6,
)
ANTHROPIC_RESPONSE = mutated(
    obj(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": st.lists(_blocks(full=True), max_size=3),
            "stop_reason": ANTHROPIC_STOP,
            "stop_sequence": None,
            "usage": ANTHROPIC_USAGE,
        }
    )
)
ANTHROPIC_ERROR_BODY = mutated(
    one_of(ANTHROPIC_ERROR, obj({"detail": TEXT}), obj({"code": 529, "message": "Overloaded"}))
)

# -- rendering a stream ----------------------------------------------------------------------


def _dumps(value: Any, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":"))


ERROR_FRAME_DATA = st.one_of(
    JSON.map(lambda v: _dumps(v, True)), st.sampled_from(["upstream timed out", "{", ""])
)


@st.composite
def openai_stream(draw: Draw, chunk: st.SearchStrategy[Any]) -> bytes:
    """``data: <json>`` frames, then sometimes ``data: [DONE]``; sometimes an ``event: error`` frame."""
    ascii_only = draw(st.booleans())
    frames = [f"data: {_dumps(event, ascii_only)}\n\n" for event in draw(st.lists(chunk, max_size=5))]
    if draw(_DIE) == 7:
        at = draw(st.integers(0, len(frames)))
        frames.insert(at, f"event: error\ndata: {draw(ERROR_FRAME_DATA)}\n\n")
    if draw(st.booleans()):
        frames.append("data: [DONE]\n\n")
    return "".join(frames).encode()


@st.composite
def anthropic_stream(draw: Draw) -> bytes:
    """``event: <type>`` + ``data: <json>`` frames in a plausible order, ``message_stop`` sometimes."""
    events: list[tuple[str, Any]] = []
    if draw(_DIE) > 0:
        events.append(draw(ANTHROPIC_EVENT["message_start"]))
    events += draw(ANTHROPIC_MIDDLE)
    if draw(_DIE) == 7:
        events.insert(draw(st.integers(0, len(events))), draw(ANTHROPIC_EVENT["error"]))
    if draw(st.booleans()):
        events.append(draw(ANTHROPIC_EVENT["message_delta"]))
    if draw(st.booleans()):
        events.append(draw(ANTHROPIC_EVENT["message_stop"]))
    ascii_only = draw(st.booleans())
    frames = [f"event: {kind}\ndata: {_dumps(payload, ascii_only)}\n\n" for kind, payload in events]
    if draw(_DIE) == 7:
        frames.insert(draw(st.integers(0, len(frames))), f"event: error\ndata: {draw(ERROR_FRAME_DATA)}\n\n")
    return "".join(frames).encode()


@st.composite
def reads(draw: Draw, body: bytes) -> list[bytes]:
    """``body`` cut into network reads: whole, at drawn points, or one byte at a time."""
    how = draw(st.integers(0, 2))
    if how == 0 or not body:
        return [body] if body else []
    if how == 2:
        return [body[i : i + 1] for i in range(len(body))]
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(body) - 1)), max_size=8))))
    bounds = [0, *cuts, len(body)]
    return [body[a:b] for a, b in itertools.pairwise(bounds) if a < b]


@dataclass(frozen=True)
class Wire:
    """One provider's wire: how to draw a stream, a response body and an error body."""

    provider: type[Provider]
    stream: st.SearchStrategy[bytes]
    response: st.SearchStrategy[Any]
    error: st.SearchStrategy[Any]


WIRES = {
    "openai_chat": Wire(OpenAIChatProvider, openai_stream(CHAT_CHUNK), CHAT_RESPONSE, OPENAI_ERROR_BODY),
    "openai_completions": Wire(
        OpenAICompletionsProvider, openai_stream(LEGACY_CHUNK), LEGACY_RESPONSE, OPENAI_ERROR_BODY
    ),
    "anthropic": Wire(AnthropicProvider, anthropic_stream(), ANTHROPIC_RESPONSE, ANTHROPIC_ERROR_BODY),
}

# -- the checks ------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count(value: Any) -> bool:
    return value is None or _is_int(value)


def check_event(event: Event) -> None:
    """The types ``streamkit.events`` declares: what handlers, ``async for`` and the collector rely on.

    One ``assert`` per field, so each kind of bad value is reported as its own failure.
    """
    if isinstance(event, TextDelta):
        assert isinstance(event.text, str), f"TextDelta.text is not a str: {event!r}"
        assert _is_int(event.index), f"TextDelta.index is not an int: {event!r}"
    elif isinstance(event, ThinkingDelta):
        assert isinstance(event.text, str), f"ThinkingDelta.text is not a str: {event!r}"
        assert event.signature is None or isinstance(event.signature, str), f"bad signature: {event!r}"
        assert _is_int(event.index), f"ThinkingDelta.index is not an int: {event!r}"
    elif isinstance(event, RefusalDelta):
        assert isinstance(event.text, str), f"RefusalDelta.text is not a str: {event!r}"
        assert _is_int(event.index), f"RefusalDelta.index is not an int: {event!r}"
    elif isinstance(event, ToolCallStart):
        assert isinstance(event.name, str), f"ToolCallStart.name is not a str: {event!r}"
        assert event.id is None or isinstance(event.id, str), f"ToolCallStart.id is not a str: {event!r}"
        assert _is_int(event.call_index), f"ToolCallStart.call_index is not an int: {event!r}"
        assert _is_int(event.index), f"ToolCallStart.index is not an int: {event!r}"
    elif isinstance(event, ToolCallDelta):
        assert isinstance(event.arguments, str), f"ToolCallDelta.arguments is not a str: {event!r}"
        assert _is_int(event.call_index), f"ToolCallDelta.call_index is not an int: {event!r}"
        assert _is_int(event.index), f"ToolCallDelta.index is not an int: {event!r}"
    elif isinstance(event, Finish):
        assert event.reason is None or isinstance(event.reason, str), f"Finish.reason: {event!r}"
        assert _is_int(event.index), f"Finish.index is not an int: {event!r}"
    elif isinstance(event, Usage):
        counts = (event.prompt_tokens, event.completion_tokens, event.total_tokens)
        assert all(_count(c) for c in counts), f"a Usage count is not int | None: {event!r}"
        assert isinstance(event.details, dict), f"Usage.details is not a dict: {event!r}"
    elif isinstance(event, MessageStart):
        assert event.model is None or isinstance(event.model, str), f"MessageStart.model: {event!r}"
        assert event.id is None or isinstance(event.id, str), f"MessageStart.id: {event!r}"
        assert isinstance(event.extra, dict), f"MessageStart.extra: {event!r}"
    elif isinstance(event, Citation):
        assert isinstance(event.citation, dict), f"Citation.citation is not a dict: {event!r}"
        assert _is_int(event.index), f"Citation.index is not an int: {event!r}"
    elif isinstance(event, ContentBlock):
        assert isinstance(event.kind, str), f"ContentBlock.kind is not a str: {event!r}"
        assert event.block is None or isinstance(event.block, dict), f"ContentBlock.block: {event!r}"
    elif isinstance(event, ServerToolUse):
        assert isinstance(event.name, str), f"ServerToolUse.name is not a str: {event!r}"
        assert event.id is None or isinstance(event.id, str), f"ServerToolUse.id: {event!r}"
        assert isinstance(event.block, dict), f"ServerToolUse.block: {event!r}"
    elif isinstance(event, ServerToolResult):
        assert isinstance(event.kind, str), f"ServerToolResult.kind is not a str: {event!r}"
        assert event.tool_use_id is None or isinstance(event.tool_use_id, str), f"ServerToolResult: {event!r}"
        assert isinstance(event.block, dict), f"ServerToolResult.block: {event!r}"
    else:
        raise AssertionError(f"not a streamkit event: {event!r}")


def build_result(collector: Collector) -> LLMResult:
    """``collector.result()``, which must never raise, not even a ``StreamkitError``."""
    try:
        result = collector.result()
    except StreamkitError as exc:  # others propagate as themselves, with their origin
        raise AssertionError(f"Collector.result() raised {exc!r}") from exc
    assert isinstance(result, LLMResult)
    assert isinstance(result.text, str)
    return result


def deliver(collector: Collector, events: list[Event]) -> None:
    assert isinstance(events, list)
    for event in events:
        check_event(event)
        collector.feed(event)


def drive(provider: Provider, pieces: list[bytes]) -> None:
    """One stream, as ``ResponseStream._step``/``_finish`` drive it; raises what escapes.

    A ``StreamkitError`` (raised, or left in ``mapper.error``) ends the stream: the partial
    result must then still build.
    """
    mapper = provider.new_mapper()
    collector = Collector(chat=provider.chat)
    with contextlib.suppress(StreamkitError):  # anything else escapes, and fails
        for piece in pieces:
            events = mapper.feed(piece)
            if events:  # (the result cannot change otherwise: skip the cost at 1-byte reads)
                deliver(collector, events)
                build_result(collector)
            if mapper.error is not None:
                assert isinstance(mapper.error, StreamkitError)
                break
        else:
            deliver(collector, mapper.finish())
            if mapper.error is None:
                mapper.check_complete(collector.finished)
            else:
                assert isinstance(mapper.error, StreamkitError)
    build_result(collector)  # the final result, or the partial one of the failure path


def drive_response(provider: Provider, body: Any) -> None:
    collector = Collector(chat=provider.chat)
    with contextlib.suppress(StreamkitError):
        deliver(collector, provider.parse_response(body))
    build_result(collector)


# -- sans-IO properties ----------------------------------------------------------------------

FAST = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("wire", sorted(WIRES))
@FAST
@given(data=st.data())
def test_stream_only_raises_streamkit_errors(wire: str, data: st.DataObject) -> None:
    body = data.draw(WIRES[wire].stream, label="body")
    drive(WIRES[wire].provider(), data.draw(reads(body), label="reads"))


@pytest.mark.parametrize("wire", sorted(WIRES))
@settings(FAST, max_examples=150)
@given(data=st.data())
def test_response_only_raises_streamkit_errors(wire: str, data: st.DataObject) -> None:
    drive_response(WIRES[wire].provider(), data.draw(WIRES[wire].response, label="body"))


@pytest.mark.parametrize("wire", sorted(WIRES))
@settings(FAST, max_examples=100)  # small bodies
@given(data=st.data())
def test_parse_error_never_raises(wire: str, data: st.DataObject) -> None:
    """``(message, type)``, each ``str | None``, from any body; never an exception of any kind."""
    body = data.draw(WIRES[wire].error, label="body")
    got = WIRES[wire].provider().parse_error(body)
    assert isinstance(got, tuple) and len(got) == 2, f"parse_error returned {got!r}"
    message, kind = got
    assert message is None or isinstance(message, str), f"parse_error message: {got!r}"
    assert kind is None or isinstance(kind, str), f"parse_error type: {got!r}"


# -- end to end, over the loopback server ----------------------------------------------------

MODELS: dict[str, type[ChatOpenAI] | type[OpenAI] | type[ChatAnthropic]] = {
    "openai_chat": ChatOpenAI,
    "openai_completions": OpenAI,
    "anthropic": ChatAnthropic,
}


@dataclass
class Recorder(AsyncCallbackHandler):
    """Records tokens (with their choice index) and how the call ended."""

    tokens: list[tuple[Any, Any]] = field(default_factory=list)
    ends: list[Any] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append((token, kwargs.get("index")))

    async def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        self.ends.append(response)

    async def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.errors.append(error)


def check_outcome(
    recorder: Recorder, error: StreamkitError | None, consumer: list[Any] | None, streamed: bool
) -> None:
    """Exactly one end hook; only str tokens; the (partial) result holds the text that was shown."""
    assert all(isinstance(token, str) for token, _ in recorder.tokens), (
        f"on_llm_new_token got {recorder.tokens!r}"
    )
    if consumer is not None:
        assert all(isinstance(token, str) for token in consumer), f"async for got {consumer!r}"
        assert consumer == [token for token, _ in recorder.tokens], (
            "async for and the handler saw different tokens"
        )
    calls = (len(recorder.ends), len(recorder.errors))
    if error is None:
        assert calls == (1, 0), f"on_llm_end/on_llm_error called {calls} times on success"
        result = recorder.ends[0]
    else:
        assert calls == (0, 1), f"on_llm_end/on_llm_error called {calls} times on {error!r}"
        assert recorder.errors[0] is error, f"on_llm_error got {recorder.errors[0]!r}, the caller {error!r}"
        result = error.partial_result
    assert isinstance(result, LLMResult), f"the result is {result!r}"
    if not streamed:
        assert recorder.tokens == [], "a non-streaming call sent tokens"
        return
    shown = "".join(token for token, _ in recorder.tokens)
    indexes: list[Any] = []
    for _, index in recorder.tokens:
        if index not in indexes:  # (compared with ==: an index may be any wire value today)
            indexes.append(index)
    if indexes in ([], [0]):
        assert result.text == shown, f"the result's text {result.text!r} is not the tokens shown {shown!r}"
    else:  # n > 1: each choice's tokens make one generation's text
        texts = [generation.text for generation in result.generations[0]]
        for index in indexes:
            choice = "".join(token for token, i in recorder.tokens if i == index)
            assert choice in texts, f"choice {index!r}'s tokens {choice!r} are not in the result {texts!r}"


@dataclass
class Outcome:
    recorder: Recorder
    error: StreamkitError | None = None
    foreign: Exception | None = None
    consumer: list[Any] | None = None


async def _call(wire: str, response: MockResponse, how: str) -> Outcome:
    """One call over a fresh loopback server; ``how`` is ``stream``, ``generate`` or ``json``."""
    outcome = Outcome(Recorder())
    async with MockServer() as server:
        server.enqueue(response)
        base_url = server.anthropic_base_url if wire == "anthropic" else server.openai_base_url
        model = MODELS[wire](
            base_url=base_url,
            api_key="test",
            max_retries=0,
            streaming=how != "json",
            callbacks=[outcome.recorder],
        )
        async with model as llm:
            try:
                if how == "stream":
                    outcome.consumer = []
                    async with llm.stream("hi") as stream:
                        async for token in stream:
                            outcome.consumer.append(token)
                else:
                    await llm.generate(["hi"])
            except StreamkitError as exc:
                outcome.error = exc
            except Exception as exc:  # raised below, once the server and session are closed
                outcome.foreign = exc
    return outcome


def run_call(wire: str, response: MockResponse, how: str) -> None:
    outcome = asyncio.run(_call(wire, response, how))
    recorder = outcome.recorder
    if outcome.foreign is not None:  # not a StreamkitError: fail with it, where it was raised
        outcome.foreign.add_note(
            f"({how}) handlers got on_llm_end x{len(recorder.ends)}, on_llm_error x{len(recorder.errors)}"
        )
        raise outcome.foreign
    check_outcome(recorder, outcome.error, outcome.consumer, streamed=how != "json")


#: Each example is two calls over real sockets, so fewer of them; and no shrinking: every
#: shrink step would be a server round trip (minutes per failure). The sans-IO properties
#: above shrink the same wire values to minimal examples.
SLOW = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    report_multiple_bugs=False,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CHUNK_SIZE = st.one_of(st.none(), st.integers(1, 64))


def _sse(events: list[Any], *, named: bool = False, done: bool = False) -> bytes:
    frames = [
        (f"event: {event['type']}\n" if named else "") + f"data: {_dumps(event, True)}\n\n"
        for event in events
    ]
    return "".join([*frames, "data: [DONE]\n\n" if done else ""]).encode()


def _chunk(object_name: str, choice: dict[str, Any]) -> dict[str, Any]:
    return {"id": "x-1", "object": object_name, "created": 1, "model": "m", "choices": [choice]}


# Explicit examples, always run first: one plain value of the wrong type per wire format, the
# class of issue #9 case 05 (Mistral sends ``content`` as a list of typed parts).
KNOWN_BAD_STREAMS = {
    "openai_chat": _sse(
        [
            _chunk("chat.completion.chunk", {"index": 0, "delta": {"role": "assistant", "content": "Hello"}}),
            _chunk(
                "chat.completion.chunk",
                {
                    "index": 0,
                    "delta": {"content": [{"type": "text", "text": " world"}]},
                    "finish_reason": "stop",
                },
            ),
        ],
        done=True,
    ),
    "openai_completions": _sse(
        [
            _chunk("text_completion", {"index": 0, "text": "Hello"}),
            _chunk("text_completion", {"index": 0, "text": 7, "finish_reason": "stop"}),
        ],
        done=True,
    ),
    "anthropic": _sse(
        [
            {"type": "message_start", "message": {"id": "msg_1", "model": "m", "usage": {"input_tokens": 1}}},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": [" world"]}},
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
            {"type": "message_stop"},
        ],
        named=True,
    ),
}
KNOWN_BAD_BODIES: dict[str, Any] = {
    "openai_chat": {
        "id": "x-1",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": [{"type": "text", "text": "Hi"}]},
                "finish_reason": "stop",
            }
        ],
    },
    "openai_completions": {
        "id": "x-1",
        "object": "text_completion",
        "model": "m",
        "choices": [{"index": 0, "text": ["Hi"], "finish_reason": "stop"}],
    },
    "anthropic": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [{"type": "text", "text": 7}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    },
}


def _json_response(body: Any, chunk_size: int | None = None) -> MockResponse:
    return MockResponse(raw=json.dumps(body).encode(), content_type="application/json", chunk_size=chunk_size)


def _non_streaming_responses(wire: str) -> st.SearchStrategy[MockResponse]:
    """A 200 JSON body (``parse_response``), or (3 in 8) an error status (``parse_error``)."""
    errors = st.builds(
        lambda status, body: MockResponse(status=status, error=body),
        st.sampled_from([400, 401, 404, 429, 500, 529]),
        WIRES[wire].error,
    )
    bodies = st.builds(_json_response, WIRES[wire].response, CHUNK_SIZE)

    @st.composite
    def response(draw: Draw) -> MockResponse:
        return draw(errors) if draw(_DIE) < 3 else draw(bodies)

    return response()


def _end_to_end_tests(wire: str) -> tuple[Callable[..., None], Callable[..., None]]:
    """The two end-to-end properties of one wire format (made per wire: each has its examples)."""

    @SLOW
    @example(body=KNOWN_BAD_STREAMS[wire], chunk_size=None)
    @given(body=WIRES[wire].stream, chunk_size=CHUNK_SIZE)
    def streaming(body: bytes, chunk_size: int | None) -> None:
        """``async for`` and ``generate()`` (``streaming=True``) over the same bytes."""
        for how in ("stream", "generate"):
            run_call(wire, MockResponse(raw=body, chunk_size=chunk_size), how)

    @SLOW
    @example(response=_json_response(KNOWN_BAD_BODIES[wire]))
    @given(response=_non_streaming_responses(wire))
    def non_streaming(response: MockResponse) -> None:
        """``generate()`` without streaming: a JSON body, or an error status."""
        run_call(wire, response, "json")

    return streaming, non_streaming


test_openai_chat_streaming_end_to_end, test_openai_chat_non_streaming_end_to_end = _end_to_end_tests(
    "openai_chat"
)
test_openai_completions_streaming_end_to_end, test_openai_completions_non_streaming_end_to_end = (
    _end_to_end_tests("openai_completions")
)
test_anthropic_streaming_end_to_end, test_anthropic_non_streaming_end_to_end = _end_to_end_tests("anthropic")
