"""pytest fixtures (needs pytest-asyncio): ``mock_server``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from ._server import MockServer

__all__ = ["mock_server"]


@pytest_asyncio.fixture
async def mock_server() -> AsyncIterator[MockServer]:
    """A started :class:`MockServer` on 127.0.0.1, closed after the test."""
    async with MockServer() as server:
        yield server
