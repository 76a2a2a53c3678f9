"""Wire conformance: Ollama ``/api/chat`` bodies from others, replayed byte for byte.

Every body in ``tests/fixtures/wire/ollama`` (see that folder's README: the
documentation's examples re-framed one object per line, and ollama-python's
test bodies) is served by the real loopback ``MockServer`` over real sockets,
streamed bodies in three chunkings (one write, random writes from a fixed
seed, one byte per write), to ``ChatOllama``, and what streamkit exposes is
checked against the fixture's ``expected.json`` and against a plain
``json.loads`` of each line in this file. streamkit's decoder and mapper are
not used to compute what they are checked against.

The official ``ollama`` Python client is the oracle of the last tests: it
reads the same bytes from the same server, and its parsed parts must agree
with streamkit's result.

The regression test of issue #12: before the provider contract, the adapter
read any content type containing ``json`` (``application/x-ndjson``) as one
JSON document, and a multi-line Ollama stream failed to parse.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ollama
import pydantic
import pytest
from wire_replay import CHUNKINGS, USAGE_KEYS, check_reads, record_reads, replay

from streamkit import IncompleteStreamError, ProviderStreamError
from streamkit.callbacks import AsyncCallbackHandler
from streamkit.events import Finish, MessageStart, TextDelta, ToolCallDelta, ToolCallStart, Usage
from streamkit.providers.base import Provider
from streamkit.providers.ollama import ChatOllama, OllamaProvider
from streamkit.results import ChatGeneration, LLMResult
from streamkit.testing import MockResponse, MockServer

WIRE = Path(__file__).parent / "fixtures" / "wire" / "ollama"

# SHA-256 of each body: they stop anyone "fixing" a file.
SHA256 = {
    "chat_stream_minimal.ndjson": "e4f8d0b65828ec5833c8e3ba6a1e2e2a59097b2997e2f7984c2de25352da726c",
    "docs_chat_history.ndjson": "4eab40eb13c08720a907333f28038bfc908f1857fa06f0c1c54810cec60c72ed",
    "docs_chat_images.json": "eaeb60c02bb807b8d0158baef660f5417f3735fc541b57ee1e47799e9b527ccb",
    "docs_chat_load.json": "ddfb01015fa4233a7609e10620357d933ef515df63fabe201074d849f00d0fba",
    "docs_chat_stream.ndjson": "0ad6119a5871cfcb34e23f2bce314ea86fd4385dc7245066eb2733e411fb8d80",
    "docs_chat_stream_error.ndjson": "1a240a441456d16250d75c41b857cf4c1227477518114348f1288bc26d2a1cc5",
    "docs_chat_stream_tools.ndjson": "cb33aaf363b9ba909eb2848b738a99eb26dadec387f847781d1a25202339bf1d",
    "docs_chat_structured.json": "9545d6395d8321b18f9a7ae1ffc91221873ea538b14aa77b3fc9e7442607bbce",
    "docs_chat_tool_result.json": "9b3e27cca44e5fccf634ffbca40db16cb03f436803ce327bbca5c9c9a52e1e0b",
    "docs_chat_tools.json": "4c72f4d80fa130005d09527bd6edcdcdc829222648bf57bc5fb446c06c4fcf5b",
    "ollama_python_chat_logprobs.json": "fd889360c8515d2669abb30218cd7163acc747a829bfc6d5459b2c2eb4af3493",
}
METRICS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)


@pytest.fixture(autouse=True)
def _no_ollama_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's OLLAMA_HOST / OLLAMA_API_KEY must not reach these tests."""
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)


@dataclass(frozen=True)
class Fixture:
    file: str
    body: bytes
    expected: dict[str, Any]

    @property
    def name(self) -> str:
        return self.file.rsplit(".", 1)[0]

    @property
    def streamed(self) -> bool:
        return self.file.endswith(".ndjson")

    @property
    def objects(self) -> list[dict[str, Any]]:
        """Each line, read with plain json.loads."""
        return [json.loads(line) for line in self.body.decode("utf-8").split("\n") if line.strip()]

    def contents(self) -> list[str]:
        """Every non-empty ``message.content``, in order: the tokens a consumer must see."""
        return [c for o in self.objects if (c := (o.get("message") or {}).get("content"))]

    def final(self) -> dict[str, Any] | None:
        return next((o for o in self.objects if o.get("done") is True), None)

    def calls(self) -> list[dict[str, Any]]:
        return [c for o in self.objects for c in (o.get("message") or {}).get("tool_calls") or ()]


