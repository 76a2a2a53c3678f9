"""Wire conformance for the OpenAI Responses API: recorded bodies replayed byte for byte.

Every body in ``tests/fixtures/wire/openai_responses`` (recorded by others; see
that folder's README) is served by the real loopback ``MockServer`` over real
sockets, in three chunkings (one write, random writes from a fixed seed, one
byte per write), to :class:`ChatOpenAIResponses`, and what streamkit exposes
is checked against the fixture's ``expected.json``, itself derived from the
body's JSON payloads without streamkit.

The official ``openai`` SDK is the oracle: the same bytes, served the same
way, are read by ``AsyncOpenAI().responses.create(...)``, and its final
response (``output_text``, ``usage``, the function calls, the reasoning
summaries) must agree with streamkit's result.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from wire_replay import CHUNKINGS, check_reads, record_reads, replay

from streamkit.errors import RateLimitError
from streamkit.events import Citation, ContentBlock, Finish, MessageStart, ServerToolUse, TextDelta, Usage
from streamkit.messages import AIMessage, HumanMessage
from streamkit.providers.openai_responses import ChatOpenAIResponses, OpenAIResponsesProvider
from streamkit.results import ChatGeneration, LLMResult
from streamkit.testing import MockResponse, MockServer

WIRE = Path(__file__).parent / "fixtures" / "wire" / "openai_responses"

# SHA-256 of each body: proof the copies are the bytes the README describes, and a guard against "fixes".
SHA256 = {
    "after_tool_output.sse": "145ae90639a7228d400ba6c783b85c677330a8f887954f7895c8749957e17e5e",
    "error_insufficient_quota.sse": "ce62faea01a1ba208df782fc33fae7c487b8f04ba8bddce6bb6521c931a33e32",
    "file_search_citations.sse": "bd45ebb3eaf11f5a2260d342c4205447b22bd30d08b83cd13724fa904c1cafb1",
    "incomplete_max_output_tokens.sse": "045cd8b31e8af4968e6e0bdc3e5d1fc04e9371f634ac1391444eb1fae37b8222",
    "reasoning_encrypted.sse": "43d0007e40abd7d739c5dce787ed04b446725de577680cdbac57456cc6a69b35",
    "reasoning_summary_tool_call.sse": "62b2b383ec718a2ac57893fcea8d39a84b7f47266a7ca2074fc167d2ca78fa49",
    "text.sse": "f39823cc8821fedea6276589415b73eeff8b8c1ff6321ab1405e945f1cb9bd8f",
    "whole_function_call.json": "4cb5489ead0cc2c16c2bc9529f855bf6f4ba8f20ae0335b474d3e56b684f740b",
    "whole_text.json": "b047e41bad305be9c10daafd4552f68d8143cbf741069553e8d25f11925c5a2d",
}


@dataclass(frozen=True)
class Fixture:
    name: str
    body: bytes
    expected: dict[str, Any]

    @property
    def streamed(self) -> bool:
        return not self.name.startswith("whole_")

    @property
    def payloads(self) -> list[dict[str, Any]]:
        """Every event's JSON, read naively: each event is exactly ``event: T\\ndata: JSON``."""
        events = []
        for block in self.body.decode("utf-8").split("\n\n"):
            if not block:
                continue
            head, data = block.split("\n")
            assert head.startswith("event: ") and data.startswith("data: "), block[:80]
            payload = json.loads(data[len("data: ") :])
            assert payload["type"] == head[len("event: ") :]
            events.append(payload)
        return events


def _load() -> list[Fixture]:
    fixtures = []
    for path in sorted([*WIRE.glob("*.sse"), *WIRE.glob("whole_*.json")]):
        if path.name.endswith(".expected.json"):
            continue
        stem = path.name.rsplit(".", 1)[0]
        expected = json.loads((WIRE / f"{stem}.expected.json").read_text("utf-8"))
        fixtures.append(Fixture(path.name, path.read_bytes(), expected))
    return fixtures


FIXTURES = _load()
STREAMS = [fx for fx in FIXTURES if fx.streamed and "error" not in fx.name]
WHOLE = [fx for fx in FIXTURES if not fx.streamed]
ERROR = next(fx for fx in FIXTURES if fx.name == "error_insufficient_quota.sse")


def test_the_fixtures_are_the_recorded_bytes() -> None:
    assert {fx.name for fx in FIXTURES} == set(SHA256)
    for fx in FIXTURES:
        assert hashlib.sha256(fx.body).hexdigest() == SHA256[fx.name], fx.name


