"""ChatOpenAIResponses end to end over loopback: requests, the round trip, errors, the mock's wire.

Recorded bodies are covered by ``test_openai_responses_conformance.py``; here
the mock server's Responses wire (``streamkit.providers.openai_responses.MOCK``)
answers scripted responses, and a few streams are written by hand where no
recording exists (a refusal, a ``content_filter`` stop, malformed values):
those are built from the field lists of the official SDK's event types
(``openai/openai-python`` ``src/openai/types/responses/``) and say so.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from streamkit import providers
from streamkit.callbacks import AsyncCallbackHandler
from streamkit.errors import (
    AuthenticationError,
    BadRequestError,
    IncompleteStreamError,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    ProviderStreamError,
    RateLimitError,
    StreamkitError,
)
from streamkit.events import (
    ContentBlock,
    Event,
    Finish,
    RefusalDelta,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from streamkit.messages import AIMessage, HumanMessage, SystemMessage, ToolCall, ToolMessage
from streamkit.providers.openai_responses import (
    MOCK,
    ChatOpenAIResponses,
    OpenAIResponsesProvider,
    check_request,
    messages_to_input,
)
from streamkit.testing import MockResponse, MockServer

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="


class GetWeather(BaseModel):
    """Get the current weather in a city."""

    city: str


def model(server: MockServer, **settings: Any) -> ChatOpenAIResponses:
    return ChatOpenAIResponses(base_url=server.openai_base_url, api_key="sk-test", max_retries=0, **settings)


def frames(*payloads: dict[str, Any]) -> bytes:
    """SSE bytes as the API frames them: ``event: <type>`` then ``data: <json>``."""
    return b"".join(
        f"event: {p['type']}\ndata: {json.dumps(p, separators=(',', ':'))}\n\n".encode() for p in payloads
    )


def mapped(body: bytes) -> tuple[list[Event], StreamkitError | None, bool]:
    mapper = OpenAIResponsesProvider().new_mapper()
    events = mapper.feed(body)
    if mapper.error is None:
        events += mapper.finish()
    return events, mapper.error, mapper.terminal


CREATED = {
    "type": "response.created",
    "response": {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "status": "in_progress",
        "model": "m",
    },
}


def completed(output: list[dict[str, Any]], status: str = "completed", **extra: Any) -> dict[str, Any]:
    response = {**CREATED["response"], "status": status, "output": output, **extra}
    kind = {"completed": "response.completed", "incomplete": "response.incomplete"}.get(
        status, "response.failed"
    )
    return {"type": kind, "response": response}


# -- the registry, the endpoint, the request ------------------------------------


def test_registered_with_its_mock_wire() -> None:
    entry = providers.get("openai-responses")
    assert entry.chat_class() is ChatOpenAIResponses
    assert entry.llm_class() is None
    assert entry.mock_wires() == [MOCK]
    assert MOCK.routes == ("/v1/responses",)


async def test_the_mock_base_url_for_the_registry_name_reaches_the_wire() -> None:
    """What ``streamkit mock``, the CLI's ``--mock`` and the web example use: base_url_for(name)."""
    async with MockServer() as server:
        assert server.base_url_for("openai-responses") == server.openai_base_url  # it includes /v1
        base_url = server.base_url_for("openai-responses")
        async with ChatOpenAIResponses(base_url=base_url, api_key="k", max_retries=0) as llm:
            assert (await llm("hi")).content == "This is the streamkit mock server answering: hi"
        assert server.requests[-1].path == "/v1/responses"


async def test_endpoint_auth_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    async with MockServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
        async with ChatOpenAIResponses() as llm:
            assert llm.model == "gpt-5-mini"
            await llm.ainvoke("hi")
        request = server.requests[-1]
    assert request.path == "/v1/responses"
    assert request.headers["Authorization"] == "Bearer sk-from-env"
    assert request.json == {
        "model": "gpt-5-mini",
        "input": [{"type": "message", "role": "user", "content": "hi"}],
    }
    monkeypatch.delenv("OPENAI_BASE_URL")
    with pytest.raises(InvalidArgumentError, match="OPENAI_API_KEY"):
        monkeypatch.delenv("OPENAI_API_KEY")
        ChatOpenAIResponses()  # api.openai.com without a key
    assert ChatOpenAIResponses(api_key="k").base_url == "https://api.openai.com/v1"


