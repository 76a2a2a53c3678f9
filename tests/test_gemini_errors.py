"""The Gemini error matrix, over loopback HTTP through ``ChatGoogleGenerativeAI``.

* HTTP errors: Google's error body ``{"error": {"code", "message",
  "status", "details"?}}`` for each status the troubleshooting guide lists
  (https://ai.google.dev/gemini-api/docs/troubleshooting), as an object and
  wrapped in a JSON list (as streamGenerateContent without ``alt=sse``
  answers: continuedev/continue#8516 quotes one), becomes the typed error
  with Google's message and ``error_type`` = its ``status``.
* In-stream errors (``data: {"error": ...}``, python-genai's
  ``tests/client/test_async_stream.py`` shape) become the classified error,
  with the partial result.
* A stream cut short (no ``finishReason``) is :class:`IncompleteStreamError`;
  broken JSON or a value of the wrong type is :class:`ProtocolError`.
* A prompt blocked before any answer (``promptFeedback.blockReason``, shape
  from python-genai ``types.GenerateContentResponsePromptFeedback``) is a
  ``content_filter`` finish, not an error.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamkit import (
    APIError,
    AuthenticationError,
    BadRequestError,
    IncompleteStreamError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
)
from streamkit.errors import APIStatusError
from streamkit.providers.gemini import ChatGoogleGenerativeAI
from streamkit.testing import MockResponse, MockServer


@pytest.fixture(autouse=True)
def _no_google_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def chat(server: MockServer, **settings: Any) -> ChatGoogleGenerativeAI:
    return ChatGoogleGenerativeAI(base_url=server.url, api_key="test-key", **{"max_retries": 0, **settings})


def google_error(code: int, status: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status, **extra}}


HTTP_ERRORS = [
    (
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        BadRequestError,
        # As the API sends it (quoted in continuedev/continue#8516).
        {
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ]
        },
    ),
    (400, "FAILED_PRECONDITION", "User location is not supported for the API use.", BadRequestError, {}),
    (401, "UNAUTHENTICATED", "Request had invalid authentication credentials.", AuthenticationError, {}),
    (
        403,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity).",
        PermissionDeniedError,
        {},
    ),
    (404, "NOT_FOUND", "models/gemini-9 is not found for API version v1beta.", NotFoundError, {}),
    (429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).", RateLimitError, {}),
    (500, "INTERNAL", "An internal error has occurred. Please retry.", InternalServerError, {}),
    (503, "UNAVAILABLE", "The model is overloaded. Please try again later.", InternalServerError, {}),
    (504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete.", InternalServerError, {}),
]


@pytest.mark.parametrize("wrapped", [False, True], ids=["object", "list"])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize(("status", "rpc", "message", "cls", "extra"), HTTP_ERRORS)
async def test_http_error_bodies(
    status: int,
    rpc: str,
    message: str,
    cls: type[APIStatusError],
    extra: dict[str, Any],
    stream: bool,
    wrapped: bool,
) -> None:
    payload: Any = google_error(status, rpc, message, **extra)
    if wrapped:
        payload = [payload]
    async with MockServer() as server:
        server.enqueue(
            MockResponse(
                status=status, raw=json.dumps(payload, indent=2).encode(), content_type="application/json"
            )
        )
        async with chat(server) as model:
            with pytest.raises(APIStatusError) as info:
                if stream:
                    await model.stream("hi").collect()
                else:
                    await model("hi")
    err = info.value
    assert type(err) is cls
    assert err.status_code == status
    assert message in str(err)
    assert err.error_type == rpc
    assert err.body == payload
    assert err.retryable == (status in (429, 500, 503, 504))
    assert err.partial_result is not None


async def test_a_retryable_status_is_retried_then_answers() -> None:
    async with MockServer() as server:
        server.enqueue_failures(2, 503, retry_after=0, then=MockResponse(text="back again"))
        async with chat(server, max_retries=2) as model:
            answer = await model("hi")
    assert answer.content == "back again"
    assert len(server.requests) == 3
    # The mock speaks Google's error body too.
    assert server.requests[0].path.endswith(":generateContent")


@pytest.mark.parametrize(
    ("error_type", "cls", "status"),
    [
        ("overloaded_error", InternalServerError, "UNAVAILABLE"),
        ("rate_limit_error", RateLimitError, "RESOURCE_EXHAUSTED"),
        ("api_error", InternalServerError, "INTERNAL"),
        ("invalid_request_error", BadRequestError, "INVALID_ARGUMENT"),
    ],
)
async def test_in_stream_error_keeps_the_partial_answer(
    error_type: str, cls: type[APIError], status: str
) -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(text="one two three four", error_after=3, error_type=error_type))
        async with chat(server) as model:
            with pytest.raises(APIError) as info:
                await model.stream("hi").collect()
    err = info.value
    assert type(err) is cls
    assert getattr(err, "error_type", None) == status
    assert err.partial_result is not None
    assert err.partial_result.generations[0][0].text == "one two three"  # one token per event


def _sse(*objects: Any) -> bytes:
    return b"".join(b"data: " + json.dumps(o).encode() + b"\r\n\r\n" for o in objects)


def _chunk(text: str, finish: str | None = None, **more: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "modelVersion": "gemini-2.5-flash", "responseId": "r1", **more}


@pytest.mark.parametrize(
    ("error", "cls", "error_type"),
    [
        (google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded."), RateLimitError, "RESOURCE_EXHAUSTED"),
        ([google_error(500, "INTERNAL", "Internal error.")], InternalServerError, "INTERNAL"),
        # Google's status without a numeric code: classified by the status.
        (
            {"error": {"message": "Try again later.", "status": "UNAVAILABLE"}},
            InternalServerError,
            "UNAVAILABLE",
        ),
    ],
    ids=["object", "list", "status_only"],
)
async def test_recorded_shape_error_event_after_text(
    error: Any, cls: type[APIError], error_type: str
) -> None:
    body = _sse(_chunk("Hello"), _chunk(" there"), error)
    async with MockServer() as server:
        server.enqueue(MockResponse(raw=body, chunk_size=7))
        async with chat(server) as model:
            with pytest.raises(APIError) as info:
                await model.stream("hi").collect()
    err = info.value
    assert type(err) is cls
    assert err.retryable
    assert getattr(err, "error_type", None) == error_type
    assert err.partial_result is not None
    assert err.partial_result.generations[0][0].text == "Hello there"
    assert err.partial_result.llm_output is not None
    assert err.partial_result.llm_output["model_name"] == "gemini-2.5-flash"


async def test_a_stream_cut_before_its_finish_is_incomplete() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(text="one two three four", truncate_after=3))
        async with chat(server) as model:
            with pytest.raises(IncompleteStreamError) as info:
                await model.stream("hi").collect()
    assert info.value.partial_result is not None
    assert info.value.partial_result.generations[0][0].text == "one two three"
    assert "finishReason" in str(info.value)


async def test_a_stream_cut_mid_event_is_incomplete() -> None:
    body = _sse(_chunk("Hello"), _chunk(" there", "STOP"))
    async with MockServer() as server:
        server.enqueue(MockResponse(raw=body[:-30]))
        async with chat(server) as model:
            with pytest.raises(IncompleteStreamError) as info:
                await model.stream("hi").collect()
    assert info.value.partial_result is not None
    assert info.value.partial_result.generations[0][0].text == "Hello"


async def test_a_dropped_connection_keeps_the_partial_answer() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(text="one two three four", drop_after=2))
        async with chat(server) as model:
            with pytest.raises(APIError) as info:
                await model.stream("hi").collect()
    assert info.value.partial_result is not None
    assert info.value.partial_result.generations[0][0].text == "one two"


async def test_an_empty_body_is_incomplete() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(raw=b""))
        async with chat(server) as model:
            with pytest.raises(IncompleteStreamError):
                await model.stream("hi").collect()


async def test_malformed_json_is_a_protocol_error() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(text="one two three four", malformed_after=2))
        async with chat(server) as model:
            with pytest.raises(ProtocolError) as info:
                await model.stream("hi").collect()
    assert type(info.value) is ProtocolError
    assert info.value.partial_result is not None
    assert info.value.partial_result.generations[0][0].text == "one two"


@pytest.mark.parametrize(
    ("chunk", "where"),
    [
        ({"candidates": {"index": 0}}, "candidates must be a list"),
        ({"candidates": [{"content": {"parts": [{"text": 5}]}}]}, "parts[].text must be a string"),
        ({"candidates": [{"content": {"parts": "hi"}}]}, "candidates[].content.parts must be a list"),
        ({"candidates": [{"finishReason": 1}]}, "candidates[].finishReason must be a string"),
        (
            {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": [1]}}]}}]},
            "parts[].functionCall.args must be an object",
        ),
        (
            {"candidates": [], "usageMetadata": {"promptTokenCount": -1}},
            "promptTokenCount must be a whole number",
        ),
        (
            {"candidates": [{"content": {"parts": [{"text": "x", "thought": "yes"}]}}]},
            "thought must be a boolean",
        ),
    ],
)
async def test_a_value_of_the_wrong_type_is_a_protocol_error(chunk: dict[str, Any], where: str) -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(raw=_sse(_chunk("Hello"), chunk)))
        async with chat(server) as model:
            with pytest.raises(ProtocolError) as info:
                await model.stream("hi").collect()
    assert where in str(info.value)
    assert info.value.partial_result is not None
    assert info.value.partial_result.generations[0][0].text == "Hello"


async def test_json_error_with_status_200_is_the_typed_error() -> None:
    """A gateway may answer a stream with a JSON error document and 200: read whole, raised typed."""
    payload = google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.")
    async with MockServer() as server:
        server.enqueue(MockResponse(raw=json.dumps(payload).encode(), content_type="application/json"))
        async with chat(server) as model:
            with pytest.raises(RateLimitError) as info:
                await model.stream("hi").collect()
    assert info.value.error_type == "RESOURCE_EXHAUSTED"


async def test_pretty_printed_error_instead_of_events_is_the_typed_error() -> None:
    """An error body on a 200 event stream, without ``data:`` (python-genai reads such lines too)."""
    payload = google_error(500, "INTERNAL", "An internal error has occurred.")
    async with MockServer() as server:
        server.enqueue(MockResponse(raw=json.dumps(payload, indent=2).encode()))
        async with chat(server) as model:
            with pytest.raises(InternalServerError) as info:
                await model.stream("hi").collect()
    assert "An internal error has occurred." in str(info.value)


async def test_a_json_body_that_is_not_an_answer_is_a_protocol_error() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(raw=b'{"hello": "world"}', content_type="application/json"))
        async with chat(server) as model:
            with pytest.raises(ProtocolError) as info:
                await model("hi")
    assert "not a GenerateContentResponse" in str(info.value)


BLOCKED = {
    "promptFeedback": {
        "blockReason": "SAFETY",
        "safetyRatings": [
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
        ],
    },
    "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
    "modelVersion": "gemini-2.5-flash",
    "responseId": "blocked-1",
}


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
async def test_a_blocked_prompt_is_a_content_filter_finish(stream: bool) -> None:
    raw = _sse(BLOCKED) if stream else json.dumps(BLOCKED).encode()
    async with MockServer() as server:
        server.enqueue(
            MockResponse(raw=raw, content_type="text/event-stream" if stream else "application/json")
        )
        async with chat(server) as model:
            result = await model.stream("bad").collect() if stream else await model.generate([["bad"]])
    generation = result.generations[0][0]
    assert generation.text == ""
    assert generation.generation_info is not None
    assert generation.generation_info["finish_reason"] == "SAFETY"
    assert generation.generation_info["normalized_finish_reason"] == "content_filter"
    assert result.llm_output is not None
    assert result.llm_output["prompt_feedback"] == BLOCKED["promptFeedback"]
    assert result.llm_output["token_usage"]["prompt_tokens"] == 9


async def test_a_safety_finish_keeps_the_text_and_the_ratings() -> None:
    ratings = [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "MEDIUM"}]
    body = _sse(
        _chunk("Part of"),
        _chunk(" it", "SAFETY", usageMetadata={"promptTokenCount": 3, "totalTokenCount": 3}),
    )
    body = body.replace(
        b'"finishReason": "SAFETY"',
        b'"finishReason": "SAFETY", "safetyRatings": ' + json.dumps(ratings).encode(),
    )
    async with MockServer() as server:
        server.enqueue(MockResponse(raw=body))
        async with chat(server) as model:
            result = await model.stream("hi").collect()
    generation = result.generations[0][0]
    assert generation.text == "Part of it"
    assert generation.generation_info is not None
    assert generation.generation_info["normalized_finish_reason"] == "content_filter"
    assert result.llm_output is not None
    assert result.llm_output["safety_ratings"] == ratings