def _load() -> list[Fixture]:
    out = []
    for path in sorted(WIRE.iterdir()):
        if path.suffix in (".ndjson", ".json") and not path.name.endswith(".expected.json"):
            stem = path.name.rsplit(".", 1)[0]
            expected = json.loads((WIRE / f"{stem}.expected.json").read_text("utf-8"))
            out.append(Fixture(path.name, path.read_bytes(), expected))
    return out


ALL = _load()
BY_NAME = {fx.name: fx for fx in ALL}
COMPLETE_STREAMS = [fx for fx in ALL if fx.streamed and fx.expected["has_done_true"]]
WHOLE = [fx for fx in ALL if not fx.streamed]


class Recorder(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.ends: list[LLMResult] = []
        self.errors: list[BaseException] = []

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)

    async def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        self.ends.append(response)

    async def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.errors.append(error)


def _chat(server: MockServer, **kwargs: Any) -> ChatOllama:
    return ChatOllama(base_url=server.url, model="llama3.2", max_retries=0, **kwargs)


# -- the files -------------------------------------------------------------


def test_every_fixture_is_checked_and_is_the_recorded_bytes() -> None:
    assert sorted(fx.file for fx in ALL) == sorted(SHA256)
    for fx in ALL:
        assert hashlib.sha256(fx.body).hexdigest() == SHA256[fx.file], fx.file


@pytest.mark.parametrize("fx", ALL, ids=lambda fx: fx.name)
def test_expected_json_agrees_with_a_plain_reading(fx: Fixture) -> None:
    exp = fx.expected
    objects = fx.objects
    assert exp["line_count"] == len(objects)
    assert exp["model"] == objects[0].get("model")
    assert exp["content"] == "".join(fx.contents())
    # (the shared store's expected.json for chat_stream_minimal has fewer keys: none of these)
    assert [(c["name"], c["arguments"]) for c in exp.get("tool_calls", [])] == [
        (c["function"]["name"], c["function"]["arguments"]) for c in fx.calls()
    ]
    final = fx.final()
    assert exp["has_done_true"] == (final is not None)
    assert exp.get("done_reason") == (final or {}).get("done_reason")
    assert exp.get("metrics", {}) == {k: final[k] for k in METRICS if final and k in final}
    if fx.streamed:
        assert fx.body.endswith(b"\n") and b"\r" not in fx.body  # one object per \n-terminated line


# -- streams ---------------------------------------------------------------


