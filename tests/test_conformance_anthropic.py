"""Wire conformance: recorded Anthropic Messages streams replayed byte for byte.

Every body in ``tests/fixtures/wire/anthropic`` (recorded by others; see that
folder's README) is served by the real loopback ``MockServer`` over real
sockets, in three chunkings (one write, random writes from a fixed seed, one
byte per write), to ``ChatAnthropic`` and to the prompt-string ``Anthropic``,
and everything streamkit exposes is checked against the fixture's
``expected.json``.

The expectations come from two independent places: the ``expected.json``
(the accumulated message, derived from the stream by whoever recorded it),
and a deliberately naive reading of the raw body in this file (events are
blocks split at blank lines, each exactly ``event: <name>`` + ``data: <json>``,
which is asserted). Neither streamkit's SSE decoder nor its mapper is used to
compute what they are checked against; the two are checked against each other
in ``test_fixture_files_are_the_recorded_bytes``.

Error paths: the synthetic in-stream ``overloaded_error`` fixture, the same
error as an HTTP 529, an error event arriving after some text (built here from
``text_basic``'s first events), and streams cut before ``message_stop``.
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

from streamkit import (
    Anthropic,
    ChatAnthropic,
    IncompleteStreamError,
    OverloadedError,
    ProtocolError,
    StreamStateError,
)
from streamkit._sse import SSEDecoder
from streamkit.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from streamkit.events import (
    Citation,
    Finish,
    MessageStart,
    RefusalDelta,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from streamkit.messages import HumanMessage
from streamkit.results import ChatGeneration, LLMResult
from streamkit.testing import MockResponse, MockServer

WIRE = Path(__file__).parent / "fixtures" / "wire" / "anthropic"

# SHA-256 of each body as copied (byte-exact) from the shared fixture store;
# they also stop anyone "fixing" a file (trailing newlines are the point).
SHA256 = {
    "error_overloaded": "ac081eae25cf057ff929344ffba4d318ea2cb8b1450058ffd01ef8191b680a1c",
    "structured_output_text": "0c2568e7d98bda446a5b78f2ef346409c433ca70765ae8af34bacf077eefffb7",
    "text_basic": "4cef9a87292eb74b7c282f7de5a2b407160d36a9dfed25be05f59047a59033bd",
    "text_padded_utf8": "c68e9bca5cd14f825cb6679a3189e4c4c86c69ac7f64a5b5782b9c98091b86d4",
    "text_then_tool_use": "53787cbf836155a1f5dffb60cde0cf0fa42e21db2dbed0aa76f51c76a70b02f6",
    "thinking": "8686ba24b68266e181f3aeeec776242f7d5d42027378f251b6422e29b4fa7e91",
    "tool_use_padded": "548c8169e05252fcc48668420df8d87d88137840205caee650c15783c79dedd9",
}


# -- the fixtures, read naively -------------------------------------------


@dataclass(frozen=True)
class Fixture:
    name: str  # "text_basic"
    body: bytes
    expected: dict[str, Any]

    @property
    def frames(self) -> list[tuple[str, str]]:
        """(event name, data) of every SSE event, in order."""
        out = []
        for block in self.body.decode("utf-8").split("\n\n"):
            block = block.strip("\n")
            if not block:
                continue
            lines = block.split("\n")
            assert len(lines) == 2, f"{self.name}: this reader wants 'event:' + 'data:', got {lines}"
            assert lines[0].startswith("event: ") and lines[1].startswith("data: "), lines
            out.append((lines[0][len("event: ") :], lines[1][len("data: ") :]))
        return out

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(data) for _, data in self.frames]

    def _deltas(self, dtype: str, key: str) -> list[tuple[int, str]]:
        return [
            (p["index"], p["delta"][key])
            for p in self.payloads
            if p["type"] == "content_block_delta" and p["delta"]["type"] == dtype
        ]

    def text_deltas(self) -> list[str]:
        """Every non-empty ``text_delta``, in wire order: the tokens a consumer must see."""
        return [text for _, text in self._deltas("text_delta", "text") if text]

    def thinking_deltas(self) -> list[str]:
        return [text for _, text in self._deltas("thinking_delta", "thinking") if text]

    def signatures(self) -> list[str]:
        return [sig for _, sig in self._deltas("signature_delta", "signature")]

    def tool_calls(self) -> list[dict[str, Any]]:
        """id, name and the concatenated ``partial_json`` of each tool_use block, in block order."""
        calls: dict[int, dict[str, Any]] = {}
        for p in self.payloads:
            if p["type"] == "content_block_start" and p["content_block"]["type"] == "tool_use":
                block = p["content_block"]
                calls[p["index"]] = {"id": block["id"], "name": block["name"], "json": ""}
        for index, fragment in self._deltas("input_json_delta", "partial_json"):
            calls[index]["json"] += fragment
        return [calls[index] for index in sorted(calls)]

    def usage_reports(self) -> list[dict[str, Any]]:
        """``message_start.message.usage``, then every ``message_delta.usage``."""
        reports = []
        for p in self.payloads:
            if p["type"] == "message_start" and p["message"].get("usage"):
                reports.append(p["message"]["usage"])
            elif p["type"] == "message_delta" and p.get("usage"):
                reports.append(p["usage"])
        return reports

    def usage(self) -> dict[str, Any]:
        """The usage as Anthropic defines it: each report replaces the fields it carries."""
        merged: dict[str, Any] = {}
        for report in self.usage_reports():
            merged.update(report)
        return merged

    def stop_reasons(self) -> list[str]:
        return [
            p["delta"]["stop_reason"]
            for p in self.payloads
            if p["type"] == "message_delta" and p["delta"].get("stop_reason") is not None
        ]

    # expected.json's accumulated message

    def text(self) -> str:
        return "".join(b["text"] for b in self.expected["content"] if b["type"] == "text")

    def thinking(self) -> dict[str, Any] | None:
        blocks = [b for b in self.expected["content"] if b["type"] == "thinking"]
        assert len(blocks) <= 1
        return blocks[0] if blocks else None

    def expected_calls(self) -> list[dict[str, Any]]:
        return [b for b in self.expected["content"] if b["type"] == "tool_use"]

    def token_usage(self) -> dict[str, Any]:
        """What ``llm_output["token_usage"]`` must be: the common keys, the extras beside them."""
        usage = self.usage()
        exp = self.expected["usage"]
        prompt = all_input_tokens(exp)
        out: dict[str, Any] = {
            "prompt_tokens": prompt,  # every input token, cached ones included (OpenAI's meaning)
            "completion_tokens": exp["output_tokens"],  # the last cumulative report, never a sum
            "total_tokens": prompt + exp["output_tokens"],
        }
        out.update({k: v for k, v in usage.items() if v is not None})  # the raw counters beside them
        return out

    def thinking_only(self) -> list[str]:
        """Thinking deltas that are not also answer text (``thinking`` repeats ``÷ 5 ``)."""
        texts = set(self.text_deltas())
        return [t for t in self.thinking_deltas() if t not in texts]


def all_input_tokens(usage: dict[str, Any]) -> int:
    """Anthropic's total input: input_tokens + cache reads + cache writes (its prompt-caching docs)."""
    return sum(
        usage.get(k) or 0 for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    )