async def test_settings_go_into_the_body() -> None:
    async with MockServer() as server:
        settings = {
            "temperature": 0.5,
            "top_p": 0.9,
            "max_tokens": 300,
            "reasoning": {"effort": "low", "summary": "auto"},
            "store": False,
            "previous_response_id": "resp_prev",
            "instructions": "Be brief.",
            "text": {"verbosity": "low"},
        }
        async with model(server, **settings) as llm:
            await llm.ainvoke("hi", extra_body={"prompt_cache_key": "k1"}, parallel_tool_calls=False)
            body = server.requests[-1].json
            # Per call: a setting replaced, include given, and streaming.
            async with llm.stream("hi", include=["message.output_text.logprobs"], store=True) as stream:
                async for _ in stream:
                    pass
            streamed = server.requests[-1].json
    assert body == {
        "model": "gpt-5-mini",
        "temperature": 0.5,
        "top_p": 0.9,
        "max_output_tokens": 300,
        "reasoning": {"effort": "low", "summary": "auto"},
        "store": False,
        # reasoning on, store off: the encrypted reasoning is asked for, to send it back next turn
        "include": ["reasoning.encrypted_content"],
        "previous_response_id": "resp_prev",
        "instructions": "Be brief.",
        "text": {"verbosity": "low"},
        "parallel_tool_calls": False,
        "input": [{"type": "message", "role": "user", "content": "hi"}],
        "prompt_cache_key": "k1",
    }
    assert streamed["stream"] is True
    assert streamed["store"] is True
    assert streamed["include"] == ["message.output_text.logprobs"]  # stored: nothing added


async def test_stop_is_refused_before_anything_is_sent() -> None:
    async with MockServer() as server, model(server) as llm:
        with pytest.raises(InvalidArgumentError, match="no stop sequences"):
            await llm.ainvoke("hi", stop=["\n"])
        assert server.requests == []


def test_messages_become_input_items() -> None:
    messages = [
        SystemMessage("Be brief."),
        HumanMessage(
            [
                "What is in these?",
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
                {"type": "image", "base64": PNG, "mime_type": "image/png"},
                {"type": "image", "file_id": "file-img"},
                {
                    "type": "file",
                    "file": {"file_data": f"data:application/pdf;base64,{PNG}", "filename": "a.pdf"},
                },
                {"type": "file", "file_id": "file-doc"},
                {"type": "file", "url": "https://example.com/b.pdf"},
                {"type": "input_text", "text": "as written"},
            ]
        ),
        AIMessage(
            "Let me look.", tool_calls=[ToolCall(id="call_1", name="GetWeather", args={"city": "Paris"})]
        ),
        ToolMessage("18C", tool_call_id="call_1"),
    ]
    assert messages_to_input(messages) == [
        {"type": "message", "role": "system", "content": "Be brief."},
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "What is in these?"},
                {"type": "input_image", "detail": "low", "image_url": "https://example.com/a.png"},
                {"type": "input_image", "detail": "auto", "image_url": f"data:image/png;base64,{PNG}"},
                {"type": "input_image", "detail": "auto", "file_id": "file-img"},
                {
                    "type": "input_file",
                    "filename": "a.pdf",
                    "file_data": f"data:application/pdf;base64,{PNG}",
                },
                {"type": "input_file", "file_id": "file-doc"},
                {"type": "input_file", "file_url": "https://example.com/b.pdf"},
                {"type": "input_text", "text": "as written"},
            ],
        },
        {"type": "message", "role": "assistant", "content": "Let me look."},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "GetWeather",
            "arguments": '{"city": "Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
    ]
    assert check_request({"model": "m", "input": messages_to_input(messages)}) is None


