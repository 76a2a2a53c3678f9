"""Issue #9 class 6: one meaning of usage across ``generate()`` over several prompts.

Every numeric usage field adds up (a gateway's float ``cost`` and the nested
``*_details`` included) and every response id is kept, in prompt order.
Wire shape of the usage object: OpenRouter's usage accounting docs (a float
``cost`` beside the token counts).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamkit import ChatAnthropic, ChatOpenAI
from streamkit.testing import MockResponse, MockServer


def _openai_sse(rid: str, text: str, usage: dict[str, Any]) -> bytes:
    chunks = [
        {
            "id": rid,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
        },
        {"id": rid, "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"id": rid, "model": "m", "choices": [], "usage": usage},
    ]
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


async def test_generate_sums_every_numeric_usage_field_and_keeps_every_id(mock_server: MockServer) -> None:
    usages = [
        {
            "prompt_tokens": 10,
            "completion_tokens": 2,
            "total_tokens": 12,
            "cost": 0.25,
            "completion_tokens_details": {"reasoning_tokens": 1},
        },
        {
            "prompt_tokens": 5,
            "completion_tokens": 3,
            "total_tokens": 8,
            "cost": 0.5,
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
        {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2, "cost": 0.125},
    ]
    by_prompt = {f"p{i}": (f"gen-{i}", f"answer {i}", u) for i, u in enumerate(usages)}

    def respond(request: Any) -> MockResponse:
        rid, text, usage = by_prompt[request.json["messages"][-1]["content"]]
        return MockResponse(raw=_openai_sse(rid, text, usage))

    mock_server.responder = respond
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k", streaming=True) as chat:
        result = await chat.generate([["p0"], ["p1"], ["p2"]])
    assert [g[0].text for g in result.generations] == ["answer 0", "answer 1", "answer 2"]
    usage = result.token_usage
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (16, 6, 22)
    assert usage["cost"] == pytest.approx(0.875)
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 3}
    assert result.llm_output is not None
    assert result.llm_output["response_ids"] == ["gen-0", "gen-1", "gen-2"]
    assert result.llm_output["id"] == "gen-0"


def _anthropic_sse(usage_start: dict[str, Any], output: int) -> bytes:
    events = [
        (
            "message_start",
            {"type": "message_start", "message": {"id": "msg", "model": "c", "usage": usage_start}},
        ),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok"}},
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": output},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(f"event: {n}\ndata: {json.dumps(d)}\n\n".encode() for n, d in events)


async def test_anthropic_prompt_tokens_count_cached_input_across_a_batch(mock_server: MockServer) -> None:
    """prompt_tokens = input + cache reads + cache writes, per response and summed over the batch."""
    mock_server.enqueue(
        MockResponse(raw=_anthropic_sse({"input_tokens": 4, "cache_read_input_tokens": 100}, 7)),
        MockResponse(raw=_anthropic_sse({"input_tokens": 6, "cache_creation_input_tokens": 50}, 3)),
    )
    async with ChatAnthropic(
        base_url=mock_server.anthropic_base_url, api_key="k", streaming=True, max_concurrency=1
    ) as chat:
        result = await chat.generate([["a"], ["b"]])
    usage = result.token_usage
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (160, 10, 170)
    # The raw counters stay beside the common keys, summed too.
    assert usage["input_tokens"] == 10
    assert usage["cache_read_input_tokens"] == 100
    assert usage["cache_creation_input_tokens"] == 50
    first = result.generations[0][0]
    assert first.message.usage_metadata == {  # type: ignore[attr-defined]
        "input_tokens": 104,
        "output_tokens": 7,
        "total_tokens": 111,
        "input_token_details": {"cache_read": 100},
    }
