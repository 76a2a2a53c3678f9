"""Wire conformance: recorded Gemini API answers replayed over loopback.

Every streamed body in ``tests/fixtures/wire/gemini`` (recorded by others;
see that folder's README) is served by the real ``MockServer`` over real
sockets, as stored and with the other line ending (the live API separates
events with ``\\r\\n\\r\\n``; two of the recordings lost their ``\\r``), in
three chunkings (one write, random writes from a fixed seed, one byte per
write), to ``ChatGoogleGenerativeAI``, and everything streamkit exposes is
checked against the fixture's ``expected.json`` and a naive reading of the
body (``tests/gemini_wire.py``). The whole (``generateContent``) answers go
through ``generate()`` without streaming; the recorded 404 through the
error path. ``test_signature_round_trip_matches_the_official_sdk`` replays a
live three-turn tool loop and checks that the requests streamkit sends back
are the ones the official SDK sent: each ``functionCall`` part with its
``thoughtSignature``, each tool result as a ``functionResponse``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from gemini_wire import SHA256, WIRE, Fixture, load, names, usage_of
from wire_replay import CHUNKINGS, check_reads, record_reads, replay

from streamkit import NotFoundError
from streamkit.callbacks import AsyncCallbackHandler
from streamkit.events import ContentBlock, Finish, TextDelta, ThinkingDelta, ToolCallDelta, ToolCallStart
from streamkit.messages import AIMessage, HumanMessage, ToolMessage
from streamkit.providers.gemini import ChatGoogleGenerativeAI
from streamkit.results import ChatGeneration
from streamkit.testing import MockResponse, MockServer

STREAMED = names()
WHOLE = ["generate_function_call_signature", "generate_thought_max_tokens"]


@pytest.fixture(autouse=True)
def _no_google_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def chat(server: MockServer, **settings: Any) -> ChatGoogleGenerativeAI:
    return ChatGoogleGenerativeAI(base_url=server.url, api_key="test-key", max_retries=0, **settings)


def test_fixture_files_are_the_recorded_bytes() -> None:
    stored = {p.name for p in WIRE.iterdir() if p.suffix in (".sse", ".json") and ".expected" not in p.name}
    assert stored == set(SHA256)
    for name, digest in SHA256.items():
        assert hashlib.sha256((WIRE / name).read_bytes()).hexdigest() == digest, name
    assert len(STREAMED) == 9
    # The framings the README describes: the two neurouter bodies with LF and an
    # unterminated last event, the re-framed js-genai ones with CRLF, terminated.
    for name in STREAMED:
        fixture = load(name)
        assert fixture.crlf == (name not in ("thinking_text", "thinking_function_call")), name
        assert fixture.body.endswith(b"\r\n\r\n") != fixture.expected["final_event_unterminated"], name
        assert len(fixture.payloads) == fixture.expected["chunk_count"], name


def test_the_naive_reading_agrees_with_the_recorders_summary() -> None:
    """The two independent readings of each body agree before streamkit is checked against them."""
    for name in STREAMED:
        fixture = load(name)
        expected = fixture.expected
        assert "".join(fixture.text_deltas()) == (expected["text"] or ""), name
        assert "".join(fixture.thought_deltas()) == (expected["thought_text"] or ""), name
        calls = [
            {"name": p["functionCall"]["name"], "args": p["functionCall"]["args"]}
            for p in fixture.parts()
            if "functionCall" in p
        ]
        assert calls == (expected["function_calls"] or []), name
        assert fixture.payloads[-1].get("usageMetadata") == expected["usage_metadata"], name


class Tokens(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
@pytest.mark.parametrize("ending", ["as_stored", "other"])
@pytest.mark.parametrize("name", STREAMED)
async def test_streamed_fixture_through_chat_model(
    name: str, ending: str, chunking: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixture = load(name)
    variants = fixture.variants()
    body = list(variants.values())[0 if ending == "as_stored" else 1]
    expected = fixture.expected
    reads = record_reads(monkeypatch)
    handler = Tokens()
    async with MockServer() as server:
        server.enqueue(replay(body, chunking))
        async with chat(server, callbacks=[handler]) as model, model.stream("hi") as stream:
            events = [event async for event in stream.events()]
        request = server.requests[-1]
    check_reads(reads, body, chunking, requests=1)
    assert request.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert request.headers["x-goog-api-key"] == "test-key"
    assert "model" not in request.json and request.rejection is None

    # Every answer token, in order, reached both the events and the token handler.
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert texts == fixture.text_deltas() == handler.tokens
    thoughts = [e.text for e in events if isinstance(e, ThinkingDelta) and e.text]
    assert thoughts == fixture.thought_deltas()
    # Every part, whole and in order, as a content block (the round trip).
    assert [e.block for e in events if isinstance(e, ContentBlock)] == fixture.parts()

    result = stream.result
    generation = result.generations[0][0]
    assert isinstance(generation, ChatGeneration)
    message = generation.message
    assert message.content == (expected["text"] or "")
    assert message.additional_kwargs.get("thinking") == expected["thought_text"]
    assert message.content_blocks == fixture.parts()
    assert message.response_metadata["model_provider"] == "google_genai"

    calls = fixture.client_calls()
    assert [(c.name, c.args) for c in message.tool_calls] == [
        (p["functionCall"]["name"], p["functionCall"]["args"]) for p in calls
    ]
    for call, part in zip(message.tool_calls, calls, strict=True):
        assert call.complete
        assert call.id == f"call_{expected['response_id']}_{calls.index(part)}"  # none on the wire
        signature = part.get("thoughtSignature")
        assert call.extras == ({"thoughtSignature": signature} if signature else None)
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert len(starts) == len(deltas) == len(calls)  # whole calls: one start, one delta each
    assert [json.loads(d.arguments) for d in deltas] == [p["functionCall"]["args"] for p in calls]

    finishes = [e for e in events if isinstance(e, Finish)]
    assert [f.reason for f in finishes] == [expected["finish_reason"]]  # MCP's first STOP was not the end
    normalized = {"STOP": "tool_calls" if calls else "stop", "MAX_TOKENS": "length"}[
        expected["finish_reason"]
    ]
    assert generation.generation_info is not None
    assert generation.generation_info["finish_reason"] == expected["finish_reason"]
    assert generation.generation_info["normalized_finish_reason"] == normalized

    prompt, output, total = usage_of(expected["usage_metadata"])
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_tokens"] == prompt
    assert message.usage_metadata["output_tokens"] == output
    assert message.usage_metadata["total_tokens"] == total == prompt + output
    thoughts_count = expected["usage_metadata"].get("thoughtsTokenCount")
    assert message.usage_metadata.get("output_token_details") == (
        {"reasoning": thoughts_count} if thoughts_count is not None else None
    )
    assert result.llm_output is not None
    assert (
        result.llm_output["token_usage"]["promptTokenCount"] == expected["usage_metadata"]["promptTokenCount"]
    )
    assert result.llm_output["model_name"] == expected["model_version"]
    assert result.llm_output["id"] == message.id == expected["response_id"]
    if expected["finish_message"] and not expected.get("server_function_responses"):
        assert result.llm_output["finish_message"] == expected["finish_message"]


@pytest.mark.parametrize("name", WHOLE)
async def test_whole_answer_through_generate(name: str) -> None:
    body = (WIRE / f"{name}.json").read_bytes()
    recorded = json.loads(body)
    expected = json.loads((WIRE / f"{name}.expected.json").read_text())
    async with MockServer() as server:
        server.enqueue(MockResponse(raw=body, content_type="application/json; charset=UTF-8"))
        async with chat(server) as model:
            result = await model.generate([[HumanMessage("hi")]])
        assert server.requests[-1].path == "/v1beta/models/gemini-2.5-flash:generateContent"
    generation = result.generations[0][0]
    assert isinstance(generation, ChatGeneration)
    message = generation.message
    parts = recorded["candidates"][0]["content"]["parts"]
    assert message.content_blocks == parts
    assert message.content == (expected["text"] or "")
    assert message.additional_kwargs.get("thinking") == expected["thought_text"]
    assert [(c.name, c.args) for c in message.tool_calls] == [
        (c["name"], c["args"]) for c in expected["function_calls"] or []
    ]
    call_parts = [part for part in parts if "functionCall" in part]
    for call, part in zip(message.tool_calls, call_parts, strict=True):
        assert call.extras == {"thoughtSignature": part["thoughtSignature"]}
    assert message.response_metadata["finish_reason"] == expected["finish_reason"]
    prompt, output, total = usage_of(expected["usage_metadata"])
    assert message.usage_metadata is not None
    assert (message.usage_metadata["input_tokens"], message.usage_metadata["output_tokens"]) == (
        prompt,
        output,
    )
    assert message.usage_metadata["total_tokens"] == total
    assert result.llm_output is not None
    assert result.llm_output["model_name"] == expected["model_version"]  # as served, not as asked


async def test_recorded_404_is_a_not_found_error() -> None:
    body = (WIRE / "error_404_not_found.json").read_bytes()
    payload = json.loads(body)
    async with MockServer() as server:
        # As recorded: the error body served as text/event-stream.
        server.enqueue(MockResponse(status=404, raw=body, content_type="text/event-stream"))
        async with chat(server, model="custom-gemini-2.0-flash") as model:
            with pytest.raises(NotFoundError) as info:
                await model.stream("why is the sky blue?").collect()
        assert server.requests[-1].path == "/v1beta/models/custom-gemini-2.0-flash:streamGenerateContent"
    err = info.value
    assert err.status_code == 404
    assert err.error_type == "NOT_FOUND"
    assert payload["error"]["message"] in str(err)
    assert err.body == payload
    assert err.partial_result is not None and err.partial_result.generations[0][0].text == ""


def _divide_tool() -> dict[str, Any]:
    recorded = json.loads((WIRE / "signature_loop_2.request.json").read_text())
    (declaration,) = recorded["tools"][0]["functionDeclarations"]
    return {
        "name": declaration["name"],
        "description": declaration["description"],
        "parameters": declaration["parametersJsonSchema"],
    }


async def test_signature_round_trip_matches_the_official_sdk() -> None:
    """A live tool loop: the requests streamkit sends back are those the official SDK sent."""
    turns = [load(f"signature_loop_{n}") for n in (1, 2, 3)]
    recorded = [json.loads((WIRE / f"signature_loop_{n}.request.json").read_text()) for n in (2, 3)]
    question = recorded[0]["contents"][0]["parts"][0]["text"]
    results = [
        part["functionResponse"]["response"]["output"]
        for request in recorded
        for part in request["contents"][-1]["parts"]
    ]
    assert results == [42, 2]
    async with MockServer() as server:
        for turn in turns:
            server.enqueue(replay(turn.body, "random"))
        model = chat(server).bind_tools([_divide_tool()], tool_choice="auto")
        async with model:
            conversation: list[Any] = [HumanMessage(question)]
            for n, result in enumerate(results):
                answer = await model.stream(conversation).collect()
                message = answer.generations[0][0].message  # type: ignore[attr-defined]
                assert isinstance(message, AIMessage)
                (call,) = message.tool_calls
                conversation += [message, ToolMessage(json.dumps(result), tool_call_id=call.id)]
                sent = server.requests[-1].json
                if n:
                    assert sent["contents"] == recorded[n - 1]["contents"][: len(sent["contents"])]
            final = await model.stream(conversation).collect()
        sent_bodies = [r.json for r in server.requests]
    assert final.generations[0][0].text == "The result is 2."
    for sent, expected in zip(sent_bodies[1:], recorded, strict=True):
        assert sent["contents"] == expected["contents"]
        assert sent["tools"] == expected["tools"]
        assert sent["toolConfig"] == expected["toolConfig"]
        assert sent.get("generationConfig", {}) == expected["generationConfig"] == {}
    # The final text part's signature is kept for the next turn too.
    last = final.generations[0][0].message  # type: ignore[attr-defined]
    assert last.content_blocks == turns[2].parts()
    assert "thoughtSignature" in last.content_blocks[0]


def test_every_fixture_has_its_checks() -> None:
    # A new fixture must be added to SHA256 (and so to the tests above).
    assert {f"{n}.sse" for n in STREAMED} <= set(SHA256)
    assert all(isinstance(load(n), Fixture) for n in STREAMED)