def test_parts_the_api_cannot_take_are_named() -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"messages\[0\]\.content\[1\].*system message takes only text"
    ):
        messages_to_input([SystemMessage(["a", {"type": "image", "url": "https://example.com/a.png"}])])
    with pytest.raises(InvalidArgumentError, match=r"messages\[0\]\.tool_calls\[0\].*call_id"):
        messages_to_input([AIMessage(tool_calls=[ToolCall(name="f", args={})])])


async def test_tools_in_the_responses_form() -> None:
    wire = OpenAIResponsesProvider.tools_to_wire
    async with MockServer() as server, model(server) as llm:
        await llm.ainvoke("Weather in Paris?", tools=[GetWeather])
        [tool] = server.requests[-1].json["tools"]
    assert tool == {
        "type": "function",
        "name": "GetWeather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "properties": {"city": {"title": "City", "type": "string"}},
            "required": ["city"],
            "type": "object",
        },
        "strict": False,  # not left out: the API would make it strict (optional fields required)
    }
    from streamkit.tools import to_tool_specs

    given = to_tool_specs(
        [
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": True}},
            {"type": "web_search"},
        ]
    )
    out = wire(given, "f")
    assert out["tools"] == [
        {
            "type": "function",
            "name": "f",
            "description": "",
            "parameters": {"type": "object"},
            "strict": True,
        },
        {"type": "web_search"},
    ]
    assert out["tool_choice"] == {"type": "function", "name": "f"}
    assert wire(given, "web_search")["tool_choice"] == {"type": "web_search"}
    assert wire(given, "required")["tool_choice"] == "required"


class City(BaseModel):
    name: str
    population: int | None = None


async def test_structured_output_is_sent_as_text_format() -> None:
    """with_structured_output's json_schema method is Provider.output_format: ``text.format``, strict."""
    async with MockServer() as server, model(server, text={"verbosity": "low"}) as llm:
        city = await llm.with_structured_output(City)("The biggest city in France?")
        body = server.requests[-1].json
    assert city == City(name="mock", population=1)  # the mock's answer to the schema
    fmt = body["text"]["format"]
    assert body["text"]["verbosity"] == "low"  # merged into the text setting, not replacing it
    assert fmt["type"] == "json_schema" and fmt["name"] == "City" and fmt["strict"] is True
    assert "json_schema" not in fmt  # Chat Completions' nesting is not the Responses form
    # The strict-mode schema, as ChatOpenAI sends it: every property required, nothing else allowed.
    assert fmt["schema"]["required"] == ["name", "population"]
    assert fmt["schema"]["additionalProperties"] is False
    assert "response_format" not in body and "tools" not in body


def test_output_format_and_structured_tool_shapes() -> None:
    provider = OpenAIResponsesProvider()
    schema = City.model_json_schema()
    loose = provider.output_format("City", "A city.", schema, strict=False)
    assert loose == {
        "text": {
            "format": {
                "type": "json_schema",
                "name": "City",
                "schema": schema,
                "strict": False,
                "description": "A city.",
            }
        }
    }
    strict = provider.output_format("City", "", schema, strict=None)["text"]["format"]
    assert strict["strict"] is True and "description" not in strict
    assert strict["schema"]["required"] == ["name", "population"]
    assert "required" not in schema or schema["required"] == ["name"]  # the caller's schema is not changed
    tool = provider.structured_tool("City", "A city.", schema, strict=None)
    assert tool["strict"] is True and tool["parameters"]["additionalProperties"] is False
    assert provider.structured_tool("City", "", schema, strict=False) == {
        "name": "City",
        "description": "",
        "parameters": schema,
    }


