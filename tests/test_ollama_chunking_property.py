"""Property: how an Ollama body is split into reads never changes the events.

Every body under ``tests/fixtures/wire/ollama`` (streams, and the whole
``"stream": false`` responses, which are one NDJSON line each) is fed to
``OllamaMapper`` whole, and then in arbitrary pieces (hypothesis draws the
split points; every single split point is checked exhaustively). The typed
events (dataclasses compared with ``==``: generated tool-call ids included),
the terminal flag and the error (an in-stream error line, or the cut
reported by ``check_complete``) must be exactly those of the whole feed. A
body cut anywhere fails the same way in any chunking. No sockets here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from chunking import Outcome, feed, random_pieces, split_at
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamkit.errors import IncompleteStreamError, ProviderStreamError
from streamkit.events import Finish, MessageStart, TextDelta, ToolCallStart
from streamkit.providers.ollama import OllamaMapper, OllamaProvider

WIRE = Path(__file__).parent / "fixtures" / "wire" / "ollama"


@dataclass(frozen=True)
class Body:
    name: str
    data: bytes
    expected: dict[str, Any]


def _load() -> list[Body]:
    bodies = []
    for path in sorted(WIRE.iterdir()):
        if path.suffix in (".ndjson", ".json") and not path.name.endswith(".expected.json"):
            stem = path.name.rsplit(".", 1)[0]
            expected = json.loads((WIRE / f"{stem}.expected.json").read_text("utf-8"))
            bodies.append(Body(stem, path.read_bytes(), expected))
    return bodies


BODIES = _load()
PARAMS = [pytest.param(body, id=body.name) for body in BODIES]


def run(data: bytes, pieces: list[bytes]) -> Outcome:
    """Feed the pieces as the adapter does, then the end-of-body checks (``finish``, ``check_complete``)."""
    assert b"".join(pieces) == data
    mapper = OllamaProvider().new_mapper()
    assert isinstance(mapper, OllamaMapper)
    return feed(mapper, pieces, complete=True)


_WHOLE: dict[str, Outcome] = {}


def _whole(body: Body) -> Outcome:
    if body.name not in _WHOLE:
        _WHOLE[body.name] = run(body.data, [body.data])
    return _WHOLE[body.name]


def test_every_fixture_is_covered() -> None:
    assert len(BODIES) == 11
    assert {b.name for b in BODIES} >= {
        "chat_stream_minimal",
        "docs_chat_stream_tools",
        "docs_chat_stream_error",
    }


@pytest.mark.parametrize("body", PARAMS)
def test_whole_feed_is_sane(body: Body) -> None:
    """The reference (one feed) is itself right, so the property cannot hold vacuously."""
    whole = _whole(body)
    exp = body.expected
    assert whole.buffered == 0
    assert isinstance(whole.events[0], MessageStart)
    text = "".join(e.text for e in whole.events if isinstance(e, TextDelta))
    assert text == exp["content"]
    if exp.get("error"):
        assert whole.error is not None and whole.error[0] is ProviderStreamError
        assert whole.error[1] == exp["error"]
        return
    if not exp["has_done_true"]:
        assert whole.error is not None and whole.error[0] is IncompleteStreamError
        assert whole.terminal is False
        return
    assert whole.error is None and whole.terminal is True
    assert isinstance(whole.events[-1], Finish)
    assert [e.name for e in whole.events if isinstance(e, ToolCallStart)] == [
        c["name"] for c in exp.get("tool_calls", [])
    ]


def _tricky(data: bytes) -> list[int]:
    """Offsets inside UTF-8 characters and around line ends."""
    points = {i for i, byte in enumerate(data) if byte >= 0x80 or byte == 0x0A}
    return sorted(p for p in points | {p + 1 for p in points} if 0 < p < len(data))


@pytest.mark.parametrize("body", PARAMS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_chunking_gives_the_same_events(body: Body, data: st.DataObject) -> None:
    if data.draw(st.booleans(), label="many small reads"):
        seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
        pieces = random_pieces(body.data, seed, data.draw(st.integers(1, 64), label="largest read"))
    else:
        point = st.one_of(st.integers(0, len(body.data)), st.sampled_from(_tricky(body.data) or [0]))
        pieces = split_at(body.data, data.draw(st.lists(point, max_size=12), label="split points"))
    assert run(body.data, pieces) == _whole(body)


@pytest.mark.parametrize("body", PARAMS)
def test_every_single_split_point_and_one_byte_at_a_time(body: Body) -> None:
    whole = _whole(body)
    for point in range(1, len(body.data)):
        got = run(body.data, [body.data[:point], body.data[point:]])
        assert got == whole, f"split at byte {point}: {body.data[max(0, point - 20) : point + 20]!r}"
    assert run(body.data, [body.data[i : i + 1] for i in range(len(body.data))]) == whole


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_cut_body_fails_the_same_in_any_chunking(data: st.DataObject) -> None:
    """A body cut anywhere (connection lost): the same events, then the same error, however it was read."""
    body = data.draw(st.sampled_from(BODIES), label="fixture")
    cut = data.draw(st.integers(0, len(body.data)), label="cut at")
    truncated = body.data[:cut]
    points = data.draw(st.lists(st.integers(0, cut), max_size=12), label="split points")
    whole = run(truncated, [truncated])
    assert run(truncated, split_at(truncated, points)) == whole
    assert run(truncated, [truncated[i : i + 1] for i in range(cut)]) == whole
    if cut < len(body.data) and not body.expected.get("error"):
        if body.data[cut:] == b"\n":
            assert whole == _whole(body)  # only the final newline lost: the last line is whole
        else:
            # A body cut short is reported as cut: never as bad JSON, never as complete.
            assert whole.error is not None and whole.error[0] is IncompleteStreamError
