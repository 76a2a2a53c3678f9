"""Review of issue 11 (content model): defects found, one failing test each.

These tests are expected to FAIL until the defects are fixed.
"""

from __future__ import annotations

import itertools
import json
import traceback
from typing import Any

import pytest
from pydantic import BaseModel

from streamkit import ChatAnthropic, ChatOpenAI
from streamkit.errors import OutputParserError
from streamkit.events import ToolCallDelta
from streamkit.messages import HumanMessage
from streamkit.testing import MockResponse, MockServer

SECRET = "supersecretvalue123"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("streaming", [False, True])
async def test_per_call_extra_headers_are_redacted_from_errors(
    mock_server: MockServer, provider: str, streaming: bool
) -> None:
    # default_headers values are replaced by *** in errors; the docstring of
    # _request_options says extra_headers values are "redacted from errors too".
    error = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": f"bad X-Secret: {SECRET}"},
    }
    mock_server.enqueue(MockResponse(status=400, error=error))
    if provider == "openai":
        chat: Any = ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k", streaming=streaming)
    else:
        chat = ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k", streaming=streaming)
    async with chat:
        with pytest.raises(Exception) as info:
            await chat("hi", extra_headers={"X-Secret": SECRET}, max_retries=0)
    shown = "".join(traceback.format_exception(info.value)) + repr(getattr(info.value, "body", ""))
    assert SECRET not in shown


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_parsed_arguments_never_lose_a_number_when_its_decimal_point_arrives(
    mock_server: MockServer, provider: str
) -> None:
    # '{"n": [1' parses to {'n': [1]}, then '{"n": [1.' to {'n': []}: the item vanishes.
    args = {"n": [1.25, 10], "x": 2.5}
    text = json.dumps(args)
    tool = {"name": "f", "description": "", "parameters": {"type": "object"}}
    mock_server.enqueue(
        MockResponse(
            tool_calls=[{"name": "f", "fragments": list(text)}],
            chunk_size=1,
            finish_reason="tool_calls" if provider == "openai" else "tool_use",
        )
    )
    if provider == "openai":
        chat: Any = ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k")
    else:
        chat = ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k")
    seen: list[Any] = []
    async with chat, chat.stream("hi", tools=[tool]) as stream:
        async for event in stream.events():
            if isinstance(event, ToolCallDelta):
                seen.append(event.parsed_arguments)
    assert seen[-1] == args
    for before, after in itertools.pairwise(seen):
        if isinstance(before, dict) and isinstance(after, dict):
            assert set(before) <= set(after), (before, after)
            for key, value in before.items():
                if isinstance(value, list):
                    assert len(after[key]) >= len(value), (before, after)


async def test_anthropic_tool_use_block_fields_round_trip(mock_server: MockServer) -> None:
    # Programmatic tool calling: a tool_use block carries "caller" (Anthropic's
    # ToolUseBlock / ToolUseBlockParam); the rebuilt block drops it.
    blocks = [
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "code_execution", "input": {"code": "x"}},
        {
            "type": "tool_use",
            "id": "toolu_1",
            "name": "get_weather",
            "input": {"city": "Paris"},
            "caller": {"type": "code_execution_20250825", "tool_id": "srvtoolu_1"},
        },
    ]
    for streaming in (True, False):
        server = MockServer(validate=False)
        async with server:
            server.enqueue(MockResponse(blocks=blocks, finish_reason="tool_use"), MockResponse(text="ok"))
            async with ChatAnthropic(
                base_url=server.anthropic_base_url, api_key="k", streaming=streaming
            ) as chat:
                answer = await chat("hi")
                await chat([HumanMessage("hi"), answer, HumanMessage("next")])
            assert server.requests[-1].json["messages"][1]["content"] == blocks, streaming


class Small(BaseModel):
    a: int


async def test_structured_generate_with_return_exceptions_keeps_the_api_error(
    mock_server: MockServer,
) -> None:
    # chat.generate(return_exceptions=True) puts an HTTP 500 in result.errors;
    # StructuredChat.generate then parses the failed (empty) generation and
    # raises OutputParserError "Invalid JSON: EOF", hiding the real error.
    mock_server.enqueue(MockResponse(text='{"a": 1}'), MockResponse(status=500))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k", max_retries=0) as chat:
        try:
            await chat.with_structured_output(Small).generate([["q"], ["r"]], return_exceptions=True)
        except OutputParserError as exc:
            pytest.fail(f"an HTTP 500 surfaced as OutputParserError: {exc}")
        except Exception:
            pass  # the API error itself would be acceptable


async def test_mistral_model_length_normalises_to_length(mock_server: MockServer) -> None:
    # Mistral's finish_reason enum: stop, length, model_length, error, tool_calls.
    mock_server.enqueue(MockResponse(text="cut", finish_reason="model_length"))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        result = await chat.generate([["hi"]])
    info = result.generations[0][0].generation_info or {}
    assert info["finish_reason"] == "model_length"
    assert info["normalized_finish_reason"] == "length"