async def test_structured_output_by_forced_tool() -> None:
    """method='tool': the neutral tool dict rendered in the Responses function-tool form, strict."""
    async with MockServer() as server, model(server) as llm:
        city = await llm.with_structured_output(City, method="tool")("The biggest city in France?")
        loose = await llm.with_structured_output(City, method="tool", strict=False)("And in Spain?")
        strict_body, loose_body = (r.json for r in server.requests[-2:])
    assert city == loose == City(name="mock", population=1)
    (tool,) = strict_body["tools"]
    assert tool["type"] == "function" and tool["name"] == "City" and tool["strict"] is True
    assert "function" not in tool  # no Chat Completions wrapper
    assert tool["parameters"]["required"] == ["name", "population"]
    assert strict_body["tool_choice"] == {"type": "function", "name": "City"}
    assert "text" not in strict_body
    assert loose_body["tools"][0]["strict"] is False
    assert loose_body["tools"][0]["parameters"]["required"] == ["name"]


async def test_response_format_is_not_a_responses_setting() -> None:
    """Chat Completions' ``response_format`` is refused before any request (the API rejects it too)."""
    async with MockServer() as server, model(server) as llm:
        with pytest.raises(InvalidArgumentError, match="response_format"):
            await llm("hi", response_format={"type": "json_object"})
        assert server.requests == []
        # The JSON mode itself is the text setting.
        await llm("hi", text={"format": {"type": "json_object"}})
        assert server.requests[-1].json["text"] == {"format": {"type": "json_object"}}


# -- the mock server end to end -------------------------------------------------


class Tokens(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.ended = 0

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)

    async def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self.ended += 1


async def test_stream_generate_events_and_callbacks() -> None:
    handler = Tokens()
    async with MockServer() as server, model(server, callbacks=[handler]) as llm:
        script = MockResponse(
            text="Hello there, friend.", thinking="The user greets me.", model="gpt-5-mini-2025"
        )
        server.enqueue(script, script, script)
        async with llm.stream("hi") as stream:
            streamed = [token async for token in stream]
        async with llm.stream("hi") as events_stream:
            events = [event async for event in events_stream.events()]
        result = await llm.generate([["hi"]])  # not streaming: the whole response through the same mapper
        assert "stream" not in server.requests[-1].json
    assert "".join(streamed) == "Hello there, friend."
    assert handler.tokens == streamed + streamed  # every token, never the thinking
    assert handler.ended == 3
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "MessageStart" and kinds[-2:] == ["Usage", "Finish"]
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "The user greets me."
    assert [e.kind for e in events if isinstance(e, ContentBlock)] == ["reasoning", "message"]
    for outcome in (stream.result, result):
        [[generation]] = outcome.generations
        message = generation.message  # type: ignore[attr-defined]
        assert message.content == "Hello there, friend."
        assert message.additional_kwargs["thinking"] == "The user greets me."
        assert outcome.llm_output is not None and outcome.llm_output["model_name"] == "gpt-5-mini-2025"
        assert message.usage_metadata["output_token_details"] == {"reasoning": 4}


async def test_tool_call_round_trip_sends_the_reasoning_back() -> None:
    async with MockServer() as server:
        llm = model(server, reasoning={"effort": "low", "summary": "auto"}, store=False, tools=[GetWeather])
        async with llm:
            server.enqueue(
                MockResponse(
                    thinking="I need the weather.",
                    tool_calls=[{"name": "GetWeather", "args": {"city": "Paris"}}],
                )
            )
            question = [HumanMessage("Weather in Paris?")]
            async with llm.stream(question) as stream:
                deltas = [e for e in [e async for e in stream.events()] if isinstance(e, ToolCallDelta)]
            asked = stream.result.generations[0][0].message  # type: ignore[attr-defined]
            [call] = asked.tool_calls
            assert (call.id, call.name, call.args) == ("call_mock_0", "GetWeather", {"city": "Paris"})
            assert deltas[-1].parsed_arguments == {"city": "Paris"}
            assert stream.result.generations[0][0].generation_info["normalized_finish_reason"] == "tool_calls"
            await llm.ainvoke([*question, asked, ToolMessage("18C, sunny", tool_call_id=call.id)])
        sent = server.requests[-1].json["input"]
    assert sent[1] == {
        "id": "rs_mock",
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "I need the weather."}],
        "encrypted_content": "mock-encrypted-reasoning",
    }
    assert sent[2]["type"] == "function_call" and sent[2]["id"] == "fc_mock_0"
    assert (sent[2]["call_id"], sent[2]["arguments"]) == ("call_mock_0", '{"city": "Paris"}')
    assert sent[3] == {"type": "function_call_output", "call_id": "call_mock_0", "output": "18C, sunny"}


