"""Property: how a recorded body is split into reads never changes the events.

Every body under ``tests/fixtures/wire/{openai_chat,openai_completions,
anthropic}`` (recorded by others; see that folder's README) is fed to its
provider's ``StreamMapper`` whole, and then in arbitrary pieces (hypothesis
draws the split points; every single split point and one byte at a time are
checked exhaustively). The typed events (dataclasses, compared with ``==``),
the terminal flag and, for the error fixture, the error raised and the events
before it must be exactly those of the whole feed. No sockets here.
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

from streamkit.errors import IncompleteStreamError, OverloadedError
from streamkit.events import Finish, MessageStart, TextDelta
from streamkit.providers._anthropic import AnthropicProvider
from streamkit.providers._openai import OpenAIChatProvider, OpenAICompletionsProvider
from streamkit.providers.base import Provider

WIRE = Path(__file__).parent / "fixtures" / "wire"
PROVIDERS: dict[str, type[Provider]] = {
    "openai_chat": OpenAIChatProvider,
    "openai_completions": OpenAICompletionsProvider,
    "anthropic": AnthropicProvider,
}


@dataclass(frozen=True)
class Body:
    key: str  # "anthropic/text_basic"
    provider: type[Provider]
    data: bytes
    expected: dict[str, Any]


def _load() -> list[Body]:
    bodies = []
    for folder, provider in PROVIDERS.items():
        for path in sorted((WIRE / folder).glob("*.sse")):
            expected = json.loads(
                path.with_name(path.name.removesuffix(".sse") + ".expected.json").read_text()
            )
            bodies.append(
                Body(f"{folder}/{path.name.removesuffix('.sse')}", provider, path.read_bytes(), expected)
            )
    return bodies


BODIES = _load()
PARAMS = [pytest.param(body, id=body.key) for body in BODIES]


def run(body: Body | tuple[type[Provider], bytes], pieces: list[bytes]) -> Outcome:
    """Feed the pieces as the adapter does (:func:`chunking.feed`)."""
    provider = body.provider if isinstance(body, Body) else body[0]
    return feed(provider().new_mapper(), pieces)


_WHOLE: dict[str, Outcome] = {}


def _whole(body: Body) -> Outcome:
    """The reference: the body in one read (computed once per body; never mutated)."""
    if body.key not in _WHOLE:
        _WHOLE[body.key] = run(body, [body.data])
    return _WHOLE[body.key]


def test_every_fixture_is_covered() -> None:
    # Every recorded body under these folders. Other providers' folders (openai_responses, ...)
    # have their own chunking tests (tests/test_openai_responses_chunking.py, ...).
    folders = {path.parent.name for path in WIRE.glob("*/*.sse")}
    assert set(PROVIDERS) <= folders
    assert len(BODIES) == sum(len(list((WIRE / folder).glob("*.sse"))) for folder in PROVIDERS)
    assert sum(body.provider is AnthropicProvider for body in BODIES) == 7
    assert sum(body.provider is not AnthropicProvider for body in BODIES) == 10


@pytest.mark.parametrize("body", PARAMS)
def test_whole_feed_is_sane(body: Body) -> None:
    """The reference (one feed) is itself right, so the property cannot hold vacuously."""
    whole = _whole(body)
    assert whole.buffered == 0
    if "error" in body.expected:
        assert whole.events == []
        assert whole.error is not None and whole.error[0] is OverloadedError
        assert whole.error[1:4] == ("Overloaded", "overloaded_error", 529)
        return
    assert whole.error is None
    assert whole.terminal is True
    assert isinstance(whole.events[0], MessageStart)
    assert any(isinstance(e, Finish) for e in whole.events)
    text = "".join(e.text for e in whole.events if isinstance(e, TextDelta) and e.index == 0)
    if body.provider is AnthropicProvider:
        expected = "".join(b["text"] for b in body.expected["content"] if b["type"] == "text")
    elif body.provider is OpenAIChatProvider:
        expected = body.expected["choices"][0]["content"] or ""
    else:
        expected = body.expected["text"]
    assert text == expected


def _tricky(data: bytes) -> list[int]:
    """Offsets inside UTF-8 characters, at and after line ends, and inside ``data: ``/``event: ``."""
    points = {i for i, byte in enumerate(data) if byte >= 0x80 or byte in b"\r\n"}
    for prefix in (b"data: ", b"event: "):
        start = data.find(prefix)
        while start >= 0:
            points.update(range(start, start + len(prefix) + 1))
            start = data.find(prefix, start + 1)
    return sorted(p for p in points | {p + 1 for p in points} if 0 < p < len(data))


@pytest.mark.parametrize("body", PARAMS)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_chunking_gives_the_same_events(body: Body, data: st.DataObject) -> None:
    if data.draw(st.booleans(), label="many small reads"):
        seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
        pieces = random_pieces(body.data, seed, data.draw(st.integers(1, 64), label="largest read"))
    else:
        # Anywhere, or right inside the places a decoder can get wrong.
        point = st.one_of(st.integers(0, len(body.data)), st.sampled_from(_tricky(body.data)))
        pieces = split_at(body.data, data.draw(st.lists(point, max_size=12), label="split points"))
    assert b"".join(pieces) == body.data
    assert run(body, pieces) == _whole(body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_cut_stream_fails_the_same_in_any_chunking(data: st.DataObject) -> None:
    """A body cut anywhere (connection lost): the same events, then the same error, however it was read."""
    body = data.draw(st.sampled_from(BODIES), label="fixture")
    cut = data.draw(st.integers(0, len(body.data)), label="cut at")
    truncated = Body(body.key, body.provider, body.data[:cut], body.expected)
    points = data.draw(st.lists(st.integers(0, cut), max_size=12), label="split points")
    whole = run(truncated, [truncated.data])
    assert run(truncated, split_at(truncated.data, points)) == whole
    assert run(truncated, [truncated.data[i : i + 1] for i in range(cut)]) == whole
    if whole.error is not None and "error" not in body.expected:
        # Only a cut can fail a complete recording, and it is reported as one.
        assert whole.error[0] is IncompleteStreamError


@pytest.mark.parametrize("body", PARAMS)
def test_every_single_split_point(body: Body) -> None:
    """Two reads, cut at every byte offset (inside line ends, UTF-8 characters, ``data:`` prefixes)."""
    whole = _whole(body)
    for point in range(1, len(body.data)):
        got = run(body, [body.data[:point], body.data[point:]])
        assert got == whole, f"split at byte {point}: {body.data[max(0, point - 20) : point + 20]!r}"


@pytest.mark.parametrize("body", PARAMS)
def test_one_byte_at_a_time(body: Body) -> None:
    pieces = [body.data[i : i + 1] for i in range(len(body.data))]
    assert run(body, pieces) == _whole(body)


# -- an error after some content -------------------------------------------------


def _anthropic_text_then_error() -> bytes:
    text = (WIRE / "anthropic" / "text_basic.sse").read_bytes()
    error = (WIRE / "anthropic" / "error_overloaded.sse").read_bytes()
    blocks = text.split(b"\n\n")
    last_text = max(i for i, block in enumerate(blocks) if b'"text_delta"' in block)
    return b"\n\n".join(blocks[: last_text + 1]) + b"\n\n" + error


def _openai_text_then_error() -> bytes:
    text = (WIRE / "openai_chat" / "text_with_usage.sse").read_bytes()
    frames = text.split(b"\n\n")
    error = b'data: {"error": {"message": "Overloaded", "type": "overloaded_error"}}\n\n'
    return b"\n\n".join(frames[:4]) + b"\n\n" + error


MIDSTREAM = [
    pytest.param(AnthropicProvider, _anthropic_text_then_error(), id="anthropic"),
    pytest.param(OpenAIChatProvider, _openai_text_then_error(), id="openai_chat"),
]


@pytest.mark.parametrize(("provider", "data"), MIDSTREAM)
def test_mid_stream_error_whole_feed(provider: type[Provider], data: bytes) -> None:
    """In one read: the text before the error is kept, and the error is the overloaded one."""
    whole = run((provider, data), [data])
    assert whole.error is not None and whole.error[0] is OverloadedError
    assert whole.error[1:4] == ("Overloaded", "overloaded_error", 529)
    assert isinstance(whole.events[0], MessageStart)
    assert [e for e in whole.events if isinstance(e, TextDelta)]  # text came before the error
    assert not any(isinstance(e, Finish) for e in whole.events)
    assert whole.terminal is False


@pytest.mark.parametrize(("provider", "data"), MIDSTREAM)
@settings(max_examples=100, deadline=None)
@given(points=st.lists(st.integers(0, 2000), max_size=12))
def test_events_before_a_mid_stream_error_do_not_depend_on_chunking(
    provider: type[Provider], data: bytes, points: list[int]
) -> None:
    assert run((provider, data), split_at(data, points)) == run((provider, data), [data])


@pytest.mark.parametrize(("provider", "data"), MIDSTREAM)
def test_mid_stream_error_one_byte_at_a_time(provider: type[Provider], data: bytes) -> None:
    whole = run((provider, data), [data])
    assert run((provider, data), [data[i : i + 1] for i in range(len(data))]) == whole
