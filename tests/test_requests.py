"""Request shape, HTTP error mapping and retries, with aiohttp mocked by aioresponses.

aioresponses hands the whole body over at once, so chunk boundaries are
tested elsewhere (decoder unit tests, and over the real loopback server).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aioresponses import aioresponses

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

BASE = "http://127.0.0.1:9/v1"
KEY = "sk-test-SENTINEL-0123456789"


def chat_sse(text_parts: list[str], usage: dict[str, int] | None = None) -> bytes:
    chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}], "model": "m-1"}]
    chunks += [{"choices": [{"index": 0, "delta": {"content": t}}], "model": "m-1"} for t in text_parts]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "model": "m-1"})
    if usage:
        chunks.append({"choices": [], "usage": usage, "model": "m-1"})
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return body.encode()


def sent(m: aioresponses, url: str) -> list[Any]:
    calls = [c for (method, u), cs in m.requests.items() if method == "POST" and str(u) == url for c in cs]
    return calls


async def test_chat_stream_request_shape() -> None:
    url = f"{BASE}/chat/completions"
    with aioresponses() as m:
        m.post(
            url,
            body=chat_sse(["Hi", " there"], {"prompt_tokens": 3, "completion_tokens": 2}),
            content_type="text/event-stream",
        )
        async with ChatOpenAI(base_url=BASE, api_key=KEY, temperature=0, model="gpt-test") as chat:
            tokens = [
                t
                async for t in chat.stream([SystemMessage(content="be brief"), HumanMessage(content="hello")])
            ]
        (call,) = sent(m, url)
    assert tokens == ["Hi", " there"]
    headers = call.kwargs["headers"]
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert headers["Content-Type"] == "application/json"
    body = json.loads(call.kwargs["data"])
    assert body == {
        "model": "gpt-test",
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
    }


async def test_completions_request_shape_and_usage() -> None:
    url = f"{BASE}/completions"
    sse = (
        b'data: {"choices":[{"text":"Hel","index":0,"finish_reason":null}],"model":"inst-1"}\n\n'
        b'data: {"choices":[{"text":"lo","index":0,"finish_reason":"stop"}],"model":"inst-1"}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6},'
        b'"model":"inst-1"}\n\n'
        b"data: [DONE]\n\n"
    )
    with aioresponses() as m:
        m.post(url, body=sse, content_type="text/event-stream")
        async with OpenAI(base_url=BASE, api_key=KEY, streaming=True, max_tokens=16, stop="\n", n=1) as llm:
            result = await llm.generate(["Say hello"])
        (call,) = sent(m, url)
    body = json.loads(call.kwargs["data"])
    assert body["prompt"] == "Say hello"
    assert body["max_tokens"] == 16
    assert body["stop"] == ["\n"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert "n" not in body  # the default is left to the server
    assert result.generations[0][0].text == "Hello"
    assert result.llm_output == {
        "token_usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
        "model_name": "inst-1",
    }


async def test_non_streaming_request_has_no_stream_flag_and_same_result_shape() -> None:
    url = f"{BASE}/chat/completions"
    response = {
        "id": "chatcmpl-1",
        "model": "m-2",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hey"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
    with aioresponses() as m:
        m.post(url, payload=response)
        async with ChatOpenAI(base_url=BASE, api_key=KEY) as chat:
            result = await chat.generate([[HumanMessage(content="yo")]])
        (call,) = sent(m, url)
    body = json.loads(call.kwargs["data"])
    assert "stream" not in body and "stream_options" not in body
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


async def test_per_call_options_and_model_kwargs() -> None:
    url = f"{BASE}/chat/completions"
    with aioresponses() as m:
        m.post(url, body=chat_sse(["x"]), content_type="text/event-stream")
        async with ChatOpenAI(base_url=BASE, api_key=KEY, model_kwargs={"seed": 7}, temperature=1.0) as chat:
            async with chat.stream("hi", temperature=0.2, max_tokens=3, model="other") as stream:
                assert [t async for t in stream] == ["x"]
        (call,) = sent(m, url)
    body = json.loads(call.kwargs["data"])
    assert body["seed"] == 7
    assert body["temperature"] == 0.2
    assert body["max_tokens"] == 3
    assert body["model"] == "other"


async def test_unknown_or_bad_per_call_option_fails_before_sending() -> None:
    with aioresponses() as m:
        async with ChatOpenAI(base_url=BASE, api_key=KEY) as chat:
            with pytest.raises(InvalidArgumentError, match="unknown argument 'temprature'"):
                chat.stream("hi", temprature=0.5)
            with pytest.raises(InvalidArgumentError, match="temperature"):
                chat.stream("hi", temperature=9)
        assert not m.requests


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
async def test_http_errors_are_typed_and_not_retried(status: int, error: dict[str, Any], cls: type) -> None:
    url = f"{BASE}/chat/completions"
    with aioresponses() as m:
        m.post(url, status=status, payload=error, headers={"x-request-id": "req_123"}, repeat=True)
        async with ChatOpenAI(base_url=BASE, api_key=KEY, max_retries=3) as chat:
            with pytest.raises(cls) as info:
                await chat("hi")
        assert len(sent(m, url)) == 1  # never retried
    err = info.value
    assert err.status_code == status
    assert err.request_id == "req_123"
    assert error["error"]["message"] in str(err)
    assert KEY not in str(err) and KEY not in repr(err)


async def test_rate_limit_is_retried_honouring_retry_after() -> None:
    url = f"{BASE}/chat/completions"
    retries: list[tuple[int, float]] = []

    class OnRetry(BaseCallbackHandler):
        def on_retry(self, error: BaseException, **kwargs: Any) -> None:
            assert isinstance(error, RateLimitError)
            retries.append((kwargs["attempt"], kwargs["delay"]))

    with aioresponses() as m:
        m.post(url, status=429, payload={"error": {"message": "slow down"}}, headers={"retry-after-ms": "10"})
        m.post(url, body=chat_sse(["ok"]), content_type="text/event-stream")
        async with ChatOpenAI(base_url=BASE, api_key=KEY, streaming=True, callbacks=[OnRetry()]) as chat:
            message = await chat("hi")
        assert len(sent(m, url)) == 2
    assert message.content == "ok"
    assert retries == [(1, 0.01)]


async def test_rate_limit_gives_up_with_retry_after_on_the_error() -> None:
    url = f"{BASE}/chat/completions"
    with aioresponses() as m:
        m.post(
            url, status=429, payload={"error": {"message": "slow"}}, headers={"retry-after": "0"}, repeat=True
        )
        async with ChatOpenAI(base_url=BASE, api_key=KEY, max_retries=2) as chat:
            with pytest.raises(RateLimitError) as info:
                await chat("hi")
        assert len(sent(m, url)) == 3  # one try and two retries
    assert info.value.retry_after == 0.0
    assert info.value.status_code == 429


async def test_server_error_retried_then_typed() -> None:
    url = f"{BASE}/completions"
    with aioresponses() as m:
        m.post(url, status=503, body="upstream down", repeat=True, headers={"retry-after": "0"})
        async with OpenAI(base_url=BASE, api_key=KEY, max_retries=1) as llm:
            with pytest.raises(InternalServerError) as info:
                await llm("hi")
        assert len(sent(m, url)) == 2
    assert info.value.status_code == 503
    assert "upstream down" in str(info.value)


async def test_openai_compatible_server_ignoring_stream_flag_still_works() -> None:
    """Some servers answer ``stream: true`` with one JSON body: same result."""
    url = f"{BASE}/chat/completions"
    response = {
        "model": "local",
        "choices": [{"index": 0, "message": {"content": "whole"}, "finish_reason": "stop"}],
    }
    with aioresponses() as m:
        m.post(url, payload=response)
        async with ChatOpenAI(base_url=BASE) as chat:  # no key needed for a custom server
            stream = chat.stream("hi")
            assert [t async for t in stream] == ["whole"]
        (call,) = sent(m, url)
    assert "Authorization" not in call.kwargs["headers"]
    assert stream.result.generations[0][0].text == "whole"
