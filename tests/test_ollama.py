"""ChatOllama end to end over loopback HTTP: the mock wire, the request body, settings, errors.

The wire facts behind the hand-written lines here (a tool call's ``id``
``call_<8 chars>`` and ``function.index``, ``message.thinking``, the error
line, the metrics) are from Ollama's source and docs, cited in
``streamkit/providers/ollama.py``; recorded/documented bodies are replayed
in ``test_conformance_ollama.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamkit import (
    APIConnectionError,
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
)
from streamkit.callbacks import AsyncCallbackHandler
from streamkit.events import (
    Finish,
    MessageStart,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from streamkit.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from streamkit.providers import get
from streamkit.providers.ollama import DEFAULT_BASE_URL, ChatOllama, OllamaProvider, ollama_host
from streamkit.results import ChatGeneration, LLMResult
from streamkit.testing import MockResponse, MockServer

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
WEATHER = {
    "name": "get_weather",
    "description": "Get the weather in a given city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(autouse=True)
def _no_ollama_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)


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
    return ChatOllama(base_url=server.url, model="qwen3", max_retries=0, **kwargs)


def _lines(*objects: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(o, separators=(",", ":")).encode() + b"\n" for o in objects)


# -- the registry and the mock wire ---------------------------------------------


def test_registered_with_its_mock_route() -> None:
    entry = get("ollama")
    assert entry.chat_class() is ChatOllama and entry.llm_class() is None
    (wire,) = entry.mock_wires()
    assert wire.routes == ("/api/chat",) and wire.content_type == "application/x-ndjson"


async def test_stream_text_thinking_tool_calls_usage_and_callbacks() -> None:
    recorder = Recorder()
    script = MockResponse(
        text="It is sunny in Paris.",
        thinking="The user wants the weather.",
        tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_ab12cd34"}],
        usage={"prompt_tokens": 26, "completion_tokens": 12},
    )
    async with MockServer() as server:
        server.enqueue(script)
        async with _chat(server, callbacks=[recorder], reasoning=True) as chat:
            stream = chat.stream("What is the weather in Paris?")
            tokens = [t async for t in stream]
            result = stream.result
        request = server.requests[-1]
    assert request.path == "/api/chat" and request.rejection is None
    assert request.json["think"] is True and request.json["stream"] is True
    assert "".join(tokens) == "It is sunny in Paris." and tokens == recorder.tokens and len(tokens) == 5
    (generation,) = result.generations[0]
    assert isinstance(generation, ChatGeneration)
    message = generation.message
    assert message.content == "It is sunny in Paris."
    assert message.additional_kwargs["thinking"] == "The user wants the weather."
    assert [(c.id, c.name, c.args) for c in message.tool_calls] == [
        ("call_ab12cd34", "get_weather", {"city": "Paris"})
    ]
    assert generation.generation_info is not None
    assert generation.generation_info["finish_reason"] == "stop"  # Ollama's done_reason, as sent
    assert generation.generation_info["normalized_finish_reason"] == "tool_calls"
    assert message.usage_metadata == {"input_tokens": 26, "output_tokens": 12, "total_tokens": 38}
    assert result.llm_output is not None
    usage = result.llm_output["token_usage"]
    assert usage["prompt_eval_count"] == 26 and usage["eval_count"] == 12
    assert usage["total_duration"] == 5_000_000  # nanoseconds, as the mock (and Ollama) sends
    assert result.llm_output["model_name"] == "qwen3"
    assert result.llm_output["created_at"].endswith("Z")
    assert len(recorder.ends) == 1 and recorder.ends[0].generations == result.generations


async def test_events_in_wire_order() -> None:
    async with MockServer() as server:
        server.enqueue(
            MockResponse(tokens=["Hi", " there"], thinking="hmm", tool_calls=[{"name": "f", "args": {}}])
        )
        async with _chat(server) as chat:
            events = [e async for e in chat.stream("hi").events()]
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "MessageStart",
        "ThinkingDelta",
        "TextDelta",
        "TextDelta",
        "ToolCallStart",
        "ToolCallDelta",
        "Usage",
        "Finish",
    ]
    assert isinstance(events[0], MessageStart) and events[0].model == "qwen3"
    assert isinstance(events[1], ThinkingDelta) and events[1].text == "hmm"
    start, delta = events[4], events[5]
    assert isinstance(start, ToolCallStart) and start.id == "call_mock0" and start.extras is None
    assert isinstance(delta, ToolCallDelta) and delta.arguments == "{}"
    assert isinstance(events[6], Usage) and isinstance(events[7], Finish)


async def test_generate_without_streaming_sends_stream_false() -> None:
    recorder = Recorder()
    async with MockServer() as server:
        server.enqueue(MockResponse(text="Hello! How are you today?", thinking="greet"))
        async with _chat(server, callbacks=[recorder]) as chat:
            answer = await chat("Hello!")
        assert server.requests[-1].json["stream"] is False
    assert answer.content == "Hello! How are you today?"
    assert answer.additional_kwargs["thinking"] == "greet"
    assert answer.response_metadata["model_provider"] == "ollama"
    assert recorder.tokens == [] and len(recorder.ends) == 1


async def test_a_tool_call_round_trip_sends_ollamas_shapes() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(tool_calls=[{"name": "get_weather", "args": {"city": "Toronto"}}]))
        server.enqueue(MockResponse(text="The current temperature in Toronto is 11°C."))
        async with _chat(server).bind_tools([WEATHER]) as chat:
            first = await chat("what is the weather in Toronto?")
            (call,) = first.tool_calls
            history = [
                HumanMessage(content="what is the weather in Toronto?"),
                first,
                ToolMessage(content="11 degrees celsius", tool_call_id=call.id or ""),
            ]
            second = await chat(history)
        sent = server.requests[-1].json
    assert second.content == "The current temperature in Toronto is 11°C."
    assert sent["tools"] == [{"type": "function", "function": WEATHER}]
    assert sent["messages"] == [
        {"role": "user", "content": "what is the weather in Toronto?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"function": {"name": "get_weather", "arguments": {"city": "Toronto"}}, "id": call.id}
            ],
        },
        # tool_name found from the call the result answers (docs/api.md "With history, with tools")
        {
            "role": "tool",
            "content": "11 degrees celsius",
            "tool_name": "get_weather",
            "tool_call_id": call.id,
        },
    ]
    assert all(r.rejection is None for r in server.requests)


async def test_calls_without_ids_get_stable_generated_ones_and_their_extras_go_back() -> None:
    line = {
        "model": "qwen3",
        "created_at": "2026-01-01T00:00:00.000001Z",
        "message": {
            "role": "assistant",
            "content": "",
            # the shape of api/types.go ToolCall; "extra_field" stands for a field added later
            "tool_calls": [
                {"function": {"index": 0, "name": "a", "arguments": {"x": 1}}},
                {"function": {"index": 1, "name": "b", "arguments": {"y": "é"}}, "extra_field": 7},
            ],
        },
        "done": False,
    }
    final = {"model": "qwen3", "created_at": "2026-01-01T00:00:01Z", "done": True, "done_reason": "stop"}
    body = _lines(line, final)
    async with MockServer() as server:
        server.enqueue(MockResponse(raw=body), MockResponse(raw=body, chunk_size=1))
        async with _chat(server) as chat:
            one = await chat.stream("x").collect()
            two = await chat.stream("x").collect()
            message = one.generations[0][0].message  # type: ignore[attr-defined]
            again = [
                HumanMessage(content="x"),
                message,
                ToolMessage(content="1", tool_call_id=message.tool_calls[0].id),
            ]
            await chat(again)
        sent = server.requests[-1].json["messages"]
    calls = message.tool_calls
    assert [c.id for c in calls] == [c.id for c in two.generations[0][0].message.tool_calls]  # type: ignore[attr-defined]
    assert len({c.id for c in calls}) == 2 and all(c.id.startswith("call_") for c in calls)
    assert [(c.name, c.args) for c in calls] == [("a", {"x": 1}), ("b", {"y": "é"})]
    assert calls[1].extras == {"extra_field": 7}
    assert sent[1]["tool_calls"][1] == {
        "function": {"name": "b", "arguments": {"y": "é"}},
        "id": calls[1].id,
        "extra_field": 7,
    }
    assert sent[2]["tool_name"] == "a"


async def test_an_id_sent_by_the_server_is_kept() -> None:
    line = {
        "model": "qwen3",
        "message": {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "call_cy3xwkra", "function": {"index": 0, "name": "a", "arguments": {}}}],
        },
        "done": False,
    }
    async with MockServer() as server:
        server.enqueue(MockResponse(raw=_lines(line, {"done": True, "done_reason": "stop"})))
        async with _chat(server) as chat:
            answer = await chat.stream("x").collect()
    call = answer.generations[0][0].message.tool_calls[0]  # type: ignore[attr-defined]
    assert call.id == "call_cy3xwkra" and call.extras is None


async def test_settings_go_where_ollama_reads_them() -> None:
    async with MockServer() as server:
        async with _chat(
            server,
            temperature=0.2,
            top_p=0.9,
            top_k=20,
            seed=42,
            num_ctx=8192,
            max_tokens=100,
            repeat_penalty=1.1,
            stop=["\n\n"],
            keep_alive="10m",
            format="json",
            reasoning="low",
            logprobs=True,
            top_logprobs=3,
            options={"mirostat": 1, "temperature": 0.3},
        ) as chat:
            await chat("hi")
            await chat(
                "hi", num_predict=-1, think=False, options={"min_p": 0.05}, truncate=False, keep_alive=0
            )
        first, second = (r.json for r in server.requests)
    assert first == {
        "model": "qwen3",
        "messages": [{"role": "user", "content": "hi"}],
        "options": {
            "temperature": 0.3,  # options={...} is merged last and wins
            "top_p": 0.9,
            "top_k": 20,
            "seed": 42,
            "num_predict": 100,  # max_tokens
            "num_ctx": 8192,
            "repeat_penalty": 1.1,
            "stop": ["\n\n"],
            "mirostat": 1,
        },
        "think": "low",
        "format": "json",
        "keep_alive": "10m",
        "logprobs": True,
        "top_logprobs": 3,
        "stream": False,
    }
    assert second["options"]["num_predict"] == -1 and second["options"]["min_p"] == 0.05
    assert "mirostat" not in second["options"]  # a per-call options dict replaces the model's
    assert second["think"] is False and second["truncate"] is False and second["keep_alive"] == 0


def test_invalid_settings_are_refused_before_any_request() -> None:
    with pytest.raises(InvalidArgumentError, match="reasoning"):
        ChatOllama(reasoning="extreme")
    with pytest.raises(InvalidArgumentError, match="top_logprobs"):
        ChatOllama(top_logprobs=21)
    with pytest.raises(InvalidArgumentError, match="num_predict"):
        ChatOllama(num_predict=-3)
    chat = ChatOllama()
    with pytest.raises(InvalidArgumentError, match="unknown argument 'thinking'"):
        chat.stream("hi", thinking=True)


async def test_images_system_and_parts() -> None:
    async with MockServer() as server:
        async with _chat(server) as chat:
            await chat(
                [
                    SystemMessage(content="Be brief."),
                    HumanMessage(
                        content=[
                            {"type": "text", "text": "what is in this image?"},
                            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                            {"type": "image", "source_type": "base64", "data": PNG, "mime_type": "image/png"},
                            {"type": "text", "text": "and this one?"},
                        ]
                    ),
                ]
            )
        request = server.requests[-1]
    assert request.rejection is None
    assert request.json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "what is in this image?\nand this one?", "images": [PNG, PNG]},
    ]


def test_parts_ollama_cannot_take_are_named() -> None:
    chat = ChatOllama()
    url = HumanMessage(content=[{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}])
    with pytest.raises(InvalidArgumentError, match=r"messages\[0\]\.content\[0\].*base64 data only"):
        chat.stream([url])
    pdf = HumanMessage(
        content=[{"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PNG}"}}]
    )
    with pytest.raises(InvalidArgumentError, match=r"messages\[0\]\.content\[0\].*text and images only"):
        chat.stream([pdf])


async def test_tool_choice_has_no_ollama_field() -> None:
    other = {"name": "other", "description": "", "parameters": {"type": "object", "properties": {}}}
    async with MockServer() as server:
        async with _chat(server, tools=[WEATHER, other]) as chat:
            await chat("hi", tool_choice="get_weather")
            await chat("hi", tool_choice="none")
            await chat("hi", tool_choice="required")
        named, none, required = (r.json for r in server.requests)
    assert [t["function"]["name"] for t in named["tools"]] == ["get_weather"]
    assert "tools" not in none
    assert len(required["tools"]) == 2
    assert all("tool_choice" not in body for body in (named, none, required))


async def test_thinking_from_ollama_goes_back_with_its_turn() -> None:
    mine = AIMessage(
        content="4",
        additional_kwargs={"thinking": "2+2"},
        response_metadata={"model_provider": "ollama"},
    )
    theirs = AIMessage(content="4", additional_kwargs={"thinking": "2+2"})
    async with MockServer() as server:
        async with _chat(server) as chat:
            await chat([HumanMessage(content="2+2?"), mine, HumanMessage(content="and 3+3?")])
            await chat([HumanMessage(content="2+2?"), theirs, HumanMessage(content="and 3+3?")])
        first, second = (r.json["messages"][1] for r in server.requests)
    assert first == {"role": "assistant", "content": "4", "thinking": "2+2"}
    assert second == {"role": "assistant", "content": "4"}


async def test_structured_output_sends_its_schema_as_format() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(text='{"city": "Paris"}'))
        async with _chat(server) as chat:
            parsed = await chat.with_structured_output(WEATHER["parameters"])("Where?")
        sent = server.requests[-1].json
    assert parsed == {"city": "Paris"}
    assert sent["format"]["properties"] == {"city": {"type": "string"}}
    assert "response_format" not in sent and "tools" not in sent


# -- where requests go ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "url"),
    [
        # the cases of ollama-python's _parse_host doctests (ollama/_client.py), as URLs
        ("", DEFAULT_BASE_URL),
        ("1.2.3.4", "http://1.2.3.4:11434"),
        (":56789", "http://127.0.0.1:56789"),
        ("1.2.3.4:56789", "http://1.2.3.4:56789"),
        ("http://1.2.3.4", "http://1.2.3.4"),
        ("https://example.com:56789", "https://example.com:56789"),
        ("example.com/", "http://example.com:11434"),
        ("example.com:56789/path/", "http://example.com:56789/path"),
        ("[0001:002:003:0004::1]", "http://[0001:002:003:0004::1]:11434"),
        ("[0001:002:003:0004::1]:56789/path", "http://[0001:002:003:0004::1]:56789/path"),
        ("0.0.0.0", "http://0.0.0.0:11434"),
    ],
)
def test_ollama_host_reads_like_the_official_clients(value: str, url: str) -> None:
    assert ollama_host(value) == url


def test_base_url_defaults_env_and_assignment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ChatOllama().base_url == "http://localhost:11434"  # no key asked for: none is needed
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:8080")
    chat = ChatOllama()
    assert chat.base_url == "http://0.0.0.0:8080"
    chat.base_url = "gpu-box"  # a scheme-less value is read the same way on assignment
    assert chat.base_url == "http://gpu-box:11434"
    chat.base_url = None  # type: ignore[assignment]
    assert chat.base_url == DEFAULT_BASE_URL
    assert ChatOllama(base_url="https://ollama.com/").base_url == "https://ollama.com"
    with pytest.raises(InvalidArgumentError, match="credentials"):
        ChatOllama(base_url="user:secret@gpu-box:11434")


async def test_no_auth_by_default_and_a_bearer_key_when_given(monkeypatch: pytest.MonkeyPatch) -> None:
    async with MockServer() as server:
        async with _chat(server) as chat:
            await chat("hi")
        monkeypatch.setenv("OLLAMA_API_KEY", "ollama-key-from-env-123")
        async with _chat(server) as chat:
            await chat("hi")
        async with _chat(server, api_key="given-key-456789") as chat:
            await chat("hi")
        none, env, given = (r.headers for r in server.requests)
    assert "Authorization" not in none
    assert env["Authorization"] == "Bearer ollama-key-from-env-123"
    assert given["Authorization"] == "Bearer given-key-456789"


# -- errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "cls"),
    [
        # bodies as server/routes.go writes them
        (400, "model is required", BadRequestError),
        (401, "unauthorized", AuthenticationError),
        (403, "remote model is unavailable", PermissionDeniedError),
        (404, "model 'llama9' not found", NotFoundError),
        (429, "too many requests", RateLimitError),
        (500, "the model failed to generate a response", InternalServerError),
        (502, "bad gateway", InternalServerError),
        (503, "server busy, please try again.  maximum pending requests exceeded", InternalServerError),
    ],
)
@pytest.mark.parametrize("streaming", [True, False])
async def test_http_errors(status: int, error: str, cls: type[Exception], streaming: bool) -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(status=status, error={"error": error}))
        async with _chat(server) as chat:
            with pytest.raises(cls) as caught:
                if streaming:
                    await chat.stream("hi").collect()
                else:
                    await chat("hi")
    assert caught.value.message == f"HTTP {status}: {error}"  # type: ignore[attr-defined]
    assert caught.value.status_code == status  # type: ignore[attr-defined]
    assert caught.value.body == {"error": error}  # type: ignore[attr-defined]


async def test_an_in_stream_error_line_keeps_the_partial_answer() -> None:
    recorder = Recorder()
    async with MockServer() as server:
        server.enqueue(MockResponse(text="one two three four", error_after=3, error_message="runner crashed"))
        async with _chat(server, callbacks=[recorder]) as chat:
            with pytest.raises(ProviderStreamError) as caught:
                await chat.stream("hi").collect()
    assert caught.value.message == "runner crashed" and caught.value.body == {"error": "runner crashed"}
    assert caught.value.partial_result is not None
    assert caught.value.partial_result.generations[0][0].text == "one two three"
    assert recorder.errors == [caught.value]


@pytest.mark.parametrize(
    ("fault", "cls"), [("truncate_after", IncompleteStreamError), ("drop_after", APIConnectionError)]
)
async def test_a_cut_stream_keeps_the_partial_answer(fault: str, cls: type[Exception]) -> None:
    """Ended without the final object: incomplete; the connection lost: a connection error."""
    async with MockServer() as server:
        server.enqueue(MockResponse(text="one two three four", **{fault: 3}))
        async with _chat(server) as chat:
            with pytest.raises(cls) as caught:
                await chat.stream("hi").collect()
    partial = caught.value.partial_result  # type: ignore[attr-defined]
    assert partial is not None and partial.generations[0][0].text == "one two three"


async def test_malformed_json_is_a_protocol_error() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(text="one two three", malformed_after=2))
        async with _chat(server) as chat:
            with pytest.raises(ProtocolError, match="malformed JSON") as caught:
                await chat.stream("hi").collect()
    assert type(caught.value) is ProtocolError
    assert caught.value.partial_result is not None
    assert caught.value.partial_result.generations[0][0].text == "one two"


@pytest.mark.parametrize(
    ("line", "where"),
    [
        ({"message": {"role": "assistant", "content": 5}, "done": False}, "message.content"),
        ({"message": {"content": "", "thinking": ["x"]}, "done": False}, "message.thinking"),
        ({"message": "hi", "done": False}, "message"),
        ({"message": {"content": "", "tool_calls": {"a": 1}}, "done": False}, "message.tool_calls"),
        (
            {"message": {"content": "", "tool_calls": [{"function": {"name": "a", "arguments": 3}}]}},
            "arguments",
        ),
        ({"done": "yes"}, "done"),
        ({"done": True, "eval_count": -1}, "eval_count"),
        ({"done": True, "done_reason": 1}, "done_reason"),
        ({"model": 3, "done": False}, "model"),
        ({"logprobs": {}, "done": False}, "logprobs"),
    ],
)
def test_values_of_the_wrong_type_are_protocol_errors(line: dict[str, Any], where: str) -> None:
    mapper = OllamaProvider().new_mapper()
    mapper.feed(_lines(line))
    assert isinstance(mapper.error, ProtocolError) and where in str(mapper.error)


def test_whole_responses_that_are_not_answers() -> None:
    provider = OllamaProvider()
    with pytest.raises(ProtocolError, match="not a chat response"):
        provider.parse_response({"models": []})
    with pytest.raises(IncompleteStreamError):
        provider.parse_response({"message": {"role": "assistant", "content": "Th"}, "done": False})
    with pytest.raises(ProviderStreamError, match="boom"):
        provider.parse_response({"error": "boom"})


def test_lines_after_done_are_ignored_and_a_final_object_may_carry_text() -> None:
    mapper = OllamaProvider().new_mapper()
    events = mapper.feed(
        _lines(
            {
                "model": "m",
                "message": {"role": "assistant", "content": "last"},
                "done": True,
                "done_reason": "length",
            },
            {"message": {"role": "assistant", "content": "ignored"}, "done": False},
        )
    )
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["last"]
    (finish,) = [e for e in events if isinstance(e, Finish)]
    assert finish.reason == "length" and finish.normalized == "length"
    assert mapper.terminal and mapper.error is None


def test_logprobs_on_a_line_without_text_go_with_the_next_text() -> None:
    lp = [{"token": "<tool", "logprob": -0.5}]
    mapper = OllamaProvider().new_mapper()
    events = mapper.feed(
        _lines(
            {"message": {"role": "assistant", "content": ""}, "logprobs": lp, "done": False},
            {
                "message": {"role": "assistant", "content": "Hi"},
                "logprobs": [{"token": "Hi", "logprob": -0.1}],
            },
        )
    )
    (text,) = [e for e in events if isinstance(e, TextDelta)]
    assert text.logprobs == [*lp, {"token": "Hi", "logprob": -0.1}]


# -- the mock checks requests like Ollama ----------------------------------------


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"messages": []}, "model is required"),
        ({"model": "m", "messages": [], "think": "extreme"}, 'invalid think value: "extreme"'),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "cannot unmarshal array",
        ),
        ({"model": "m", "messages": [{"role": "user", "content": "x", "images": ["not base64!"]}]}, "base64"),
        (
            {
                "model": "m",
                "messages": [{"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]}],
            },
            "cannot unmarshal string",
        ),
        ({"model": "m", "messages": [], "top_logprobs": 21}, "top_logprobs must be between 0 and 20"),
    ],
)
async def test_the_mock_rejects_what_ollama_rejects(body: dict[str, Any], error: str) -> None:
    import aiohttp

    async with MockServer() as server, aiohttp.ClientSession() as session:
        async with session.post(f"{server.url}/api/chat", json=body) as response:
            assert response.status == 400
            payload = await response.json()
    assert error in payload["error"] and list(payload) == ["error"]