@pytest.mark.parametrize("fx", STREAMS, ids=lambda fx: fx.name)
def test_the_expectations_agree_with_a_naive_reading(fx: Fixture) -> None:
    """``expected.json`` says what the payloads say (so the checks below check against the wire)."""
    events = fx.payloads
    exp = fx.expected
    assert exp["event_types"] == [e["type"] for e in events]
    assert exp["text"] == "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert exp["text"] == exp["final_output_text"]  # every character was streamed
    assert exp["usage"] == events[-1]["response"]["usage"]


def _model(server: MockServer, **settings: Any) -> ChatOpenAIResponses:
    return ChatOpenAIResponses(base_url=server.openai_base_url, api_key="test", max_retries=0, **settings)


def _prompt() -> list[HumanMessage]:
    return [HumanMessage("Do not continue the Evan Li slander!")]


def check_result(result: LLMResult, fx: Fixture) -> AIMessage:
    """Every value of ``expected.json`` streamkit exposes, on one result."""
    exp = fx.expected
    out = result.llm_output
    assert out is not None
    assert out["model_name"] == exp["model"]
    assert out["id"] == exp["id"]
    [[generation]] = result.generations
    assert isinstance(generation, ChatGeneration)
    message = generation.message
    info = generation.generation_info or {}
    assert generation.text == message.content == exp["text"]
    assert message.id == exp["id"]
    assert message.response_metadata["model_provider"] == "openai"

    # Usage: prompt_tokens is input_tokens (the cached ones already in it), the raw object kept beside.
    usage = exp["usage"]
    token_usage = out["token_usage"]
    assert token_usage["prompt_tokens"] == usage["input_tokens"]
    assert token_usage["completion_tokens"] == usage["output_tokens"]
    assert token_usage["total_tokens"] == usage["total_tokens"]
    assert token_usage["input_tokens_details"] == usage["input_tokens_details"]
    assert message.usage_metadata == {
        "input_tokens": usage["input_tokens"],
        "output_tokens": usage["output_tokens"],
        "total_tokens": usage["total_tokens"],
        "input_token_details": {"cache_read": usage["input_tokens_details"]["cached_tokens"]},
        "output_token_details": {"reasoning": usage["output_tokens_details"]["reasoning_tokens"]},
    }

    # The finish: the status (or the incompletion's reason), normalised.
    calls = exp["function_calls"]
    if exp["status"] == "incomplete":
        reason = exp["incomplete_details"]["reason"]
        assert (info["finish_reason"], info["normalized_finish_reason"]) == (reason, "length")
    else:
        normalized = "tool_calls" if calls else "stop"
        assert (info["finish_reason"], info["normalized_finish_reason"]) == ("completed", normalized)

    # Function calls: call_id is the id, the arguments parsed.
    assert [(c.id, c.name, c.args, c.complete) for c in message.tool_calls] == [
        (c["call_id"], c["name"], json.loads(c["arguments"]), True) for c in calls
    ]
    # Reasoning summaries as thinking, parts joined by a blank line; never in the answer.
    parts = [s["text"] for item in exp["reasoning_items"] for s in item["summary"] or ()]
    if parts:
        assert info["thinking"] == message.additional_kwargs["thinking"] == "\n\n".join(parts)
    else:
        assert "thinking" not in info
    # Citations: the annotations, in order.
    if exp["annotations"]:
        assert message.additional_kwargs["citations"] == exp["annotations"]
    else:
        assert "citations" not in message.additional_kwargs
    # The output items, whole and in order, for the next turn.
    blocks = message.content_blocks
    assert blocks is not None
    assert [b["type"] for b in blocks] == exp["output_item_types"]
    for block, item in zip(
        [b for b in blocks if b["type"] == "reasoning"], exp["reasoning_items"], strict=True
    ):
        assert block["id"] == item["id"]
        assert bool(block.get("encrypted_content")) == item["has_encrypted_content"]
    return message


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    return record_reads(monkeypatch)


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
@pytest.mark.parametrize("fx", STREAMS, ids=lambda fx: fx.name)
async def test_recorded_stream_through_the_model(fx: Fixture, chunking: str, reads: list[int]) -> None:
    async with MockServer() as server, _model(server) as llm:
        server.enqueue(replay(fx.body, chunking))
        tokens: list[str] = []
        async with llm.stream(_prompt()) as stream:
            async for token in stream:
                tokens.append(token)
        message = check_result(stream.result, fx)
        assert "".join(tokens) == message.content
        sent = server.requests[-1].json
        assert sent["stream"] is True and sent["input"][0]["role"] == "user"
    check_reads(reads, fx.body, chunking, 1)


