"""Wire conformance: recorded OpenAI streams replayed byte for byte.

Every body in ``tests/fixtures/wire/openai_chat`` and ``.../openai_completions``
(recorded by others; see that folder's README) is served by the real loopback
``MockServer`` over real sockets, in three chunkings (one write, random
writes from a fixed seed, one byte per write), and everything streamkit
exposes is checked against the fixture's ``expected.json``.

The expectations come from two independent places: the ``expected.json``
derived from the stream, and a deliberately naive reading of the raw body in
this file (every non-blank line is ``data: <json>``, which is asserted), so
neither streamkit's SSE decoder nor its mapper is used to compute what they
are checked against.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from wire_replay import (
    CHUNKINGS,
    USAGE_KEYS,
    check_reads,
    pieces,
    record_reads,
    replay,
    without_metrics,
    without_usage,
)

from streamkit import ChatOpenAI, OpenAI
from streamkit._sse import SSEDecoder
from streamkit.events import Finish, MessageStart, RefusalDelta, TextDelta, ToolCallStart, Usage
from streamkit.messages import HumanMessage
from streamkit.results import ChatGeneration, LLMResult
from streamkit.testing import MockResponse, MockServer

WIRE = Path(__file__).parent / "fixtures" / "wire"

# SHA-256 of each body. The openai_chat ones are also the names of the source
# files (openai-python's inline-snapshot stores ``<sha256>.bin``), so these
# prove the copies are byte-exact; they also stop anyone "fixing" a file.
SHA256 = {
    "openai_chat/content_logprobs": "83b060bae42eb41c4f1edbb7c1542b954b37d9dfd1910b964ddebc9677e6ae85",
    "openai_chat/length_finish": "4cc50a6135d254573a502310e6af1246f55edb6ad95fa24059f160996b68866d",
    "openai_chat/n3_multiple_choices": "a491adda08c3d4fde95f5b2ee3f60f7f745f1a56d82e62f58031cc2add502380",
    "openai_chat/non_strict_tool_call": "2018feb66ae13fcf5333d61b95849decc68d3f63bd38172889367e1afb1e04f7",
    "openai_chat/parallel_tool_calls": "f82268f2fefd5cfbc7eeb59c297688be2f6ca0849a6e4f17851b517310841d9b",
    "openai_chat/refusal": "173417d553406f034f643e5db3f8d591fb691ebac56f5ae39a22cc7d455c5353",
    "openai_chat/single_tool_call": "c6aa7e397b7123c3501f25df3a05d4daf7e8ad6d61ffa406ab5361fe36a8d5b1",
    "openai_chat/text_with_usage": "e2aad469b71d1d4894ff833ea147020a9d875eb7ce644a0ff355581690a4cbfd",
    "openai_completions/include_usage": "fc8f60246bd557df9f27bdffba02574775bd285e7b751d8351020bebc08704cd",
    "openai_completions/logprobs_azure": "e0f4dc1de6d451f2f639a87ed2be69c617bee9076987f0e7af300b07c09a18ef",
}


# -- the fixtures, read naively -------------------------------------------


@dataclass(frozen=True)
class Fixture:
    key: str  # "openai_chat/text_with_usage"
    name: str  # "text_with_usage"
    chat: bool
    body: bytes
    expected: dict[str, Any]

    @property
    def payloads(self) -> list[str]:
        """Every ``data:`` value, in order (``[DONE]`` included)."""
        lines = self.body.decode("utf-8").split("\n")
        stray = [line for line in lines if line and not line.startswith("data: ")]
        assert not stray, f"{self.key}: this reader only handles 'data: ' lines, got {stray[:1]}"
        return [line[len("data: ") :] for line in lines if line]

    @property
    def chunks(self) -> list[dict[str, Any]]:
        return [json.loads(p) for p in self.payloads if p != "[DONE]"]

    def content_deltas(self) -> list[tuple[int, str]]:
        """(choice index, text) of every non-empty content/text delta, in wire order."""
        out = []
        for chunk in self.chunks:
            for choice in chunk.get("choices") or ():
                text = (choice.get("delta") or {}).get("content") if self.chat else choice.get("text")
                if text:
                    out.append((choice["index"], text))
        return out

    def finish_count(self) -> int:
        return sum(
            choice.get("finish_reason") is not None
            for chunk in self.chunks
            for choice in chunk.get("choices") or ()
        )

    def usage_count(self) -> int:
        return sum(bool(chunk.get("usage")) for chunk in self.chunks)

    @property
    def n(self) -> int:
        return len(self.expected["choices"]) if self.chat else 1

    def texts(self) -> list[str]:
        """The expected text of each choice (``content: null`` is ``""``)."""
        if self.chat:
            return [choice["content"] or "" for choice in self.expected["choices"]]
        return [self.expected["text"]]


def _load() -> list[Fixture]:
    fixtures = []
    for folder, chat in (("openai_chat", True), ("openai_completions", False)):
        for path in sorted((WIRE / folder).glob("*.sse")):
            name = path.name.removesuffix(".sse")
            expected = json.loads((WIRE / folder / f"{name}.expected.json").read_text("utf-8"))
            fixtures.append(Fixture(f"{folder}/{name}", name, chat, path.read_bytes(), expected))
    return fixtures


FIXTURES = _load()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    return record_reads(monkeypatch)


CASES = [pytest.param(fx, chunking, id=f"{fx.name}-{chunking}") for fx in FIXTURES for chunking in CHUNKINGS]


def _response(fx: Fixture, chunking: str) -> MockResponse:
    return replay(fx.body, chunking)


def _model(fx: Fixture, server: MockServer) -> ChatOpenAI | OpenAI:
    # streaming=True: generate() sends "stream": true (stream() always does).
    cls = ChatOpenAI if fx.chat else OpenAI
    return cls(base_url=server.openai_base_url, api_key="test", streaming=True)


def _prompt(fx: Fixture) -> Any:
    return [HumanMessage(content="What's the weather like in SF?")] if fx.chat else "Tell me a story"


# -- the checks ------------------------------------------------------------


def check_result(result: LLMResult, fx: Fixture) -> None:
    """Every value of ``expected.json`` that streamkit exposes, on one result."""
    exp = fx.expected
    assert len(result.generations) == 1
    generations = result.generations[0]
    assert len(generations) == fx.n, "number of choices"

    out = result.llm_output
    assert out is not None
    assert out["model_name"] == exp["model"]
    assert out["id"] == exp["id"]
    if "system_fingerprint" in exp:
        assert out["system_fingerprint"] == exp["system_fingerprint"]
    else:
        assert "system_fingerprint" not in out

    usage = out["token_usage"]
    expected_usage = exp["usage"]
    if expected_usage is None:
        assert usage == {}
    else:
        assert {k: usage.get(k) for k in USAGE_KEYS} == {k: expected_usage[k] for k in USAGE_KEYS}
        assert usage == expected_usage  # extras such as completion_tokens_details kept beside

    if fx.chat:
        for generation, choice in zip(generations, exp["choices"], strict=True):
            _check_chat_choice(generation, choice, fx)
    else:
        _check_completion(generations[0], fx)


def _check_chat_choice(generation: Any, choice: dict[str, Any], fx: Fixture) -> None:
    exp = fx.expected
    where = f"choice {choice['index']}"
    assert isinstance(generation, ChatGeneration), where
    message = generation.message
    info = generation.generation_info
    assert info is not None
    text = choice["content"] or ""
    assert generation.text == text, where
    assert message.content == text, where
    assert message.type == "ai" and choice["role"] == "assistant"

    assert info["finish_reason"] == choice["finish_reason"], where
    assert message.response_metadata["finish_reason"] == choice["finish_reason"], where
    assert message.response_metadata["model_name"] == exp["model"]
    assert message.response_metadata["id"] == exp["id"]
    assert message.id == exp["id"]

    if choice["refusal"] is None:
        assert "refusal" not in info, where
        assert "refusal" not in message.additional_kwargs, where
    else:
        assert info["refusal"] == choice["refusal"], where
        assert message.additional_kwargs["refusal"] == choice["refusal"], where

    expected_calls = sorted(choice["tool_calls"] or (), key=lambda call: call["index"])
    for call in expected_calls:
        assert call["type"] == "function"
        assert json.loads(call["arguments"]) == call["arguments_parsed"]  # the fixture agrees with itself
    assert [(c.id, c.name, c.args, c.complete, c.raw_args) for c in message.tool_calls] == [
        (call["id"], call["name"], json.loads(call["arguments"]), True, None) for call in expected_calls
    ], where
    assert "tool_calls_incomplete" not in info

    if "logprobs_content" in choice:
        entries = info["logprobs"]["content"]
        assert [(e["token"], e["logprob"], e["bytes"]) for e in entries] == [
            (e["token"], e["logprob"], e["bytes"]) for e in choice["logprobs_content"]
        ], where
        for entry in entries:  # bytes are the token's UTF-8
            assert bytes(entry["bytes"]).decode("utf-8") == entry["token"]
    else:
        assert info["logprobs"] is None, where

    usage = exp["usage"]
    if usage is None:
        assert message.usage_metadata is None
    else:
        expected_metadata: dict[str, Any] = {
            "input_tokens": usage["prompt_tokens"],
            "output_tokens": usage["completion_tokens"],
            "total_tokens": usage["total_tokens"],
        }
        # LangChain's breakdowns, where the server reported them.
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
        if cached is not None:
            expected_metadata["input_token_details"] = {"cache_read": cached}
        reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
        if reasoning is not None:
            expected_metadata["output_token_details"] = {"reasoning": reasoning}
        assert message.usage_metadata == expected_metadata


def _check_completion(generation: Any, fx: Fixture) -> None:
    exp = fx.expected
    assert not isinstance(generation, ChatGeneration)
    assert generation.type == "Generation"
    info = generation.generation_info
    assert info is not None
    assert generation.text == exp["text"]
    assert info["finish_reason"] == exp["finish_reason"]
    assert "refusal" not in info
    tokens = exp.get("logprobs_tokens")
    if tokens is None:
        assert info["logprobs"] is None
    else:
        logprobs = info["logprobs"]
        assert logprobs["tokens"] == tokens
        assert "".join(tokens) == exp["text"]
        # The parallel arrays stay aligned with the tokens.
        for key in ("token_logprobs", "top_logprobs", "text_offset"):
            assert len(logprobs[key]) == len(tokens), key


# -- the tests ---------------------------------------------------------------


def test_fixture_files_are_the_recorded_bytes() -> None:
    assert {fx.key for fx in FIXTURES} == set(SHA256)
    for fx in FIXTURES:
        assert hashlib.sha256(fx.body).hexdigest() == SHA256[fx.key], fx.key
        payloads = fx.payloads
        assert len(fx.chunks) == fx.expected["chunk_count"], fx.key
        assert (payloads[-1] == "[DONE]") is fx.expected["done_sentinel"], fx.key
        assert fx.body.endswith(b"\n\n") is not fx.expected["final_event_unterminated"], fx.key
        assert {chunk["id"] for chunk in fx.chunks} == {fx.expected["id"]}, fx.key
        if not fx.chat:
            assert fx.finish_count() == fx.expected["chunks_with_finish_reason"], fx.key


@pytest.mark.parametrize(("fx", "chunking"), CASES)
async def test_generate(fx: Fixture, chunking: str, reads: list[int]) -> None:
    """generate() (streaming=True) over the replayed bytes: every expected value."""
    async with MockServer() as server:
        server.enqueue(_response(fx, chunking))
        async with _model(fx, server) as llm:
            result = await llm.generate([_prompt(fx)])
        assert len(server.requests) == 1
        assert server.requests[0].json["stream"] is True
    check_reads(reads, fx.body, chunking, requests=1)
    check_result(result, fx)
    assert result.run is not None and len(result.run) == 1
    assert result.token_usage == (fx.expected["usage"] or {})


@pytest.mark.parametrize(("fx", "chunking"), CASES)
async def test_stream_tokens(fx: Fixture, chunking: str, reads: list[int]) -> None:
    """async for over stream(): the tokens, then stream.result == generate()'s result."""
    async with MockServer() as server:
        server.enqueue(_response(fx, chunking), _response(fx, chunking))
        async with _model(fx, server) as llm:
            stream = llm.stream(_prompt(fx))
            async with stream:
                tokens = [token async for token in stream]
            assert stream.finished
            generated = await llm.generate([_prompt(fx)])
        assert [r.json["stream"] for r in server.requests] == [True, True]
    check_reads(reads, fx.body, chunking, requests=2)

    # One token per non-empty content delta, in wire order (all choices: the
    # token iterator does not separate them; n=1 except for n3_multiple_choices).
    assert tokens == [text for _, text in fx.content_deltas()]
    assert all(isinstance(token, str) and token for token in tokens)
    if fx.n == 1:
        assert "".join(tokens) == fx.texts()[0]
    assert stream.text == fx.texts()[0]

    streamed = stream.result
    check_result(streamed, fx)
    assert streamed.run is not None and generated.run is not None
    assert streamed.run[0].run_id == stream.run_id
    assert streamed.run[0].run_id != generated.run[0].run_id
    assert streamed.generations == generated.generations
    assert without_usage(streamed.llm_output) == without_usage(generated.llm_output)
    assert without_metrics(streamed.llm_output) == without_metrics(generated.llm_output)