def _expected_usage(fx: Fixture) -> dict[str, Any]:
    metrics = fx.expected["metrics"]
    prompt, completion = metrics.get("prompt_eval_count", 0), metrics.get("eval_count", 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def check_result(result: LLMResult, fx: Fixture) -> None:
    """Everything ``expected.json`` says, on streamkit's result."""
    exp = fx.expected
    (generation,) = result.generations[0]
    assert isinstance(generation, ChatGeneration)
    message = generation.message
    assert message.content == exp["content"] == generation.text
    assert message.response_metadata["model_provider"] == "ollama"
    out = result.llm_output
    assert out is not None
    assert out["model_name"] == exp["model"]
    assert out.get("created_at") == exp["created_at"]
    usage = out["token_usage"]
    if exp["metrics"]:
        assert {k: usage[k] for k in USAGE_KEYS} == _expected_usage(fx)
        for key in METRICS:  # the raw metrics beside the counts; durations in nanoseconds
            assert usage.get(key) == exp["metrics"].get(key), key
        assert message.usage_metadata == {
            "input_tokens": usage["prompt_tokens"],
            "output_tokens": usage["completion_tokens"],
            "total_tokens": usage["total_tokens"],
        }
    else:
        assert usage == {} and message.usage_metadata is None
    info = generation.generation_info
    assert info is not None
    assert info["finish_reason"] == exp["done_reason"]
    calls = exp["tool_calls"]
    if exp["done_reason"] in (None, "stop"):
        assert info["normalized_finish_reason"] == ("tool_calls" if calls else "stop")
    else:
        assert info["normalized_finish_reason"] == "other"
    assert [(c.name, c.args) for c in message.tool_calls] == [(c["name"], c["arguments"]) for c in calls]
    for call, wire in zip(message.tool_calls, calls, strict=True):
        assert call.complete
        if wire["id"] is None:  # no id on the wire: a generated, stable one
            assert call.id is not None and call.id.startswith("call_") and len(call.id) == 5 + 24
        else:
            assert call.id == wire["id"]
    assert exp["thinking"] is None and "thinking" not in info


CASES = [pytest.param(fx, c, id=f"{fx.name}-{c}") for fx in COMPLETE_STREAMS for c in CHUNKINGS]


@pytest.mark.parametrize(("fx", "chunking"), CASES)
async def test_streams_replayed(fx: Fixture, chunking: str, monkeypatch: pytest.MonkeyPatch) -> None:
    reads = record_reads(monkeypatch)
    recorder = Recorder()
    async with MockServer() as server:
        server.enqueue(replay(fx.body, chunking))
        async with _chat(server, callbacks=[recorder]) as chat:
            stream = chat.stream("why is the sky blue?")
            tokens = [token async for token in stream]
            result = stream.result
        assert server.requests[-1].json["stream"] is True
        assert server.requests[-1].path == "/api/chat"
    check_reads(reads, fx.body, chunking, 1)
    assert tokens == fx.contents() == recorder.tokens
    check_result(result, fx)
    assert recorder.ends and not recorder.errors


async def test_events_of_the_tool_stream_in_wire_order() -> None:
    fx = BY_NAME["docs_chat_stream_tools"]
    async with MockServer() as server:
        server.enqueue(replay(fx.body, "whole"))
        server.enqueue(replay(fx.body, "1byte"))
        async with _chat(server) as chat:
            first = [e async for e in chat.stream("tokyo?").events()]
            second = [e async for e in chat.stream("tokyo?").events()]
    assert first == second  # the generated id is the same, however the bytes were cut
    kinds = [type(e) for e in first]
    assert kinds == [MessageStart, ToolCallStart, ToolCallDelta, Usage, Finish]
    start, delta, finish = first[1], first[2], first[4]
    assert isinstance(start, ToolCallStart) and start.name == "get_weather" and start.call_index == 0
    assert isinstance(delta, ToolCallDelta) and json.loads(delta.arguments) == {"city": "Tokyo"}
    assert delta.parsed_arguments == {"city": "Tokyo"}
    assert isinstance(finish, Finish) and finish.reason == "stop" and finish.normalized == "tool_calls"


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
async def test_a_stream_without_done_true_is_incomplete(chunking: str) -> None:
    """ollama-python's own test stream has no final object: streamkit says it was cut, keeping the text."""
    fx = BY_NAME["chat_stream_minimal"]
    recorder = Recorder()
    async with MockServer() as server:
        server.enqueue(replay(fx.body, chunking))
        async with _chat(server, callbacks=[recorder]) as chat:
            stream = chat.stream("Why is the sky blue?")
            tokens: list[str] = []
            with pytest.raises(IncompleteStreamError) as caught:
                async for token in stream:
                    tokens.append(token)
    assert tokens == fx.expected["content_parts"] == recorder.tokens
    partial = caught.value.partial_result
    assert partial is not None
    assert partial.generations[0][0].text == fx.expected["content"] == "I don't know."
    assert partial.llm_output is not None and partial.llm_output["model_name"] == "dummy"
    assert recorder.errors == [caught.value]


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
async def test_an_error_line_after_content(chunking: str) -> None:
    fx = BY_NAME["docs_chat_stream_error"]
    async with MockServer() as server:
        server.enqueue(replay(fx.body, chunking))
        async with _chat(server) as chat:
            stream = chat.stream("why is the sky blue?")
            tokens: list[str] = []
            with pytest.raises(ProviderStreamError) as caught:
                async for token in stream:
                    tokens.append(token)
    assert tokens == ["The"]
    assert caught.value.message == fx.expected["error"] == "an error was encountered while running the model"
    assert caught.value.body == {"error": fx.expected["error"]}
    partial = caught.value.partial_result
    assert partial is not None and partial.generations[0][0].text == "The"


# -- whole responses (stream: false) ----------------------------------------


@pytest.mark.parametrize("fx", WHOLE, ids=lambda fx: fx.name)
async def test_whole_responses(fx: Fixture) -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(raw=fx.body, content_type="application/json; charset=utf-8"))
        async with _chat(server) as chat:
            result = await chat.generate([["hi"]])
        assert server.requests[-1].json["stream"] is False
    exp = fx.expected
    check_result(result, fx)
    info = result.generations[0][0].generation_info
    assert info is not None
    if exp["logprob_tokens"]:
        content = info["logprobs"]["content"]
        assert [lp["token"] for lp in content] == exp["logprob_tokens"]
        assert content[0]["top_logprobs"][1]["token"] == "Hi"  # what ollama-python's test asserts
    else:
        assert info["logprobs"] is None


