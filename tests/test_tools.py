"""Tools for both providers: forms accepted, request mapping, streamed tool calls assembled."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from streamkit import ChatAnthropic, ChatGeneration, ChatOpenAI, InvalidArgumentError, ToolCall
from streamkit.callbacks import BaseCallbackHandler
from streamkit.events import TextDelta, ToolCallDelta, ToolCallStart
from streamkit.testing import MockResponse, MockServer
from streamkit.tools import ToolSpec, to_tool_specs


class GetWeather(BaseModel):
    """Get the current weather in a city."""

    city: str
    units: str = "c"


SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}


def test_every_tool_form_normalises_to_one_spec() -> None:
    specs = to_tool_specs(
        [
            GetWeather,
            {
                "type": "function",
                "function": {"name": "search", "description": "Search", "parameters": SCHEMA},
            },
            {"name": "lookup", "description": "Look up", "input_schema": SCHEMA},
            {"name": "ping"},
        ]
    )
    assert [s.name for s in specs] == ["GetWeather", "search", "lookup", "ping"]
    assert specs[0].description == "Get the current weather in a city."
    assert specs[0].parameters["required"] == ["city"]
    assert specs[1] == ToolSpec("search", "Search", SCHEMA)
    assert specs[2] == ToolSpec("lookup", "Look up", SCHEMA)
    assert specs[3].parameters == {"type": "object", "properties": {}}


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        ("GetWeather", "tools: Input should be a valid list"),
        ([GetWeather, 3], r"tools\[1\] must be a pydantic model class or a JSON-schema tool dict"),
        ([{"description": "no name"}], r"tools\[0\]: a tool dict needs a non-empty 'name'"),
        ([{"name": "a", "parameters": "nope"}], "parameters must be a JSON schema object"),
        ([GetWeather, GetWeather], "repeated: GetWeather"),
    ],
)
def test_bad_tools_are_named(tools: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        ChatOpenAI(base_url="http://127.0.0.1:9/v1", tools=tools)


def test_bad_tool_choice() -> None:
    with pytest.raises(InvalidArgumentError, match="not one of the tools"):
        ChatOpenAI(base_url="http://127.0.0.1:9/v1", tools=[GetWeather], tool_choice="nope")
    with pytest.raises(InvalidArgumentError, match="needs tools"):
        ChatAnthropic(api_key="k", tool_choice="required")


async def test_openai_tool_request_and_streamed_parallel_calls(mock_server: MockServer) -> None:
    calls = [
        {"name": "GetWeather", "args": {"city": "Paris"}, "id": "call_a"},
        {"name": "GetWeather", "args": {"city": "Rome", "units": "f"}, "id": "call_b"},
        {"name": "ping", "args": {}, "id": "call_c"},  # a tool with no arguments
    ]
    mock_server.enqueue(MockResponse(text="Let me look.", tool_calls=calls, chunk_size=9))
    tokens: list[str] = []

    class Tokens(BaseCallbackHandler):
        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            tokens.append(token)

    base = ChatOpenAI(base_url=mock_server.openai_base_url, streaming=True, callbacks=[Tokens()])
    async with base.bind_tools([GetWeather, {"name": "ping"}], tool_choice="required") as chat:
        message = await chat("weather in Paris and Rome?")
    await base.aclose()
    body = mock_server.requests[-1].json
    assert body["tool_choice"] == "required"
    assert [t["function"]["name"] for t in body["tools"]] == ["GetWeather", "ping"]
    assert body["tools"][0]["type"] == "function"
    assert body["tools"][0]["function"]["parameters"]["required"] == ["city"]
    assert message.tool_calls == [
        ToolCall(id="call_a", name="GetWeather", args={"city": "Paris"}),
        ToolCall(id="call_b", name="GetWeather", args={"city": "Rome", "units": "f"}),
        ToolCall(id="call_c", name="ping", args={}),
    ]
    assert message.content == "Let me look."
    assert "".join(tokens) == "Let me look."  # tool arguments are never tokens
    assert message.response_metadata["finish_reason"] == "tool_calls"


async def test_anthropic_tool_request_and_streamed_calls(mock_server: MockServer) -> None:
    calls = [
        {"name": "GetWeather", "args": {"city": "Paris"}},
        {"name": "GetWeather", "args": {"city": "Oslo"}},
    ]
    mock_server.enqueue(MockResponse(tool_calls=calls, random_chunks=7))
    async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k") as chat:
        stream = chat.stream("weather?", tools=[GetWeather], tool_choice="GetWeather")
        events = [e async for e in stream.events()]
    body = mock_server.requests[-1].json
    assert body["tools"][0]["name"] == "GetWeather"
    assert body["tools"][0]["input_schema"]["required"] == ["city"]
    assert body["tool_choice"] == {"type": "tool", "name": "GetWeather"}
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [(s.call_index, s.id, s.name) for s in starts] == [
        (0, "toolu_mock_0", "GetWeather"),
        (1, "toolu_mock_1", "GetWeather"),
    ]
    assert all(e.arguments for e in events if isinstance(e, ToolCallDelta))  # empty fragments dropped
    assert not [e for e in events if isinstance(e, TextDelta)]
    generation = stream.result.generations[0][0]
    assert isinstance(generation, ChatGeneration)
    assert [c.args for c in generation.message.tool_calls] == [{"city": "Paris"}, {"city": "Oslo"}]
    assert generation.message.content == ""


@pytest.mark.parametrize("choice", ["auto", "required", "none"])
async def test_anthropic_tool_choice_mapping(mock_server: MockServer, choice: str) -> None:
    mock_server.enqueue(MockResponse(text="ok"))
    async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k") as chat:
        await chat("hi", tools=[GetWeather], tool_choice=choice)
    expected = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}[choice]
    assert mock_server.requests[-1].json["tool_choice"] == expected


async def test_tool_call_cut_by_max_tokens_is_marked_incomplete(mock_server: MockServer) -> None:
    """The stream stops (finish_reason=length) mid-arguments: no crash, the result says so."""
    chunks = [
        '{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":'
        '[{"index":0,"id":"call_1","type":"function","function":{"name":"GetWeather","arguments":""}}]}}],'
        '"model":"m"}',
        '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"ci"}}]}}],'
        '"model":"m"}',
        '{"choices":[{"index":0,"delta":{},"finish_reason":"length"}],"model":"m"}',
    ]
    raw = ("".join(f"data: {c}\n\n" for c in chunks) + "data: [DONE]\n\n").encode()
    mock_server.enqueue(MockResponse(raw=raw, chunk_size=4))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, streaming=True, tools=[GetWeather]) as chat:
        result = await chat.generate([["weather?"]])
    generation = result.generations[0][0]
    assert isinstance(generation, ChatGeneration)
    (call,) = generation.message.tool_calls
    assert call.complete is False and call.args == {} and call.raw_args == '{"ci'
    assert call.name == "GetWeather" and call.id == "call_1"
    assert generation.generation_info is not None
    assert generation.generation_info["tool_calls_incomplete"] is True
    assert generation.generation_info["finish_reason"] == "length"


async def test_openai_reasoning_content_is_thinking_not_text(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text="Yes.", thinking="Let me think about it"))
    async with ChatOpenAI(base_url=mock_server.openai_base_url) as chat:
        stream = chat.stream("?")
        tokens = [t async for t in stream]
    assert "".join(tokens) == "Yes."
    generation = stream.result.generations[0][0]
    assert isinstance(generation, ChatGeneration)
    assert generation.message.additional_kwargs["thinking"] == "Let me think about it"
