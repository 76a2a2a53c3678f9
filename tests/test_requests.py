"""Request shape, HTTP error mapping and retries, against the loopback ``MockServer``.

The server records each request as it arrived on the wire (method, path,
headers, JSON body), so these tests see exactly what the client sent. Every
answer here is one write, so chunk boundaries are tested elsewhere (decoder
unit tests, and the chunked ``MockResponse`` cases).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from multidict import CIMultiDict

from streamkit import (
    AuthenticationError,
    BadRequestError,
    ChatOpenAI,
    HumanMessage,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    OpenAI,
    RateLimitError,
    SystemMessage,
)
from streamkit.callbacks import BaseCallbackHandler
from streamkit.testing import MockResponse, MockServer
from streamkit.testing._server import RecordedRequest

KEY = "sk-test-SENTINEL-0123456789"


def chat_sse(text_parts: list[str], usage: dict[str, int] | None = None) -> bytes:
    chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}], "model": "m-1"}]
    chunks += [{"choices": [{"index": 0, "delta": {"content": t}}], "model": "m-1"} for t in text_parts]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "model": "m-1"})
    if usage:
        chunks.append({"choices": [], "usage": usage, "model": "m-1"})
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return body.encode()


def sse(body: bytes) -> MockResponse:
    """Answer with these exact SSE bytes (one write)."""
    return MockResponse(raw=body, content_type="text/event-stream")


def json_answer(payload: Any) -> MockResponse:
    """Answer with one JSON body, status 200."""
    return MockResponse(raw=json.dumps(payload).encode(), content_type="application/json")


def always(response: MockResponse) -> Any:
    """A ``MockServer.responder`` that answers every request with ``response``."""
    return lambda _request: response


def sent(server: MockServer, path: str) -> list[RecordedRequest]:
    """The POSTs the server received on ``path``."""
    return [r for r in server.requests if r.method == "POST" and r.path == path]


def headers_of(request: RecordedRequest) -> CIMultiDict[str]:
    """The request's headers, looked up case-insensitively (as HTTP does)."""
    return CIMultiDict(request.headers)


async def test_chat_stream_request_shape(mock_server: MockServer) -> None:
    mock_server.enqueue(sse(chat_sse(["Hi", " there"], {"prompt_tokens": 3, "completion_tokens": 2})))
    async with ChatOpenAI(
        base_url=mock_server.openai_base_url, api_key=KEY, temperature=0, model="gpt-test"
    ) as chat:
        tokens = [
            t async for t in chat.stream([SystemMessage(content="be brief"), HumanMessage(content="hello")])
        ]
    (call,) = sent(mock_server, "/v1/chat/completions")
    assert len(mock_server.requests) == 1
    assert tokens == ["Hi", " there"]
    headers = headers_of(call)
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert headers["Content-Type"] == "application/json"
    assert call.json == {
        "model": "gpt-test",
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
    }


async def test_completions_request_shape_and_usage(mock_server: MockServer) -> None:
    body = (
        b'data: {"choices":[{"text":"Hel","index":0,"finish_reason":null}],"model":"inst-1"}\n\n'
        b'data: {"choices":[{"text":"lo","index":0,"finish_reason":"stop"}],"model":"inst-1"}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6},'
        b'"model":"inst-1"}\n\n'
        b"data: [DONE]\n\n"
    )
    mock_server.enqueue(sse(body))
    async with OpenAI(
        base_url=mock_server.openai_base_url, api_key=KEY, streaming=True, max_tokens=16, stop="\n", n=1
    ) as llm:
        result = await llm.generate(["Say hello"])
    (call,) = sent(mock_server, "/v1/completions")
    assert len(mock_server.requests) == 1
    assert call.json["prompt"] == "Say hello"
    assert call.json["max_tokens"] == 16
    assert call.json["stop"] == ["\n"]
    assert call.json["stream"] is True and call.json["stream_options"] == {"include_usage": True}
    assert "n" not in call.json  # the default is left to the server
    assert result.generations[0][0].text == "Hello"
    assert result.llm_output is not None and "metrics" in result.llm_output
    result.llm_output.pop("metrics")
    assert result.llm_output == {
        "token_usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
        "model_name": "inst-1",
    }


