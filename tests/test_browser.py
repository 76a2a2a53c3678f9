"""The web chat example in real headless Chromium, on 127.0.0.1.

Types a prompt, watches the answer grow over several steps, sees the usage
at the end; then presses Stop mid-stream and checks that the mock provider
saw its connection closed. Saves a screenshot to artifacts/web_chat.png.
Checks that the page's session cookie (HttpOnly, SameSite=Strict) is what
lets a request resume an answer.

Chromium comes from Debian's ``chromium`` package (``.ci/run`` installs it);
in CI a missing browser is a failure, never a skip.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from browser_cdp import Browser, find_chromium, in_ci

from streamkit._sse import SSEDecoder
from streamkit.testing import MockResponse, MockServer

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = find_chromium()

if CHROMIUM is None and not in_ci():
    pytest.skip("chromium is not installed here (CI installs it and runs this)", allow_module_level=True)

# slow: left out of CI's other-Python jobs (the browser does not depend on the Python version); the main job runs it.
pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


def decode(body: str) -> list[tuple[str, str | None, str]]:
    """(event, id, data) of each SSE event in a response body."""
    return [(e.event, e.id, e.data) for e in SSEDecoder().feed(body.encode())]


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "web_chat"))
    sys.modules.pop("app", None)
    module = importlib.import_module("app")
    yield module
    sys.modules.pop("app", None)


@pytest.fixture
async def site(example: Any, mock_server: MockServer) -> AsyncIterator[str]:
    mock_server.responder = example.mock_responder(0.04)
    runner = web.AppRunner(example.build_app(await example.make_models(mock_server)))
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/"
    await runner.cleanup()


@pytest.fixture
async def page() -> AsyncIterator[Browser]:
    assert CHROMIUM is not None, "CI must install Debian's chromium (see .ci/run)"
    async with Browser(CHROMIUM) as browser:
        yield browser


async def test_answer_streams_progressively_and_usage_is_shown(site: str, page: Browser) -> None:
    await page.goto(site)
    await page.evaluate("document.getElementById('prompt').value = 'Write me a song about sparkling water.'")
    await page.evaluate("document.getElementById('send').click()")
    lengths: list[int] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + 30
    while loop.time() < end:
        state = await page.evaluate("document.body.dataset.state || ''")
        length = await page.evaluate("document.getElementById('answer').textContent.length")
        if not lengths or length != lengths[-1]:
            lengths.append(length)
        if state == "done":
            break
        await asyncio.sleep(0.01)
    assert await page.evaluate("document.body.dataset.state") == "done"
    answer = await page.evaluate("document.getElementById('answer').textContent")
    assert answer.startswith("Verse 1:\nBubbles rising")
    growing = [n for n in lengths if 0 < n < len(answer)]
    assert len(growing) >= 5, lengths  # seen mid-stream in several steps before the done event
    usage = await page.evaluate("document.getElementById('usage').textContent")
    assert "completion" in usage and "tokens" in usage and "?" not in usage
    ttft = await page.evaluate("document.getElementById('ttft').textContent")
    assert ttft.endswith(" ms")
    await page.screenshot(ARTIFACTS / "web_chat.png")


async def test_stop_aborts_and_the_provider_sees_the_disconnect(
    site: str, page: Browser, mock_server: MockServer
) -> None:
    await page.goto(site)
    await page.wait_for("document.body.dataset.models")
    await page.evaluate("document.getElementById('model').value = 'anthropic:claude-sonnet-4-5'")
    await page.evaluate("document.getElementById('send').click()")
    await page.wait_for("document.getElementById('answer').textContent.length > 10")
    await page.evaluate("document.getElementById('stop').click()")
    await page.wait_for("document.body.dataset.state === 'stopped'")
    assert await mock_server.wait_for_disconnect(2.0)
    assert mock_server.requests[-1].path == "/v1/messages"
    shown = await page.evaluate("document.getElementById('answer').textContent")
    assert 10 < len(shown) < 200  # it stopped mid-answer
    assert mock_server.requests[-1].json["model"] == "claude-sonnet-4-5"
    await page.screenshot(ARTIFACTS / "web_chat_stopped.png")


STATS_SHOWN = "getComputedStyle(document.getElementById('stats')).display !== 'none'"
STATS_TEXT = (
    "['ttft', 'model-name', 'finish', 'usage'].map((id) => document.getElementById(id).textContent).join('')"
)


async def test_a_stopped_or_failed_answer_shows_no_stale_stats(
    site: str, page: Browser, mock_server: MockServer, example: Any
) -> None:
    """The previous answer's model, finish reason and usage go when the next answer is stopped or fails."""
    await page.goto(site)
    await page.wait_for("document.body.dataset.models")
    await page.evaluate("document.getElementById('send').click()")
    await page.wait_for("document.body.dataset.state === 'done'")
    assert await page.evaluate(STATS_SHOWN) is True
    picked = await page.evaluate("document.getElementById('model').value.split(':')[1]")
    assert picked in await page.evaluate(STATS_TEXT)
    # Stopped mid-answer: no stats at all, not the last answer's.
    await page.evaluate("document.getElementById('send').click()")
    await page.wait_for("document.getElementById('answer').textContent.length > 10")
    assert await page.evaluate(STATS_SHOWN) is False
    await page.evaluate("document.getElementById('stop').click()")
    await page.wait_for("document.body.dataset.state === 'stopped'")
    assert await page.evaluate(STATS_SHOWN) is False
    assert await page.evaluate(STATS_TEXT) == ""
    # Done again, then a failure: again nothing stale.
    await page.evaluate("document.getElementById('send').click()")
    await page.wait_for("document.body.dataset.state === 'done'")
    assert await page.evaluate(STATS_SHOWN) is True
    mock_server.responder = lambda request: MockResponse(status=429)
    await page.evaluate("document.getElementById('send').click()")
    await page.wait_for("document.body.dataset.state === 'error'")
    assert await page.evaluate(STATS_SHOWN) is False
    assert await page.evaluate(STATS_TEXT) == ""
    status = await page.evaluate("document.getElementById('status').textContent")
    assert status == "RateLimitError: The model provider is rate limiting requests; try again shortly."
    await page.screenshot(ARTIFACTS / "web_chat_error.png")


