"""``ChatGoogleGenerativeAI`` end to end against the MockServer's Gemini wire, over loopback.

Streaming and whole answers, typed events, callbacks, tool calls and the
thought-signature round trip, the request body (contents, systemInstruction,
generationConfig, tools, toolConfig), the endpoint and the key/base-URL
environment variables (python-genai: ``GOOGLE_API_KEY`` before
``GEMINI_API_KEY``, ``GOOGLE_GEMINI_BASE_URL``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from streamkit import BadRequestError, InvalidArgumentError
from streamkit.callbacks import AsyncCallbackHandler
from streamkit.events import (
    ContentBlock,
    Finish,
    MessageStart,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from streamkit.messages import AIMessage, HumanMessage, SystemMessage, ToolCall, ToolMessage
from streamkit.providers import get
from streamkit.providers.gemini import MOCK, ChatGoogleGenerativeAI, GeminiProvider
from streamkit.results import ChatGeneration
from streamkit.testing import MockResponse, MockServer

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


@pytest.fixture(autouse=True)
def _no_google_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def chat(server: MockServer, **settings: Any) -> ChatGoogleGenerativeAI:
    return ChatGoogleGenerativeAI(base_url=server.url, api_key="test-key", max_retries=0, **settings)


class GetWeather(BaseModel):
    """Get the current weather in a city."""

    city: str


class Recorder(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.started: list[dict[str, Any]] = []

    async def on_chat_model_start(self, serialized: dict[str, Any], messages: Any, **kwargs: Any) -> None:
        self.started.append(serialized)

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


def test_registered_with_its_mock_wire() -> None:
    entry = get("gemini")
    assert entry.chat_class() is ChatGoogleGenerativeAI
    assert entry.llm_class() is None
    assert entry.mock_wires() == [MOCK]
    assert MockServer().wires["gemini"] is MOCK


async def test_stream_tokens_reach_callbacks_and_the_result() -> None:
    recorder = Recorder()
    async with MockServer() as server:
        server.enqueue(
            MockResponse(text="Hello there, friend", usage={"prompt_tokens": 4, "completion_tokens": 3})
        )
        async with chat(server, callbacks=[recorder], temperature=0.2) as model:
            tokens = [token async for token in model.stream("hi")]
        request = server.requests[-1]
    assert tokens == recorder.tokens == ["Hello", " there,", " friend"]
    assert request.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert request.headers["x-goog-api-key"] == "test-key"
    assert request.json == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"temperature": 0.2},
    }
    serialized = recorder.started[0]
    assert serialized["model_provider"] == "google_genai"
    assert serialized["invocation_params"] == {
        "model": "gemini-2.5-flash",
        "temperature": 0.2,
        "stream": True,
    }


async def test_invocation_params_read_the_settings_generation_config_nests() -> None:
    recorder = Recorder()
    async with MockServer() as server:
        server.enqueue(MockResponse(text="ok"))
        settings: dict[str, Any] = {"top_p": 0.5, "top_k": 4, "max_output_tokens": 30, "seed": 7}
        async with chat(server, callbacks=[recorder], **settings) as model:
            await model("hi", stop=["END"])
        body = server.requests[-1].json
    assert body["generationConfig"] == {
        "topP": 0.5,
        "topK": 4,
        "maxOutputTokens": 30,
        "stopSequences": ["END"],
        "seed": 7,
    }
    assert recorder.started[0]["invocation_params"] == {
        "model": "gemini-2.5-flash",
        "max_tokens": 30,
        "top_p": 0.5,
        "top_k": 4,
        "stop": ["END"],
        "seed": 7,
        "stream": False,
    }


async def test_generate_without_streaming_uses_generate_content() -> None:
    async with MockServer() as server:
        server.enqueue(
            MockResponse(text="A whole answer.", usage={"prompt_tokens": 5, "completion_tokens": 3})
        )
        async with chat(server, model="gemini-2.5-pro") as model:
            result = await model.generate([[HumanMessage("hi")]])
        assert server.requests[-1].path == "/v1beta/models/gemini-2.5-pro:generateContent"
    generation = result.generations[0][0]
    assert isinstance(generation, ChatGeneration)
    message = generation.message
    assert message.content == "A whole answer."
    assert message.content_blocks == [{"text": "A whole answer."}]
    assert message.usage_metadata == {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8}
    assert message.response_metadata["finish_reason"] == "STOP"
    assert generation.generation_info is not None
    assert generation.generation_info["normalized_finish_reason"] == "stop"
    assert result.llm_output is not None
    assert result.llm_output["model_name"] == "gemini-2.5-pro"  # the mock echoes the path's model


async def test_streaming_generate_and_n_candidates() -> None:
    recorder = Recorder()
    async with MockServer() as server:
        server.enqueue(MockResponse(choices=["red apple", "green pear"]))
        async with chat(server, streaming=True, n=2, callbacks=[recorder]) as model:
            result = await model.generate([["Name a fruit"]])
        body = server.requests[-1].json
    assert body["generationConfig"] == {"candidateCount": 2}
    assert [g.text for g in result.generations[0]] == ["red apple", "green pear"]
    assert sorted(recorder.tokens) == sorted(["red", " apple", "green", " pear"])


async def test_typed_events_for_thoughts_and_a_tool_call() -> None:
    async with MockServer() as server:
        server.enqueue(
            MockResponse(
                thinking="Checking the city", tool_calls=[{"name": "GetWeather", "args": {"city": "Paris"}}]
            )
        )
        async with chat(server, include_thoughts=True, thinking_budget=512) as model:
            async with model.stream(
                "Weather in Paris?", tools=[GetWeather], tool_choice="GetWeather"
            ) as stream:
                events = [event async for event in stream.events()]
        body = server.requests[-1].json
    assert body["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 512, "includeThoughts": True}}
    schema = GetWeather.model_json_schema()
    del schema["title"], schema["description"]  # the name and description are the declaration's
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "GetWeather",
                    "description": "Get the current weather in a city.",
                    "parametersJsonSchema": schema,
                }
            ]
        }
    ]
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["GetWeather"]}
    }
    kinds = [type(e).__name__ for e in events if not isinstance(e, Usage)]
    assert kinds == [
        "MessageStart",
        *["ContentBlock", "ThinkingDelta"] * 3,
        "ContentBlock",
        "ToolCallStart",
        "ToolCallDelta",
        "Finish",
    ]
    assert isinstance(events[0], MessageStart) and events[0].model == "gemini-2.5-flash"
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "Checking the city"
    (start,) = [e for e in events if isinstance(e, ToolCallStart)]
    assert (start.name, start.id, start.extras) == (
        "GetWeather",
        "call_mock-response-id_0",
        {"thoughtSignature": "mock-signature"},
    )
    (delta,) = [e for e in events if isinstance(e, ToolCallDelta)]
    assert json.loads(delta.arguments) == {"city": "Paris"}
    (finish,) = [e for e in events if isinstance(e, Finish)]
    assert (finish.reason, finish.normalized) == ("STOP", "tool_calls")
    assert not [e for e in events if isinstance(e, TextDelta)]
    usage = [e for e in events if isinstance(e, Usage)][-1]
    assert usage.output_token_details == {"reasoning": 3}
    message = stream.result.generations[0][0].message  # type: ignore[attr-defined]
    assert message.additional_kwargs["thinking"] == "Checking the city"
    assert message.tool_calls[0].args == {"city": "Paris"}


async def test_a_tool_loop_sends_the_signed_parts_and_the_result_back() -> None:
    async with MockServer() as server:
        server.enqueue(
            MockResponse(
                thinking="I should call it", tool_calls=[{"name": "GetWeather", "args": {"city": "Oslo"}}]
            ),
            MockResponse(text="It is 3 degrees.", thinking="Reading the result"),
        )
        async with chat(server, include_thoughts=True).bind_tools([GetWeather]) as model:
            question = [SystemMessage("Be brief."), HumanMessage("Weather in Oslo?")]
            first = await model.stream(question).collect()
            message = first.generations[0][0].message  # type: ignore[attr-defined]
            (call,) = message.tool_calls
            result = ToolMessage('{"temperature": 3, "unit": "C"}', tool_call_id=call.id)
            second = await model.stream([*question, message, result]).collect()
            followup = second.generations[0][0].message  # type: ignore[attr-defined]
            server.enqueue(MockResponse(text="You are welcome."))
            await model([*question, message, result, followup, HumanMessage("Thanks")])
            third_body_parts = server.requests[-1].json["contents"][3]["parts"]
        sent = server.requests[1].json
    assert sent["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert sent["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Oslo?"}]},
        {
            "role": "model",
            "parts": [
                # Streamed thought pieces merged back into one part; the signed call as it came.
                {"text": "I should call it", "thought": True},
                {
                    "functionCall": {"name": "GetWeather", "args": {"city": "Oslo"}},
                    "thoughtSignature": "mock-signature",
                },
            ],
        },
        {
            "role": "user",
            # No id: Gemini gave the call none (the generated one stays on this side).
            "parts": [
                {"functionResponse": {"name": "GetWeather", "response": {"temperature": 3, "unit": "C"}}}
            ],
        },
    ]
    assert followup.content == "It is 3 degrees."
    # The answer's signature came on a final empty text part: it goes back on that part, alone.
    assert third_body_parts == [
        {"text": "Reading the result", "thought": True},
        {"text": "It is 3 degrees."},
        {"text": "", "thoughtSignature": "mock-signature"},
    ]


async def test_request_body_from_settings_and_content_parts() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(text="ok"))
        async with ChatGoogleGenerativeAI(
            base_url=server.url,
            google_api_key="alias-key",
            model="gemini-2.5-flash",
            temperature=0.5,
            top_p=0.9,
            top_k=40,
            max_output_tokens=256,
            stop=["END"],
            seed=7,
            thinking_level="low",
            safety_settings={"HARM_CATEGORY_HARASSMENT": "BLOCK_ONLY_HIGH"},
            response_mime_type="text/plain",
            cached_content="cachedContents/abc",
            model_kwargs={"serviceTier": "flex"},
        ) as model:
            await model(
                [
                    SystemMessage("Rule one."),
                    SystemMessage([{"type": "text", "text": "Rule two."}]),
                    HumanMessage(
                        [
                            {"type": "text", "text": "What is in these?"},
                            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                            {
                                "type": "image",
                                "url": "https://example.com/cat.jpg",
                                "mime_type": "image/jpeg",
                            },
                            {
                                "type": "file",
                                "file_id": "https://generativelanguage.googleapis.com/v1beta/files/x1",
                            },
                            {
                                "fileData": {
                                    "fileUri": "https://www.youtube.com/watch?v=x",
                                    "mimeType": "video/mp4",
                                }
                            },
                        ]
                    ),
                ]
            )
        request = server.requests[-1]
    assert request.rejection is None
    assert request.headers["x-goog-api-key"] == "alias-key"
    assert request.json == {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "What is in these?"},
                    {"inlineData": {"mimeType": "image/png", "data": PNG}},
                    {"fileData": {"fileUri": "https://example.com/cat.jpg", "mimeType": "image/jpeg"}},
                    {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/x1"}},
                    {"fileData": {"fileUri": "https://www.youtube.com/watch?v=x", "mimeType": "video/mp4"}},
                ],
            }
        ],
        "systemInstruction": {"parts": [{"text": "Rule one."}, {"text": "Rule two."}]},
        "generationConfig": {
            "temperature": 0.5,
            "topP": 0.9,
            "topK": 40,
            "maxOutputTokens": 256,
            "stopSequences": ["END"],
            "seed": 7,
            "responseMimeType": "text/plain",
            "thinkingConfig": {"thinkingLevel": "LOW"},
        },
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}],
        "cachedContent": "cachedContents/abc",
        "serviceTier": "flex",
    }


async def test_per_call_options_and_generation_config_body_field() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(text="ok"))
        async with chat(server, thinking_budget=100) as model:
            await model(
                "hi",
                temperature=1.0,
                max_tokens=10,
                generationConfig={
                    "thinkingConfig": {"includeThoughts": True},
                    "responseModalities": ["TEXT"],
                },
            )
        body = server.requests[-1].json
    assert body["generationConfig"] == {
        "temperature": 1.0,
        "maxOutputTokens": 10,
        "thinkingConfig": {"thinkingBudget": 100, "includeThoughts": True},
        "responseModalities": ["TEXT"],
    }


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("required", {"mode": "ANY"}),
        ("any", {"mode": "ANY"}),
        ("none", {"mode": "NONE"}),
        ("GetWeather", {"mode": "ANY", "allowedFunctionNames": ["GetWeather"]}),
    ],
)
def test_tool_choice(choice: str, config: dict[str, Any]) -> None:
    from streamkit.tools import check_tool_choice, to_tool_specs

    specs = to_tool_specs([GetWeather])
    wire = GeminiProvider.tools_to_wire(specs, check_tool_choice(choice, specs))
    assert wire["toolConfig"] == {"functionCallingConfig": config}


async def test_gemini_tools_from_model_kwargs_go_beside_bound_functions() -> None:
    openai_style = {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look up.",
            "parameters": {"type": "object"},
            "strict": True,
        },
    }
    async with MockServer() as server:
        server.enqueue(MockResponse(text="ok"))
        model = chat(server, model_kwargs={"tools": [{"googleSearch": {}}]}).bind_tools([openai_style])
        async with model:
            await model("hi")
        body = server.requests[-1].json
    assert body["tools"] == [
        {"googleSearch": {}},
        # OpenAI's "strict" has no Gemini field: dropped, not sent to be rejected.
        {
            "functionDeclarations": [
                {"name": "lookup", "description": "Look up.", "parametersJsonSchema": {"type": "object"}}
            ]
        },
    ]


async def test_another_providers_history_goes_as_plain_parts() -> None:
    history = [
        HumanMessage("Weather in Rome?"),
        AIMessage(
            "Let me check.",
            tool_calls=[ToolCall(id="call_abc", name="GetWeather", args={"city": "Rome"}, extras={"x": 1})],
            response_metadata={"model_provider": "openai"},
        ),
        ToolMessage("sunny", tool_call_id="call_abc"),
        ToolMessage([{"type": "text", "text": "[1, 2]"}], tool_call_id="other", name="Extra"),
    ]
    async with MockServer() as server:
        server.enqueue(MockResponse(text="It is sunny."))
        async with chat(server) as model:
            await model(history)
        contents = server.requests[-1].json["contents"]
    assert contents[1:] == [
        {
            "role": "model",
            "parts": [
                {"text": "Let me check."},
                {"functionCall": {"name": "GetWeather", "args": {"city": "Rome"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "GetWeather", "response": {"output": "sunny"}}},
                {"functionResponse": {"name": "Extra", "response": {"output": [1, 2]}}},
            ],
        },
    ]


async def test_a_tool_result_without_a_known_call_or_name_is_refused() -> None:
    async with MockServer() as server, chat(server) as model:
        with pytest.raises(
            InvalidArgumentError, match=r"messages\[1\].*functionResponse needs the function's name"
        ):
            await model([HumanMessage("hi"), ToolMessage("x", tool_call_id="nowhere")])
        assert server.requests == []


async def test_parts_gemini_cannot_take_are_refused_before_sending() -> None:
    async with MockServer() as server, chat(server) as model:
        with pytest.raises(InvalidArgumentError, match="systemInstruction takes text parts only"):
            await model(
                [SystemMessage([{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]), "hi"]
            )
        with pytest.raises(InvalidArgumentError, match="Anthropic-only"):
            await model(
                [HumanMessage([{"type": "search_result", "source": "s", "title": "t", "content": []}])]
            )
        assert server.requests == []


async def test_the_mock_rejects_what_the_api_rejects() -> None:
    async with MockServer() as server:
        async with chat(server) as model:
            with pytest.raises(BadRequestError) as info:
                await model("hi", extra_body={"model": "gemini-2.5-flash"})
            assert 'Unknown name "model"' in str(info.value)
            assert info.value.error_type == "INVALID_ARGUMENT"
            with pytest.raises(BadRequestError, match='Unknown name "maxTokens" at'):
                await model("hi", generationConfig={"maxTokens": 5})
        assert len(server.requests) == 2


class Movie(BaseModel):
    """A film."""

    title: str
    year: int


async def test_structured_output_sends_a_response_json_schema() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(text='{"title": "Alien", "year": 1979}'))
        server.enqueue(MockResponse(text='{"title": "Alien", "year": 1979}'))
        async with chat(server, temperature=0.1, include_thoughts=True) as model:
            structured = model.with_structured_output(Movie)
            assert structured.method == "json_schema"
            movie = await structured("A film from 1979?")
            streamed = [
                value async for value in model.with_structured_output(Movie, strict=True).stream("Again")
            ]
        bodies = [request.json for request in server.requests]
    assert movie == Movie(title="Alien", year=1979)
    assert streamed[-1] == movie
    for body in bodies:
        # merged into the generationConfig the settings made, which keeps its fields
        assert body["generationConfig"] == {
            "temperature": 0.1,
            "thinkingConfig": {"includeThoughts": True},
            "responseMimeType": "application/json",
            "responseJsonSchema": {"title": "Movie", "description": "A film.", **Movie.model_json_schema()},
        }
        assert set(body) == {"contents", "generationConfig"}  # no OpenAI response_format, no tools


async def test_structured_output_as_a_forced_function_call() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(tool_calls=[{"name": "Movie", "args": {"title": "Alien", "year": 1979}}]))
        async with chat(server) as model:
            movie = await model.with_structured_output(Movie, method="tool")("A film from 1979?")
        body = server.requests[-1].json
    assert movie == Movie(title="Alien", year=1979)
    assert "generationConfig" not in body
    [declaration] = body["tools"][0]["functionDeclarations"]
    assert declaration["name"] == "Movie"
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["Movie"]}}


def test_output_format_is_generation_config() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    named = {"title": "X", "description": "an x", **schema}
    for strict in (None, True, False):
        assert GeminiProvider().output_format("X", "an x", schema, strict) == {
            "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": named}
        }
    # an empty description is not sent; the schema's own title wins; a $ref allows no siblings
    assert GeminiProvider().output_format("X", "", schema, None)["generationConfig"][
        "responseJsonSchema"
    ] == {
        "title": "X",
        **schema,
    }
    titled = {"title": "Mine", **schema}
    assert (
        GeminiProvider().output_format("X", "", titled, None)["generationConfig"]["responseJsonSchema"]
        == titled
    )
    ref = {"$ref": "#/$defs/A", "$defs": {"A": schema}}
    assert (
        GeminiProvider().output_format("A", "an a", ref, None)["generationConfig"]["responseJsonSchema"]
        == ref
    )


def test_endpoint() -> None:
    provider = GeminiProvider()
    assert provider.endpoint({"model": "gemini-2.5-flash"}, True) == (
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )
    assert provider.endpoint({"model": "models/gemini-2.0-flash", "api_version": "v1"}, False) == (
        "/v1/models/gemini-2.0-flash:generateContent"
    )
    assert provider.endpoint({"model": "tunedModels/my-model-7"}, False) == (
        "/v1beta/tunedModels/my-model-7:generateContent"
    )
    for bad in ("../files/x", "gemini?key=1", "a#b", "a&b"):
        with pytest.raises(InvalidArgumentError):
            provider.endpoint({"model": bad}, True)


def test_key_and_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    official = "https://generativelanguage.googleapis.com"
    with pytest.raises(InvalidArgumentError, match=r"no API key.*GEMINI_API_KEY"):
        ChatGoogleGenerativeAI()
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-key")
    model = ChatGoogleGenerativeAI()
    assert model.base_url == official
    assert model.api_key is not None and model.api_key.get_secret_value() == "gemini-key"  # type: ignore[union-attr]
    monkeypatch.setenv("GOOGLE_API_KEY", "google-key")  # the official SDK prefers it
    model = ChatGoogleGenerativeAI()
    assert model.api_key.get_secret_value() == "google-key"  # type: ignore[union-attr]
    assert ChatGoogleGenerativeAI(api_key="given").api_key.get_secret_value() == "given"  # type: ignore[union-attr]
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:9/")
    assert ChatGoogleGenerativeAI().base_url == "http://127.0.0.1:9"
    assert ChatGoogleGenerativeAI(max_output_tokens=64).max_tokens == 64
    assert "google-key" not in repr(ChatGoogleGenerativeAI())


def test_settings_are_checked() -> None:
    with pytest.raises(InvalidArgumentError, match="thinking_level"):
        ChatGoogleGenerativeAI(api_key="k", thinking_level="extreme")
    with pytest.raises(InvalidArgumentError, match="api_version"):
        ChatGoogleGenerativeAI(api_key="k", api_version="latest/../x")
    with pytest.raises(InvalidArgumentError, match="top_k"):
        ChatGoogleGenerativeAI(api_key="k", top_k=0)
    with pytest.raises(InvalidArgumentError, match="unknown argument 'logprobs'"):
        ChatGoogleGenerativeAI(api_key="k", base_url="http://127.0.0.1:9").stream("hi", logprobs=True)


def test_a_server_run_call_in_one_whole_answer_is_not_a_client_call() -> None:
    """An MCP call answered in the same response (python-genai: ``functionResponse`` parts in model output)."""
    parts = [
        {"functionCall": {"name": "weather_get", "args": {"city": "Oslo"}}},
        {"functionResponse": {"name": "weather_get", "response": {"temp": 3}}},
        {"text": "It is 3 degrees."},
    ]
    body = {
        "candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": 0}],
        "modelVersion": "gemini-2.5-flash",
    }
    events = GeminiProvider().parse_response(body)
    assert not [e for e in events if isinstance(e, (ToolCallStart, ToolCallDelta))]
    assert [e.block for e in events if isinstance(e, ContentBlock)] == parts
    (finish,) = [e for e in events if isinstance(e, Finish)]
    assert finish.normalized == "stop"
    # And a call nobody answered is the client's, however the answer ends.
    events = GeminiProvider().parse_response(
        {**body, "candidates": [{**body["candidates"][0], "content": {"parts": parts[:1]}}]}
    )
    assert [e.name for e in events if isinstance(e, ToolCallStart)] == ["weather_get"]
    assert [e.normalized for e in events if isinstance(e, Finish)] == ["tool_calls"]


def test_usage_replaces_and_counts_every_input_and_output_token() -> None:
    mapper = GeminiProvider().new_mapper()
    first = mapper.usage_event({"promptTokenCount": 10, "cachedContentTokenCount": 4, "totalTokenCount": 10})
    last = mapper.usage_event(
        {
            "promptTokenCount": 10,
            "cachedContentTokenCount": 4,
            "candidatesTokenCount": 5,
            "thoughtsTokenCount": 7,
            "toolUsePromptTokenCount": 3,
            "totalTokenCount": 25,
        }
    )
    assert (first.prompt_tokens, first.completion_tokens, first.total_tokens) == (10, None, 10)
    assert (last.prompt_tokens, last.completion_tokens, last.total_tokens) == (13, 12, 25)
    assert last.input_token_details == {"cache_read": 4}
    assert last.output_token_details == {"reasoning": 7}
    assert last.details["toolUsePromptTokenCount"] == 3