async def test_non_streaming_request_has_no_stream_flag_and_same_result_shape(
    mock_server: MockServer,
) -> None:
    response = {
        "id": "chatcmpl-1",
        "model": "m-2",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hey"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
    mock_server.enqueue(json_answer(response))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key=KEY) as chat:
        result = await chat.generate([[HumanMessage(content="yo")]])
    (call,) = sent(mock_server, "/v1/chat/completions")
    assert "stream" not in call.json and "stream_options" not in call.json
    generation = result.generations[0][0]
    assert generation.text == "Hey"
    assert generation.message.content == "Hey"  # type: ignore[attr-defined]
    assert generation.generation_info == {
        "finish_reason": "stop",
        "logprobs": None,
        "normalized_finish_reason": "stop",
    }
    assert result.llm_output is not None
    assert result.llm_output["token_usage"] == {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
    assert result.llm_output["model_name"] == "m-2"


async def test_per_call_options_and_model_kwargs(mock_server: MockServer) -> None:
    mock_server.enqueue(sse(chat_sse(["x"])))
    async with ChatOpenAI(
        base_url=mock_server.openai_base_url, api_key=KEY, model_kwargs={"seed": 7}, temperature=1.0
    ) as chat:
        async with chat.stream("hi", temperature=0.2, max_tokens=3, model="other") as stream:
            assert [t async for t in stream] == ["x"]
    (call,) = sent(mock_server, "/v1/chat/completions")
    assert call.json["seed"] == 7
    assert call.json["temperature"] == 0.2
    assert call.json["max_tokens"] == 3
    assert call.json["model"] == "other"


async def test_unknown_or_bad_per_call_option_fails_before_sending(mock_server: MockServer) -> None:
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key=KEY) as chat:
        with pytest.raises(InvalidArgumentError, match="unknown argument 'temprature'"):
            chat.stream("hi", temprature=0.5)
        with pytest.raises(InvalidArgumentError, match="temperature"):
            chat.stream("hi", temperature=9)
    assert not mock_server.requests


@pytest.mark.parametrize(
    ("status", "error", "cls"),
    [
        (400, {"error": {"message": "bad param", "type": "invalid_request_error"}}, BadRequestError),
        (
            401,
            {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}},
            AuthenticationError,
        ),
        (404, {"error": {"message": "model not found", "type": "invalid_request_error"}}, NotFoundError),
        (422, {"error": {"message": "unprocessable"}}, BadRequestError),
    ],
)
async def test_http_errors_are_typed_and_not_retried(
    mock_server: MockServer, status: int, error: dict[str, Any], cls: type
) -> None:
    mock_server.responder = always(
        MockResponse(status=status, error=error, headers={"x-request-id": "req_123"})
    )
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key=KEY, max_retries=3) as chat:
        with pytest.raises(cls) as info:
            await chat("hi")
    assert len(sent(mock_server, "/v1/chat/completions")) == 1  # never retried
    err = info.value
    assert err.status_code == status
    assert err.request_id == "req_123"
    assert error["error"]["message"] in str(err)
    assert KEY not in str(err) and KEY not in repr(err)


async def test_rate_limit_is_retried_honouring_retry_after(mock_server: MockServer) -> None:
    retries: list[tuple[int, float]] = []

    class OnRetry(BaseCallbackHandler):
        def on_retry(self, error: BaseException, **kwargs: Any) -> None:
            assert isinstance(error, RateLimitError)
            retries.append((kwargs["attempt"], kwargs["delay"]))

    mock_server.enqueue(
        MockResponse(status=429, error={"error": {"message": "slow down"}}, headers={"retry-after-ms": "10"}),
        sse(chat_sse(["ok"])),
    )
    async with ChatOpenAI(
        base_url=mock_server.openai_base_url, api_key=KEY, streaming=True, callbacks=[OnRetry()]
    ) as chat:
        message = await chat("hi")
    assert len(sent(mock_server, "/v1/chat/completions")) == 2
    assert message.content == "ok"
    assert retries == [(1, 0.01)]


async def test_rate_limit_gives_up_with_retry_after_on_the_error(mock_server: MockServer) -> None:
    mock_server.responder = always(
        MockResponse(status=429, error={"error": {"message": "slow"}}, headers={"retry-after": "0"})
    )
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key=KEY, max_retries=2) as chat:
        with pytest.raises(RateLimitError) as info:
            await chat("hi")
    assert len(sent(mock_server, "/v1/chat/completions")) == 3  # one try and two retries
    assert info.value.retry_after == 0.0
    assert info.value.status_code == 429


async def test_server_error_retried_then_typed(mock_server: MockServer) -> None:
    mock_server.responder = always(
        MockResponse(
            status=503, raw=b"upstream down", content_type="text/plain", headers={"retry-after": "0"}
        )
    )
    async with OpenAI(base_url=mock_server.openai_base_url, api_key=KEY, max_retries=1) as llm:
        with pytest.raises(InternalServerError) as info:
            await llm("hi")
    assert len(sent(mock_server, "/v1/completions")) == 2
    assert info.value.status_code == 503
    assert "upstream down" in str(info.value)


async def test_openai_compatible_server_ignoring_stream_flag_still_works(mock_server: MockServer) -> None:
    """Some servers answer ``stream: true`` with one JSON body: same result."""
    response = {
        "model": "local",
        "choices": [{"index": 0, "message": {"content": "whole"}, "finish_reason": "stop"}],
    }
    mock_server.enqueue(json_answer(response))
    async with ChatOpenAI(base_url=mock_server.openai_base_url) as chat:  # no key needed for a custom server
        stream = chat.stream("hi")
        assert [t async for t in stream] == ["whole"]
    (call,) = sent(mock_server, "/v1/chat/completions")
    assert call.json["stream"] is True
    assert "Authorization" not in headers_of(call)
    assert stream.result.generations[0][0].text == "whole"