async def test_structured_output_from_the_documented_response() -> None:
    fx = BY_NAME["docs_chat_structured"]
    schema = {
        "type": "object",
        "properties": {"age": {"type": "integer"}, "available": {"type": "boolean"}},
        "required": ["age", "available"],
    }
    async with MockServer() as server:
        server.enqueue(MockResponse(raw=fx.body, content_type="application/json"))
        async with _chat(server) as chat:
            parsed = await chat.with_structured_output(schema)(
                "Ollama is 22 years old and busy saving the world."
            )
        sent = server.requests[-1].json
    assert parsed == {"age": 22, "available": False}
    assert sent["format"]["properties"] == schema["properties"]  # the schema goes as Ollama's "format"
    assert "response_format" not in sent


# -- the regression: NDJSON is not one JSON document -------------------------


def test_framing_of_ndjson_is_ndjson_where_the_default_said_json() -> None:
    provider = OllamaProvider()
    # The contract's default (an SSE provider's) reads any "json" content type as one document:
    # how application/x-ndjson was read before the contract.
    assert Provider.framing(provider, False, "application/x-ndjson") == "json"
    assert provider.framing(True, "application/x-ndjson") == "ndjson"
    assert provider.framing(False, "application/x-ndjson") == "ndjson"  # stream: false ignored
    assert provider.framing(True, "application/json") == "ndjson"  # one compact object is one line
    assert provider.framing(False, "application/json; charset=utf-8") == "json"