@pytest.mark.parametrize("fx", STREAMS, ids=lambda fx: fx.name)
async def test_recorded_stream_events(fx: Fixture) -> None:
    """The typed events: one MessageStart first, one Usage and one Finish at the end, items whole."""
    async with MockServer() as server, _model(server) as llm:
        server.enqueue(replay(fx.body, "random"))
        async with llm.stream(_prompt()) as stream:
            events = [event async for event in stream.events()]
    assert isinstance(events[0], MessageStart)
    assert events[0].extra == {"created_at": fx.payloads[0]["response"]["created_at"]}
    assert sum(isinstance(e, MessageStart) for e in events) == 1
    assert [type(e) for e in events[-2:]] == [Usage, Finish]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == fx.expected["text"]
    deltas = [e for e in fx.payloads if e["type"] == "response.output_text.delta"]
    assert sum(isinstance(e, TextDelta) for e in events) == len(deltas)  # one event per delta, none made up
    whole = [e for e in events if isinstance(e, (ContentBlock, ServerToolUse))]
    assert [e.block["type"] if e.block else None for e in whole] == fx.expected["output_item_types"]
    hosted = [e for e in events if isinstance(e, ServerToolUse)]
    for event in hosted:
        assert event.name == "file_search" and event.input == event.block["queries"]
    assert [e.citation for e in events if isinstance(e, Citation)] == fx.expected["annotations"]


@pytest.mark.parametrize("fx", WHOLE, ids=lambda fx: fx.name)
async def test_recorded_whole_response(fx: Fixture) -> None:
    """A non-streaming response, mapped by the same mapper, gives the same kind of result."""
    async with MockServer() as server, _model(server) as llm:
        server.enqueue(MockResponse(raw=fx.body, content_type="application/json"))
        result = await llm.generate([_prompt()])
        assert "stream" not in server.requests[-1].json
    exp = fx.expected
    [[generation]] = result.generations
    assert isinstance(generation, ChatGeneration)
    message = generation.message
    assert message.content == exp["text"]
    assert result.llm_output is not None
    assert (result.llm_output["model_name"], result.llm_output["id"]) == (exp["model"], exp["id"])
    assert result.llm_output["token_usage"]["prompt_tokens"] == exp["usage"]["input_tokens"]
    assert result.llm_output["token_usage"]["completion_tokens"] == exp["usage"]["output_tokens"]
    assert [(c.id, c.name, c.args) for c in message.tool_calls] == [
        (c["call_id"], c["name"], json.loads(c["arguments"])) for c in exp["function_calls"]
    ]
    assert message.content_blocks is not None
    assert [b["type"] for b in message.content_blocks] == exp["output_item_types"]
    info = generation.generation_info or {}
    assert info["normalized_finish_reason"] == ("tool_calls" if exp["function_calls"] else "stop")


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
async def test_recorded_in_stream_error(chunking: str) -> None:
    """The ``error`` event (fields nested under ``error``): a typed error, the partial result kept.

    ``insufficient_quota`` is OpenAI's 429 "You exceeded your current quota"
    (https://platform.openai.com/docs/guides/error-codes/api-errors): a
    RateLimitError, as the same error in an HTTP 429 body is.
    """
    async with MockServer() as server, _model(server, streaming=True) as llm:
        server.enqueue(replay(ERROR.body, chunking))
        with pytest.raises(RateLimitError) as info:
            await llm.ainvoke(_prompt())
    error = info.value
    assert error.status_code == 429
    expected = ERROR.expected["error_event"]["error"]
    assert error.message == expected["message"]
    assert error.error_type == "insufficient_quota"
    assert error.body == ERROR.expected["error_event"]  # the event as it came
    partial = error.partial_result
    assert partial is not None and partial.llm_output is not None
    assert partial.llm_output["model_name"] == ERROR.expected["model"]


