"""Test helpers that ship with streamkit: a loopback mock server.

``MockServer`` speaks the providers' wire formats on 127.0.0.1 so you can
test your own handlers and apps offline. For pytest (with pytest-asyncio),
add to your ``conftest.py``::

    from streamkit.testing.fixtures import mock_server  # noqa: F401

and take ``mock_server`` as a test argument.

The server (and aiohttp's web framework with it) is imported on first use,
so the provider modules can define their :class:`~streamkit.testing.wire.MockWire`
without ``import streamkit`` paying for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._server import MockResponse, MockServer, RecordedRequest, canned_reply, split_tokens

__all__ = ["MockResponse", "MockServer", "RecordedRequest", "canned_reply", "split_tokens"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import _server as server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
