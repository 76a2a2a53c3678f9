"""The Vercel AI SDK's ``useChat`` in real headless Chromium, against the example app, on 127.0.0.1.

``examples/web_chat/usechat/app.jsx`` (React, ``@ai-sdk/react``'s
``useChat`` with ``ai``'s ``DefaultChatTransport``) is bundled here, at test
time, with esbuild from ``tests/js/node_modules`` (``npm ci`` from the
lockfile; no CDN), and served by ``examples/web_chat/app.py`` at
``/usechat``; it talks to the app's ``/api/ai-sdk/chat`` (``sse_response(...,
protocol="ai-sdk")``) over streamkit's mock providers. The page streams an
answer, shows reasoning and tool calls, the finished answer's metadata, and
its Stop button (``useChat``'s ``stop()``) cancels the upstream: the mock
server counts the disconnect. Screenshots go to artifacts/.

In CI a missing browser, ``node`` or ``node_modules`` is a failure, never a skip.
"""

from __future__ import annotations

import asyncio
import importlib
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from browser_cdp import Browser, find_chromium, in_ci

from streamkit.testing import MockResponse, MockServer

ROOT = Path(__file__).resolve().parent.parent
JS = ROOT / "tests" / "js"
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = find_chromium()
NODE = shutil.which("node")
INSTALLED = (JS / "node_modules" / "@ai-sdk" / "react" / "package.json").exists()

if (CHROMIUM is None or NODE is None or not INSTALLED) and not in_ci():
    pytest.skip("needs chromium, node and `npm ci --prefix tests/js` (CI has them)", allow_module_level=True)

# slow: left out of CI's other-Python jobs (the browser and Node do not depend on the Python version); the main job runs it.
pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

ANSWER_TEXT = "document.querySelector('.message.assistant:last-child')?.textContent ?? ''"
STATUS = "(document.body.dataset.status || '')"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The useChat page, bundled now by esbuild from the lockfile's packages."""
    assert NODE is not None and INSTALLED, "CI must have node and run `npm ci` in tests/js (see .ci/run)"
    out = tmp_path_factory.mktemp("usechat") / "usechat.js"
    subprocess.run(
        [
            NODE,
            str(JS / "build_usechat.mjs"),
            str(ROOT / "examples" / "web_chat" / "usechat" / "app.jsx"),
            str(out),
        ],
        check=True,
        timeout=120,
    )
    assert out.stat().st_size > 10_000
    assert b"https://cdn" not in out.read_bytes() and b"unpkg.com" not in out.read_bytes()
    return out


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "web_chat"))
    sys.modules.pop("app", None)
    module = importlib.import_module("app")
    yield module
    sys.modules.pop("app", None)


@pytest.fixture
async def site(example: Any, mock_server: MockServer, bundle: Path) -> AsyncIterator[str]:
    mock_server.responder = example.mock_responder(0.04)
    catalog = await example.make_models(mock_server)
    runner = web.AppRunner(example.build_app(catalog, usechat_js_path=bundle))
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/usechat"
    await runner.cleanup()


@pytest.fixture
async def page() -> AsyncIterator[Browser]:
    assert CHROMIUM is not None, "CI must install Debian's chromium (see .ci/run)"
    async with Browser(CHROMIUM) as browser:
        yield browser


async def open_page(page: Browser, site: str, model: str | None = None) -> None:
    await page.goto(site)
    await page.wait_for(
        "document.querySelectorAll('#model option').length > 0 && document.body.dataset.status"
    )
    if model is not None:  # a React-controlled select: set it as a user would, with a change event
        await page.evaluate(
            f"""(() => {{
              const select = document.getElementById('model');
              select.value = {model!r};
              select.dispatchEvent(new Event('change', {{bubbles: true}}));
            }})()"""
        )
        await page.wait_for(f"document.getElementById('model').value === {model!r}")


