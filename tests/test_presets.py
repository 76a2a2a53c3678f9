"""OpenAI-compatible presets: ``ChatOpenAI(provider="groq", model=...)``.

Each preset's base URL, key variable and quirks resolve as its table entry
says (the environment monkeypatched, OpenAI's own variables set as decoys
that must not leak to another service); requests through the loopback
``MockServer`` show each preset's body (no ``stream_options`` where the
server refuses it); the reasoning fields each preset documents reach
``ThinkingDelta``; an unknown preset names the known ones.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamkit._openai import ChatOpenAI
from streamkit.errors import InvalidArgumentError
from streamkit.events import ThinkingDelta, Usage
from streamkit.providers import get as registry_get
from streamkit.providers.presets import PRESETS, Preset, provider_class
from streamkit.testing import MockResponse, MockServer

ALL = [pytest.param(p, id=p.name) for p in PRESETS.values()]


@pytest.fixture(autouse=True)
def _decoys(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenAI's variables are set: a preset must use neither (another service's key never leaks)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-decoy-0123456789")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://decoy.example/v1")
    for preset in PRESETS.values():
        for name in (preset.api_key_env, preset.base_url_env):
            if name:
                monkeypatch.delenv(name, raising=False)


def test_the_table_covers_the_issue() -> None:
    assert set(PRESETS) >= {
        "vllm", "ollama", "lmstudio", "llamacpp", "groq", "deepseek", "openrouter", "together", "mistral", "xai"
    }  # fmt: skip


@pytest.mark.parametrize("preset", ALL)
def test_preset_resolves_url_key_and_quirks(preset: Preset, monkeypatch: pytest.MonkeyPatch) -> None:
    if preset.api_key_env:
        monkeypatch.setenv(preset.api_key_env, f"{preset.name}-key-0123456789")
    chat = ChatOpenAI(provider=preset.name, model="some-model")
    assert chat.provider == preset.name
    assert chat.base_url == preset.base_url
    if preset.api_key_env:
        assert chat.api_key is not None
        assert chat.api_key.get_secret_value() == f"{preset.name}-key-0123456789"
    else:
        assert chat.api_key is None
    assert chat.stream_usage is preset.stream_options
    provider = chat._provider
    assert isinstance(provider, provider_class(preset.name))
    assert (provider.api_key_env, provider.base_url_env) == (preset.api_key_env, preset.base_url_env)
    assert provider.default_base_url == preset.base_url
    assert provider.requires_key is not preset.local  # a server you run asks for no key
    assert provider.model_provider == "openai"


@pytest.mark.parametrize("preset", [pytest.param(p, id=p.name) for p in PRESETS.values() if not p.local])
def test_a_service_without_its_key_is_refused(preset: Preset) -> None:
    with pytest.raises(
        InvalidArgumentError, match=f"no API key: pass api_key=... or set {preset.api_key_env}"
    ):
        ChatOpenAI(provider=preset.name, model="m")


def test_base_url_variable_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPSEEK_API_BASE", "https://proxy.example/deepseek/v1")
    monkeypatch.setenv("DEEPSEEK_API_KEY", "ds-key-0123456789")
    assert ChatOpenAI(provider="deepseek", model="m").base_url == "https://proxy.example/deepseek/v1"
    chat = ChatOpenAI(provider="ollama", model="llama3.2", base_url="http://gpu-box:11434/v1")
    assert chat.base_url == "http://gpu-box:11434/v1"
    # An explicit stream_usage wins over the preset's default.
    assert ChatOpenAI(provider="mistral", model="m", api_key="k", stream_usage=True).stream_usage is True


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "nope",
            "unknown preset 'nope'; known: vllm, ollama, lmstudio, llamacpp, groq, deepseek, openrouter",
        ),
        (3, "unknown preset 3"),
        ("Groq", "unknown preset 'Groq'"),
    ],
)
def test_unknown_preset(value: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        ChatOpenAI(provider=value, model="m", api_key="k")


def test_a_preset_needs_a_model_and_cannot_change() -> None:
    with pytest.raises(InvalidArgumentError, match=r"for example model='llama-3\.3-70b-versatile'"):
        ChatOpenAI(provider="groq", api_key="k")
    chat = ChatOpenAI(provider="groq", model="m", api_key="k")
    with pytest.raises(InvalidArgumentError, match="provider"):
        chat.provider = "xai"
    assert chat.provider == "groq"
    copy = chat.model_copy(update={"temperature": 0.5})
    assert copy.provider == "groq" and copy.base_url == chat.base_url
    # Without a preset nothing changes.
    assert ChatOpenAI(api_key="k").base_url == "https://decoy.example/v1"


@pytest.mark.parametrize("preset", ALL)
def test_registry_entry(preset: Preset) -> None:
    entry = registry_get(preset.name)
    if preset.name == "ollama":
        # Ollama's native provider module keeps the name; the preset is ChatOpenAI(provider="ollama").
        assert entry.preset == () and entry.chat == "ChatOllama"
        assert ChatOpenAI(provider="ollama", model="m").provider == "ollama"
        return
    assert entry.preset == (("provider", preset.name),)
    assert entry.title == preset.title
    chat = entry.chat_model(model="m", api_key="k")
    assert isinstance(chat, ChatOpenAI) and chat.provider == preset.name


# -- the body each preset sends ----------------------------------------------------------


@pytest.mark.parametrize("preset", ALL)
async def test_request_body_shape(preset: Preset) -> None:
    async with MockServer() as server:
        server.enqueue(
            MockResponse(text="hello from the preset", usage={"prompt_tokens": 3, "completion_tokens": 4})
        )
        chat = ChatOpenAI(
            provider=preset.name, model="m", api_key="key-0123456789", base_url=server.openai_base_url
        )
        async with chat:
            result = await chat.stream("hi").collect()
        request = server.requests[-1]
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer key-0123456789"
    assert request.json["stream"] is True
    if preset.stream_options:
        assert request.json["stream_options"] == {"include_usage": True}
        assert result.llm_output is not None and result.llm_output["token_usage"]["total_tokens"] == 7
    else:
        assert "stream_options" not in request.json
    assert result.generations[0][0].text == "hello from the preset"


# -- the reasoning fields each preset documents ---------------------------------------------


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def _reasoning_stream(field: str) -> bytes:
    return (
        _chunk({"role": "assistant", "content": "", field: "Let me "})
        + _chunk({field: "think."})
        + _chunk({"content": "Answer."})
        + _chunk({}, "stop")
        + b"data: [DONE]\n\n"
    )


REASONING = [
    pytest.param(p, field, id=f"{p.name}-{field}")
    for p in PRESETS.values()
    for field in p.reasoning
    if not field.startswith("content[]")
]


@pytest.mark.parametrize(("preset", "field"), REASONING)
async def test_reasoning_fields_are_thinking(preset: Preset, field: str) -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(raw=_reasoning_stream(field)), MockResponse(raw=_reasoning_stream(field)))
        chat = ChatOpenAI(provider=preset.name, model="m", api_key="k", base_url=server.openai_base_url)
        async with chat:
            events = [e async for e in chat.stream("hi").events()]
            result = await chat.stream("hi").collect()
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "Let me think."
    assert result.generations[0][0].text == "Answer."


async def test_mistral_thinking_parts() -> None:
    assert PRESETS["mistral"].reasoning == ("content[].thinking",)
    async with MockServer() as server:
        server.enqueue(MockResponse(text="Answer.", thinking="Let me think.", content_parts=True))
        chat = ChatOpenAI(
            provider="mistral", model="magistral-small-latest", api_key="k", base_url=server.openai_base_url
        )
        async with chat:
            events = [e async for e in chat.stream("hi").events()]
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "Let me think."


async def test_groq_usage_under_x_groq() -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
    body = _chunk({"role": "assistant", "content": "Hi"}) + _chunk(
        {}, "stop", x_groq={"id": "req_1", "usage": usage}
    )
    async with MockServer() as server:
        server.enqueue(MockResponse(raw=body + b"data: [DONE]\n\n"))
        chat = ChatOpenAI(provider="groq", model="m", api_key="k", base_url=server.openai_base_url)
        async with chat:
            events = [e async for e in chat.stream("hi").events()]
    assert [
        (e.prompt_tokens, e.completion_tokens, e.total_tokens) for e in events if isinstance(e, Usage)
    ] == [(10, 2, 12)]
