"""streamkit's AI SDK stream, read by the AI SDK's own client (the npm package ``ai``), on 127.0.0.1.

The Python side serves ``sse_response(..., protocol="ai-sdk")`` over
streamkit's mock providers; ``tests/js/ai_client.mjs`` POSTs to it with
``DefaultChatTransport`` (what ``useChat`` uses: it sends the UIMessage list
and parses every part against the package's ``uiMessageChunkSchema``), builds
the message with ``readUIMessageStream``, validates the history with
``validateUIMessages`` and converts it with ``convertToModelMessages``.
Nothing of the client is re-implemented here.

The Node packages come from ``tests/js/package-lock.json`` (``npm ci`` in
``.ci/run``); in CI a missing ``node`` or ``node_modules`` is a failure,
never a skip.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from browser_cdp import in_ci
from pydantic import BaseModel

from streamkit import AIMessage, ChatAnthropic, ChatOpenAI, HumanMessage, ToolMessage
from streamkit.messages import BaseMessage
from streamkit.testing import MockResponse, MockServer
from streamkit.web import sse_response
from streamkit.web_aisdk import ui_messages_to_streamkit

JS = Path(__file__).resolve().parent / "js"
NODE = shutil.which("node")
INSTALLED = (JS / "node_modules" / "ai" / "package.json").exists()

if (NODE is None or not INSTALLED) and not in_ci():
    pytest.skip(
        "run `npm ci --prefix tests/js` (CI does) to test against the real AI SDK", allow_module_level=True
    )

# slow: left out of CI's other-Python jobs (the Node client does not depend on the Python version); the main job runs it.
pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

WEATHER_CALL = {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_weather_1"}
ANTHROPIC_BLOCKS: list[dict[str, Any]] = [
    {"type": "thinking", "thinking": "The user wants sources.", "signature": "sig-1"},
    {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "fizzy water"}},
    {
        "type": "web_search_tool_result",
        "tool_use_id": "srvtoolu_1",
        "content": [{"type": "web_search_result", "url": "https://example.org/fizz", "title": "Fizz"}],
    },
    {
        "type": "text",
        "text": "Bubbles are carbon dioxide.",
        "citations": [
            {
                "type": "web_search_result_location",
                "url": "https://example.org/fizz",
                "title": "Fizz",
                "cited_text": "CO2",
                "encrypted_index": "e1",
            }
        ],
    },
    {"type": "tool_use", "id": "toolu_calc", "name": "calc", "input": {"expression": "2+2"}},
]


class Weather(BaseModel):
    city: str
    celsius: int


def respond(request: Any) -> MockResponse:
    """The mock providers' answers, chosen by the last user text."""
    body = request.json or {}
    last = body["messages"][-1]
    content = last.get("content")
    prompt = content if isinstance(content, str) else json.dumps(content)
    if last.get("role") == "tool":
        return MockResponse(text="It is 21 degrees in Paris.")
    if prompt.startswith("weather"):
        return MockResponse(
            text="Let me look.",
            thinking="The user wants the weather.",
            tool_calls=[WEATHER_CALL],
            annotations=[
                {
                    "type": "url_citation",
                    "url_citation": {
                        "url": "https://example.com/w",
                        "title": "W",
                        "start_index": 0,
                        "end_index": 3,
                    },
                }
            ],
            usage={"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        )
    if prompt.startswith("search"):
        return MockResponse(blocks=ANTHROPIC_BLOCKS)
    if prompt.startswith("fail"):
        return MockResponse(status=429)
    if prompt.startswith("object"):
        return MockResponse(text='{"city": "Paris", "celsius": 21}')
    if prompt.startswith("long"):
        return MockResponse(text=" ".join(f"word{i}" for i in range(400)), delay=0.02)
    return MockResponse(text="Hello from streamkit.")


@pytest.fixture
async def relay(mock_server: MockServer) -> AsyncIterator[tuple[str, list[list[BaseMessage]]]]:
    """A streamkit app speaking the AI SDK protocol; yields its URL and what it parsed from each POST."""
    mock_server.responder = respond
    received: list[list[BaseMessage]] = []
    openai = ChatOpenAI(base_url=mock_server.openai_base_url, api_key="sk-test", max_retries=0)
    anthropic = ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="sk-ant-test", max_retries=0)

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        messages = ui_messages_to_streamkit(body)
        received.append(messages)
        if body.get("structured"):
            return await sse_response(
                request, openai.with_structured_output(Weather).stream(messages), protocol="ai-sdk"
            )
        model = anthropic if body.get("provider") == "anthropic" else openai
        return await sse_response(request, model.stream(messages), protocol="ai-sdk")

    app = web.Application()
    app.router.add_post("/api/chat", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/api/chat", received
    await runner.cleanup()
    await openai.aclose()
    await anthropic.aclose()


def user(text: str, id_: str = "u1") -> dict[str, Any]:
    return {"id": id_, "role": "user", "parts": [{"type": "text", "text": text}]}


async def ai_client(api: str, *requests: dict[str, Any]) -> list[dict[str, Any]]:
    """Run tests/js/ai_client.mjs (the real `ai` package) on these requests."""
    assert NODE is not None, "CI must have node (see .ci/run)"
    assert INSTALLED, "CI must run `npm ci` in tests/js (see .ci/run)"
    proc = await asyncio.create_subprocess_exec(
        NODE,
        str(JS / "ai_client.mjs"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=JS,
    )
    out, err = await asyncio.wait_for(
        proc.communicate(json.dumps({"api": api, "requests": requests}).encode()), 60
    )
    assert proc.returncode == 0, err.decode()
    report: list[dict[str, Any]] = json.loads(out)
    return report


def types(chunks: list[dict[str, Any]]) -> list[str]:
    return [c["type"] for c in chunks]


async def test_text_reasoning_source_and_tool_call_in_the_real_client(
    relay: tuple[str, list[list[BaseMessage]]],
) -> None:
    api, received = relay
    [report] = await ai_client(api, {"messages": [user("weather in Paris?")]})
    assert report["errors"] == [] and report["valid"] is True
    chunks = report["chunks"]
    assert types(chunks)[:2] == ["start", "start-step"] and types(chunks)[-2:] == ["finish-step", "finish"]
    message = report["message"]
    assert message["role"] == "assistant" and message["id"] == chunks[0]["messageId"]
    parts = message["parts"]
    assert [p["type"] for p in parts] == ["step-start", "reasoning", "text", "source-url", "tool-get_weather"]
    assert parts[1] == parts[1] | {"text": "The user wants the weather.", "state": "done"}
    assert parts[2] == parts[2] | {"text": "Let me look.", "state": "done"}
    assert parts[3] == parts[3] | {"url": "https://example.com/w", "title": "W"}
    tool = parts[4]
    assert tool["state"] == "input-available" and tool["toolCallId"] == "call_weather_1"
    assert tool["input"] == {"city": "Paris"}
    assert [c["inputTextDelta"] for c in chunks if c["type"] == "tool-input-delta"]  # streamed in pieces
    assert chunks[-1]["finishReason"] == "tool-calls"
    assert message["metadata"] == {
        "model": "gpt-4o-mini",
        "finishReason": "tool_calls",
        "usage": {"inputTokens": 11, "outputTokens": 7, "totalTokens": 18},
    }
    assert received == [[HumanMessage("weather in Paris?", id="u1")]]


async def test_a_tool_result_goes_back_to_the_model(
    relay: tuple[str, list[list[BaseMessage]]], mock_server: MockServer
) -> None:
    """The client runs the tool and POSTs the history: our parsing matches the AI SDK's own conversion."""
    api, received = relay
    [first] = await ai_client(api, {"messages": [user("weather in Paris?")]})
    assistant = first["message"]
    tool = assistant["parts"][-1]
    tool.update(state="output-available", output={"celsius": 21})  # what addToolOutput records
    history = [user("weather in Paris?"), assistant]
    [second] = await ai_client(api, {"messages": history})
    assert second["errors"] == [] and second["valid"] is True
    answer = "".join(p["text"] for p in second["message"]["parts"] if p["type"] == "text")
    assert answer == "It is 21 degrees in Paris."
    # The AI SDK's convertToModelMessages of the same history: user, assistant (call), tool (result).
    node_view = second["modelMessages"][:3]
    assert [m["role"] for m in node_view] == ["user", "assistant", "tool"]
    call = next(p for p in node_view[1]["content"] if p["type"] == "tool-call")
    result = node_view[2]["content"][0]
    assert (call["toolCallId"], call["toolName"], call["input"]) == (
        "call_weather_1",
        "get_weather",
        {"city": "Paris"},
    )
    assert result["output"] == {"type": "json", "value": {"celsius": 21}}
    # Ours, from the same POST:
    human, ai, tool_message = received[1]
    assert human == HumanMessage("weather in Paris?", id="u1")
    assert isinstance(ai, AIMessage) and ai.content == "Let me look."
    assert [(c.id, c.name, c.args) for c in ai.tool_calls] == [
        ("call_weather_1", "get_weather", {"city": "Paris"})
    ]
    assert tool_message == ToolMessage('{"celsius": 21}', tool_call_id="call_weather_1")
    # And what the provider received: OpenAI's tool-call round trip.
    sent = mock_server.requests[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["tool_calls"][0]["id"] == "call_weather_1" and sent[2]["tool_call_id"] == "call_weather_1"
    assert mock_server.requests[-1].rejection is None


async def test_anthropic_thinking_citations_and_server_tools_in_the_real_client(
    relay: tuple[str, list[list[BaseMessage]]],
) -> None:
    api, _ = relay
    [report] = await ai_client(
        api, {"messages": [user("search fizzy water")], "body": {"provider": "anthropic"}}
    )
    assert report["errors"] == [] and report["valid"] is True
    parts = report["message"]["parts"]
    assert [p["type"] for p in parts] == [
        "step-start",
        "reasoning",
        "tool-web_search",
        "source-url",
        "text",
        "tool-calc",
    ]
    assert parts[1]["text"] == "The user wants sources."
    search = parts[2]
    assert search["providerExecuted"] is True and search["state"] == "output-available"
    assert search["input"] == {"query": "fizzy water"}
    assert search["output"][0]["url"] == "https://example.org/fizz"
    assert parts[3] == parts[3] | {"url": "https://example.org/fizz", "title": "Fizz"}
    assert parts[4]["text"] == "Bubbles are carbon dioxide."
    assert parts[5] == parts[5] | {
        "state": "input-available",
        "toolCallId": "toolu_calc",
        "input": {"expression": "2+2"},
    }
    assert report["chunks"][-1]["finishReason"] == "stop"
    assert report["message"]["metadata"]["finishReason"] == "end_turn"
    # The provider-executed search stays in the assistant message (the AI SDK's own conversion).
    assistant = report["modelMessages"][1]
    assert [p["type"] for p in assistant["content"]] == [
        "reasoning",
        "tool-call",
        "tool-result",
        "text",
        "tool-call",
    ]


async def test_a_provider_error_reaches_the_client_as_a_safe_sentence(
    relay: tuple[str, list[list[BaseMessage]]],
) -> None:
    api, _ = relay
    [report] = await ai_client(api, {"messages": [user("fail please")]})
    assert report["errors"] == ["The model provider is rate limiting requests; try again shortly."]
    assert types(report["chunks"]) == ["start", "start-step", "error"]
    assert "sk-test" not in json.dumps(report)


async def test_structured_output_streams_as_a_data_part(relay: tuple[str, list[list[BaseMessage]]]) -> None:
    api, _ = relay
    [report] = await ai_client(api, {"messages": [user("object please")], "body": {"structured": True}})
    assert report["errors"] == [] and report["valid"] is True
    objects = [p for p in report["message"]["parts"] if p["type"] == "data-object"]
    assert objects == [{"type": "data-object", "id": "object", "data": {"city": "Paris", "celsius": 21}}]
    grown = [c["data"] for c in report["chunks"] if c["type"] == "data-object"]
    assert len(grown) >= 2 and grown[0] != grown[-1]  # the object grew as it streamed


async def test_aborting_the_client_cancels_the_upstream(
    relay: tuple[str, list[list[BaseMessage]]], mock_server: MockServer
) -> None:
    api, _ = relay
    [report] = await ai_client(api, {"messages": [user("long answer")], "abortAfter": "text-delta"})
    assert report["aborted"] is True
    assert "finish" not in types(report["chunks"])
    assert await mock_server.wait_for_disconnect(5.0)
