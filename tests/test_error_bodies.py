"""Error bodies on non-2xx answers: read to the end (up to a cap), message taken from every common shape.

Issue #9, class 3 (transport part). Servers on 127.0.0.1 send the body in
many small pieces with pauses, the message at the very end.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from loopback import drip, serve

from streamkit import (
    APIStatusError,
    BadRequestError,
    ChatAnthropic,
    ChatOpenAI,
    InternalServerError,
    OverloadedError,
    RateLimitError,
)
from streamkit.errors import error_from_payload
from streamkit.models import ChatModel
from streamkit.providers._anthropic import AnthropicProvider
from streamkit.providers._openai import OpenAIChatProvider, OpenAICompletionsProvider
from streamkit.testing import MockResponse, MockServer

PROVIDERS = ["openai", "anthropic"]
MAX_ERROR_BODY = 64 * 1024  # the documented cap (streamkit._transport.MAX_ERROR_BODY)


def error_message(body: Any) -> tuple[str | None, str | None]:
    from streamkit.errors import error_message as shared  # new in this change: imported late

    return shared(body)


def model_for(provider: str, url: str) -> ChatModel:
    if provider == "openai":
        return ChatOpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0)
    return ChatAnthropic(base_url=url, api_key="k", max_retries=0)


async def failure(model: ChatModel) -> APIStatusError:
    async with model:
        with pytest.raises(APIStatusError) as info:
            await model("hi")
    return info.value


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_json_error_body_in_small_delayed_pieces_is_read_to_the_end(provider: str) -> None:
    # The message comes after 3 KB of padding, in 24-byte writes 2 ms apart:
    # one read returns only the first pieces.
    inner = {"type": "invalid_request_error", "message": "the real reason, at the very end"}
    payload: dict[str, Any] = {"padding": "x" * 3000, "error": inner}
    if provider == "anthropic":
        payload = {"type": "error", **payload}
    body = json.dumps(payload).encode()

    async def handler(request: web.Request) -> web.StreamResponse:
        return await drip(request, 400, body, size=24, pause=0.002, ctype="application/json")

    async with serve(handler) as server:
        err = await failure(model_for(provider, server.url))
    assert isinstance(err, BadRequestError)
    assert "the real reason, at the very end" in str(err)
    assert err.body == payload
    assert err.error_type == "invalid_request_error"
    assert len(server.requests) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_plain_text_error_body_in_small_pieces_is_read_whole(provider: str) -> None:
    text = "upstream model worker crashed while loading the weights; " * 3 + "retry in a minute"

    async def handler(request: web.Request) -> web.StreamResponse:
        return await drip(request, 502, text.encode(), size=7, pause=0.002, ctype="text/plain")

    async with serve(handler) as server:
        err = await failure(model_for(provider, server.url))
    assert isinstance(err, InternalServerError)
    assert err.status_code == 502
    assert "retry in a minute" in str(err)
    assert err.body == text


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_plain_text_message_is_its_first_500_characters(provider: str) -> None:
    text = "A" * 499 + "B" + "C" * 2000

    async def handler(request: web.Request) -> web.StreamResponse:
        return await drip(request, 500, text.encode(), size=256, pause=0.001, ctype="text/plain")

    async with serve(handler) as server:
        err = await failure(model_for(provider, server.url))
    assert "A" * 499 + "B" in str(err) and "C" not in str(err)
    assert err.body == text  # the whole body is kept


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_body_over_the_cap_is_cut_at_the_cap_not_an_error(provider: str) -> None:
    from streamkit._transport import MAX_ERROR_BODY as cap

    assert cap == MAX_ERROR_BODY
    body = b"E" * (3 * MAX_ERROR_BODY)

    async def handler(request: web.Request) -> web.StreamResponse:
        return await drip(request, 503, body, size=4096, pause=0.001, ctype="text/plain")

    async with serve(handler) as server:
        err = await failure(model_for(provider, server.url))
    assert isinstance(err, InternalServerError) and err.status_code == 503
    assert isinstance(err.body, str)
    assert len(err.body) == MAX_ERROR_BODY  # read up to the cap, and no further
    assert str(err) == "HTTP 503: " + "E" * 500


# -- the shapes ---------------------------------------------------------------

VALIDATION_DETAIL = [
    {
        "type": "missing",
        "loc": ["body", "messages", 0, "role"],
        "msg": "Field required",
        "input": {"content": "hi"},
    },
    {
        "type": "less_than_equal",
        "loc": ["body", "temperature"],
        "msg": "Input should be less than or equal to 2",
    },
]

SHAPES: list[tuple[str, Any, str, str | None]] = [
    (
        "openai",
        {"error": {"message": "m-openai", "type": "invalid_request_error"}},
        "m-openai",
        "invalid_request_error",
    ),
    ("string-error", {"error": "model 'x' not found, try pulling it first"}, "model 'x' not found", None),
    (
        "top-level",
        {"object": "error", "message": "m-vllm", "type": "BadRequestError", "code": 400},
        "m-vllm",
        "BadRequestError",
    ),
    (
        "detail-string",
        {"detail": "Unexpected keys in the request: {'foo'}"},
        "Unexpected keys in the request",
        None,
    ),
    (
        "detail-list",
        {"detail": VALIDATION_DETAIL},
        "body.messages.0.role: Field required; body.temperature: Input should be less than or equal to 2",
        None,
    ),
    (
        "anthropic",
        {"type": "error", "error": {"type": "not_found_error", "message": "model: nope"}},
        "model: nope",
        "not_found_error",
    ),
]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(("name", "body", "expected", "kind"), SHAPES, ids=[s[0] for s in SHAPES])
async def test_error_message_from_every_shape_reaches_the_exception(
    provider: str, name: str, body: Any, expected: str, kind: str | None
) -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(status=422, error=body))
        err = await failure(model_for(provider, server.url))
    assert isinstance(err, BadRequestError)
    assert expected in str(err)
    assert err.error_type == kind
    assert err.body == body


def test_detail_list_never_shows_the_echoed_input() -> None:
    message, _ = error_message({"detail": VALIDATION_DETAIL})
    assert message is not None and "hi" not in message


async def test_anthropic_error_type_is_kept_and_classifies() -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    async with MockServer() as server:
        server.enqueue(MockResponse(status=500, error=body))
        err = await failure(model_for("anthropic", server.url))
    assert isinstance(err, OverloadedError)
    assert err.error_type == "overloaded_error" and "Overloaded" in str(err)


#: OpenAI's "429 - You exceeded your current quota, please check your plan and billing details"
#: (https://platform.openai.com/docs/guides/error-codes/api-errors), as its error object; older
#: bodies had ``"code": null``.
QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."
)
QUOTA = {"message": QUOTA_MESSAGE, "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}


@pytest.mark.parametrize(
    "payload",
    [
        {"error": QUOTA},
        {"error": {**QUOTA, "code": None}},
        {"error": {**QUOTA, "type": None}},  # only the code names it
        {"type": "error", "error": QUOTA},
    ],
    ids=["documented", "code-null", "code-only", "event"],
)
def test_insufficient_quota_is_a_rate_limit_error(payload: dict[str, Any]) -> None:
    """The shared classifier: OpenAI's quota error is a 429, whichever field names it."""
    err = error_from_payload(payload)
    assert isinstance(err, RateLimitError)
    assert err.status_code == 429 and err.error_type == "insufficient_quota"
    assert err.message == QUOTA_MESSAGE and err.body == payload