async def test_use_chat_streams_an_answer_with_its_metadata(
    site: str, page: Browser, mock_server: MockServer
) -> None:
    await open_page(page, site, "openai:gpt-4.1")
    await page.evaluate("document.getElementById('send').click()")
    lengths: list[int] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + 30
    while loop.time() < end:
        length = await page.evaluate(f"({ANSWER_TEXT}).length")
        if not lengths or length != lengths[-1]:
            lengths.append(length)
        if await page.evaluate(STATUS) == "ready" and length:
            break
        await asyncio.sleep(0.01)
    assert await page.evaluate(STATUS) == "ready"
    answer = await page.evaluate(ANSWER_TEXT)
    assert answer.startswith("Verse 1:\nBubbles rising")
    growing = [n for n in lengths if 0 < n < len(answer)]
    assert len(growing) >= 5, lengths  # seen mid-stream, in several steps
    assert await page.evaluate("document.getElementById('model-name').textContent") == "gpt-4.1"
    assert await page.evaluate("document.getElementById('finish').textContent") == "stop"
    usage = await page.evaluate("document.getElementById('usage').textContent")
    assert "input" in usage and "output" in usage and "?" not in usage
    sent = mock_server.requests[-1].json
    assert sent["model"] == "gpt-4.1"
    assert sent["messages"] == [{"role": "user", "content": "Write me a song about sparkling water."}]
    await page.screenshot(ARTIFACTS / "web_chat_usechat.png")


async def test_stop_cancels_the_upstream_and_leaves_no_stale_stats(
    site: str, page: Browser, mock_server: MockServer
) -> None:
    await open_page(page, site, "anthropic:claude-sonnet-4-5")
    await page.evaluate("document.getElementById('send').click()")
    await page.wait_for(f"{STATUS} === 'ready' && document.getElementById('stats') !== null", timeout=30)
    assert await page.evaluate("document.getElementById('finish').textContent") == "end_turn"
    # The second answer: stopped mid-way.
    await page.evaluate("document.getElementById('send').click()")
    await page.wait_for(f"{STATUS} === 'streaming' && ({ANSWER_TEXT}).length > 10")
    assert await page.evaluate("document.getElementById('stats')") is None
    await page.evaluate("document.getElementById('stop').click()")
    await page.wait_for(f"{STATUS} === 'ready'")
    assert await mock_server.wait_for_disconnect(5.0)
    shown = await page.evaluate(ANSWER_TEXT)
    assert 10 < len(shown) < 200  # it stopped mid-answer
    assert await page.evaluate("document.getElementById('stats')") is None  # not the first answer's
    # useChat sent the whole conversation; the app parsed it for the provider.
    sent = mock_server.requests[-1]
    assert sent.path == "/v1/messages" and sent.json["model"] == "claude-sonnet-4-5"
    assert [m["role"] for m in sent.json["messages"]] == ["user", "assistant", "user"]
    assert sent.json["messages"][1]["content"].startswith("Verse 1:")
    await page.screenshot(ARTIFACTS / "web_chat_usechat_stopped.png")


async def test_reasoning_tool_calls_and_errors_in_use_chat(
    site: str, page: Browser, mock_server: MockServer
) -> None:
    mock_server.responder = lambda request: MockResponse(
        thinking="Checking the forecast.",
        text="Looking it up.",
        tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}],
    )
    await open_page(page, site, "openai:gpt-4o-mini")
    await page.evaluate("document.getElementById('send').click()")
    await page.wait_for(f"{STATUS} === 'ready' && document.getElementById('stats') !== null", timeout=30)
    assert await page.evaluate("document.querySelector('.reasoning').textContent") == "Checking the forecast."
    tool = await page.evaluate("document.querySelector('.tool').textContent")
    assert tool == 'get_weather({"city":"Paris"}) · input-available'
    assert await page.evaluate("document.getElementById('finish').textContent") == "tool_calls"
    # A provider error: useChat's error state with our fixed sentence, and no stats.
    mock_server.responder = lambda request: MockResponse(status=429)
    await page.evaluate("document.getElementById('send').click()")
    await page.wait_for(f"{STATUS} === 'error'")
    error = await page.evaluate("document.querySelector('#status .err').textContent")
    assert error == "The model provider is rate limiting requests; try again shortly."
    assert await page.evaluate("document.getElementById('stats')") is None
