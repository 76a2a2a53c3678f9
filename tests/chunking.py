"""The chunking property's harness, shared by every provider's test.

The property (each ``test_*chunking*`` file checks it on its provider's
recorded bodies): however a body is split into network reads, the mapper
gives the same events, the same terminal flag and the same error. This
module feeds a body to a mapper the way the adapter does and says what came
out; the files keep only what is their provider's (which bodies, which
end-of-body checks, what a sane whole feed looks like). No sockets here.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any

from streamkit.errors import StreamkitError
from streamkit.events import Event, Finish
from streamkit.providers.base import StreamMapper

__all__ = ["Outcome", "error_key", "feed", "random_pieces", "split_at"]


@dataclass
class Outcome:
    """What a mapper made of one body: events until the end (or the error), and how it ended."""

    events: list[Event]
    error: tuple[Any, ...] | None
    terminal: bool
    #: Bytes the decoder still held at a clean end (0 after a failure: where the
    #: reads stopped then is the chunking's, not the body's).
    buffered: int


def error_key(exc: StreamkitError) -> tuple[Any, ...]:
    """``(type, message, error_type, status_code, body)``: what must not depend on the chunking."""
    return (
        type(exc),
        str(exc),
        getattr(exc, "error_type", None),
        getattr(exc, "status_code", None),
        getattr(exc, "body", None),
    )


def feed(mapper: StreamMapper, pieces: list[bytes], *, complete: bool = False) -> Outcome:
    """Feed ``pieces`` as the adapter does: stop at the first failure, else ``finish()`` at the end.

    A failure met inside a read (an error event, bad JSON) does not raise
    from ``feed()``: the events before it are returned and the failure is
    left in ``mapper.error`` for the adapter to raise once they are
    delivered. A raise is accepted too, so the property holds either way.
    ``complete``: also the adapter's end-of-answer check
    (``check_complete``, every choice finished when a ``Finish`` came).
    """
    events: list[Event] = []
    error = None
    try:
        for piece in pieces:
            events.extend(mapper.feed(piece))
            if mapper.error is not None:
                break
        else:
            events.extend(mapper.finish())
            if complete and mapper.error is None:
                mapper.check_complete(any(isinstance(e, Finish) for e in events))
    except StreamkitError as exc:
        error = error_key(exc)
    if mapper.error is not None:
        assert error is None
        error = error_key(mapper.error)
    return Outcome(events, error, mapper.terminal, mapper.decoder.buffered if error is None else 0)


def split_at(data: bytes, points: list[int]) -> list[bytes]:
    """``data`` cut at ``points`` (offsets outside ``1..len-1`` and repeats ignored)."""
    cuts = sorted({p for p in points if 0 < p < len(data)})
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def random_pieces(data: bytes, seed: int, largest: int) -> list[bytes]:
    """``data`` in pieces of 1 to ``largest`` bytes, sizes drawn from ``seed``."""
    rng = random.Random(seed)
    pieces, pos = [], 0
    while pos < len(data):
        step = rng.randint(1, largest)
        pieces.append(data[pos : pos + step])
        pos += step
    return pieces