def _load() -> list[Fixture]:
    fixtures = []
    for path in sorted(WIRE.glob("*.sse")):
        name = path.name.removesuffix(".sse")
        expected = json.loads((WIRE / f"{name}.expected.json").read_text("utf-8"))
        fixtures.append(Fixture(name, path.read_bytes(), expected))
    return fixtures


ALL = _load()
FIXTURES = [fx for fx in ALL if "error" not in fx.expected]  # complete messages
(ERROR,) = [fx for fx in ALL if "error" in fx.expected]
BY_NAME = {fx.name: fx for fx in ALL}


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    return record_reads(monkeypatch)


CASES = [pytest.param(fx, chunking, id=f"{fx.name}-{chunking}") for fx in FIXTURES for chunking in CHUNKINGS]
ERROR_CASES = [pytest.param(chunking, id=f"{ERROR.name}-{chunking}") for chunking in CHUNKINGS]


def _response(body: bytes, chunking: str) -> MockResponse:
    return replay(body, chunking)


def _chat(server: MockServer, **kwargs: Any) -> ChatAnthropic:
    # streaming=True: generate() sends "stream": true (stream() always does).
    return ChatAnthropic(base_url=server.anthropic_base_url, api_key="test", streaming=True, **kwargs)


def _llm(server: MockServer, **kwargs: Any) -> Anthropic:
    return Anthropic(base_url=server.anthropic_base_url, api_key="test", streaming=True, **kwargs)


