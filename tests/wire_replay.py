"""Shared by the wire-conformance suites: chunkings, and proof that they reached the client."""

from __future__ import annotations

import random
from typing import Any

import pytest

from streamkit.providers.base import StreamMapper
from streamkit.testing import MockResponse

SEED = 20240926
USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")
CHUNKINGS: dict[str, dict[str, Any]] = {
    "whole": {"chunk_size": None},
    "random": {"random_chunks": SEED},
    "1byte": {"chunk_size": 1},
}


def pieces(body: bytes, chunking: str) -> list[bytes]:
    """The pieces MockServer writes for a chunking (the same algorithm and seed as its random_chunks)."""
    if chunking == "whole":
        return [body]
    if chunking == "1byte":
        return [body[i : i + 1] for i in range(len(body))]
    rng = random.Random(SEED)
    out, pos = [], 0
    while pos < len(body):
        step = rng.randint(1, 64)
        out.append(body[pos : pos + step])
        pos += step
    return out


def replay(body: bytes, chunking: str) -> MockResponse:
    """A scripted response that sends ``body`` verbatim, in ``chunking``."""
    return MockResponse(raw=body, **CHUNKINGS[chunking])


def record_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the size of every network read the decoder is fed (one ``StreamMapper.feed`` each).

    ``MockServer`` yields to the loop after each piece it writes, so its
    chunk sizes reach the client as separate reads; ``check_reads`` checks
    that they did.
    """
    sizes: list[int] = []
    feed = StreamMapper.feed

    def recording_feed(self: StreamMapper, chunk: bytes) -> Any:
        sizes.append(len(chunk))
        return feed(self, chunk)

    monkeypatch.setattr(StreamMapper, "feed", recording_feed)
    return sizes


def check_reads(sizes: list[int], body: bytes, chunking: str, requests: int) -> None:
    """Every byte reached the decoder, in (about) the pieces the server wrote."""
    assert sum(sizes) == requests * len(body)
    if chunking != "whole":
        # Allow for some coalescing; without the server's yields this is 1 or 2 reads per body.
        written = pieces(body, chunking)
        assert len(sizes) >= requests * len(written) // 4
        assert max(sizes) <= 4 * max(len(piece) for piece in written)


def without_usage(output: dict[str, Any] | None) -> dict[str, Any]:
    """``llm_output`` without its usage (and its timings, which differ run to run)."""
    return {k: v for k, v in without_metrics(output).items() if k != "token_usage"}


def without_metrics(output: dict[str, Any] | None) -> dict[str, Any]:
    """``llm_output`` without ``metrics`` (timings: they differ run to run; tested in test_production)."""
    assert output is not None
    return {k: v for k, v in output.items() if k != "metrics"}
