"""streamkit.web_aisdk without a browser: the encoder's parts, the request parser, the relays' plumbing.

The real AI SDK client reads these streams in tests/test_aisdk_client.py
and tests/test_browser_usechat.py; here are the cases that need no Node.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from streamkit import AIMessage, ChatOpenAI, HumanMessage, InvalidArgumentError, SystemMessage, ToolMessage
from streamkit.events import Citation, ContentBlock, TextDelta, ThinkingDelta, ToolCallDelta, ToolCallStart
from streamkit.messages import ToolCall
from streamkit.results import ChatGeneration, LLMResult
from streamkit.testing import MockResponse, MockServer
from streamkit.web import ResumeBuffer, sse_events, sse_response
from streamkit.web_aisdk import (
    UI_MESSAGE_STREAM_HEADERS,
    UIMessageStreamEncoder,
    ui_message_stream,
    ui_messages_to_streamkit,
)


def parts_of(body: bytes) -> list[Any]:
    """The JSON parts of a UI message stream body ('[DONE]' as the string)."""
    out: list[Any] = []
    for event in body.decode().split("\n\n"):
        if event.startswith("data: "):
            data = event[len("data: ") :]
            out.append(data if data == "[DONE]" else json.loads(data))
        else:
            assert event in ("", ": keep-alive"), event
    return out


def result_with(message: AIMessage, **info: Any) -> LLMResult:
    generation = ChatGeneration(message=message, generation_info=info)
    return LLMResult(generations=[[generation]], llm_output={"model_name": "m"})


# -- the encoder ----------------------------------------------------------------


def test_parts_switch_between_text_and_reasoning_in_wire_order() -> None:
    encoder = UIMessageStreamEncoder("msg-1")
    assert encoder.start() == [{"type": "start", "messageId": "msg-1"}, {"type": "start-step"}]
    out = []
    for event in (
        ThinkingDelta("a"),
        ThinkingDelta("", signature="sig"),  # nothing to show
        TextDelta("b"),
        ThinkingDelta("c"),
        ContentBlock("text"),
        TextDelta("d"),
        ContentBlock("text"),  # a provider block boundary: a new text part
        TextDelta("e"),
        TextDelta("f", index=1),  # a second choice: not relayed
    ):
        out += encoder.event(event)
    assert out == [
        {"type": "reasoning-start", "id": "reasoning-1"},
        {"type": "reasoning-delta", "id": "reasoning-1", "delta": "a"},
        {"type": "reasoning-end", "id": "reasoning-1"},
        {"type": "text-start", "id": "text-1"},
        {"type": "text-delta", "id": "text-1", "delta": "b"},
        {"type": "text-end", "id": "text-1"},
        {"type": "reasoning-start", "id": "reasoning-2"},
        {"type": "reasoning-delta", "id": "reasoning-2", "delta": "c"},
        {"type": "reasoning-end", "id": "reasoning-2"},
        {"type": "text-start", "id": "text-2"},
        {"type": "text-delta", "id": "text-2", "delta": "d"},
        {"type": "text-end", "id": "text-2"},
        {"type": "text-start", "id": "text-3"},
        {"type": "text-delta", "id": "text-3", "delta": "e"},
    ]
    end = encoder.finish(
        result_with(AIMessage("bde"), finish_reason="end_turn", normalized_finish_reason="stop")
    )
    assert end == [
        {"type": "text-end", "id": "text-3"},
        {"type": "finish-step"},
        {
            "type": "finish",
            "finishReason": "stop",
            "messageMetadata": {"model": "m", "finishReason": "end_turn"},
        },
    ]


def test_a_tool_call_whose_name_comes_later_starts_once_with_its_early_fragments() -> None:
    encoder = UIMessageStreamEncoder()
    out = []
    for event in (
        ToolCallStart(0, None, ""),
        ToolCallDelta(0, '{"a"'),
        ToolCallStart(0, "call_x", "lookup"),
        ToolCallDelta(0, ": 1}"),
        ToolCallStart(0, "call_x", "lookup", extras={"k": 1}),  # a later field: no second start
        ToolCallStart(1, None, "second"),  # never gets an id: a stable one of ours
        ToolCallDelta(1, '{"b": '),
    ):
        out += encoder.event(event)
    assert out == [
        {"type": "tool-input-start", "toolCallId": "call_x", "toolName": "lookup"},
        {"type": "tool-input-delta", "toolCallId": "call_x", "inputTextDelta": '{"a"'},
        {"type": "tool-input-delta", "toolCallId": "call_x", "inputTextDelta": ": 1}"},
        {"type": "tool-input-start", "toolCallId": "call-1", "toolName": "second"},
        {"type": "tool-input-delta", "toolCallId": "call-1", "inputTextDelta": '{"b": '},
    ]
    calls = [
        ToolCall(id="call_x", name="lookup", args={"a": 1}),
        ToolCall(id=None, name="second", complete=False, raw_args='{"b": '),
    ]
    end = encoder.finish(result_with(AIMessage("", tool_calls=calls), normalized_finish_reason="length"))
    assert end[:2] == [
        {"type": "tool-input-available", "toolCallId": "call_x", "toolName": "lookup", "input": {"a": 1}},
        {
            "type": "tool-input-error",
            "toolCallId": "call-1",
            "toolName": "second",
            "input": '{"b": ',
            "errorText": "The model's tool call arguments were cut off or are not valid JSON.",
        },
    ]
    assert end[-1]["finishReason"] == "length"


def test_citations_become_sources_once_each() -> None:
    encoder = UIMessageStreamEncoder()
    out = []
    for citation in (
        {"type": "url_citation", "url_citation": {"url": "https://a.example/", "title": "A"}},
        {"type": "web_search_result_location", "url": "https://a.example/", "title": "A again"},
        {"type": "web_search_result_location", "url": "https://b.example/", "title": ""},
        {"type": "page_location", "document_index": 0, "document_title": "Report", "start_page_number": 2},
        {"type": "page_location", "document_index": 0, "document_title": "Report", "start_page_number": 5},
        {"type": "char_location", "document_index": 1, "document_title": None},
        {"type": "search_result_location", "source": "https://c.example/x", "title": "C"},
        {"type": "something_new"},
    ):
        out += encoder.event(Citation(citation))
    assert out == [
        {"type": "source-url", "sourceId": "source-1", "url": "https://a.example/", "title": "A"},
        {"type": "source-url", "sourceId": "source-2", "url": "https://b.example/"},
        {
            "type": "source-document",
            "sourceId": "source-3",
            "mediaType": "application/pdf",
            "title": "Report",
        },
        {"type": "source-document", "sourceId": "source-4", "mediaType": "text/plain", "title": "Document 1"},
        {"type": "source-url", "sourceId": "source-5", "url": "https://c.example/x", "title": "C"},
    ]


@pytest.mark.parametrize(
    ("normalized", "expected"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("tool_calls", "tool-calls"),
        ("content_filter", "content-filter"),
        ("refusal", "content-filter"),
        ("error", "error"),
        ("pause_turn", "other"),
        ("other", "other"),
        (None, None),
    ],
)
def test_finish_reasons_in_the_ai_sdks_words(normalized: str | None, expected: str | None) -> None:
    finish = UIMessageStreamEncoder().finish(
        result_with(AIMessage("x"), normalized_finish_reason=normalized)
    )[-1]
    assert finish.get("finishReason") == expected


def test_usage_metadata_uses_the_ai_sdks_names() -> None:
    message = AIMessage(
        "x",
        usage_metadata={
            "input_tokens": 10,
            "output_tokens": 5,
            "total_tokens": 15,
            "input_token_details": {"cache_read": 4, "cache_creation": 2},
            "output_token_details": {"reasoning": 3},
        },
    )
    metadata = UIMessageStreamEncoder().finish(result_with(message))[-1]["messageMetadata"]
    assert metadata["usage"] == {
        "inputTokens": 10,
        "outputTokens": 5,
        "totalTokens": 15,
        "inputTokenDetails": {"cacheReadTokens": 4, "cacheWriteTokens": 2},
        "outputTokenDetails": {"reasoningTokens": 3},
    }


# -- the request side -------------------------------------------------------------


def test_ui_messages_become_streamkit_messages() -> None:
    body = {
        "id": "chat-1",
        "trigger": "submit-message",
        "messages": [
            {"id": "s", "role": "system", "parts": [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}]},
            {
                "id": "u1",
                "role": "user",
                "parts": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "file", "mediaType": "image/png", "url": "https://img.example/a.png"},
                    {"type": "file", "mediaType": "application/pdf", "url": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"},
                    {"type": "data-ui-only", "data": {"x": 1}},
                ],
            },
            {
                "id": "a1",
                "role": "assistant",
                "parts": [
                    {"type": "step-start"},
                    {"type": "reasoning", "text": "hmm"},
                    {"type": "text", "text": "Checking."},
                    {"type": "source-url", "sourceId": "s1", "url": "https://x.example"},
                    {"type": "tool-lookup", "toolCallId": "c1", "state": "output-available", "input": {"q": 1}, "output": {"r": 2}},
                    {"type": "dynamic-tool", "toolName": "fetch", "toolCallId": "c2", "state": "output-error", "input": {}, "errorText": "boom"},
                    {"type": "tool-web_search", "toolCallId": "s1", "state": "output-available", "providerExecuted": True, "input": {}, "output": []},
                    {"type": "step-start"},
                    {"type": "tool-ask", "toolCallId": "c3", "state": "output-denied", "input": {"a": "b"}, "approval": {"id": "ap", "approved": False}},
                    {"type": "tool-partial", "toolCallId": "c4", "state": "input-streaming", "input": {"x": "y"}},
                    {"type": "step-start"},
                    {"type": "text", "text": "Done."},
                    {"type": "tool-text_out", "toolCallId": "c5", "state": "output-available", "input": {}, "output": "plain"},
                ],
            },
        ],
    }  # fmt: skip
    assert ui_messages_to_streamkit(body) == [
        SystemMessage("Be brief.", id="s"),
        HumanMessage(
            [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "url": "https://img.example/a.png", "mime_type": "image/png"},
                {"type": "file", "url": "data:application/pdf;base64,JVBERi0=", "mime_type": "application/pdf", "filename": "a.pdf"},
            ],
            id="u1",
        ),
        AIMessage(
            "Checking.",
            id="a1",
            tool_calls=[ToolCall(id="c1", name="lookup", args={"q": 1}), ToolCall(id="c2", name="fetch", args={})],
        ),
        ToolMessage('{"r": 2}', tool_call_id="c1"),
        ToolMessage("boom", tool_call_id="c2"),
        AIMessage("", id="a1", tool_calls=[ToolCall(id="c3", name="ask", args={"a": "b"})]),
        ToolMessage("Tool call execution denied.", tool_call_id="c3"),
        AIMessage("Done.", id="a1", tool_calls=[ToolCall(id="c5", name="text_out", args={})]),
        ToolMessage("plain", tool_call_id="c5"),
    ]  # fmt: skip
    # The bare list is accepted too.
    assert ui_messages_to_streamkit(body["messages"][:1]) == [SystemMessage("Be brief.", id="s")]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"id": "x"}, "messages: expected a list"),
        ("text", "messages: expected a list"),
        ({"messages": ["hi"]}, "messages[0]: expected an object, got str"),
        ({"messages": [{"role": "user"}]}, "messages[0].parts: expected a list"),
        ({"messages": [{"role": "tool", "parts": []}]}, "messages[0].role: expected 'system', 'user' or 'assistant'"),
        ({"messages": [{"role": "user", "parts": [{"type": "text", "text": 3}]}]}, "messages[0].parts[0].text: expected a string"),
        ({"messages": [{"role": "user", "parts": [{"text": "x"}]}]}, "messages[0].parts[0].type: expected a string"),
        ({"messages": [{"role": "user", "parts": ["x"]}]}, "messages[0].parts[0]: expected an object"),
        ({"messages": [{"role": "user", "parts": []}]}, "messages[0].parts: a user message needs at least one"),
        ({"messages": [{"role": "user", "parts": [{"type": "reasoning", "text": "x"}]}]}, "a user message takes text, file and data-* parts, got a 'reasoning' part"),
        ({"messages": [{"role": "system", "parts": [{"type": "file", "mediaType": "a/b", "url": "u"}]}]}, "a system message takes text parts, got a 'file' part"),
        ({"messages": [{"role": "user", "parts": [{"type": "file", "url": "u"}]}]}, "messages[0].parts[0].mediaType: expected a string"),
        ({"messages": [{"role": "assistant", "parts": [{"type": "tool-x", "state": "input-available", "input": {}}]}]}, "messages[0].parts[0].toolCallId"),
        ({"messages": [{"role": "assistant", "parts": [{"type": "tool-x", "toolCallId": "c", "state": "input-available", "input": [1]}]}]}, "messages[0].parts[0].input: expected a JSON object, got list"),
        ({"messages": [{"role": "assistant", "parts": [{"type": "tool-", "toolCallId": "c", "input": {}}]}]}, "messages[0].parts[0]: a tool part's type is 'tool-<name>'"),
        ({"messages": [{"role": "assistant", "parts": [{"type": "tool-x", "toolCallId": "c", "state": "output-error", "input": {}}]}]}, "messages[0].parts[0].errorText: expected a string"),
    ],
)  # fmt: skip
def test_bad_requests_are_named(body: Any, where: str) -> None:
    with pytest.raises(InvalidArgumentError, match="invalid argument: ") as caught:
        ui_messages_to_streamkit(body)
    assert where in str(caught.value)


# -- the relays --------------------------------------------------------------------


async def test_protocol_selection_is_checked_before_anything_is_sent(mock_server: MockServer) -> None:
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="sk-test") as chat:
        with pytest.raises(InvalidArgumentError, match="resume: protocol='ai-sdk'"):
            sse_events(chat.stream("hi"), protocol="ai-sdk", resume=ResumeBuffer(), owner="o")
        with pytest.raises(
            InvalidArgumentError, match="protocol must be 'streamkit' or 'ai-sdk', got 'vercel'"
        ):
            sse_events(chat.stream("hi"), protocol="vercel")  # type: ignore[arg-type]
    assert mock_server.requests == []


async def test_asgi_frames_and_a_heartbeat(mock_server: MockServer) -> None:
    """``sse_events(..., protocol="ai-sdk")`` for ASGI: keep-alive comments while the model is silent."""
    mock_server.responder = lambda request: MockResponse(text="slow answer", stall_after=2, stall_for=0.5)
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="sk-test") as chat:
        frames = [frame async for frame in sse_events(chat.stream("hi"), protocol="ai-sdk", heartbeat=0.1)]
    body = b"".join(frames)
    assert b": keep-alive\n\n" in frames
    parts = parts_of(body)
    assert parts[-1] == "[DONE]" and parts[-2]["type"] == "finish"
    assert "".join(p["delta"] for p in parts[:-1] if p["type"] == "text-delta") == "slow answer"


async def test_aiohttp_response_headers_and_error(mock_server: MockServer) -> None:
    mock_server.responder = lambda request: MockResponse(status=401)
    chat = ChatOpenAI(base_url=mock_server.openai_base_url, api_key="sk-secret-key-123", max_retries=0)

    async def handler(request: web.Request) -> web.StreamResponse:
        return await sse_response(request, chat.stream("hi"), protocol="ai-sdk", headers={"X-App": "1"})

    app = web.Application()
    app.router.add_post("/chat", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{runner.addresses[0][1]}/chat") as response:
                body = await response.read()
                headers = response.headers
    finally:
        await runner.cleanup()
        await chat.aclose()
    for name, value in UI_MESSAGE_STREAM_HEADERS.items():
        assert headers[name] == value
    assert headers["x-vercel-ai-ui-message-stream"] == "v1" and headers["X-App"] == "1"
    parts = parts_of(body)
    assert [p if p == "[DONE]" else p["type"] for p in parts] == ["start", "start-step", "error", "[DONE]"]
    assert parts[2]["errorText"] == "The server could not authenticate with the model provider."
    assert b"sk-secret" not in body


async def test_closing_the_relay_cancels_the_upstream(mock_server: MockServer) -> None:
    mock_server.responder = lambda request: MockResponse(text="a b c d e f g h", delay=0.2)
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="sk-test") as chat:
        relay = ui_message_stream(chat.stream("hi"), message_id="fixed")
        async with relay:
            seen = [await anext(relay) for _ in range(4)]  # start, start-step, text-start, text-delta
        assert parts_of(b"".join(seen))[0] == {"type": "start", "messageId": "fixed"}
        assert await mock_server.wait_for_disconnect(2.0)
        assert [frame async for frame in relay] == []  # closed: nothing more


async def test_a_bug_in_the_stream_is_logged_and_the_client_told_only_internal_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        async def __aenter__(self) -> Broken:
            return self

        async def __aexit__(self, *exc: object) -> None:
            return None

        async def events(self) -> Any:
            yield TextDelta("x")
            raise RuntimeError("secret internals")

        async def aclose(self) -> None:
            return None

    frames = [f async for f in ui_message_stream(Broken())]  # type: ignore[arg-type]
    parts = parts_of(b"".join(frames))
    assert parts[-2] == {"type": "error", "errorText": "Internal error."}
    assert "secret internals" in caplog.text  # the developer sees it, the browser does not
    assert b"secret" not in b"".join(frames)
    await asyncio.sleep(0)