MESSAGES = [HumanMessage(content="What's the weather like in San Francisco?")]
PROMPT = "What's the weather like in San Francisco?"


class Recorder(AsyncCallbackHandler):
    """What an async handler sees."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.ends: list[LLMResult] = []
        self.errors: list[BaseException] = []
        self.retries: list[tuple[BaseException, int]] = []

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        assert kwargs["index"] == 0
        self.tokens.append(token)

    async def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        self.ends.append(response)

    async def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.errors.append(error)

    async def on_retry(self, error: BaseException, **kwargs: Any) -> None:
        self.retries.append((error, kwargs["attempt"]))


class SyncTokens(BaseCallbackHandler):
    """What a plain (sync) handler sees."""

    def __init__(self) -> None:
        self.tokens: list[str] = []

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


# -- the checks ------------------------------------------------------------


def _assert_no_thinking(text: str, fx: Fixture) -> None:
    thinking = fx.thinking()
    if thinking is None:
        return
    assert thinking["thinking"] not in text
    assert thinking["signature"] not in text
    for piece in fx.thinking_only():
        assert piece not in text, f"thinking {piece!r} leaked into {text!r}"


def check_result(result: LLMResult, fx: Fixture, *, chat: bool = True) -> None:
    """Every value of ``expected.json`` that streamkit exposes, on one result."""
    exp = fx.expected
    assert len(result.generations) == 1
    assert len(result.generations[0]) == 1
    generation = result.generations[0][0]

    out = result.llm_output
    assert out is not None
    assert out["model_name"] == exp["model"]
    assert out["id"] == exp["id"]

    usage = out["token_usage"]
    prompt = all_input_tokens(exp["usage"])
    assert {k: usage[k] for k in USAGE_KEYS} == {
        "prompt_tokens": prompt,
        "completion_tokens": exp["usage"]["output_tokens"],
        "total_tokens": prompt + exp["usage"]["output_tokens"],
    }
    for key, value in exp["usage"].items():  # raw counters, service_tier, ... beside them
        if value is not None:
            assert usage[key] == value, key
    assert usage == fx.token_usage()
    assert result.token_usage == usage

    text = fx.text()
    info = generation.generation_info
    assert info is not None
    assert generation.text == text
    _assert_no_thinking(generation.text, fx)
    assert info["finish_reason"] == exp["stop_reason"]
    assert info["logprobs"] is None
    assert "refusal" not in info and "citations" not in info
    thinking = fx.thinking()
    if thinking is None:
        assert "thinking" not in info and "thinking_signature" not in info
    else:
        assert info["thinking"] == thinking["thinking"]
        assert info["thinking_signature"] == thinking["signature"]

    if not chat:
        assert not isinstance(generation, ChatGeneration)
        assert generation.type == "Generation"
        return

    assert isinstance(generation, ChatGeneration)
    message = generation.message
    assert message.type == "ai" and exp["role"] == "assistant"
    assert message.content == text
    assert message.id == exp["id"]
    assert message.response_metadata["finish_reason"] == exp["stop_reason"]
    assert message.response_metadata["model_name"] == exp["model"]
    assert message.response_metadata["id"] == exp["id"]
    expected_metadata: dict[str, Any] = {
        "input_tokens": prompt,
        "output_tokens": exp["usage"]["output_tokens"],
        "total_tokens": prompt + exp["usage"]["output_tokens"],
    }
    cache = {
        name: exp["usage"][key]
        for name, key in (
            ("cache_read", "cache_read_input_tokens"),
            ("cache_creation", "cache_creation_input_tokens"),
        )
        if exp["usage"].get(key) is not None
    }
    if cache:
        expected_metadata["input_token_details"] = cache
    assert message.usage_metadata == expected_metadata
    if thinking is None:
        assert "thinking" not in message.additional_kwargs
    else:
        assert message.additional_kwargs["thinking"] == thinking["thinking"]
    assert "refusal" not in message.additional_kwargs and "citations" not in message.additional_kwargs

    assert [(c.id, c.name, c.args, c.complete, c.raw_args) for c in message.tool_calls] == [
        (call["id"], call["name"], call["input"], True, None) for call in fx.expected_calls()
    ]
    assert "tool_calls_incomplete" not in info


# -- the fixtures agree with themselves -----------------------------------------


def test_fixture_files_are_the_recorded_bytes() -> None:
    assert {fx.name for fx in ALL} == set(SHA256)
    for fx in ALL:
        exp = fx.expected
        assert hashlib.sha256(fx.body).hexdigest() == SHA256[fx.name], fx.name
        frames = fx.frames
        assert [name for name, _ in frames] == exp["sse_event_names"], fx.name
        assert [p["type"] for p in fx.payloads] == exp["wire_event_types"], fx.name
        assert fx.body.endswith(b"\n\n") is not exp["final_event_unterminated"], fx.name
        if "error" in exp:
            assert fx.payloads == [{"type": "error", "error": exp["error"]}]
            continue
        assert sum(p["type"] == "ping" for p in fx.payloads) == exp["ping_count"], fx.name
        (start,) = (p["message"] for p in fx.payloads if p["type"] == "message_start")
        assert (start["id"], start["model"], start["role"]) == (exp["id"], exp["model"], exp["role"])
        assert fx.payloads[-1] == {"type": "message_stop"}
        assert fx.stop_reasons() == [exp["stop_reason"]], fx.name
        assert exp["stop_sequence"] is None

        # The accumulated message agrees with the raw deltas.
        assert "".join(fx.text_deltas()) == fx.text(), fx.name
        thinking = fx.thinking()
        if thinking is None:
            assert fx.thinking_deltas() == [] and fx.signatures() == []
        else:
            assert "".join(fx.thinking_deltas()) == thinking["thinking"]
            assert fx.signatures() == [thinking["signature"]]
        raw_calls = fx.tool_calls()
        assert [(c["id"], c["name"], c["json"]) for c in raw_calls] == [
            (c["id"], c["name"], c["input_json"]) for c in fx.expected_calls()
        ], fx.name
        for raw, call in zip(raw_calls, fx.expected_calls(), strict=True):
            assert json.loads(raw["json"]) == call["input"]

        # Usage: every report is cumulative; expected.json holds the last value of each field.
        usage = fx.usage()
        for key, value in exp["usage"].items():
            assert usage[key] == value, (fx.name, key)
        outputs = [r["output_tokens"] for r in fx.usage_reports() if "output_tokens" in r]
        assert len(outputs) == 2 and outputs[-1] == exp["usage"]["output_tokens"]
        assert sum(outputs) != exp["usage"]["output_tokens"]  # adding them would be caught


# -- the replays -------------------------------------------------------------


@pytest.mark.parametrize(("fx", "chunking"), CASES)
async def test_generate(fx: Fixture, chunking: str, reads: list[int]) -> None:
    """generate() (streaming=True) over the replayed bytes: every expected value."""
    recorder = Recorder()
    async with MockServer() as server:
        server.enqueue(_response(fx.body, chunking))
        async with _chat(server, callbacks=[recorder]) as chat:
            result = await chat.generate([MESSAGES])
        assert [(r.path, r.json["stream"]) for r in server.requests] == [("/v1/messages", True)]
        assert server.requests[0].headers["x-api-key"] == "test"
    check_reads(reads, fx.body, chunking, requests=1)
    check_result(result, fx)
    assert result.run is not None and len(result.run) == 1
    assert recorder.tokens == fx.text_deltas()
    assert recorder.errors == []
    assert len(recorder.ends) == 1
    check_result(recorder.ends[0], fx)


@pytest.mark.parametrize(("fx", "chunking"), CASES)
async def test_stream_tokens(fx: Fixture, chunking: str, reads: list[int]) -> None:
    """async for over stream(): only answer text, then stream.result == generate()'s result."""
    recorder, sync_tokens = Recorder(), SyncTokens()
    async with MockServer() as server:
        server.enqueue(_response(fx.body, chunking), _response(fx.body, chunking))
        async with _chat(server) as chat:
            stream = chat.stream(MESSAGES, callbacks=[recorder, sync_tokens])
            async with stream:
                tokens = [token async for token in stream]
            assert stream.finished
            generated = await chat.generate([MESSAGES])
    check_reads(reads, fx.body, chunking, requests=2)

    # One token per non-empty text_delta, in wire order; thinking is never a token.
    assert tokens == fx.text_deltas()
    assert all(isinstance(token, str) and token for token in tokens)
    assert "".join(tokens) == fx.text() == stream.text
    for token in tokens:
        _assert_no_thinking(token, fx)
    assert recorder.tokens == tokens
    assert sync_tokens.tokens == tokens
    assert recorder.errors == []

    streamed = stream.result
    check_result(streamed, fx)
    assert recorder.ends == [streamed]
    assert streamed.run is not None and generated.run is not None
    assert streamed.run[0].run_id == stream.run_id
    assert streamed.run[0].run_id != generated.run[0].run_id
    assert streamed.generations == generated.generations
    assert without_metrics(streamed.llm_output) == without_metrics(generated.llm_output)
    assert without_usage(streamed.llm_output) == {
        "model_name": fx.expected["model"],
        "id": fx.expected["id"],
    }


