"""examples/web_chat without a browser: the banner tells the truth, the picker, error logs, the AI SDK endpoints."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from streamkit import ChatAnthropic, ChatOpenAI
from streamkit.testing import MockResponse, MockServer

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "web_chat"


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    sys.modules.pop("app", None)
    module = importlib.import_module("app")
    yield module
    sys.modules.pop("app", None)


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def base(example: Any, mock_server: MockServer) -> AsyncIterator[str]:
    mock_server.responder = example.mock_responder(0.0)
    runner, url = await serve(example.build_app(await example.make_models(mock_server)))
    yield url
    await runner.cleanup()


def ui_parts(body: bytes) -> list[Any]:
    out: list[Any] = []
    for event in body.decode().split("\n\n"):
        if event.startswith("data: "):
            data = event[len("data: ") :]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


async def test_every_registered_provider_with_a_wire_is_offered(
    example: Any, mock_server: MockServer
) -> None:
    """The picker is the registry: a provider registered in streamkit.providers joins by itself."""
    from streamkit import providers

    catalog = await example.make_models(mock_server)
    try:
        own_wire = [e.name for e in providers.entries() if e.mocks and not e.preset]
        assert {"openai", "anthropic"} <= set(own_wire)
        assert list(catalog.clients) == own_wire
        assert isinstance(catalog.clients["openai"], ChatOpenAI)
        assert isinstance(catalog.clients["anthropic"], ChatAnthropic)
    finally:
        for client in catalog.clients.values():
            await client.aclose()


async def test_the_banner_tells_which_provider_is_real(
    example: Any, mock_server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One key set: that provider is real, the other on the mock; never 'no API keys'."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-looking-key")
    catalog = await example.make_models(mock_server)
    try:
        lines = catalog.banner()
        assert lines[:2] == [
            "  openai: the real API at https://api.openai.com/v1 (OPENAI_API_KEY is set)",
            f"  anthropic: streamkit's mock server at {mock_server.anthropic_base_url} (ANTHROPIC_API_KEY not set)",
        ]
        offers = {o.id: o.mock for o in catalog.offers}
        assert offers["openai:gpt-4.1"] is False and offers["anthropic:claude-opus-4-1"] is True
    finally:
        for client in catalog.clients.values():
            await client.aclose()


async def test_without_a_mock_an_unconfigured_provider_is_named_not_offered(
    example: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-real-looking")
    catalog = await example.make_models(None, "anthropic:claude-opus-4-1,openai:gpt-4.1")
    try:
        assert [o.id for o in catalog.offers if o.provider in ("openai", "anthropic")] == [
            "anthropic:claude-opus-4-1"
        ]
        assert "OPENAI_API_KEY" in catalog.missing["openai"]
        assert any(line.startswith("  openai: not offered (") for line in catalog.banner())
    finally:
        for client in catalog.clients.values():
            await client.aclose()


def test_models_option_is_checked(example: Any) -> None:
    assert example.wanted_models("openai:a, openai:b,anthropic:c") == {
        "openai": ["a", "b"],
        "anthropic": ["c"],
    }
    with pytest.raises(SystemExit, match="provider:model"):
        example.wanted_models("gpt-4.1")


async def test_models_endpoint_and_the_model_reaches_the_provider(base: str, mock_server: MockServer) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(base + "/api/models") as resp:
            offers = await resp.json()
        assert {"id": "openai:o4-mini", "label": "OpenAI · o4-mini (mock)", "mock": True} in offers
        async with session.post(base + "/api/chat", json={"prompt": "hi", "model": "openai:o4-mini"}) as resp:
            assert resp.status == 200
            await resp.read()
        assert mock_server.requests[-1].json["model"] == "o4-mini"
        async with session.post(base + "/api/chat", json={"prompt": "hi", "model": "nope:x"}) as resp:
            assert resp.status == 400 and "GET /api/models" in await resp.text()


async def test_stream_errors_are_logged_server_side_without_key_or_prompt(
    base: str, mock_server: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    mock_server.responder = lambda request: MockResponse(
        status=429, error={"error": {"message": "Slow down", "type": "rate_limit"}}
    )
    caplog.set_level(logging.INFO, logger="web_chat")
    prompt = "my secret prompt about sparkling water"
    async with aiohttp.ClientSession() as session:
        async with session.post(
            base + "/api/chat", json={"prompt": prompt, "model": "openai:gpt-4o-mini"}
        ) as resp:
            body = await resp.text()
    assert '"type":"RateLimitError"' in body and "Slow down" not in body  # the browser: a fixed sentence
    [record] = [r for r in caplog.records if r.name == "web_chat"]
    assert record.levelno == logging.WARNING
    logged = record.getMessage()
    assert logged.startswith("answer failed: RateLimitError (status 429, request id ")
    assert "Slow down" in logged  # the developer: what the provider said
    assert "sparkling" not in logged and "sk-" not in logged


async def test_a_stopped_answer_is_logged_as_stopped(
    base: str, mock_server: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    mock_server.responder = lambda request: MockResponse(text=" ".join(["word"] * 200), delay=0.05)
    caplog.set_level(logging.INFO, logger="web_chat")
    async with aiohttp.ClientSession() as session:
        async with session.post(base + "/api/chat", json={"prompt": "hi"}) as resp:
            await resp.content.readline()
    assert await mock_server.wait_for_disconnect(2.0)
    for _ in range(100):
        if any("answer stopped" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.02)
    assert [r.levelname for r in caplog.records if r.name == "web_chat"] == ["INFO"]


async def test_the_ai_sdk_endpoint(base: str, mock_server: MockServer) -> None:
    history = {
        "id": "chat-1",
        "trigger": "submit-message",
        "model": "anthropic:claude-haiku-4-5",
        "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Tell me a joke"}]}],
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(base + "/api/ai-sdk/chat", json=history) as resp:
            assert resp.headers["x-vercel-ai-ui-message-stream"] == "v1"
            parts = ui_parts(await resp.read())
        assert parts[-1] == "[DONE]" and parts[-2]["type"] == "finish"
        text = "".join(p["delta"] for p in parts[:-1] if p["type"] == "text-delta")
        assert text.startswith("Why did the scarecrow")
        assert mock_server.requests[-1].json["model"] == "claude-haiku-4-5"
        bad = {"messages": [{"role": "user", "parts": [{"type": "text", "text": 1}]}]}
        async with session.post(base + "/api/ai-sdk/chat", json=bad) as resp:
            assert resp.status == 400
            assert "messages[0].parts[0].text: expected a string" in await resp.text()
        image = {"type": "file", "mediaType": "application/pdf", "url": "https://example.com/a.pdf"}
        pdf = {"messages": [{"role": "user", "parts": [image]}], "model": "openai:gpt-4o-mini"}
        async with session.post(base + "/api/ai-sdk/chat", json=pdf) as resp:  # OpenAI takes no PDF URLs
            assert resp.status == 400 and "messages[0].content[0]" in await resp.text()
    assert len(mock_server.requests) == 1


async def asgi_post(app: Any, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    sent: list[dict[str, Any]] = []
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal done
        if not done:
            done = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    start = sent[0]
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


async def test_the_asgi_examples_ai_sdk_endpoint(
    mock_server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", mock_server.openai_base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-asgi")
    monkeypatch.syspath_prepend(str(EXAMPLE))
    sys.modules.pop("asgi_app", None)
    asgi = importlib.import_module("asgi_app")
    try:
        mock_server.enqueue(MockResponse(text="from starlette"))
        body = {"messages": [{"id": "u", "role": "user", "parts": [{"type": "text", "text": "hi"}]}]}
        async with asgi.chat:
            status, headers, raw = await asgi_post(asgi.app, "/api/ai-sdk/chat", json.dumps(body).encode())
            assert status == 200 and headers["x-vercel-ai-ui-message-stream"] == "v1"
            parts = ui_parts(raw)
            assert "".join(
                p["delta"] for p in parts if isinstance(p, dict) and p["type"] == "text-delta"
            ) == ("from starlette")
            assert parts[-1] == "[DONE]"
            status, _, raw = await asgi_post(asgi.app, "/api/ai-sdk/chat", b'{"messages": 3}')
            assert status == 400 and b"messages: expected a list" in raw
    finally:
        sys.modules.pop("asgi_app", None)
