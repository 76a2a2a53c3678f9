"""Shared fixtures: the loopback mock server and a clean environment."""

from __future__ import annotations

import pytest

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