@pytest.mark.parametrize(("fx", "chunking"), CASES)
async def test_events(fx: Fixture, chunking: str, reads: list[int]) -> None:
    """stream.events(): the typed events match the raw body, delta for delta."""
    async with MockServer() as server:
        server.enqueue(_response(fx.body, chunking))
        async with _chat(server) as chat:
            stream = chat.stream(MESSAGES)
            async with stream:
                events = [event async for event in stream.events()]
    check_reads(reads, fx.body, chunking, requests=1)

    assert isinstance(events[0], MessageStart)
    starts = [e for e in events if isinstance(e, MessageStart)]
    assert [(e.model, e.id) for e in starts] == [(fx.expected["model"], fx.expected["id"])]
    assert all(getattr(e, "index", 0) == 0 for e in events)

    assert [e.text for e in events if isinstance(e, TextDelta)] == fx.text_deltas()
    assert all(e.logprobs is None for e in events if isinstance(e, TextDelta))
    thinking = [e for e in events if isinstance(e, ThinkingDelta)]
    assert [e.text for e in thinking if e.signature is None] == fx.thinking_deltas()
    assert [e.signature for e in thinking if e.signature is not None] == fx.signatures()
    assert all(e.text == "" for e in thinking if e.signature is not None)
    if thinking:  # all thinking precedes the answer (block 0 before block 1)
        last_thinking = max(events.index(e) for e in thinking)
        assert all(events.index(e) > last_thinking for e in events if isinstance(e, TextDelta))

    calls = fx.tool_calls()
    assert [(e.call_index, e.id, e.name) for e in events if isinstance(e, ToolCallStart)] == [
        (i, c["id"], c["name"]) for i, c in enumerate(calls)
    ]
    for i, call in enumerate(calls):
        fragments = [e.arguments for e in events if isinstance(e, ToolCallDelta) and e.call_index == i]
        assert all(fragments)  # the empty first partial_json is not an event
        assert "".join(fragments) == call["json"]

    usages = [e for e in events if isinstance(e, Usage)]
    reports = fx.usage_reports()
    assert len(usages) == len(reports)
    so_far: dict[str, Any] = {}
    for event, report in zip(usages, reports, strict=True):
        # Each event is the cumulative view: every counter's latest value.
        so_far.update({k: v for k, v in report.items() if v is not None})
        prompt = all_input_tokens(so_far)
        assert (event.prompt_tokens, event.completion_tokens, event.total_tokens) == (
            prompt,
            so_far["output_tokens"],
            prompt + so_far["output_tokens"],
        )
        assert event.details == so_far

    finishes = [e for e in events if isinstance(e, Finish)]
    assert [e.reason for e in finishes] == [fx.expected["stop_reason"]]
    assert events[-1] is finishes[0]  # message_delta is the last payload before message_stop
    assert not [e for e in events if isinstance(e, (RefusalDelta, Citation))]

    check_result(stream.result, fx)


