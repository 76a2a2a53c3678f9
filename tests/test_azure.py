"""Azure OpenAI (``AzureChatOpenAI``) over real loopback HTTP.

Conformance on Microsoft's published sample streams (``tests/fixtures/wire/
azure``; see its README), the mock server's Azure routes (auth,
``api-version``, both APIs), Entra ID tokens (static, sync and async
providers, per attempt, redacted), the environment's precedence, the error
matrix on Azure's own error bodies, and the model end to end.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from wire_replay import CHUNKINGS, replay

from streamkit.callbacks import BaseCallbackHandler
from streamkit.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    IncompleteStreamError,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProtocolError,
    ProviderStreamError,
    RateLimitError,
)
from streamkit.events import Finish, MessageStart, TextDelta, ToolCallDelta, ToolCallStart, Usage
from streamkit.messages import HumanMessage
from streamkit.providers import get as registry_get
from streamkit.providers.azure import AzureChatOpenAI, AzureChatProvider
from streamkit.testing import MockResponse, MockServer

LEARN = Path(__file__).parent / "fixtures" / "wire" / "azure" / "learn"
KEY = "azure-key-0123456789"
VERSION = "2024-10-21"


@pytest.fixture(autouse=True)
def _no_azure_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_AD_TOKEN",
        "AZURE_OPENAI_ENDPOINT",
        "OPENAI_API_VERSION",
        "AZURE_OPENAI_API_VERSION",
    ):
        monkeypatch.delenv(name, raising=False)


def azure(server: MockServer, **settings: Any) -> AzureChatOpenAI:
    base: dict[str, Any] = {
        "azure_endpoint": server.url,
        "azure_deployment": "gpt-4o-prod",
        "api_version": VERSION,
        "api_key": KEY,
        "max_retries": 0,
    }
    return AzureChatOpenAI(**{**base, **settings})


# -- conformance: Microsoft's sample streams -------------------------------------------


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
async def test_async_filter_stream_that_passes(chunking: str) -> None:
    body = (LEARN / "async_filter_passes.sse").read_bytes()
    async with MockServer() as server:
        server.enqueue(replay(body, chunking))
        async with azure(server) as chat:
            stream = chat.stream("What is color?")
            tokens = [token async for token in stream]
            result = stream.result
        request = server.requests[-1]
    assert "".join(tokens) == "Color is a"
    assert tokens == ["Color", " is", " a"]
    generation = result.generations[0][0]
    assert generation.text == "Color is a"
    assert generation.generation_info is not None
    assert generation.generation_info["finish_reason"] == "stop"
    assert result.llm_output is not None
    assert result.llm_output["model_name"] == "gpt-35-turbo"
    assert result.llm_output["id"] == "chatcmpl-7rCNsVeZy0PGnX3H6jK8STps5nZUY"
    assert result.llm_output["created"] == 1692913344
    assert result.llm_output["token_usage"] == {}
    assert request.path == "/openai/deployments/gpt-4o-prod/chat/completions"
    assert request.headers["api-key"] == KEY
    assert "Authorization" not in request.headers


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
async def test_async_filter_stream_blocked_by_the_filter(chunking: str) -> None:
    body = (LEARN / "async_filter_blocked.sse").read_bytes()
    async with MockServer() as server:
        server.enqueue(replay(body, chunking))
        async with azure(server) as chat:
            events = [event async for event in chat.stream("Tell me the lyrics to 'Hey Jude'.").events()]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "Hey Jude,"
    (finish,) = [e for e in events if isinstance(e, Finish)]
    assert (finish.reason, finish.normalized) == ("content_filter", "content_filter")
    starts = [e for e in events if isinstance(e, MessageStart)]
    assert starts[0].model == "gpt-35-turbo"
    assert starts[0].id == "chatcmpl-8JCbt5d4luUIhYCI7YH4dQK7hnHx2"


async def test_content_filter_400_from_the_docs() -> None:
    body = json.loads((LEARN / "content_filter_400.json").read_text())
    async with MockServer() as server:
        server.enqueue(MockResponse(status=400, error=body))
        async with azure(server) as chat:
            with pytest.raises(BadRequestError) as caught:
                await chat.stream("...").collect()
    err = caught.value
    assert err.status_code == 400
    assert err.error_type == "content_filter"
    assert "filtered due to the prompt triggering Azure Content management policy" in str(err)
    assert err.body["error"]["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    assert err.partial_result is not None


# -- the error matrix: Azure's own error bodies ------------------------------------------

_RATE = (
    "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-08-01-preview "
    "have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 86400 "
    "seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase "
    "the default rate limit."
)
_SERVER = (
    "The server had an error while processing your request. Sorry about that! You can retry your "
    "request, or contact us through an Azure support request at: https://go.microsoft.com/fwlink/"
    "?linkid=2213926 if the error persists. (Please include the request ID "
    "6d6321f8-e4aa-4a77-9aa0-67868802d7ca in your message.)"
)
ERRORS = [
    # SciSharp/BotSharp#386 (headers and body of a real 401)
    (
        401,
        {
            "error": {
                "code": "401",
                "message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
                "provide a valid key for an active subscription and use a correct regional API endpoint "
                "for your resource.",
            }
        },
        AuthenticationError,
        "Access denied due to invalid subscription key",
    ),
    # Azure-Samples/azure-search-openai-demo#1494
    (
        403,
        {"error": {"code": "403", "message": "Access denied due to Virtual Network/Firewall rules."}},
        PermissionDeniedError,
        "Virtual Network/Firewall rules",
    ),
    # chatboxai/chatbox#861, Azure-Samples/azure-search-openai-demo-csharp#379
    (
        404,
        {
            "error": {
                "code": "DeploymentNotFound",
                "message": "The API deployment for this resource does not exist. If you created the deployment "
                "within the last 5 minutes, please wait a moment and try again.",
            }
        },
        NotFoundError,
        "The API deployment for this resource does not exist",
    ),
    # openai/openai-python#362 (no api-version / wrong path)
    (404, {"error": {"code": "404", "message": "Resource not found"}}, NotFoundError, "Resource not found"),
    # langgenius/dify-official-plugins#2199
    (408, {"error": {"code": "Timeout", "message": "The operation was timeout."}}, APIStatusError, "timeout"),
    # vanderschaarlab/climb#1
    (429, {"error": {"code": "429", "message": _RATE}}, RateLimitError, "exceeded token rate limit"),
    # Azure-Samples/azure-search-openai-demo#1390
    (
        500,
        {"error": {"message": _SERVER, "type": "server_error", "param": None, "code": None}},
        InternalServerError,
        "The server had an error while processing your request",
    ),
    # No published 503 body was found: the mock's Azure-shaped one.
    (503, None, InternalServerError, "mock error 503"),
]


@pytest.mark.parametrize(
    ("status", "body", "error_class", "fragment"), ERRORS, ids=[f"{e[0]}" for e in ERRORS]
)
async def test_http_errors(
    status: int, body: dict[str, Any] | None, error_class: type, fragment: str
) -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(status=status, error=body, headers={"apim-request-id": "req-1"}))
        async with azure(server) as chat:
            with pytest.raises(error_class) as caught:
                await chat.stream("hi").collect()
    err = caught.value
    assert err.status_code == status
    assert fragment in str(err)
    assert str(err).startswith(f"HTTP {status}: ")
    assert err.partial_result is not None
    if body is None:
        assert err.body == {"error": {"code": "503", "message": "mock error 503"}}


async def test_429_retry_after_ms_is_the_hint() -> None:
    body = {"error": {"code": "429", "message": _RATE}}
    async with MockServer() as server:
        server.enqueue(
            MockResponse(status=429, error=body, headers={"retry-after-ms": "1500", "retry-after": "2"})
        )
        async with azure(server) as chat:
            with pytest.raises(RateLimitError) as caught:
                await chat.stream("hi").collect()
    assert caught.value.retry_after == 1.5


async def test_429_then_success_is_retried() -> None:
    async with MockServer() as server:
        server.enqueue(
            MockResponse(
                status=429,
                error={"error": {"code": "429", "message": _RATE}},
                headers={"retry-after-ms": "1"},
            ),
            MockResponse(text="second time lucky"),
        )
        async with azure(server, max_retries=1) as chat:
            answer = await chat("hi")
        assert len(server.requests) == 2
    assert answer.content == "second time lucky"


async def test_in_stream_error_keeps_the_partial_result() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(text="one two three four", error_after=3, error_type="server_error"))
        async with azure(server) as chat:
            with pytest.raises(ProviderStreamError) as caught:
                await chat.stream("hi").collect()
    err = caught.value
    assert err.error_type == "server_error"
    assert err.partial_result is not None
    assert err.partial_result.generations[0][0].text == "one"


async def test_in_stream_overloaded_is_the_status_class() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(text="one two three", error_after=3))
        async with azure(server) as chat:
            with pytest.raises(OverloadedError):
                await chat.stream("hi").collect()


async def test_cut_stream_is_incomplete() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(text="one two three", truncate_after=4))
        async with azure(server) as chat:
            with pytest.raises(IncompleteStreamError) as caught:
                await chat.stream("hi").collect()
    assert caught.value.partial_result is not None
    assert caught.value.partial_result.generations[0][0].text == "one two"


async def test_malformed_json_is_a_protocol_error() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(text="one two three", malformed_after=3))
        async with azure(server) as chat:
            with pytest.raises(ProtocolError) as caught:
                await chat.stream("hi").collect()
    assert not isinstance(caught.value, IncompleteStreamError)
    assert caught.value.partial_result is not None


# -- the mock server's Azure routes ------------------------------------------------------


async def test_mock_stream_has_azure_shape_and_usage() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(text="Hello there", usage={"prompt_tokens": 7, "completion_tokens": 2}))
        async with azure(server) as chat:
            events = [e async for e in chat.stream("hi").events()]
        body = server.requests[-1].json
    assert body["stream_options"] == {"include_usage": True}
    assert body["model"] == "gpt-4o-prod"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello there"
    (usage,) = [e for e in events if isinstance(e, Usage)]
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (7, 2, 9)


async def test_missing_key_is_401_as_azure_sends_it() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(text="kept for the next request"))
        # An empty api-key header passes the constructor (a header counts as a credential) but not Azure.
        keyless = azure(server, api_key=None, default_headers={"api-key": ""})
        async with keyless, azure(server) as chat:
            with pytest.raises(AuthenticationError) as caught:
                await keyless("hi")
            answer = await chat("hi")
    assert "Access denied due to invalid subscription key" in str(caught.value)
    assert caught.value.body["error"]["code"] == "401"
    # Refused at the door, as the real service does: the script was left for the next request.
    assert answer.content == "kept for the next request"


async def test_deployment_call_without_api_version_is_404() -> None:
    async with MockServer() as server:
        async with azure(server) as chat:
            # A gateway that strips the query: simulated by asking the transport for the bare path.
            transport = chat.transport
            with pytest.raises(NotFoundError) as caught:
                body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
                await transport.post("/openai/deployments/d/chat/completions", body)
    assert caught.value.body == {"error": {"code": "404", "message": "Resource not found"}}


async def test_v1_api_path_body_and_no_version() -> None:
    async with MockServer() as server:
        async with azure(server, api_version="v1", model="gpt-4o") as chat:
            answer = await chat("hi")
            await chat("hi", model="other-label")
        first, second = server.requests
    assert answer.content
    assert first.path == "/openai/v1/chat/completions"
    assert first.json["model"] == "gpt-4o-prod"  # the deployment, not the label
    assert second.json["model"] == "gpt-4o-prod"


async def test_v1_preview_and_dated_versions_are_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    async with MockServer() as server:
        server.responder = lambda r: seen.append(r.path) or None  # type: ignore[func-returns-value]
        for version in ("preview", "2025-04-01-preview"):
            async with azure(server, api_version=version) as chat:
                await chat("hi")
    assert seen == ["/openai/v1/chat/completions", "/openai/deployments/gpt-4o-prod/chat/completions"]
    chat = AzureChatOpenAI(
        azure_endpoint="https://res.openai.azure.com", model="d", api_key=KEY, api_version="preview"
    )
    assert (
        chat._provider.endpoint(chat._params({}), True) == "/openai/v1/chat/completions?api-version=preview"
    )
    chat.api_version = "2025-04-01-preview"
    assert (
        chat._provider.endpoint(chat._params({}), True)
        == "/openai/deployments/d/chat/completions?api-version=2025-04-01-preview"
    )


def test_deployment_is_the_model_without_azure_deployment() -> None:
    chat = AzureChatOpenAI(
        azure_endpoint="https://res.openai.azure.com", model="my dep/1", api_key=KEY, api_version=VERSION
    )
    assert chat.azure_deployment is None
    path = chat._provider.endpoint(chat._params({}), True)
    assert path == "/openai/deployments/my%20dep%2F1/chat/completions?api-version=2024-10-21"
    # Per call, the model picks the deployment too (as in the official SDK), but never beside azure_deployment.
    assert chat._provider.endpoint(chat._params({"model": "b"}), True).startswith("/openai/deployments/b/")
    fixed = chat.model_copy(update={"azure_deployment": "fixed"})
    assert fixed._provider.endpoint(fixed._params({"model": "b"}), True).startswith(
        "/openai/deployments/fixed/"
    )


# -- Entra ID tokens --------------------------------------------------------------------


async def test_static_token_is_a_bearer_header_and_no_key() -> None:
    async with MockServer() as server:
        async with azure(server, api_key=None, azure_ad_token="static-entra-token-123") as chat:
            await chat("hi")
        headers = server.requests[-1].headers
    assert headers["Authorization"] == "Bearer static-entra-token-123"
    assert "api-key" not in headers


async def test_sync_provider_runs_in_a_worker_thread_per_attempt() -> None:
    loop_thread = threading.get_ident()
    calls: list[int] = []

    def provider() -> str:
        calls.append(threading.get_ident())
        return f"sync-token-{len(calls):04d}"

    async with MockServer() as server:
        server.enqueue_failures(1, 503, then=MockResponse(text="ok"))
        async with azure(server, api_key=None, azure_ad_token_provider=provider, max_retries=1) as chat:
            answer = await chat("hi")
        sent = [r.headers["Authorization"] for r in server.requests]
    assert answer.content == "ok"
    assert sent == ["Bearer sync-token-0001", "Bearer sync-token-0002"]  # called again for the retry
    assert len(calls) == 2 and loop_thread not in calls


async def test_async_provider_is_awaited_on_the_loop() -> None:
    loop = asyncio.get_running_loop()
    seen: list[asyncio.AbstractEventLoop] = []

    async def provider() -> str:
        seen.append(asyncio.get_running_loop())
        await asyncio.sleep(0)
        return "async-token-abcdef"

    async with MockServer() as server:
        async with azure(server, api_key=None, azure_ad_token_provider=provider) as chat:
            await chat("hi")
            await chat("again")
        sent = [r.headers["Authorization"] for r in server.requests]
    assert sent == ["Bearer async-token-abcdef"] * 2
    assert seen == [loop, loop]


async def test_sync_callable_returning_an_awaitable_is_awaited() -> None:
    async def fetch() -> str:
        return "awaited-token-xyz1"

    async with MockServer() as server:
        async with azure(server, api_key=None, azure_ad_token_provider=lambda: fetch()) as chat:
            await chat("hi")
        assert server.requests[-1].headers["Authorization"] == "Bearer awaited-token-xyz1"


async def test_provider_failures() -> None:
    def broken() -> str:
        raise RuntimeError("credential unavailable")

    async with MockServer() as server:
        async with azure(server, api_key=None, azure_ad_token_provider=broken) as chat:
            with pytest.raises(RuntimeError, match="credential unavailable"):
                await chat("hi")
        async with azure(server, api_key=None, azure_ad_token_provider=lambda: None) as chat:
            with pytest.raises(InvalidArgumentError, match="azure_ad_token_provider must return a non-empty"):
                await chat("hi")
        assert server.requests == []


async def test_tokens_are_redacted_from_errors() -> None:
    token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.secret"
    echo = {"error": {"code": "401", "message": f"Token Bearer {token} expired"}}
    async with MockServer() as server:
        server.enqueue(MockResponse(status=401, error=echo))
        async with azure(server, api_key=None, azure_ad_token_provider=lambda: token) as chat:
            with pytest.raises(AuthenticationError) as caught:
                await chat("hi")
    assert token not in str(caught.value)
    assert token not in json.dumps(caught.value.body)
    assert "***" in str(caught.value)


async def test_an_explicit_authorization_header_wins() -> None:
    async with MockServer() as server:
        async with azure(server, api_key=None, azure_ad_token="static-entra-token-123") as chat:
            await chat("hi", extra_headers={"Authorization": "Bearer mine-0123456789"})
        assert server.requests[-1].headers["Authorization"] == "Bearer mine-0123456789"


# -- the environment and the arguments ------------------------------------------------------


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com/")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "env-key-0123456789")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    monkeypatch.setenv("AZURE_OPENAI_API_VERSION", "2099-01-01")
    chat = AzureChatOpenAI(azure_deployment="d")
    assert chat.base_url == chat.azure_endpoint == "https://res.openai.azure.com"
    assert chat.api_key is not None and chat.api_key.get_secret_value() == "env-key-0123456789"
    assert chat.api_version == "2024-10-21"  # OPENAI_API_VERSION first, as the SDK and LangChain read it
    assert chat.model == "d"
    assert chat._provider.auth_headers("k") == {"api-key": "k"}
    monkeypatch.delenv("OPENAI_API_VERSION")
    assert AzureChatOpenAI(azure_deployment="d").api_version == "2099-01-01"
    # AZURE_OPENAI_AD_TOKEN wins over the key variable when no credential is passed (as in the SDK).
    monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", "env-token-0123456789")
    chat = AzureChatOpenAI(azure_deployment="d")
    assert chat.api_key is None
    assert (
        chat.azure_ad_token is not None and chat.azure_ad_token.get_secret_value() == "env-token-0123456789"
    )
    # An explicit key is used as given, and the token variable is not read.
    chat = AzureChatOpenAI(azure_deployment="d", api_key="explicit-0123456789")
    assert chat.azure_ad_token is None
    assert "env-token" not in repr(chat)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"api_key": KEY, "azure_ad_token": "t"}, "pass one credential, not api_key and azure_ad_token"),
        ({"azure_ad_token": "t", "azure_ad_token_provider": lambda: "t"}, "pass one credential"),
        ({}, "no credentials"),
        ({"api_key": KEY, "api_version": None}, "no API version"),
        ({"api_key": KEY, "azure_endpoint": None}, "no endpoint"),
        ({"api_key": KEY, "azure_endpoint": "https://r.openai.azure.com/openai/v1"}, "without /openai"),
        ({"api_key": KEY, "azure_deployment": None}, "pass azure_deployment="),
        ({"api_key": KEY, "base_url": "https://x.openai.azure.com"}, "not both"),
        ({"api_key": KEY, "api_version": "2024 "}, "api_version"),
        ({"api_key": KEY, "provider": "groq"}, "provider"),
    ],
)
def test_bad_arguments(settings: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {
        "azure_endpoint": "https://res.openai.azure.com",
        "azure_deployment": "d",
        "api_version": VERSION,
    }
    with pytest.raises(InvalidArgumentError, match=message):
        AzureChatOpenAI(**{**base, **settings})


def test_assignment_is_checked_and_copies_keep_the_provider() -> None:
    provider = lambda: "copy-token-0123456789"  # noqa: E731
    chat = AzureChatOpenAI(
        azure_endpoint="https://res.openai.azure.com",
        deployment_name="d",
        api_version=VERSION,
        azure_ad_token_provider=provider,
    )
    assert chat.azure_deployment == "d"
    with pytest.raises(InvalidArgumentError, match="pass one credential"):
        chat.api_key = KEY
    assert chat.api_key is None
    copy = chat.model_copy(update={"temperature": 0.1})
    assert copy.azure_ad_token_provider is provider
    assert (
        json.loads(chat.model_dump_json())["azure_ad_token_provider"]
        == "test_assignment_is_checked_and_copies_keep_the_provider.<locals>.<lambda>"
    )


def test_registry_entry() -> None:
    entry = registry_get("azure")
    assert entry.chat_class() is AzureChatOpenAI
    assert [w.name for w in entry.mock_wires()] == ["azure-openai-chat"]


def test_provider_class_facts() -> None:
    provider = AzureChatProvider()
    assert provider.api_key_env == "AZURE_OPENAI_API_KEY"
    assert provider.base_url_env == "AZURE_OPENAI_ENDPOINT"
    assert provider.default_base_url == ""
    assert provider.auth_headers(None) == {}
    with pytest.raises(InvalidArgumentError):
        provider.endpoint({"model": "m"}, True)


# -- end to end through the model class -----------------------------------------------------


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.ended = 0

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self.ended += 1


async def test_stream_generate_events_tools_and_callbacks() -> None:
    recorder = Recorder()
    async with MockServer() as server:
        server.enqueue(
            MockResponse(tokens=["Hi", " there", "!"]),
            MockResponse(text="whole answer"),
            MockResponse(tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}]),
        )
        async with azure(server, callbacks=[recorder]) as chat:
            tokens = [t async for t in chat.stream([HumanMessage(content="hello")])]
            result = await chat.generate([[HumanMessage(content="hi")]])  # streaming=False: one JSON answer
            tools = chat.bind_tools(
                [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
            )
            events = [e async for e in tools.stream("weather?").events()]
        bodies = [r.json for r in server.requests]
    assert tokens == ["Hi", " there", "!"]
    assert recorder.tokens[:3] == tokens
    assert recorder.ended == 3
    assert bodies[0]["stream"] is True
    assert "stream" not in bodies[1] and "stream_options" not in bodies[1]
    assert result.generations[0][0].text == "whole answer"
    assert result.llm_output is not None and result.llm_output["token_usage"]["total_tokens"] > 0
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [(s.name, s.id) for s in starts] == [("get_weather", "call_1")]
    args = "".join(e.arguments for e in events if isinstance(e, ToolCallDelta))
    assert json.loads(args) == {"city": "Paris"}
    assert bodies[2]["tools"][0]["function"]["name"] == "get_weather"