def _answer_from(blocks: list[dict[str, Any]], content: str, calls: list[ToolCall]) -> AIMessage:
    return AIMessage(
        content,
        tool_calls=calls,
        content_blocks=blocks,
        response_metadata={"model_provider": "openai"},
    )


def test_unsendable_reasoning_is_left_out_with_store_false() -> None:
    reasoning = {"id": "rs_1", "type": "reasoning", "summary": []}  # stored, no encrypted_content
    message = {
        "id": "msg_1",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "phase": "commentary",
        "content": [{"type": "output_text", "annotations": [], "text": "Checking."}],
    }
    call = {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"}
    answer = _answer_from([reasoning, message, call], "Checking.", [ToolCall(id="call_1", name="f", args={})])
    # Stored (the default): the items go back as they came.
    assert messages_to_input([answer]) == [reasoning, message, call]
    # Not stored: the reasoning item cannot be found by the API, and nothing may point at it.
    assert messages_to_input([answer], store=False) == [
        {"type": "message", "role": "assistant", "content": "Checking.", "phase": "commentary"},
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
    ]
    # With its encrypted content it can go back.
    sealed = {**reasoning, "encrypted_content": "gAAA"}
    answer = _answer_from([sealed, call], "", [ToolCall(id="call_1", name="f", args={})])
    assert messages_to_input([answer], store=False) == [sealed, call]


def test_blocks_that_no_longer_agree_with_the_message_are_not_used() -> None:
    call = {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "f", "arguments": '{"a": 1}'}
    edited = _answer_from([call], "", [ToolCall(id="call_1", name="f", args={"a": 2})])
    assert messages_to_input([edited]) == [
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": '{"a": 2}'}
    ]
    other = AIMessage(
        "hi",
        content_blocks=[{"type": "text", "text": "hi"}],
        response_metadata={"model_provider": "anthropic"},
    )
    assert messages_to_input([other]) == [{"type": "message", "role": "assistant", "content": "hi"}]


async def test_refusal_and_length_from_the_mock() -> None:
    async with MockServer() as server, model(server) as llm:
        server.enqueue(
            MockResponse(refusal="I can't help with that."),
            MockResponse(text="one two three", finish_reason="length"),
        )
        refused = await llm.generate([["x"]])
        cut = await llm.generate([["x"]])
    [[generation]] = refused.generations
    assert generation.generation_info["refusal"] == "I can't help with that."  # type: ignore[index]
    assert generation.generation_info["normalized_finish_reason"] == "refusal"  # type: ignore[index]
    assert generation.text == ""
    info = cut.generations[0][0].generation_info or {}
    assert (info["finish_reason"], info["normalized_finish_reason"]) == ("max_output_tokens", "length")


async def test_the_mock_rejects_what_the_api_rejects() -> None:
    async with MockServer() as server, model(server) as llm:
        with pytest.raises(BadRequestError, match="Unknown parameter: 'max_tokens'"):
            await llm.ainvoke("hi", extra_body={"max_tokens": 5})
        with pytest.raises(BadRequestError, match=r"Missing required parameter: 'tools\[0\].name'"):
            await llm.ainvoke("hi", extra_body={"tools": [{"type": "function", "function": {"name": "f"}}]})
        with pytest.raises(BadRequestError, match=r"Invalid value: 'text'\. Supported values are") as info:
            await llm.ainvoke(
                "hi", extra_body={"input": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}
            )
        assert info.value.body["error"]["param"] == "input[0].content[0].type"
    assert check_request({"input": "hi"}) == {
        "error": {
            "message": "Missing required parameter: 'model'.",
            "type": "invalid_request_error",
            "param": "model",
            "code": "missing_required_parameter",
        }
    }


# -- errors -----------------------------------------------------------------------

# OpenAI's documented error bodies (https://platform.openai.com/docs/guides/error-codes); the 400 is a
# recorded one (vercel/ai packages/openai/src/responses/__fixtures__/reasoning-model-temperature-error.json).
ERRORS = [
    (
        400,
        "invalid_request_error",
        None,
        "Unsupported parameter: 'temperature' is not supported with this model.",
        BadRequestError,
    ),
    (
        401,
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided: sk-test.",
        AuthenticationError,
    ),
    (
        403,
        "request_forbidden",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
        PermissionDeniedError,
    ),
    (
        404,
        "invalid_request_error",
        "model_not_found",
        "The model `gpt-9` does not exist or you do not have access to it.",
        NotFoundError,
    ),
    (
        429,
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for gpt-5-mini on requests per min (RPM).",
        RateLimitError,
    ),
    (
        500,
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
        InternalServerError,
    ),
    (
        503,
        "server_error",
        None,
        "The engine is currently overloaded, please try again later.",
        InternalServerError,
    ),
]


@pytest.mark.parametrize(
    ("status", "kind", "code", "message", "error"), ERRORS, ids=[str(e[0]) for e in ERRORS]
)
async def test_http_errors_are_typed(
    status: int, kind: str, code: str | None, message: str, error: type
) -> None:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    async with MockServer() as server, model(server, streaming=True) as llm:
        server.enqueue(MockResponse(status=status, error=body))
        with pytest.raises(error) as info:
            await llm.ainvoke("hi")
    assert info.value.message == f"HTTP {status}: {message}"  # type: ignore[attr-defined]
    assert info.value.status_code == status  # type: ignore[attr-defined]
    assert info.value.body == body  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("code", "error", "retryable"),
    [
        ("rate_limit_exceeded", RateLimitError, True),
        ("server_error", ProviderStreamError, True),
        ("invalid_prompt", ProviderStreamError, False),
    ],
)
async def test_in_stream_error_event_keeps_the_partial_answer(
    code: str, error: type, retryable: bool
) -> None:
    async with MockServer() as server, model(server, streaming=True) as llm:
        # created, in_progress, item added, part added, then two text deltas: then the error event
        server.enqueue(
            MockResponse(text="one two three four", error_after=6, error_type=code, error_message="it broke")
        )
        with pytest.raises(error) as info:
            await llm.ainvoke("hi")
    assert info.value.message == "it broke"  # type: ignore[attr-defined]
    assert info.value.retryable is retryable  # type: ignore[attr-defined]
    partial = info.value.partial_result  # type: ignore[attr-defined]
    assert partial.generations[0][0].text == "one two"