@pytest.mark.parametrize(("fx", "chunking"), CASES)
async def test_prompt_model(fx: Fixture, chunking: str, reads: list[int]) -> None:
    """The prompt-string ``Anthropic`` class: same text, usage and thinking, as ``Generation``s."""
    recorder = Recorder()
    async with MockServer() as server:
        server.enqueue(_response(fx.body, chunking), _response(fx.body, chunking))
        async with _llm(server, callbacks=[recorder]) as llm:
            stream = llm.stream(PROMPT)
            async with stream:
                tokens = [token async for token in stream]
            text = await llm(PROMPT)
        assert server.requests[0].json["messages"] == [{"role": "user", "content": PROMPT}]
    check_reads(reads, fx.body, chunking, requests=2)
    assert tokens == fx.text_deltas()
    assert recorder.tokens == tokens + tokens
    assert text == fx.text()
    check_result(stream.result, fx, chat=False)
    assert len(recorder.ends) == 2
    for result in recorder.ends:
        check_result(result, fx, chat=False)


@pytest.mark.parametrize(
    ("fx", "chunking"),
    [pytest.param(fx, chunking, id=f"{fx.name}-{chunking}") for fx in ALL for chunking in CHUNKINGS],
)
def test_sse_decoder_sees_every_event(fx: Fixture, chunking: str) -> None:
    """Sans-IO, at exactly these splits: every event, the unterminated ``message_stop`` included.

    Over sockets a lost unterminated ``message_stop`` shows as an
    ``IncompleteStreamError``; here the decoder itself is checked.
    """
    written = pieces(fx.body, chunking)
    assert b"".join(written) == fx.body
    decoder = SSEDecoder()
    fed = [event for piece in written for event in decoder.feed(piece)]
    flushed = decoder.finish()
    assert [(e.event, e.data) for e in fed + flushed] == fx.frames
    unterminated = fx.expected["final_event_unterminated"]
    assert [e.data for e in flushed] == (['{"type":"message_stop"}'] if unterminated else [])
    assert decoder.buffered == 0


