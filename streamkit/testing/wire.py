"""How the :class:`~streamkit.testing.MockServer` speaks one provider's wire format.

The server does the HTTP, the scripting (:class:`~streamkit.testing.MockResponse`)
and the fault kit (drops, stalls, in-stream errors, broken JSON, cuts,
chunking) once, for every provider. A :class:`MockWire` says only what is
particular to one wire format: its routes, how a request asks for a
stream, how an answer is written (streamed and whole), its finish
reasons, its error bodies and events, and its keep-alive. A provider
module defines one and names it in its registration line
(:func:`streamkit.providers.register`, ``mock=``); the server routes every
registered wire.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._render import Answer

__all__ = ["Answer", "MockWire", "last_user_text"]


def last_user_text(messages: Any) -> str:
    """The text of the last ``{"role": "user"}`` message of an OpenAI/Anthropic/Ollama-shaped list."""
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


class MockWire:
    """One provider's wire format, as the mock server writes it. Subclass and override.

    The defaults fit an OpenAI-shaped JSON API streaming SSE.
    """

    #: The wire's name (``RecordedRequest`` and error messages use it).
    name: str = ""
    #: aiohttp route patterns answered with POST (``/v1/chat/completions``,
    #: ``/v1beta/models/{call}``...).
    routes: tuple[str, ...] = ()
    #: What a model's ``base_url`` adds to the server's root for this wire
    #: (``"/v1"`` for OpenAI's, whose base URL includes it; ``""`` for Anthropic's).
    base_path: str = ""
    #: The ``Content-Type`` of a streamed answer.
    content_type: str = "text/event-stream"
    #: Sent during a scripted stall every ``keepalive_every`` seconds (b"": nothing).
    keepalive: bytes = b": keep-alive\n\n"
    #: The finish reason for a plain answer, and for one that calls tools.
    stop_reason: str = "stop"
    tool_reason: str = "tool_calls"

    def check(self, body: Any, headers: Mapping[str, str]) -> dict[str, Any] | None:
        """The 400 error body the real API would send for this request, or None (accepted)."""
        return None

    def prompt(self, body: Any) -> str:
        """The user's last words in the request (the canned reply and usage count from them)."""
        return last_user_text(body.get("messages") if isinstance(body, dict) else None)

    def streaming(self, path: str, query: Mapping[str, str], body: Any) -> bool:
        """Whether the request asks for a stream (default: ``"stream": true`` in the body)."""
        return isinstance(body, dict) and bool(body.get("stream"))

    def finish(self, scripted: str, tool_calls: bool) -> str:
        """The wire's finish reason for a scripted one (``"stop"`` means the natural end)."""
        if scripted == "stop":
            return self.tool_reason if tool_calls else self.stop_reason
        return scripted

    def events(self, answer: Answer, body: Any) -> Iterable[tuple[bytes, bool]]:
        """A streamed answer: ``(bytes, is_token)`` per event (the per-token delay goes before tokens)."""
        raise NotImplementedError

    def full(self, answer: Answer, body: Any) -> dict[str, Any]:
        """A non-streaming answer's JSON body."""
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        """The JSON body of an HTTP error response."""
        return {"error": {"message": message, "type": "mock_error", "code": status}}

    def error_event(self, error_type: str, message: str) -> bytes:
        """An error sent inside a stream that has begun."""
        return b'data: {"error": {"message": %s, "type": %s}}\n\n' % (_json(message), _json(error_type))


def _json(text: str) -> bytes:
    import json

    return json.dumps(text).encode()