async def test_insufficient_quota_inside_a_chat_completions_stream() -> None:
    """An error object in a 200 stream (a gateway relaying OpenAI's) is the same RateLimitError."""
    frames = b'data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,'
    frames += b'"delta":{"content":"Hi"},"finish_reason":null}]}\n\n'
    frames += b"data: " + json.dumps({"error": QUOTA}).encode() + b"\n\n"
    async with MockServer() as server:
        server.enqueue(MockResponse(raw=frames, content_type="text/event-stream"))
        async with ChatOpenAI(
            base_url=server.openai_base_url, api_key="k", max_retries=0, streaming=True
        ) as chat:
            with pytest.raises(RateLimitError) as info:
                await chat("hi")
    assert info.value.error_type == "insufficient_quota" and info.value.message == QUOTA_MESSAGE
    partial = info.value.partial_result
    assert partial is not None and partial.generations[0][0].text == "Hi"


@pytest.mark.parametrize("body", [s[1] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_both_providers_parse_errors_with_the_one_shared_function(body: Any) -> None:
    expected = error_message(body)
    assert expected[0]
    for provider in (OpenAIChatProvider(), OpenAICompletionsProvider(), AnthropicProvider()):
        assert provider.parse_error(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "text",
        3,
        {},
        {"error": None},
        {"error": 5},
        {"error": []},
        {"error": {"message": None, "code": 7}},
        {"error": {"message": ""}},
        {"message": {"nested": 1}},
        {"message": ["a"]},
        {"detail": None},
        {"detail": [1, None, {"msg": 3}, {"loc": "x", "msg": "ok"}]},
        {"detail": {"error": "boom"}},
        {"type": True, "message": "m"},
    ],
)
def test_error_message_never_raises_and_returns_text_or_none(body: Any) -> None:
    message, kind = error_message(body)
    assert message is None or isinstance(message, str)
    assert kind is None or isinstance(kind, str)