# -- errors ------------------------------------------------------------------


def _check_overloaded(err: OverloadedError) -> None:
    assert "Overloaded" in str(err)
    assert err.error_type == "overloaded_error"
    assert err.status_code == 529
    assert err.retryable


@pytest.mark.parametrize("chunking", ERROR_CASES)
async def test_error_event_raises_overloaded(chunking: str, reads: list[int]) -> None:
    """The in-stream ``overloaded_error`` (HTTP 200): OverloadedError, with a partial result, to handlers too."""
    recorder = Recorder()
    tokens: list[str] = []
    async with MockServer() as server:
        server.enqueue(_response(ERROR.body, chunking), _response(ERROR.body, chunking))
        # max_retries=0: an error before any content would otherwise be retried (see below).
        async with _chat(server, callbacks=[recorder], max_retries=0) as chat:
            with pytest.raises(OverloadedError) as info:
                async with chat.stream(MESSAGES) as stream:
                    async for token in stream:
                        tokens.append(token)
            with pytest.raises(OverloadedError) as generated:
                await chat.generate([MESSAGES])
        assert len(server.requests) == 2
    check_reads(reads, ERROR.body, chunking, requests=2)

    err = info.value
    _check_overloaded(err)
    _check_overloaded(generated.value)
    assert str(err) == ERROR.expected["error"]["message"]
    assert err.body == {"type": "error", "error": ERROR.expected["error"]}
    assert tokens == []
    assert err.partial_result is not None
    assert err.partial_result.text == ""
    assert err.partial_result.generations[0][0].generation_info["finish_reason"] is None
    assert recorder.errors == [err, generated.value]
    assert recorder.errors[0] is err and recorder.errors[1] is generated.value
    assert recorder.ends == [] and recorder.tokens == [] and recorder.retries == []
    assert not stream.finished
    with pytest.raises(StreamStateError, match="has not finished"):
        _ = stream.result


async def test_error_event_with_the_prompt_model(mock_server: MockServer) -> None:
    recorder = Recorder()
    mock_server.enqueue(MockResponse(raw=ERROR.body))
    async with _llm(mock_server, callbacks=[recorder], max_retries=0) as llm:
        with pytest.raises(OverloadedError) as info:
            await llm(PROMPT)
    _check_overloaded(info.value)
    assert info.value.partial_result is not None and info.value.partial_result.text == ""
    assert recorder.errors == [info.value] and recorder.errors[0] is info.value


