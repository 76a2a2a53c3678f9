"""Review of issue #9 ("wire truth"): inputs that still break it.

Every test here is expected to FAIL on the reviewed code: each is a
defect, found by serving crafted bytes over the loopback ``MockServer``.
Wire sources are given where a test is based on one; the rest are plainly
hostile inputs that the README's "What a server can send" table covers.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from streamkit import ChatAnthropic, ChatOpenAI
from streamkit import errors as sk_errors
from streamkit.deadlines import Timeouts
from streamkit.results import LLMResult
from streamkit.testing import MockResponse, MockServer

JSON = "application/json"


def _sse(*chunks: dict[str, Any], done: bool = True) -> bytes:
    out = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    return out + (b"data: [DONE]\n\n" if done else b"")


def _anthropic_event(kind: str, **fields: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode()


def _chunk(content: str | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    return {
        "id": "c1",
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


async def _stream(
    raw: bytes,
    *,
    provider: str = "openai",
    content_type: str = "text/event-stream",
    status: int = 200,
    chunk_size: int | None = None,
    **settings: Any,
) -> tuple[list[str], LLMResult]:
    """Stream "hi" against ``raw``; return the tokens and ``stream.result`` (raises what the stream raises)."""
    async with MockServer() as server:
        server.enqueue(MockResponse(raw=raw, content_type=content_type, status=status, chunk_size=chunk_size))
        cls = ChatAnthropic if provider == "anthropic" else ChatOpenAI
        base = server.anthropic_base_url if provider == "anthropic" else server.openai_base_url
        llm = cls(base_url=base, api_key="k", max_retries=0, timeout=Timeouts(idle=2, total=10), **settings)
        tokens: list[str] = []

        async def run() -> LLMResult:
            async with llm:
                stream = llm.stream("hi")
                async for token in stream:
                    tokens.append(token)
                return stream.result

        result = await asyncio.wait_for(run(), 15)
        return tokens, result


async def _generate(raw: bytes, **settings: Any) -> LLMResult:
    async with MockServer() as server:
        server.enqueue(MockResponse(raw=raw, content_type=JSON))
        llm = ChatOpenAI(
            base_url=server.openai_base_url,
            api_key="k",
            max_retries=0,
            streaming=False,
            timeout=Timeouts(idle=2, total=10),
            **settings,
        )
        async with llm:
            return await asyncio.wait_for(llm.generate([["hi"]]), 15)


# 1. A JSON body with an empty ``choices`` list is taken for an (empty) answer.
#    README: "HTTP 200 with a JSON body (..., or no choices/content) to a
#    streaming request -> the typed error, or ProtocolError: never an empty answer".


async def test_json_body_with_empty_choices_to_a_stream_is_not_an_empty_answer() -> None:
    body = json.dumps({"id": "c1", "object": "chat.completion", "model": "m", "choices": []}).encode()
    with pytest.raises(sk_errors.ProtocolError):
        await _stream(body, content_type=JSON)


async def test_non_streaming_response_with_empty_choices_is_not_an_empty_answer() -> None:
    body = json.dumps({"id": "c1", "object": "chat.completion", "model": "m", "choices": []}).encode()
    with pytest.raises(sk_errors.ProtocolError):
        await _generate(body)


# 2. A whole JSON answer is never checked for completeness: no finish_reason /
#    stop_reason still counts as a finished answer. OpenAI's chat.completion
#    object documents finish_reason as a string on every choice
#    (https://platform.openai.com/docs/api-reference/chat/object); Anthropic's
#    Messages API: "In non-streaming mode this value [stop_reason] is always
#    non-null" (https://docs.anthropic.com/en/api/messages). The same bytes
#    as a stream ([DONE] without finish_reason) give IncompleteStreamError.


async def test_json_body_without_finish_reason_is_incomplete() -> None:
    body = json.dumps(
        {
            "id": "c1",
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "The answer is"},
                    "finish_reason": None,
                }
            ],
        }
    ).encode()
    with pytest.raises(sk_errors.IncompleteStreamError) as info:
        await _stream(body, content_type=JSON)
    assert info.value.partial_result is not None
    assert info.value.partial_result.text == "The answer is"


async def test_anthropic_json_body_without_stop_reason_or_content_is_not_an_answer() -> None:
    body = json.dumps(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude",
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 3, "output_tokens": 0},
        }
    ).encode()
    with pytest.raises(sk_errors.ProtocolError):
        await _stream(body, provider="anthropic", content_type=JSON)


# 3. Metadata: "the first non-empty id/model/system_fingerprint/created"
#    (README table, issue class 5). Once a chunk has both id and model the
#    mapper stops looking, so a fingerprint/created first sent later is lost.


async def test_system_fingerprint_and_created_from_a_later_chunk_are_kept() -> None:
    body = _sse(
        _chunk("", created=0, system_fingerprint=None),
        _chunk("hi", created=1700000000, system_fingerprint="fp_1"),
        _chunk(finish="stop", created=1700000000, system_fingerprint="fp_1"),
    )
    _, result = await _stream(body)
    assert result.llm_output is not None
    assert result.llm_output.get("system_fingerprint") == "fp_1"
    assert result.llm_output.get("created") == 1700000000


# 4. max_event_size is bypassed when a streaming request is answered with a
#    JSON body: the whole body is read and parsed, however large.


async def test_max_event_size_bounds_a_json_body_answering_a_stream() -> None:
    body = json.dumps(
        {
            "id": "c1",
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "z" * 100_000},
                    "finish_reason": "stop",
                }
            ],
        }
    ).encode()
    with pytest.raises(sk_errors.ProtocolError):
        await _stream(body, content_type=JSON, max_event_size=1000)


# 5. "anything after [DONE]/message_stop (a held connection, an abort,
#    garbage) -> ignored": not when the garbage is a line longer than
#    max_event_size arriving in the same read as the marker.


async def test_oversized_garbage_after_done_in_the_same_read_is_ignored() -> None:
    body = _sse(_chunk("ok"), _chunk(finish="stop")) + b"x" * 500 + b"\n\n"
    tokens, result = await _stream(body, max_event_size=200)
    assert tokens == ["ok"]
    assert result.text == "ok"


async def test_oversized_garbage_after_message_stop_in_the_same_read_is_ignored() -> None:
    body = (
        _anthropic_event("message_start", message={"id": "m1", "model": "c", "usage": {"input_tokens": 1}})
        + _anthropic_event("content_block_start", index=0, content_block={"type": "text", "text": ""})
        + _anthropic_event("content_block_delta", index=0, delta={"type": "text_delta", "text": "hi"})
        + _anthropic_event("content_block_stop", index=0)
        + _anthropic_event("message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": 1})
        + _anthropic_event("message_stop")
        + b"y" * 500
        + b"\n"
    )
    tokens, result = await _stream(body, provider="anthropic", max_event_size=200)
    assert tokens == ["hi"]
    assert result.text == "hi"


# 6. An error body wrapped in a JSON list loses its message. Google's APIs
#    answer [{"error": {"code", "message", "status"}}] (seen verbatim in
#    google-gemini/gemini-cli#12823, #13708, #15514). README: the message
#    comes from the body "whatever its shape".


async def test_error_body_wrapped_in_a_list_keeps_the_server_message() -> None:
    body = json.dumps(
        [
            {
                "error": {
                    "code": 429,
                    "message": "Resource has been exhausted (e.g. check quota).",
                    "status": "RESOURCE_EXHAUSTED",
                }
            }
        ]
    ).encode()
    with pytest.raises(sk_errors.RateLimitError) as info:
        await _stream(body, content_type=JSON, status=429)
    assert "Resource has been exhausted" in str(info.value)


# 7. Anthropic: message_stop with no stop_reason ever sent is a success with
#    finish_reason None, while OpenAI's [DONE] without finish_reason is an
#    IncompleteStreamError. Anthropic's streaming docs: every stream has a
#    message_delta carrying stop_reason before message_stop
#    (https://docs.anthropic.com/en/docs/build-with-claude/streaming).


async def test_anthropic_message_stop_without_stop_reason_is_incomplete() -> None:
    body = (
        _anthropic_event("message_start", message={"id": "m1", "model": "c", "usage": {"input_tokens": 1}})
        + _anthropic_event("content_block_start", index=0, content_block={"type": "text", "text": ""})
        + _anthropic_event(
            "content_block_delta", index=0, delta={"type": "text_delta", "text": "The answer is"}
        )
        + _anthropic_event("message_stop")
    )
    with pytest.raises(sk_errors.IncompleteStreamError) as info:
        await _stream(body, provider="anthropic")
    assert info.value.partial_result is not None
    assert info.value.partial_result.text == "The answer is"


# 8. A non-streaming choice without a ``message`` (null or missing) is an
#    empty answer, not a ProtocolError ("a missing field becomes a typed
#    ProtocolError", issue class 2).


@pytest.mark.parametrize(
    "choice", [{"index": 0, "message": None, "finish_reason": "stop"}, {"index": 0, "finish_reason": "stop"}]
)
async def test_non_streaming_choice_without_message_is_a_protocol_error(choice: dict[str, Any]) -> None:
    body = json.dumps({"id": "c1", "model": "m", "choices": [choice]}).encode()
    with pytest.raises(sk_errors.ProtocolError):
        await _generate(body)


# 9. HTTP 200, a plain-text body that is not SSE: the server's text is
#    dropped ("the stream ended before any event arrived"); a JSON or HTML
#    body is quoted, plain text should be too.


async def test_plain_text_body_answering_a_stream_keeps_its_text() -> None:
    body = b"upstream connect error or disconnect/reset before headers. reset reason: overflow"
    with pytest.raises(sk_errors.APIError) as info:
        await _stream(body, content_type="text/plain")
    assert "upstream connect error" in str(info.value)