async def test_the_picker_offers_every_provider_and_model(site: str, page: Browser, example: Any) -> None:
    """The select is built from GET /api/models: every provider (here both on the mock), several models each."""
    await page.goto(site)
    await page.wait_for("document.body.dataset.models")
    options = await page.evaluate(
        "[...document.getElementById('model').options].map((o) => [o.value, o.textContent])"
    )
    offers = await page.evaluate("fetch('/api/models').then((r) => r.json())")
    assert options == [[o["id"], o["label"]] for o in offers]
    for provider, label in (("openai", "OpenAI"), ("anthropic", "Anthropic")):
        for model in example.SUGGESTED_MODELS[provider]:
            assert [f"{provider}:{model}", f"{label} · {model} (mock)"] in options


async def test_the_session_cookie_owns_the_replay(site: str, page: Browser, mock_server: MockServer) -> None:
    """The page load sets an HttpOnly, SameSite=Strict session; only requests carrying it can resume."""
    await page.goto(site)
    cookies = (await page.send("Network.getCookies"))["cookies"]
    session = [c for c in cookies if c["name"] == "webchat_session"]
    assert len(session) == 1, cookies
    assert session[0]["httpOnly"] is True and session[0]["sameSite"] == "Strict"
    assert "webchat_session" not in await page.evaluate("document.cookie")  # page scripts cannot read it
    bodies = await page.evaluate(
        """(async () => {
          const post = (headers, credentials) => fetch("/api/chat", {
            method: "POST", credentials,
            headers: {"Content-Type": "application/json", ...headers},
            body: JSON.stringify({prompt: "hi", provider: "openai"}),
          }).then((r) => r.text());
          const first = await post({}, "same-origin");
          const id = first.match(/^id: (.*)$/m)[1];
          return {
            first,
            mine: await post({"Last-Event-ID": id}, "same-origin"),
            anonymous: await post({"Last-Event-ID": id}, "omit"),
          };
        })()"""
    )
    first = decode(bodies["first"])
    assert first[-1][0] == "done"
    assert decode(bodies["mine"]) == first[1:]  # same browser, same cookie: the missed frames
    refused = decode(bodies["anonymous"])  # no cookie: nothing of the answer
    assert [(event, id_) for event, id_, _ in refused] == [("error", None)]
    assert '"type":"ResumeUnavailable"' in refused[0][2]
    assert len(mock_server.requests) == 1
