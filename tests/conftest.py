"""Shared fixtures: the loopback mock server and a clean environment."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from streamkit.testing import MockServer
from streamkit.testing.fixtures import mock_server  # noqa: F401  (re-exported fixture)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may pick up a developer's real keys, URLs or proxies (or send traffic off the machine)."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    # Models honour HTTP(S)_PROXY by default (trust_env): loopback tests go direct.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def threaded_mock_url() -> Iterator[str]:
    """A MockServer on its own loop in a thread, for a REPL in another process."""
    ready = threading.Event()
    stop: list[asyncio.Event] = []
    holder: list[MockServer] = []

    async def serve() -> None:
        async with MockServer() as server:
            holder.append(server)
            stop.append(asyncio.Event())
            ready.set()
            await stop[0].wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield holder[0].url
    finally:
        loop.call_soon_threadsafe(stop[0].set)
        thread.join(10)
        loop.close()