async def test_a_failed_response_is_a_typed_error() -> None:
    body = frames(
        CREATED,
        {
            "type": "response.output_text.delta",
            "output_index": 0,
            "content_index": 0,
            "item_id": "m",
            "delta": "Hi",
        },
        completed([], "failed", error={"code": "server_error", "message": "The model crashed."}),
    )
    async with MockServer() as server, model(server, streaming=True) as llm:
        server.enqueue(MockResponse(raw=body))
        with pytest.raises(ProviderStreamError, match=r"The model crashed\.") as info:
            await llm.ainvoke("hi")
    assert info.value.error_type == "server_error" and info.value.retryable
    assert info.value.partial_result is not None
    assert info.value.partial_result.generations[0][0].text == "Hi"


async def test_cut_and_malformed_streams() -> None:
    async with MockServer() as server, model(server, streaming=True) as llm:
        server.enqueue(
            MockResponse(text="one two three", truncate_after=6),
            MockResponse(text="one two", malformed_after=5),
        )
        with pytest.raises(IncompleteStreamError, match=r"before response\.completed") as cut:
            await llm.ainvoke("hi")
        assert cut.value.partial_result is not None
        assert cut.value.partial_result.generations[0][0].text == "one two"
        with pytest.raises(ProtocolError, match="malformed JSON"):
            await llm.ainvoke("hi")