@pytest.mark.parametrize(
    ("streaming", "content_type"),
    [
        (True, "application/x-ndjson"),  # what Ollama sends
        (False, "application/x-ndjson"),  # a server that ignored "stream": false
        (True, "application/json"),  # a proxy that relabelled the stream
    ],
)
async def test_a_multiline_ndjson_body_is_read_line_by_line(streaming: bool, content_type: str) -> None:
    """Two lines (docs_chat_stream): a single-document parse fails on the second line.

    (A ``"stream": false`` answer labelled ``application/json`` is one
    document by definition: ``test_whole_responses``.)
    """
    fx = BY_NAME["docs_chat_stream"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(fx.body)  # what reading it as one JSON document meets
    async with MockServer() as server:
        server.enqueue(MockResponse(raw=fx.body, content_type=content_type))
        async with _chat(server, streaming=streaming) as chat:
            result = await chat.generate([["why is the sky blue?"]])
    check_result(result, fx)


# -- the official client as the oracle ----------------------------------------


async def _oracle(server: MockServer, fx: Fixture, stream: bool) -> list[Any]:
    client = ollama.AsyncClient(host=server.url)
    try:
        if stream:
            parts = await client.chat(
                model="llama3.2", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            return [part async for part in parts]
        return [await client.chat(model="llama3.2", messages=[{"role": "user", "content": "hi"}])]
    finally:
        await client._client.aclose()


def _agree(parts: list[Any], result: LLMResult) -> None:
    """streamkit's result says what the official client's parsed parts say."""
    (generation,) = result.generations[0]
    assert isinstance(generation, ChatGeneration)
    message = generation.message
    assert message.content == "".join(p.message.content or "" for p in parts)
    thinking = "".join(p.message.thinking or "" for p in parts)
    assert message.additional_kwargs.get("thinking", "") == thinking
    calls = [c for p in parts for c in p.message.tool_calls or ()]
    assert [(c.name, c.args) for c in message.tool_calls] == [
        (c.function.name, dict(c.function.arguments)) for c in calls
    ]
    out = result.llm_output
    assert out is not None
    assert out["model_name"] == parts[0].model
    final = parts[-1]
    assert final.done in (True, None)
    assert generation.generation_info is not None
    assert generation.generation_info["finish_reason"] == final.done_reason
    usage = out["token_usage"]
    if final.eval_count is not None:
        assert usage["completion_tokens"] == final.eval_count
        assert usage["prompt_tokens"] == final.prompt_eval_count
        assert usage["total_duration"] == final.total_duration
        assert usage["eval_duration"] == final.eval_duration


#: The documented final object of "With History" has no ``message``; the official
#: client's model requires one (a real server always sends it: ``Message`` is not
#: ``omitempty`` in api/types.go), so it cannot be the oracle there.
ORACLE_STREAMS = [fx for fx in COMPLETE_STREAMS if fx.name != "docs_chat_history"]


async def test_the_official_client_rejects_a_final_object_without_message() -> None:
    """Where the client refuses a documented object, streamkit still reads it (test_streams_replayed)."""
    fx = BY_NAME["docs_chat_history"]
    assert "message" not in fx.objects[-1]
    async with MockServer() as server:
        server.enqueue(replay(fx.body, "whole"))
        with pytest.raises(pydantic.ValidationError, match="message"):
            await _oracle(server, fx, stream=True)


@pytest.mark.parametrize("fx", ORACLE_STREAMS, ids=lambda fx: fx.name)
async def test_the_official_client_reads_streams_the_same(fx: Fixture) -> None:
    async with MockServer() as server:
        server.enqueue(replay(fx.body, "random"), replay(fx.body, "random"))
        parts = await _oracle(server, fx, stream=True)
        async with _chat(server) as chat:
            result = await chat.stream("hi").collect()
    assert len(parts) == len(fx.objects)
    _agree(parts, result)


@pytest.mark.parametrize("fx", WHOLE, ids=lambda fx: fx.name)
async def test_the_official_client_reads_whole_responses_the_same(fx: Fixture) -> None:
    async with MockServer() as server:
        response = MockResponse(raw=fx.body, content_type="application/json")
        server.enqueue(response, response)
        parts = await _oracle(server, fx, stream=False)
        async with _chat(server) as chat:
            result = await chat.generate([["hi"]])
    _agree(parts, result)
    if parts[0].logprobs:
        info = result.generations[0][0].generation_info
        assert info is not None
        assert [lp["token"] for lp in info["logprobs"]["content"]] == [lp.token for lp in parts[0].logprobs]


async def test_the_official_client_and_streamkit_on_a_cut_stream_and_an_error_line() -> None:
    """Without done: the client yields the parts, streamkit flags the cut; on an error line both raise it."""
    minimal, error = BY_NAME["chat_stream_minimal"], BY_NAME["docs_chat_stream_error"]
    async with MockServer() as server:
        server.enqueue(replay(minimal.body, "whole"), replay(minimal.body, "whole"))
        parts = await _oracle(server, minimal, stream=True)
        async with _chat(server) as chat:
            with pytest.raises(IncompleteStreamError) as cut:
                await chat.stream("hi").collect()
        server.enqueue(replay(error.body, "whole"), replay(error.body, "whole"))
        with pytest.raises(ollama.ResponseError) as theirs:
            await _oracle(server, error, stream=True)
        async with _chat(server) as chat:
            with pytest.raises(ProviderStreamError) as ours:
                await chat.stream("hi").collect()
    partial = cut.value.partial_result
    assert partial is not None
    assert partial.generations[0][0].text == "".join(p.message.content for p in parts)
    assert theirs.value.error == ours.value.message


def test_text_delta_events_carry_the_line_logprobs() -> None:
    fx = BY_NAME["ollama_python_chat_logprobs"]
    events = OllamaProvider().parse_response(json.loads(fx.body))
    text = [e for e in events if isinstance(e, TextDelta)]
    assert [e.text for e in text] == ["Hello"]
    assert text[0].logprobs == json.loads(fx.body)["logprobs"]
