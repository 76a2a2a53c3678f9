"""A small SSE client for the resume tests: read N events of a response, or the rest of it."""

from __future__ import annotations

import json

import aiohttp

from streamkit._sse import ServerSentEvent, SSEDecoder


def decode(raw: bytes) -> list[ServerSentEvent]:
    """Every event in ``raw`` (comments, i.e. keep-alives, dropped)."""
    decoder = SSEDecoder()
    return decoder.feed(raw) + decoder.finish()


async def read_events(resp: aiohttp.ClientResponse, count: int) -> list[ServerSentEvent]:
    """The next ``count`` events of ``resp`` (keep-alives skipped); fewer only if the body ends."""
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    while len(events) < count:
        chunk = await resp.content.readuntil(b"\n\n")
        if not chunk:
            break
        events += decoder.feed(chunk)
    return events


async def read_rest(resp: aiohttp.ClientResponse) -> list[ServerSentEvent]:
    """Every remaining event of ``resp``, to the end of its body."""
    return decode(await resp.read())


def text_of(events: list[ServerSentEvent]) -> str:
    """The answer text the ``token`` events carry."""
    return "".join(json.loads(e.data)["text"] for e in events if e.event == "token")


def seq_of(event: ServerSentEvent) -> int:
    """``n`` of an event's ``id: <stream id>:<n>``."""
    assert event.id is not None, event
    return int(event.id.rsplit(":", 1)[1])
