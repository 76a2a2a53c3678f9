"""Test helpers that ship with streamkit: a loopback mock server.

``MockServer`` speaks the providers' wire formats on 127.0.0.1 so you can
test your own handlers and apps offline. For pytest (with pytest-asyncio),
add to your ``conftest.py``::

    from streamkit.testing.fixtures import mock_server  # noqa: F401

and take ``mock_server`` as a test argument.
"""

from .server import MockResponse, MockServer, RecordedRequest, canned_reply, split_tokens

__all__ = ["MockResponse", "MockServer", "RecordedRequest", "canned_reply", "split_tokens"]