@pytest.mark.parametrize(("fx", "chunking"), CASES)
async def test_events(fx: Fixture, chunking: str, reads: list[int]) -> None:
    """stream.events(): the typed events match the raw body, delta for delta."""
    async with MockServer() as server:
        server.enqueue(_response(fx, chunking))
        async with _model(fx, server) as llm:
            stream = llm.stream(_prompt(fx))
            async with stream:
                events = [event async for event in stream.events()]
    check_reads(reads, fx.body, chunking, requests=1)

    text_deltas = [e for e in events if isinstance(e, TextDelta)]
    raw_deltas = fx.content_deltas()
    assert len(text_deltas) == len(raw_deltas)
    assert [(e.index, e.text) for e in text_deltas] == raw_deltas
    for index, text in enumerate(fx.texts()):
        assert "".join(e.text for e in text_deltas if e.index == index) == text

    starts = [e for e in events if isinstance(e, MessageStart)]
    assert [(e.model, e.id) for e in starts] == [(fx.expected["model"], fx.expected["id"])]
    assert isinstance(events[0], MessageStart)

    finishes = [e for e in events if isinstance(e, Finish)]
    assert len(finishes) == fx.finish_count()
    if fx.chat:
        assert {(e.index, e.reason) for e in finishes} == {
            (c["index"], c["finish_reason"]) for c in fx.expected["choices"]
        }
    else:
        assert len(finishes) == fx.expected["chunks_with_finish_reason"]
        assert {e.reason for e in finishes} == {fx.expected["finish_reason"]}

    usages = [e for e in events if isinstance(e, Usage)]
    assert len(usages) == fx.usage_count() == (0 if fx.expected["usage"] is None else 1)
    if usages:
        usage = fx.expected["usage"]
        assert (usages[0].prompt_tokens, usages[0].completion_tokens, usages[0].total_tokens) == tuple(
            usage[k] for k in USAGE_KEYS
        )
        assert usages[0].details == {k: v for k, v in usage.items() if k not in USAGE_KEYS}
        # The usage-only chunk comes after every choice has finished.
        assert events.index(usages[0]) > max(events.index(e) for e in finishes)

    if fx.chat:
        for choice in fx.expected["choices"]:
            refusal = "".join(
                e.text for e in events if isinstance(e, RefusalDelta) and e.index == choice["index"]
            )
            assert refusal == (choice["refusal"] or "")
            calls = [e for e in events if isinstance(e, ToolCallStart) and e.index == choice["index"]]
            assert [(e.call_index, e.id, e.name) for e in calls] == [
                (c["index"], c["id"], c["name"]) for c in choice["tool_calls"] or ()
            ]
    else:
        assert not [e for e in events if isinstance(e, (RefusalDelta, ToolCallStart))]

    check_result(stream.result, fx)


@pytest.mark.parametrize(("fx", "chunking"), CASES)
def test_sse_decoder_sees_every_event(fx: Fixture, chunking: str) -> None:
    """Sans-IO, at exactly these splits: every payload, ``[DONE]`` included.

    Over sockets a lost unterminated ``[DONE]`` (logprobs_azure) would go
    unnoticed, since every choice has finished by then; here it cannot.
    """
    written = pieces(fx.body, chunking)
    assert b"".join(written) == fx.body
    decoder = SSEDecoder()
    fed = [event for piece in written for event in decoder.feed(piece)]
    flushed = decoder.finish()
    assert [e.data for e in fed + flushed] == fx.payloads
    assert {e.event for e in fed + flushed} == {"message"}
    assert [e.data for e in flushed] == (["[DONE]"] if fx.expected["final_event_unterminated"] else [])
    assert decoder.buffered == 0
