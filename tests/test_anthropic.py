"""Anthropic and ChatAnthropic: request shape, errors, streaming over the loopback server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from multidict import CIMultiDict

from streamkit import (
    AIMessage,
    Anthropic,
    ChatAnthropic,
    ChatGeneration,
    HumanMessage,
    InvalidArgumentError,
    OverloadedError,
    RateLimitError,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from streamkit.callbacks import AsyncCallbackHandler
from streamkit.events import ThinkingDelta
from streamkit.testing import MockResponse, MockServer
from streamkit.testing._server import RecordedRequest

KEY = "sk-ant-SENTINEL-0123456789"


def sent(server: MockServer) -> list[RecordedRequest]:
    """The POSTs the server received on Anthropic's ``/v1/messages``."""
    return [r for r in server.requests if r.method == "POST" and r.path == "/v1/messages"]


def headers_of(request: RecordedRequest) -> CIMultiDict[str]:
    """The request's headers, looked up case-insensitively (as HTTP does)."""
    return CIMultiDict(request.headers)


def sse(body: bytes) -> MockResponse:
    """Answer with these exact SSE bytes (one write)."""
    return MockResponse(raw=body, content_type="text/event-stream")


def messages_sse(text_parts: list[str]) -> bytes:
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "model": "claude-x",
                    "usage": {"input_tokens": 9, "output_tokens": 1},
                },
            },
        ),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
        ),
    ]
    for part in text_parts:
        delta = {"type": "text_delta", "text": part}
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 4}},
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()


async def test_request_shape(mock_server: MockServer) -> None:
    mock_server.enqueue(sse(messages_sse(["Hel", "lo"])))
    async with ChatAnthropic(
        base_url=mock_server.anthropic_base_url, api_key=KEY, temperature=0.5, stop=["END"]
    ) as chat:
        async with chat.stream([SystemMessage(content="be terse"), HumanMessage(content="hi")]) as stream:
            tokens = [t async for t in stream]
    (call,) = sent(mock_server)
    assert len(mock_server.requests) == 1
    assert tokens == ["Hel", "lo"]
    headers = headers_of(call)
    assert headers["x-api-key"] == KEY
    assert headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in headers
    assert call.json == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,  # always sent: the API requires it
        "temperature": 0.5,
        "stop_sequences": ["END"],
        "system": "be terse",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
    }
    result = stream.result
    assert result.llm_output is not None and result.llm_output.pop("metrics")["output_deltas"] == 2
    assert result.llm_output == {
        "token_usage": {
            "prompt_tokens": 9,
            "completion_tokens": 4,
            "total_tokens": 13,
            "input_tokens": 9,  # the raw counters beside the common keys
            "output_tokens": 4,
        },
        "model_name": "claude-x",
        "id": "msg_1",
    }
    assert result.generations[0][0].generation_info == {
        "finish_reason": "end_turn",
        "logprobs": None,
        "normalized_finish_reason": "stop",
    }