def test_every_recorded_stream_maps_the_same_whole_and_through_parse_response() -> None:
    """``parse_response`` of the final response object gives the stream's text, calls, usage and finish."""
    provider = OpenAIResponsesProvider()
    for fx in STREAMS:
        mapper = provider.new_mapper()
        streamed = mapper.feed(fx.body) + mapper.finish()
        whole = provider.parse_response(fx.payloads[-1]["response"])

        def summary(events: list[Any]) -> tuple[Any, ...]:
            text = "".join(e.text for e in events if isinstance(e, TextDelta))
            finish = [(e.reason, e.normalized) for e in events if isinstance(e, Finish)]
            usage = [e for e in events if isinstance(e, Usage)]
            kinds = [
                e.block["type"] for e in events if isinstance(e, (ContentBlock, ServerToolUse)) and e.block
            ]
            return text, finish, usage, kinds

        assert summary(whole) == summary(streamed), fx.name


# -- the official SDK as the oracle ---------------------------------------------


def _sdk_summary(final: Any) -> dict[str, Any]:
    usage = final.usage
    return {
        "text": final.output_text,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "cached_tokens": usage.input_tokens_details.cached_tokens,
        "reasoning_tokens": usage.output_tokens_details.reasoning_tokens,
        "calls": [(i.call_id, i.name, i.arguments) for i in final.output if i.type == "function_call"],
        "summaries": [s.text for i in final.output if i.type == "reasoning" for s in i.summary],
        "status": final.status,
    }


def _streamkit_summary(result: LLMResult) -> dict[str, Any]:
    [[generation]] = result.generations
    assert isinstance(generation, ChatGeneration)
    message = generation.message
    metadata = message.usage_metadata or {}
    return {
        "text": message.content,
        "input_tokens": metadata["input_tokens"],
        "output_tokens": metadata["output_tokens"],
        "total_tokens": metadata["total_tokens"],
        "cached_tokens": metadata["input_token_details"]["cache_read"],
        "reasoning_tokens": metadata["output_token_details"]["reasoning"],
        "calls": [(c.id, c.name, json.dumps(c.args, separators=(",", ":"))) for c in message.tool_calls],
        "summaries": [
            s["text"] for b in message.content_blocks or () if b["type"] == "reasoning" for s in b["summary"]
        ],
        "status": "incomplete" if generation.generation_info["finish_reason"] != "completed" else "completed",  # type: ignore[index]
    }


@pytest.mark.parametrize("fx", STREAMS, ids=lambda fx: fx.name)
async def test_the_official_sdk_reads_the_same_stream_the_same_way(fx: Fixture) -> None:
    async with MockServer() as server:
        server.enqueue(replay(fx.body, "random"), replay(fx.body, "random"))
        client = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0)
        try:
            stream = await client.responses.create(model="gpt-5-mini", input="hi", stream=True)
            final = None
            deltas = []
            async for event in stream:
                if event.type == "response.output_text.delta":
                    deltas.append(event.delta)
                elif event.type in ("response.completed", "response.incomplete"):
                    final = event.response
        finally:
            await client.close()
        async with _model(server) as llm, llm.stream(_prompt()) as ours:
            async for _ in ours:
                pass
    assert final is not None
    sdk = _sdk_summary(final)
    assert "".join(deltas) == sdk["text"]
    # The calls' arguments are compared as the SDK's text: re-serialised compactly, as the recordings send them.
    assert _streamkit_summary(ours.result) == sdk


@pytest.mark.parametrize("fx", WHOLE, ids=lambda fx: fx.name)
async def test_the_official_sdk_reads_the_same_whole_response_the_same_way(fx: Fixture) -> None:
    async with MockServer() as server:
        raw = MockResponse(raw=fx.body, content_type="application/json")
        server.enqueue(raw, raw)
        client = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0)
        try:
            final = await client.responses.create(model="gpt-4.1", input="hi")
        finally:
            await client.close()
        async with _model(server) as llm:
            result = await llm.generate([_prompt()])
    assert _streamkit_summary(result) == _sdk_summary(final)


async def test_the_official_sdk_fails_on_the_recorded_error_with_the_same_message() -> None:
    async with MockServer() as server:
        server.enqueue(replay(ERROR.body, "whole"), replay(ERROR.body, "whole"))
        client = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0)
        try:
            with pytest.raises(openai.APIError) as sdk_error:
                stream = await client.responses.create(model="gpt-5-nano", input="hi", stream=True)
                async for _ in stream:
                    pass
        finally:
            await client.close()
        async with _model(server, streaming=True) as llm:
            with pytest.raises(RateLimitError) as ours:
                await llm.ainvoke(_prompt())
    assert ours.value.message == sdk_error.value.message