async def test_whole_responses_that_are_not_answers() -> None:
    provider = OpenAIResponsesProvider()
    with pytest.raises(RateLimitError, match="slow down"):
        provider.parse_response(
            {"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}}
        )
    with pytest.raises(ProtocolError, match="no output list"):
        provider.parse_response({"id": "resp_1", "object": "response"})
    with pytest.raises(ProtocolError, match="not finished"):
        provider.parse_response({"id": "resp_1", "status": "queued", "output": []})
    with pytest.raises(ProviderStreamError, match="bad image"):
        provider.parse_response(
            {"status": "failed", "output": [], "error": {"code": "invalid_image", "message": "bad image"}}
        )


# -- the mapper, on streams written from the SDK's event types ---------------------


def test_refusal_stream() -> None:
    """``response.refusal.delta``: ``{item_id, output_index, content_index, delta}`` (SDK ResponseRefusalDeltaEvent)."""
    at = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    done_item = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "refusal", "refusal": "I can't help with that."}],
    }
    events, error, terminal = mapped(
        frames(
            CREATED,
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {**done_item, "status": "in_progress", "content": []},
            },
            {"type": "response.content_part.added", **at, "part": {"type": "refusal", "refusal": ""}},
            {"type": "response.refusal.delta", **at, "delta": "I can't "},
            {"type": "response.refusal.delta", **at, "delta": "help with that."},
            {"type": "response.refusal.done", **at, "refusal": "I can't help with that."},
            {"type": "response.output_item.done", "output_index": 0, "item": done_item},
            completed([done_item]),
        )
    )
    assert error is None and terminal
    assert [e.text for e in events if isinstance(e, RefusalDelta)] == ["I can't ", "help with that."]
    assert not [e for e in events if isinstance(e, TextDelta)]
    assert events[-1] == Finish("completed", 0, "refusal")


def test_content_filter_incompletion() -> None:
    """``response.incomplete`` with ``incomplete_details.reason`` ``content_filter`` (SDK IncompleteDetails)."""
    events, error, terminal = mapped(
        frames(CREATED, completed([], "incomplete", incomplete_details={"reason": "content_filter"}))
    )
    assert error is None and terminal
    assert events[-1] == Finish("content_filter", 0, "content_filter")


def test_content_the_deltas_did_not_bring_comes_from_the_done_item() -> None:
    """A server that sends no deltas (or only some) still gives the whole text, once."""
    item = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [
            {
                "type": "output_text",
                "text": "Hello world",
                "annotations": [{"type": "url_citation", "url": "u"}],
            }
        ],
    }
    partial = {
        "type": "response.output_text.delta",
        "item_id": "msg_1",
        "output_index": 0,
        "content_index": 0,
    }
    # Half streamed, the rest only in the done item; then the final response repeats the item.
    events, error, _ = mapped(
        frames(
            CREATED,
            {**partial, "delta": "Hello"},
            {"type": "response.output_item.done", "output_index": 0, "item": item},
            completed([item]),
        )
    )
    assert error is None
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hello", " world"]
    # Deltas that name no item, and only the final response: still once.
    events, error, _ = mapped(
        frames(
            {"type": "response.output_text.delta", "delta": "Hello"},
            {"type": "response.output_text.delta", "delta": " world"},
            completed([item]),
        )
    )
    assert error is None
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello world"
    # Deltas that name no item after one was announced: that item's.
    added = {"type": "response.output_item.added", "output_index": 0, "item": {**item, "content": []}}
    events, error, _ = mapped(
        frames(added, {"type": "response.output_text.delta", "delta": "Hello world"}, completed([item]))
    )
    assert error is None
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello world"


