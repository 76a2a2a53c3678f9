"""Property: how a recorded Gemini body is split into reads never changes the events.

Every body in ``tests/fixtures/wire/gemini`` (recorded by others; see that
folder's README), as stored and with the other line ending (``\\n\\n`` and
the live API's ``\\r\\n\\r\\n``), is fed to ``GeminiMapper`` whole, and then in
arbitrary pieces: hypothesis draws split points (anywhere, or inside line
ends, UTF-8 characters and ``data: ``), and every single split point and one
byte at a time are checked exhaustively. The typed events (dataclasses,
compared with ``==``), and for a failing body the error and the events before
it, must be those of the whole feed. A function call is held until the next
chunk or the end (to tell a server-run MCP call from the client's), so
these cases also check that holding never depends on where reads end.
No sockets here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from chunking import Outcome, feed, random_pieces, split_at
from gemini_wire import load, names
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamkit.errors import IncompleteStreamError, InternalServerError, ProtocolError
from streamkit.events import ContentBlock, Finish, MessageStart, TextDelta, ToolCallStart
from streamkit.providers.gemini import GeminiProvider


@dataclass(frozen=True)
class Body:
    key: str  # "thinking_text/lf"
    data: bytes


BODIES = [
    Body(f"{name}/{ending}", data) for name in names() for ending, data in load(name).variants().items()
]
PARAMS = [pytest.param(body, id=body.key) for body in BODIES]


def run(data: bytes, pieces: list[bytes]) -> Outcome:
    """Feed the pieces as the adapter does: stop at the first failure, else finish at the end."""
    assert b"".join(pieces) == data
    outcome = feed(GeminiProvider().new_mapper(), pieces)
    assert outcome.terminal is False  # Gemini's stream has no end marker
    return outcome


def _tricky(data: bytes) -> list[int]:
    """Offsets inside UTF-8 characters, at and after line ends, and inside ``data: ``."""
    points = {i for i, byte in enumerate(data) if byte >= 0x80 or byte in b"\r\n"}
    start = data.find(b"data: ")
    while start >= 0:
        points.update(range(start, start + 7))
        start = data.find(b"data: ", start + 1)
    return sorted(p for p in points | {p + 1 for p in points} if 0 < p < len(data))


_WHOLE: dict[str, Outcome] = {}


def _whole(body: Body) -> Outcome:
    if body.key not in _WHOLE:
        _WHOLE[body.key] = run(body.data, [body.data])
    return _WHOLE[body.key]


def test_every_body_is_covered() -> None:
    assert len(BODIES) == 2 * len(names()) == 18
    assert {body.key.split("/")[1] for body in BODIES} == {"lf", "crlf"}


@pytest.mark.parametrize("body", PARAMS)
def test_whole_feed_is_sane(body: Body) -> None:
    """The reference (one feed) is itself right, so the property cannot hold vacuously."""
    whole = _whole(body)
    fixture = load(body.key.split("/")[0])
    assert whole.error is None and whole.buffered == 0
    assert isinstance(whole.events[0], MessageStart)
    assert [e.reason for e in whole.events if isinstance(e, Finish)] == [fixture.expected["finish_reason"]]
    text = "".join(e.text for e in whole.events if isinstance(e, TextDelta))
    assert text == (fixture.expected["text"] or "")
    assert [e.block for e in whole.events if isinstance(e, ContentBlock)] == fixture.parts()
    assert len([e for e in whole.events if isinstance(e, ToolCallStart)]) == len(fixture.client_calls())


@pytest.mark.parametrize("body", PARAMS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_chunking_gives_the_same_events(body: Body, data: st.DataObject) -> None:
    if data.draw(st.booleans(), label="many small reads"):
        seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
        pieces = random_pieces(body.data, seed, data.draw(st.integers(1, 64), label="largest read"))
    else:
        point = st.one_of(st.integers(0, len(body.data)), st.sampled_from(_tricky(body.data)))
        pieces = split_at(body.data, data.draw(st.lists(point, max_size=12), label="split points"))
    assert run(body.data, pieces) == _whole(body)


@pytest.mark.parametrize("body", PARAMS)
def test_every_single_split_point(body: Body) -> None:
    whole = _whole(body)
    for point in range(1, len(body.data)):
        got = run(body.data, [body.data[:point], body.data[point:]])
        assert got == whole, f"split at byte {point}: {body.data[max(0, point - 20) : point + 20]!r}"


@pytest.mark.parametrize("body", PARAMS)
def test_one_byte_at_a_time(body: Body) -> None:
    assert run(body.data, [body.data[i : i + 1] for i in range(len(body.data))]) == _whole(body)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_cut_stream_fails_the_same_in_any_chunking(data: st.DataObject) -> None:
    """A body cut anywhere (connection lost): the same events, then the same outcome, however it was read."""
    body = data.draw(st.sampled_from(BODIES), label="body")
    cut = data.draw(st.integers(0, len(body.data)), label="cut at")
    truncated = body.data[:cut]
    whole = run(truncated, [truncated])
    points = data.draw(st.lists(st.integers(0, cut), max_size=12), label="split points")
    assert run(truncated, split_at(truncated, points)) == whole
    assert run(truncated, [truncated[i : i + 1] for i in range(cut)]) == whole
    if whole.error is not None:
        # Only a cut can fail a complete recording: bad JSON at the very end is a cut event.
        assert whole.error[0] in (IncompleteStreamError, ProtocolError)
        assert issubclass(whole.error[0], ProtocolError)


# -- an error after some content, and a call held across reads ---------------------


def _text_then_error() -> bytes:
    """Four recorded text chunks, then Google's error object as a data: event (python-genai's test shape)."""
    frames = load("text_prompt_count_drops").body.split(b"\r\n\r\n")
    error = {"error": {"code": 500, "message": "An internal error has occurred.", "status": "INTERNAL"}}
    return b"\r\n\r\n".join(frames[:4]) + b"\r\n\r\ndata: " + json.dumps(error).encode() + b"\r\n\r\n"


def _call_then_error() -> bytes:
    """A recorded function-call chunk (held until the next chunk), then an error event."""
    call = load("thinking_function_call").body.replace(b"\n", b"\r\n")
    error = {"error": {"code": 500, "message": "An internal error has occurred.", "status": "INTERNAL"}}
    return call + b"\r\ndata: " + json.dumps(error).encode() + b"\r\n\r\n"


@pytest.mark.parametrize("data", [_text_then_error(), _call_then_error()], ids=["text", "held_call"])
def test_mid_stream_error(data: bytes) -> None:
    whole = run(data, [data])
    assert whole.error[:4] == (InternalServerError, "An internal error has occurred.", "INTERNAL", 500)
    assert isinstance(whole.events[0], MessageStart)
    # What came before the error is kept, a held call included.
    assert [e for e in whole.events if isinstance(e, (TextDelta, ToolCallStart))]
    for pieces in (
        [data[i : i + 1] for i in range(len(data))],
        random_pieces(data, 7, 40),
        *([data[:p], data[p:]] for p in range(1, len(data), 97)),
    ):
        assert run(data, pieces) == whole
