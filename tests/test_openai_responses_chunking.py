"""Property: however a recorded Responses body is split into reads, the events are the same.

Every body under ``tests/fixtures/wire/openai_responses`` is fed to
:class:`~streamkit.providers.openai_responses.ResponsesMapper` whole, then
cut at hypothesis-drawn split points, at every single byte offset, and one
byte at a time. The typed events (compared with ``==``), the terminal flag
and, for the error recording, the error raised must be exactly those of the
whole feed. A body cut anywhere fails the same way in any chunking, and only
as an :class:`IncompleteStreamError`. No sockets here.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from chunking import Outcome, feed, split_at
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamkit.errors import IncompleteStreamError, RateLimitError
from streamkit.events import Finish, MessageStart
from streamkit.providers.openai_responses import OpenAIResponsesProvider

WIRE = Path(__file__).parent / "fixtures" / "wire" / "openai_responses"
BODIES = {path.name: path.read_bytes() for path in sorted(WIRE.glob("*.sse"))}
NAMES = list(BODIES)


def run(pieces: list[bytes]) -> Outcome:
    """Feed the pieces as the adapter does: stop at the first failure, check completeness at the end."""
    return feed(OpenAIResponsesProvider().new_mapper(), pieces, complete=True)


WHOLE = {name: run([body]) for name, body in BODIES.items()}


@pytest.mark.parametrize("name", NAMES)
def test_the_whole_feed_is_sane(name: str) -> None:
    whole = WHOLE[name]
    assert isinstance(whole.events[0], MessageStart)
    if name.startswith("error_"):
        assert whole.error is not None and whole.error[0] is RateLimitError  # insufficient_quota: a 429
        assert whole.error[2] == "insufficient_quota"
        assert not whole.terminal
    else:
        assert whole.error is None and whole.terminal
        assert isinstance(whole.events[-1], Finish)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_chunking_gives_the_same_events(name: str, data: st.DataObject) -> None:
    body = BODIES[name]
    if data.draw(st.booleans(), label="many small reads"):
        rng = random.Random(data.draw(st.integers(0, 2**32 - 1), label="seed"))
        largest = data.draw(st.integers(1, 64), label="largest read")
        pieces, pos = [], 0
        while pos < len(body):
            step = rng.randint(1, largest)
            pieces.append(body[pos : pos + step])
            pos += step
    else:
        points = data.draw(st.lists(st.integers(0, len(body)), max_size=12), label="split points")
        pieces = split_at(body, points)
    assert b"".join(pieces) == body
    assert run(pieces) == WHOLE[name]


@pytest.mark.parametrize("name", NAMES)
def test_one_byte_at_a_time(name: str) -> None:
    body = BODIES[name]
    assert run([body[i : i + 1] for i in range(len(body))]) == WHOLE[name]


@pytest.mark.parametrize(
    "name", ["text.sse", "reasoning_summary_tool_call.sse", "error_insufficient_quota.sse"]
)
def test_every_single_split_point(name: str) -> None:
    body = BODIES[name]
    for point in range(1, len(body)):
        assert run([body[:point], body[point:]]) == WHOLE[name], f"split at byte {point}"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_cut_stream_fails_the_same_in_any_chunking(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(NAMES), label="fixture")
    body = BODIES[name]
    cut = data.draw(st.integers(0, len(body) - 1), label="cut at")
    truncated = body[:cut]
    whole = run([truncated])
    points = data.draw(st.lists(st.integers(0, cut), max_size=12), label="split points")
    assert run(split_at(truncated, points)) == whole
    if name.startswith("error_") and whole.error is not None and whole.error[0] is RateLimitError:
        return  # the cut came after the error event
    if not body[cut:].strip(b"\n"):
        # Only the final blank line is missing: the last event arrived whole (its data line ended).
        assert whole == WHOLE[name]
        return
    # A recording cut before its end is incomplete, never a quiet success.
    assert whole.error is not None and whole.error[0] is IncompleteStreamError