def test_summary_parts_are_paragraphs_and_calls_are_known_by_item() -> None:
    rs = {"item_id": "rs_1", "output_index": 0}
    fc = {"item_id": "fc_1", "output_index": 1}
    events, error, _ = mapped(
        frames(
            CREATED,
            {"type": "response.reasoning_summary_text.delta", **rs, "summary_index": 0, "delta": "**One**"},
            {"type": "response.reasoning_summary_text.delta", **rs, "summary_index": 1, "delta": "**Two**"},
            # An argument delta before its item was announced: the name and call_id come with the item.
            {"type": "response.function_call_arguments.delta", **fc, "delta": '{"a":'},
            {
                "type": "response.output_item.done",
                "output_index": 1,
                "item": {
                    "id": "fc_1",
                    "type": "function_call",
                    "call_id": "call_9",
                    "name": "f",
                    "arguments": '{"a":1}',
                },
            },
            completed([]),
        )
    )
    assert error is None
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "**One**\n\n**Two**"
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [(s.call_index, s.id, s.name) for s in starts] == [(0, None, ""), (0, "call_9", "f")]
    assert "".join(e.arguments for e in events if isinstance(e, ToolCallDelta)) == '{"a":1}'
    assert events[-1] == Finish("completed", 0, "tool_calls")


def test_usage_is_never_added_to_the_cached_count() -> None:
    usage = {
        "input_tokens": 3737,
        "input_tokens_details": {"cached_tokens": 2304, "cache_write_tokens": 10},
        "output_tokens": 621,
        "output_tokens_details": {"reasoning_tokens": 512},
        "total_tokens": 4358,
    }
    events, _, _ = mapped(frames(CREATED, completed([], usage=usage)))
    [event] = [e for e in events if isinstance(e, Usage)]
    assert (event.prompt_tokens, event.completion_tokens, event.total_tokens) == (3737, 621, 4358)
    assert event.input_token_details == {"cache_read": 2304, "cache_creation": 10}
    assert event.output_token_details == {"reasoning": 512}


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "response.output_text.delta", "output_index": 0, "delta": 5},
        {"type": "response.output_text.delta", "output_index": "0", "delta": "x"},
        {"type": "response.output_item.done", "output_index": 0, "item": "msg"},
        {"type": "response.completed", "response": {"status": "completed", "usage": {"input_tokens": -1}}},
        {
            "type": "response.completed",
            "response": {
                "status": "completed",
                "output": [{"type": "message", "content": [{"type": "output_text", "text": 7}]}],
            },
        },
        [1, 2],
    ],
)
def test_wrong_types_are_protocol_errors(payload: Any) -> None:
    body = f"data: {json.dumps(payload)}\n\n".encode()
    _, error, _ = mapped(frames(CREATED) + body)
    assert isinstance(error, ProtocolError) and not isinstance(error, IncompleteStreamError)


def test_item_events_without_output_index_are_known_by_id() -> None:
    """Compatible servers may leave ``output_index`` out: items are then told apart by ``id``."""
    reasoning = {"id": "rs_1", "type": "reasoning", "summary": [{"type": "summary_text", "text": "Think."}]}
    message = {"id": "msg_1", "type": "message", "role": "assistant",
               "content": [{"type": "output_text", "text": "Answer.", "annotations": []}]}  # fmt: skip
    events, error, _ = mapped(
        frames(
            CREATED,
            {"type": "response.output_item.done", "item": reasoning},
            {"type": "response.output_text.delta", "item_id": "msg_1", "delta": "Ans"},
            {"type": "response.output_item.done", "item": message},
            completed([reasoning, message]),
        )
    )
    assert error is None
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "Think."
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Ans", "wer."]
    assert [e.kind for e in events if isinstance(e, ContentBlock)] == ["reasoning", "message"]