async def test_http_529_is_the_same_class_as_the_error_event(mock_server: MockServer) -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    mock_server.enqueue(MockResponse(status=529, error=body), MockResponse(raw=ERROR.body))
    recorder = Recorder()
    async with _chat(mock_server, callbacks=[recorder], max_retries=0) as chat:
        with pytest.raises(OverloadedError) as http:
            async for _ in chat.stream(MESSAGES):
                pass
        with pytest.raises(OverloadedError) as in_stream:
            async for _ in chat.stream(MESSAGES):
                pass
    assert len(mock_server.requests) == 2  # max_retries=0: the 529 was not retried
    _check_overloaded(http.value)
    _check_overloaded(in_stream.value)
    assert type(http.value) is type(in_stream.value) is OverloadedError
    assert http.value.body == in_stream.value.body == body
    assert recorder.errors == [http.value, in_stream.value]
    assert recorder.errors[0] is http.value


@pytest.mark.parametrize("chunking", ERROR_CASES)
async def test_error_event_before_any_content_is_retried(
    chunking: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing was delivered yet, so the in-stream overloaded error is retried like a 529."""
    monkeypatch.setattr("streamkit._retry.retry_delay", lambda error, attempt: 0.0)
    fx = BY_NAME["text_basic"]
    recorder = Recorder()
    async with MockServer() as server:
        server.enqueue(_response(ERROR.body, chunking), _response(fx.body, chunking))
        async with _chat(server, callbacks=[recorder], max_retries=1) as chat:
            async with chat.stream(MESSAGES) as stream:
                tokens = [token async for token in stream]
        assert len(server.requests) == 2
    assert tokens == recorder.tokens == fx.text_deltas()
    check_result(stream.result, fx)
    assert [(type(error), attempt) for error, attempt in recorder.retries] == [(OverloadedError, 1)]
    _check_overloaded(recorder.retries[0][0])  # type: ignore[arg-type]
    assert recorder.errors == []


def _text_then_error() -> tuple[bytes, list[str]]:
    """text_basic's events up to its last text delta, then the recorded error event."""
    fx = BY_NAME["text_basic"]
    blocks = fx.body.split(b"\n\n")
    last_text = max(i for i, block in enumerate(blocks) if b'"text_delta"' in block)
    body = b"\n\n".join(blocks[: last_text + 1]) + b"\n\n" + ERROR.body
    return body, fx.text_deltas()


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
async def test_error_event_after_text_keeps_the_partial_text(chunking: str, reads: list[int]) -> None:
    body, deltas = _text_then_error()
    assert deltas == ["Hello", " there", "!"]
    recorder = Recorder()
    tokens: list[str] = []
    async with MockServer() as server:
        server.enqueue(_response(body, chunking))
        # Retries allowed: text was delivered before the error, so it must not be retried.
        async with _chat(server, callbacks=[recorder], max_retries=2) as chat:
            with pytest.raises(OverloadedError) as info:
                async with chat.stream(MESSAGES) as stream:
                    async for token in stream:
                        tokens.append(token)
        assert len(server.requests) == 1
    assert recorder.retries == []
    check_reads(reads, body, chunking, requests=1)
    err = info.value
    _check_overloaded(err)
    assert recorder.errors == [err] and recorder.errors[0] is err
    partial = err.partial_result
    assert partial is not None
    assert partial.text == "".join(deltas) == "Hello there!"
    assert stream.text == partial.text
    assert partial.llm_output is not None
    assert partial.llm_output["id"] == BY_NAME["text_basic"].expected["id"]
    assert partial.llm_output["token_usage"]["prompt_tokens"] == 11
    assert partial.generations[0][0].generation_info["finish_reason"] is None
    assert recorder.tokens == deltas
    assert tokens == deltas  # the consumer gets the tokens before the error, then the error


@pytest.mark.parametrize(("fx", "chunking"), CASES)
async def test_stream_cut_before_message_stop(fx: Fixture, chunking: str, reads: list[int]) -> None:
    """Everything but ``message_stop``: IncompleteStreamError, carrying the whole partial answer."""
    body = fx.body[: fx.body.rindex(b"event: message_stop")]
    recorder = Recorder()
    tokens: list[str] = []
    async with MockServer() as server:
        server.enqueue(_response(body, chunking))
        async with _chat(server, callbacks=[recorder]) as chat:
            with pytest.raises(IncompleteStreamError) as info:
                async with chat.stream(MESSAGES) as stream:
                    async for token in stream:
                        tokens.append(token)
    check_reads(reads, body, chunking, requests=1)
    err = info.value
    assert "message_stop" in str(err) and err.retryable
    assert recorder.errors == [err] and recorder.errors[0] is err
    assert recorder.ends == []
    assert tokens == recorder.tokens == fx.text_deltas()
    partial = err.partial_result
    assert partial is not None
    # Everything up to message_delta arrived, so the partial result is the whole message.
    check_result(partial, fx)
    assert not stream.finished


@pytest.mark.parametrize(("fx", "chunking"), [c for c in CASES if c.values[1] == "whole"])
async def test_stream_cut_before_message_delta(fx: Fixture, chunking: str) -> None:
    """Cut before the stop reason: IncompleteStreamError, the text so far, no finish reason."""
    body = fx.body[: fx.body.rindex(b"event: message_delta")]
    async with MockServer() as server:
        server.enqueue(_response(body, chunking))
        async with _chat(server) as chat:
            with pytest.raises(IncompleteStreamError) as info:
                await chat.generate([MESSAGES])
    partial = info.value.partial_result
    assert partial is not None
    assert partial.text == fx.text()
    info_ = partial.generations[0][0].generation_info
    assert info_ is not None and info_["finish_reason"] is None
    usage = partial.token_usage  # only message_start's report arrived
    start = fx.usage_reports()[0]
    assert usage["prompt_tokens"] == all_input_tokens(start)
    # The deltas delivered are counted in when message_start's output count is
    # behind them, and the figure is then marked as an estimate (issue #14).
    delivered = sum(
        1
        for p in fx.payloads[: [x["type"] for x in fx.payloads].index("message_delta")]
        if p["type"] == "content_block_delta" and any(v for k, v in p["delta"].items() if k != "type")
    )
    if delivered > start["output_tokens"]:
        assert (usage["completion_tokens"], usage["usage_estimated"]) == (delivered, True)
    else:
        assert usage["completion_tokens"] == start["output_tokens"] and "usage_estimated" not in usage


def _cut_in_utf8_char(body: bytes) -> int:
    return body.index("°".encode()) + 1


def _cut_in_message_stop(body: bytes) -> int:
    return body.rindex(b'data: {"type":"message_stop"') + 10


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
@pytest.mark.parametrize(
    ("cut", "text"),
    [
        pytest.param(
            _cut_in_utf8_char, "The weather in San Francisco, CA is currently **", id="in-utf8-char"
        ),
        pytest.param(_cut_in_message_stop, BY_NAME["text_padded_utf8"].text(), id="in-message_stop"),
    ],
)
async def test_stream_cut_inside_an_event(cut: Any, text: str, chunking: str, reads: list[int]) -> None:
    """Cut mid-event (half a UTF-8 character, half a JSON line): still IncompleteStreamError, not bad JSON."""
    fx = BY_NAME["text_padded_utf8"]
    body = fx.body[: cut(fx.body)]
    recorder = Recorder()
    async with MockServer() as server:
        server.enqueue(_response(body, chunking))
        async with _chat(server, callbacks=[recorder]) as chat:
            with pytest.raises(IncompleteStreamError) as info:
                await chat.generate([MESSAGES])
        assert len(server.requests) == 1  # text was delivered (to the handler): never retried
    check_reads(reads, body, chunking, requests=1)
    err = info.value
    assert err.retryable and recorder.retries == []
    assert recorder.errors == [err] and recorder.errors[0] is err
    assert isinstance(err.__cause__, ProtocolError) and "malformed JSON" in str(err.__cause__)
    assert err.partial_result is not None
    assert err.partial_result.text == text
    assert recorder.tokens == fx.text_deltas()[: len(recorder.tokens)]
    assert "".join(recorder.tokens) == text