async def test_env_vars_and_prompt_class(mock_server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", mock_server.anthropic_base_url)
    mock_server.enqueue(sse(messages_sse(["a ", "song"])))
    async with Anthropic(streaming=True) as llm:
        text = await llm("Write me a song about sparkling water.")
        result_type = type(llm)
    (call,) = sent(mock_server)
    assert text == "a song"
    assert result_type is Anthropic
    assert headers_of(call)["x-api-key"] == KEY
    assert call.json["messages"] == [{"role": "user", "content": "Write me a song about sparkling water."}]


def test_bad_arguments_fail_at_construction() -> None:
    with pytest.raises(InvalidArgumentError, match="temperature"):
        ChatAnthropic(api_key="k", temperature=1.5)  # Anthropic's range is 0..1
    with pytest.raises(InvalidArgumentError, match="max_tokens is required"):
        ChatAnthropic(api_key="k", max_tokens=None)
    with pytest.raises(InvalidArgumentError, match="max_tokens"):
        ChatAnthropic(api_key="k", max_tokens=-5)
    with pytest.raises(InvalidArgumentError, match="ANTHROPIC_API_KEY"):
        ChatAnthropic()
    with pytest.raises(InvalidArgumentError, match="base_url"):
        ChatAnthropic(api_key="k", base_url="api.anthropic.com")


async def test_non_streaming_response_with_tool_use_and_thinking(mock_server: MockServer) -> None:
    payload = {
        "id": "msg_2",
        "type": "message",
        "model": "claude-y",
        "content": [
            {"type": "thinking", "thinking": "User wants weather.", "signature": "sig"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 20, "output_tokens": 7, "cache_read_input_tokens": 3},
    }
    mock_server.enqueue(MockResponse(raw=json.dumps(payload).encode(), content_type="application/json"))
    async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key=KEY) as chat:
        result = await chat.generate([[HumanMessage(content="weather in Paris?")]])
    (call,) = sent(mock_server)
    assert "stream" not in call.json
    generation = result.generations[0][0]
    assert isinstance(generation, ChatGeneration)
    assert generation.text == "Checking."
    assert generation.message.tool_calls == [
        ToolCall(id="toolu_1", name="get_weather", args={"city": "Paris"})
    ]
    assert generation.message.additional_kwargs["thinking"] == "User wants weather."
    assert generation.generation_info is not None
    assert generation.generation_info["thinking_signature"] == "sig"
    assert generation.generation_info["finish_reason"] == "tool_use"
    assert result.token_usage == {
        "prompt_tokens": 23,  # every input token: 20 uncached + 3 read from the cache
        "completion_tokens": 7,
        "total_tokens": 30,
        "input_tokens": 20,
        "output_tokens": 7,
        "cache_read_input_tokens": 3,
    }


async def test_tool_results_go_back_as_user_turns(mock_server: MockServer) -> None:
    history = [
        HumanMessage(content="weather in Paris and Rome?"),
        AIMessage(
            content="Checking both.",
            tool_calls=[
                ToolCall(id="t1", name="get_weather", args={"city": "Paris"}),
                ToolCall(id="t2", name="get_weather", args={"city": "Rome"}),
            ],
        ),
        ToolMessage(content="18C", tool_call_id="t1"),
        ToolMessage(content="24C", tool_call_id="t2"),
    ]
    mock_server.enqueue(sse(messages_sse(["Paris 18C, Rome 24C."])))
    async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key=KEY, streaming=True) as chat:
        await chat(history)
    (call,) = sent(mock_server)
    assert call.json["messages"] == [
        {"role": "user", "content": "weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking both."},
                {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "t2", "name": "get_weather", "input": {"city": "Rome"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "t2", "content": "24C"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("status", "error_type", "cls"),
    [(529, "overloaded_error", OverloadedError), (429, "rate_limit_error", RateLimitError)],
)
async def test_http_errors_map_to_the_same_classes_as_in_stream_errors(
    mock_server: MockServer, status: int, error_type: str, cls: type
) -> None:
    body = {"type": "error", "error": {"type": error_type, "message": "busy, try later"}}
    failure = MockResponse(status=status, error=body, headers={"retry-after": "0", "request-id": "req_9"})
    mock_server.responder = lambda _request: failure  # every request fails the same way
    async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key=KEY, max_retries=1) as chat:
        with pytest.raises(cls) as info:
            await chat("hi")
    assert len(sent(mock_server)) == 2  # retried once: nothing had been shown yet
    assert info.value.status_code == status
    assert info.value.error_type == error_type
    assert info.value.request_id == "req_9"
    assert "busy, try later" in str(info.value) and KEY not in str(info.value)


class TokenLog(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


async def test_thinking_never_leaks_into_answer_or_tokens(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text="The answer is 185.", thinking="925 divided by 5 is 185"))
    log = TokenLog()
    async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k", callbacks=[log]) as chat:
        stream = chat.stream("What is 925 / 5?")
        events = [e async for e in stream.events()]
    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    assert thinking == "925 divided by 5 is 185"
    assert any(isinstance(e, ThinkingDelta) and e.signature == "mock-signature" for e in events)
    assert "".join(log.tokens) == "The answer is 185."
    generation = stream.result.generations[0][0]
    assert isinstance(generation, ChatGeneration)
    assert generation.text == "The answer is 185."
    assert generation.message.additional_kwargs["thinking"] == thinking
    assert "divided" not in generation.message.content


async def test_cumulative_usage_is_never_added(mock_server: MockServer) -> None:
    body = messages_sse(["x"]).replace(
        b"event: message_stop",
        b'event: message_delta\ndata: {"type": "message_delta", "delta": {}, "usage": {"output_tokens": 6}}\n\n'
        b"event: message_stop",
    )
    mock_server.enqueue(MockResponse(raw=body, chunk_size=5))
    async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k") as chat:
        result = await chat.stream("hi").collect()
    assert result.token_usage == {
        "prompt_tokens": 9,
        "completion_tokens": 6,
        "total_tokens": 15,
        "input_tokens": 9,
        "output_tokens": 6,
    }


async def test_signed_thinking_goes_back_with_the_tool_use_turn(mock_server: MockServer) -> None:
    """Continuing a tool-use turn with thinking on needs the signed thinking block back."""
    mock_server.enqueue(
        MockResponse(
            thinking="I need the weather tool",
            tool_calls=[{"name": "get_weather", "args": {"city": "Oslo"}, "id": "t1"}],
        ),
        MockResponse(text="It is 5C in Oslo."),
    )
    async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k") as chat:
        first = await chat("weather in Oslo?", tools=[{"name": "get_weather"}])
        assert first.additional_kwargs["thinking_signature"] == "mock-signature"
        await chat(
            [HumanMessage(content="weather in Oslo?"), first, ToolMessage(content="5C", tool_call_id="t1")]
        )
    assistant = mock_server.requests[-1].json["messages"][1]
    assert assistant == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "I need the weather tool", "signature": "mock-signature"},
            {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Oslo"}},
        ],
    }
