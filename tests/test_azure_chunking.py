"""Property: how an Azure body is split into reads never changes the events.

The bodies: Microsoft's published sample streams (``tests/fixtures/wire/
azure/learn``; see that folder's README) and the mock server's own Azure
stream (a first ``choices: []`` chunk with ``prompt_filter_results``,
``content_filter_results`` on every choice, a tool call and usage). Each is
fed to ``AzureChatProvider``'s mapper whole, then at hypothesis-drawn split
points, at every single split point and one byte at a time: the events, the
terminal flag and any error must be those of the whole feed. No sockets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from chunking import feed, split_at
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamkit.errors import IncompleteStreamError
from streamkit.events import Event, Finish, MessageStart, TextDelta, ToolCallStart, Usage
from streamkit.providers.azure import MOCK, AzureChatProvider
from streamkit.testing._render import Answer

LEARN = Path(__file__).parent / "fixtures" / "wire" / "azure" / "learn"


def _mock_body() -> bytes:
    answer = Answer(
        model="gpt-4o-2024-11-20",
        token_lists=[["Héllo", " wörld", " ✓"]],
        finish_reason="tool_calls",
        usage={"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
        tool_calls=[{"name": "lookup", "args": {"q": "naïve"}, "id": "call_1"}],
        thinking=[],
    )
    body = {"stream_options": {"include_usage": True}}
    return b"".join(data for data, _ in MOCK.events(answer, body))


BODIES = {
    "learn/async_filter_passes": (LEARN / "async_filter_passes.sse").read_bytes(),
    "learn/async_filter_blocked": (LEARN / "async_filter_blocked.sse").read_bytes(),
    "mock/tool_call_with_usage": _mock_body(),
}
PARAMS = [pytest.param(key, id=key) for key in BODIES]


def run(pieces: list[bytes]) -> tuple[list[Event], tuple[Any, ...] | None, bool]:
    """Feed the pieces as the adapter does; stop at the first failure."""
    outcome = feed(AzureChatProvider().new_mapper(), pieces)
    return outcome.events, outcome.error, outcome.terminal


@pytest.mark.parametrize("key", PARAMS)
def test_whole_feed_is_sane(key: str) -> None:
    events, error, terminal = run([BODIES[key]])
    assert error is None and terminal
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    finishes = [e for e in events if isinstance(e, Finish)]
    assert len(finishes) == 1
    if key == "learn/async_filter_passes":
        assert text == "Color is a" and finishes[0].reason == "stop"
    elif key == "learn/async_filter_blocked":
        assert text == "Hey Jude," and finishes[0].normalized == "content_filter"
    else:
        assert text == "Héllo wörld ✓" and finishes[0].normalized == "tool_calls"
        assert [e.name for e in events if isinstance(e, ToolCallStart)] == ["lookup"]
        assert [e.total_tokens for e in events if isinstance(e, Usage)] == [9]
    # Azure's first chunk has empty metadata: the model and id come from the first chunk that has them.
    starts = [e for e in events if isinstance(e, MessageStart)]
    assert starts[0].model and starts[0].id


@pytest.mark.parametrize("key", PARAMS)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_chunking_gives_the_same_events(key: str, data: st.DataObject) -> None:
    body = BODIES[key]
    points = data.draw(st.lists(st.integers(0, len(body)), max_size=16), label="split points")
    assert run(split_at(body, points)) == run([body])


@pytest.mark.parametrize("key", PARAMS)
def test_every_single_split_point(key: str) -> None:
    body = BODIES[key]
    whole = run([body])
    for point in range(1, len(body)):
        assert run([body[:point], body[point:]]) == whole, f"split at byte {point}"


@pytest.mark.parametrize("key", PARAMS)
def test_one_byte_at_a_time(key: str) -> None:
    body = BODIES[key]
    assert run([body[i : i + 1] for i in range(len(body))]) == run([body])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_cut_stream_fails_the_same_in_any_chunking(data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(sorted(BODIES)), label="body")
    body = BODIES[key][: data.draw(st.integers(0, len(BODIES[key])), label="cut at")]
    points = data.draw(st.lists(st.integers(0, len(body)), max_size=12), label="split points")
    whole = run([body])
    assert run(split_at(body, points)) == whole
    if whole[1] is not None:
        assert whole[1][0] is IncompleteStreamError
