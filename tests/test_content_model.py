"""Issue #11, the output side: blocks that round-trip, server tools and citations as
typed events, partial tool arguments, tool and request fields that pass through,
one finish reason.

Wire facts (hand-built streams below follow them):
* Anthropic streaming, extended thinking, server tools and stop reasons:
  https://docs.anthropic.com/en/docs/build-with-claude/streaming ,
  .../extended-thinking (each thinking block carries its own signature, and
  the blocks must go back unchanged in a tool loop), .../web-search-tool,
  https://docs.anthropic.com/en/api/handling-stop-reasons (``pause_turn``,
  ``stop_sequence``);
* OpenAI Chat Completions streaming (``annotations`` with ``url_citation``
  from the search models, ``finish_reason`` values, ``refusal``):
  https://platform.openai.com/docs/api-reference/chat-streaming ;
* Gemini's OpenAI-compatible endpoint attaches ``extra_content`` with a
  thought signature to a tool call, to be sent back on the same call:
  https://ai.google.dev/gemini-api/docs/openai#thinking ;
* vLLM reports the matched stop string as ``stop_reason`` on the choice.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from streamkit import ChatAnthropic, ChatOpenAI
from streamkit.callbacks import AsyncCallbackHandler
from streamkit.events import (
    Citation,
    Finish,
    ServerToolResult,
    ServerToolUse,
    TextDelta,
    ToolCallDelta,
)
from streamkit.messages import AIMessage, HumanMessage, ToolMessage
from streamkit.results import ChatGeneration
from streamkit.testing import MockResponse, MockServer
from streamkit.web import done_payload

WILD = Path(__file__).parent / "fixtures" / "wild"


def openai_sse(*chunks: dict[str, Any], done: bool = True) -> bytes:
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    return body + (b"data: [DONE]\n\n" if done else b"")


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **choice: Any) -> dict[str, Any]:
    return {
        "id": "c1",
        "model": "m",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish, **choice}],
    }


def anthropic_sse(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def message_start() -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {"id": "msg_1", "model": "claude-x", "usage": {"input_tokens": 5, "output_tokens": 1}},
    }


def message_end(stop: str = "end_turn", sequence: str | None = None) -> list[dict[str, Any]]:
    return [
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": sequence},
            "usage": {"output_tokens": 9},
        },
        {"type": "message_stop"},
    ]


def block(index: int, content_block: dict[str, Any], *deltas: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"type": "content_block_start", "index": index, "content_block": content_block},
        *({"type": "content_block_delta", "index": index, "delta": d} for d in deltas),
        {"type": "content_block_stop", "index": index},
    ]


def message(result: Any) -> AIMessage:
    generation = result.generations[0][0]
    assert isinstance(generation, ChatGeneration)
    return generation.message


# -- 7. one finish reason ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("tool_calls", "tool_calls"),
        ("function_call", "tool_calls"),
        ("content_filter", "content_filter"),
        ("error", "error"),
        ("something_new", "other"),
    ],
)
async def test_openai_finish_reason_is_kept_and_normalised(
    mock_server: MockServer, raw: str, normalized: str
) -> None:
    mock_server.enqueue(MockResponse(raw=openai_sse(chunk({"content": "x"}), chunk(finish=raw))))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k", max_retries=0) as chat:
        result = await chat.stream("hi").collect()
    info = result.generations[0][0].generation_info or {}
    assert (info["finish_reason"], info["normalized_finish_reason"]) == (raw, normalized)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("pause_turn", "pause_turn"),
        ("refusal", "refusal"),
        ("model_context_window_exceeded", "length"),
    ],
)
async def test_anthropic_stop_reason_is_kept_and_normalised(
    mock_server: MockServer, raw: str, normalized: str
) -> None:
    body = anthropic_sse(
        message_start(),
        *block(0, {"type": "text", "text": ""}, {"type": "text_delta", "text": "x"}),
        *message_end(raw),
    )
    mock_server.enqueue(MockResponse(raw=body))
    async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k", max_retries=0) as chat:
        result = await chat.stream("hi").collect()
    info = result.generations[0][0].generation_info or {}
    assert (info["finish_reason"], info["normalized_finish_reason"]) == (raw, normalized)


async def test_the_matched_stop_sequence_is_kept(mock_server: MockServer) -> None:
    anthropic = anthropic_sse(
        message_start(),
        *block(0, {"type": "text", "text": ""}, {"type": "text_delta", "text": "1 2 3"}),
        *message_end("stop_sequence", "END"),
    )
    vllm = openai_sse(chunk({"content": "a b"}), chunk(finish="stop", stop_reason="###"))
    mock_server.enqueue(MockResponse(raw=anthropic), MockResponse(raw=vllm))
    async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k", streaming=True) as claude:
        first = await claude("hi", stop=["END"])
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        second = await chat.stream("hi").collect()
    assert first.response_metadata["stop_sequence"] == "END"
    assert (second.generations[0][0].generation_info or {})["stop_sequence"] == "###"


async def test_a_refusal_normalises_to_refusal(mock_server: MockServer) -> None:
    body = openai_sse(chunk({"refusal": "I can't help with that."}), chunk(finish="stop"))
    mock_server.enqueue(MockResponse(raw=body))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        result = await chat.stream("hi").collect()
    info = result.generations[0][0].generation_info or {}
    assert (info["finish_reason"], info["normalized_finish_reason"]) == ("stop", "refusal")


# -- 5. partial JSON while streaming -----------------------------------------------

ARGS = {"city": "Paris", "days": [1, 2, {"unit": "celsius", "hourly": True}], "note": "bring an umbrella"}


def grows(before: Any, after: Any) -> bool:
    """``after`` extends ``before``: nothing seen is taken back or changed."""
    if before is None:
        return True
    if isinstance(before, dict):
        return isinstance(after, dict) and all(k in after and grows(v, after[k]) for k, v in before.items())
    if isinstance(before, list):
        return (
            isinstance(after, list)
            and len(after) >= len(before)
            and all(grows(b, a) for b, a in zip(before[:-1], after, strict=False))
            and (not before or grows_scalar_or_nested(before[-1], after[len(before) - 1]))
        )
    return grows_scalar_or_nested(before, after)


def grows_scalar_or_nested(before: Any, after: Any) -> bool:
    if isinstance(before, (dict, list)):
        return grows(before, after)
    if isinstance(before, str):
        return isinstance(after, str) and after.startswith(before)
    return before == after or str(after).startswith(str(before))  # a number still arriving


def _tool_stream(provider: str) -> bytes:
    text = json.dumps(ARGS)
    pieces = [text[i : i + 1] for i in range(len(text))]  # a fragment per character
    if provider == "openai":
        first = {
            "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "weather"}}]
        }
        frags = [{"tool_calls": [{"index": 0, "function": {"arguments": p}}]} for p in pieces]
        return openai_sse(chunk(first), *(chunk(f) for f in frags), chunk(finish="tool_calls"))
    deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
    return anthropic_sse(
        message_start(),
        *block(0, {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}, *deltas),
        *message_end("tool_use"),
    )


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_tool_arguments_parsed_so_far_grow_monotonically(
    mock_server: MockServer, provider: str
) -> None:
    mock_server.enqueue(MockResponse(raw=_tool_stream(provider), chunk_size=1))
    if provider == "openai":
        model: Any = ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k")
    else:
        model = ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k")
    seen: list[Any] = []
    async with model:
        stream = model.stream("weather?")
        async for event in stream.events():
            if isinstance(event, ToolCallDelta):
                seen.append(event.parsed_arguments)
    assert len(seen) == len(json.dumps(ARGS))
    for before, after in itertools.pairwise(seen):
        assert grows(before, after), (before, after)
    assert {"city": "Par"} in [s for s in seen if isinstance(s, dict) and s.get("city") == "Par"]
    assert seen[-1] == ARGS
    call = message(stream.result).tool_calls[0]
    assert (call.args, call.complete, call.raw_args) == (ARGS, True, None)


def test_parsed_arguments_are_computed_only_when_read() -> None:
    fragments = ['{"a": ', '"b', '"}']
    events = [ToolCallDelta(0, f, _fragments=fragments, _count=i + 1) for i, f in enumerate(fragments)]
    assert [e.arguments_so_far for e in events] == ['{"a": ', '{"a": "b', '{"a": "b"}']
    assert [e.parsed_arguments for e in events] == [{}, {"a": "b"}, {"a": "b"}]
    assert ToolCallDelta(0, "not json").parsed_arguments is None


# -- 3. server tools and citations as typed events --------------------------------


class Recorder(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[Any] = []

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


async def test_server_tools_and_citations_are_typed_events_never_tokens_or_client_calls(
    mock_server: MockServer,
) -> None:
    body = (WILD / "10-anthropic-server-tool-use" / "input.sse").read_bytes()
    mock_server.enqueue(MockResponse(raw=body, chunk_size=7))
    recorder = Recorder()
    async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k") as claude:
        stream = claude.stream("weather in paris?", callbacks=[recorder])
        events = [e async for e in stream.events()]
    uses = [e for e in events if isinstance(e, ServerToolUse)]
    results = [e for e in events if isinstance(e, ServerToolResult)]
    citations = [e for e in events if isinstance(e, Citation)]
    assert [(u.id, u.name, u.input) for u in uses] == [
        ("srvtoolu_02", "web_search", {"query": "paris weather"})
    ]
    assert [(r.tool_use_id, r.kind) for r in results] == [("srvtoolu_02", "web_search_tool_result")]
    assert results[0].content[0]["url"] == "https://weather.example/paris"
    assert [c.citation["type"] for c in citations] == ["web_search_result_location"]
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert recorder.tokens == texts == ["Let me search. ", "It is sunny."]
    answer = message(stream.result)
    assert answer.tool_calls == []  # the server ran it: nothing for the client to execute
    assert answer.additional_kwargs["server_tool_calls"] == [
        {"id": "srvtoolu_02", "name": "web_search", "input": {"query": "paris weather"}}
    ]
    assert answer.additional_kwargs["server_tool_results"][0]["type"] == "web_search_tool_result"
    # The text block keeps its citation, in order with the other blocks.
    assert [b["type"] for b in answer.content_blocks or []] == [
        "text",
        "server_tool_use",
        "web_search_tool_result",
        "text",
    ]
    assert (answer.content_blocks or [])[3]["citations"][0]["cited_text"] == "Sunny, 24C"
    done = done_payload(stream.result)
    assert done["server_tool_calls"][0]["name"] == "web_search"
    assert done["server_tool_results"][0]["tool_use_id"] == "srvtoolu_02"
    assert done["citations"][0]["url"] == "https://weather.example/paris"
    assert done["tool_calls"] == []


async def test_openai_url_citations_are_citation_events(mock_server: MockServer) -> None:
    annotation = {
        "type": "url_citation",
        "url_citation": {"url": "https://example.org/a", "title": "A", "start_index": 0, "end_index": 4},
    }
    body = openai_sse(chunk({"content": "Sunny"}), chunk({"annotations": [annotation]}), chunk(finish="stop"))
    mock_server.enqueue(MockResponse(raw=body))
    recorder = Recorder()
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        stream = chat.stream("hi", callbacks=[recorder])
        events = [e async for e in stream.events()]
    assert [e.citation for e in events if isinstance(e, Citation)] == [annotation]
    assert recorder.tokens == ["Sunny"]
    assert message(stream.result).additional_kwargs["citations"] == [annotation]


async def test_anthropic_server_tools_are_sent_in_their_own_form(mock_server: MockServer) -> None:
    web_search = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
    mock_server.enqueue(MockResponse(text="ok"))
    async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k") as claude:
        await claude("hi", tools=[web_search, {"name": "lookup", "input_schema": {"type": "object"}}])
    tools = mock_server.requests[-1].json["tools"]
    assert tools[0] == web_search
    assert tools[1] == {"name": "lookup", "description": "", "input_schema": {"type": "object"}}


# -- 2. blocks that round-trip --------------------------------------------------------


async def test_two_signed_thinking_blocks_go_back_each_with_its_own_signature(
    mock_server: MockServer,
) -> None:
    """Interleaved thinking in a tool loop: thinking, tool_use, (result), thinking, tool_use."""
    body = anthropic_sse(
        message_start(),
        *block(
            0,
            {"type": "thinking", "thinking": ""},
            {"type": "thinking_delta", "thinking": "First I need the weather."},
            {"type": "signature_delta", "signature": "sig-one=="},
        ),
        *block(1, {"type": "redacted_thinking", "data": "ENCRYPTED+/=="}),
        *block(
            2,
            {"type": "thinking", "thinking": ""},
            {"type": "thinking_delta", "thinking": "Then the time."},
            {"type": "signature_delta", "signature": "sig-two=="},
        ),
        *block(3, {"type": "text", "text": ""}, {"type": "text_delta", "text": "Checking both."}),
        *block(
            4,
            {"type": "tool_use", "id": "toolu_w", "name": "weather", "input": {}},
            {"type": "input_json_delta", "partial_json": '{"city": "Oslo"}'},
        ),
        *block(
            5,
            {"type": "tool_use", "id": "toolu_t", "name": "time", "input": {}},
            {"type": "input_json_delta", "partial_json": '{"tz": "CET"}'},
        ),
        *message_end("tool_use"),
    )
    mock_server.enqueue(MockResponse(raw=body, chunk_size=3), MockResponse(text="Done."))
    async with ChatAnthropic(
        base_url=mock_server.anthropic_base_url,
        api_key="k",
        streaming=True,
        thinking={"type": "enabled", "budget_tokens": 1024},
    ) as claude:
        first = await claude([HumanMessage("weather and time in Oslo?")])
        assert [c.name for c in first.tool_calls] == ["weather", "time"]
        await claude(
            [
                HumanMessage("weather and time in Oslo?"),
                first,
                ToolMessage("3 C", tool_call_id="toolu_w"),
                ToolMessage("14:00", tool_call_id="toolu_t"),
            ]
        )
    sent = mock_server.requests[-1].json["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "First I need the weather.", "signature": "sig-one=="},
            {"type": "redacted_thinking", "data": "ENCRYPTED+/=="},
            {"type": "thinking", "thinking": "Then the time.", "signature": "sig-two=="},
            {"type": "text", "text": "Checking both."},
            {"type": "tool_use", "id": "toolu_w", "name": "weather", "input": {"city": "Oslo"}},
            {"type": "tool_use", "id": "toolu_t", "name": "time", "input": {"tz": "CET"}},
        ],
    }
    assert sent[2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_w", "content": "3 C"},
            {"type": "tool_result", "tool_use_id": "toolu_t", "content": "14:00"},
        ],
    }


async def test_openai_tool_call_extras_go_back_on_the_same_call(mock_server: MockServer) -> None:
    """Gemini through the OpenAI-compatible endpoint: extra_content with a thought signature."""
    extra = {"google": {"thought_signature": "Cv8BAb4+9vs="}}
    call = {
        "index": 0,
        "id": "call_g",
        "type": "function",
        "function": {"name": "weather", "arguments": '{"city": "Rome"}'},
        "extra_content": extra,
    }
    body = openai_sse(
        chunk({"role": "assistant", "reasoning_content": "Need the weather."}),
        chunk({"tool_calls": [call]}),
        chunk(finish="tool_calls"),
    )
    mock_server.enqueue(MockResponse(raw=body), MockResponse(text="Warm."))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k", streaming=True) as chat:
        first = await chat([HumanMessage("weather in Rome?")])
        assert first.tool_calls[0].extras == {"extra_content": extra}
        await chat([HumanMessage("weather in Rome?"), first, ToolMessage("25 C", tool_call_id="call_g")])
    sent = mock_server.requests[-1].json["messages"]
    assert sent[1]["tool_calls"] == [
        {
            "id": "call_g",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"city": "Rome"}'},
            "extra_content": extra,
        }
    ]
    assert sent[2] == {"role": "tool", "content": "25 C", "tool_call_id": "call_g"}


# -- 4. tool and request fields pass through ----------------------------------------


async def test_tool_fields_pass_through(mock_server: MockServer) -> None:
    openai_tool = {
        "type": "function",
        "function": {"name": "f", "description": "d", "parameters": {"type": "object"}, "strict": True},
    }
    anthropic_tool = {
        "name": "g",
        "description": "d",
        "input_schema": {"type": "object"},
        "cache_control": {"type": "ephemeral"},
    }
    mock_server.enqueue(MockResponse(text="a"), MockResponse(text="b"))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        await chat("hi", tools=[openai_tool])
    async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k") as claude:
        await claude("hi", tools=[anthropic_tool])
    assert mock_server.requests[0].json["tools"] == [openai_tool]
    assert mock_server.requests[1].json["tools"] == [anthropic_tool]


async def test_request_fields_per_call(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text="a"), MockResponse(text="b"))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        await chat(
            "hi",
            seed=7,
            response_format={"type": "json_object"},
            extra_body={"top_k": 5, "temperature": 0.25},
            extra_headers={"X-Request-Tag": "t1"},
        )
    async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k") as claude:
        await claude("hi", metadata={"user_id": "u1"}, extra_body={"service_tier": "auto"})
    openai_request, anthropic_request = mock_server.requests
    assert openai_request.json["seed"] == 7
    assert openai_request.json["response_format"] == {"type": "json_object"}
    assert (openai_request.json["top_k"], openai_request.json["temperature"]) == (5, 0.25)
    assert openai_request.headers["X-Request-Tag"] == "t1"
    assert anthropic_request.json["metadata"] == {"user_id": "u1"}
    assert anthropic_request.json["service_tier"] == "auto"
    assert "X-Request-Tag" not in anthropic_request.headers


def test_finish_event_carries_both_reasons() -> None:
    event = Finish("end_turn", 0, "stop", None)
    assert (event.reason, event.normalized, event.stop_sequence) == ("end_turn", "stop", None)


# -- the mock server emits blocks, citations, content parts -------------------------

BLOCKS = [
    {"type": "thinking", "thinking": "Search first, then answer.", "signature": "sig-A=="},
    {"type": "redacted_thinking", "data": "EncRYPted/+=="},
    {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "oslo weather"}},
    {
        "type": "web_search_tool_result",
        "tool_use_id": "srvtoolu_1",
        "content": [
            {
                "type": "web_search_result",
                "url": "https://w.example/oslo",
                "title": "Oslo",
                "encrypted_content": "Eq==",
            }
        ],
    },
    {
        "type": "text",
        "text": "It is 3 degrees.",
        "citations": [
            {"type": "web_search_result_location", "url": "https://w.example/oslo", "cited_text": "3 C"}
        ],
    },
    {"type": "tool_use", "id": "toolu_9", "name": "convert", "input": {"celsius": 3}},
]


@pytest.mark.parametrize("streaming", [True, False])
async def test_mock_blocks_round_trip_exactly_streamed_or_not(
    mock_server: MockServer, streaming: bool
) -> None:
    mock_server.enqueue(
        MockResponse(blocks=BLOCKS, finish_reason="tool_use", chunk_size=5), MockResponse(text="ok")
    )
    async with ChatAnthropic(
        base_url=mock_server.anthropic_base_url, api_key="k", streaming=streaming
    ) as claude:
        first = await claude([HumanMessage("weather in oslo in F?")])
        assert first.content == "It is 3 degrees."
        assert [c.name for c in first.tool_calls] == ["convert"]
        assert first.content_blocks == BLOCKS
        await claude(
            [HumanMessage("weather in oslo in F?"), first, ToolMessage("37.4 F", tool_call_id="toolu_9")]
        )
    assert mock_server.requests[-1].json["messages"][1] == {"role": "assistant", "content": BLOCKS}


async def test_mock_content_parts_and_annotations(mock_server: MockServer) -> None:
    annotation = {"type": "url_citation", "url_citation": {"url": "https://example.org", "title": "E"}}
    mock_server.enqueue(
        MockResponse(
            text="Hello there",
            thinking="Be brief.",
            content_parts=True,
            annotations=[annotation],
            chunk_size=3,
        )
    )
    recorder = Recorder()
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        result = await chat.stream("hi", callbacks=[recorder]).collect()
    answer = message(result)
    assert answer.content == "Hello there"
    assert answer.additional_kwargs["thinking"] == "Be brief."
    assert answer.additional_kwargs["citations"] == [annotation]
    assert "".join(recorder.tokens) == "Hello there"
