"""Per-stream timing and size figures: what a call cost and how it streamed.

Every stream records them as it goes, per network read, never per token
(one clock read and a few additions per read). They are on the stream
(``stream.metrics``), in the result (``llm_output["metrics"]``, so also in
``on_llm_end`` and the relay's ``done``), and in a failed stream's
``partial_result``. Units are in the names: seconds (``_s``), bytes, counts.

=============================  =====================================================
``time_to_headers_s``          from the call's start to the (last attempt's) response headers
``time_to_first_token_s``      from the call's start to the first content event
``duration_s``                 from the call's start to its end (retries included)
``tokens_per_s``               completion tokens (the usage report, else the deltas) over
                               the streamed part: first content event to the end
``output_deltas``              content deltas received (text, thinking, refusal, tool input)
``inter_event_gap_p50_s``      median time between reads that carried events
``inter_event_gap_p95_s``      95th percentile of the same
``inter_event_gap_max_s``      the longest such gap
``retries``                    attempts retried before the answer
``retry_time_s``               time spent between a failed attempt and the next one
``bytes_received``             response body bytes of the answering attempt
=============================  =====================================================

A figure that does not apply (no content yet, no gap) is ``None``.
"""

from __future__ import annotations

from array import array
from time import perf_counter
from typing import Any

__all__ = ["StreamMetrics"]


class StreamMetrics:
    """The figures of one stream, filled in by the stream as it runs.

    Moments are ``time.perf_counter()`` seconds; :meth:`snapshot` turns
    them into the figures of the module docstring.
    """

    __slots__ = (
        "bytes_received",
        "ended",
        "first_token",
        "gaps",
        "headers",
        "last_read",
        "retries",
        "retry_started",
        "retry_time",
        "started",
        "streamed",
    )

    def __init__(self) -> None:
        self.started: float | None = None
        self.headers: float | None = None
        self.first_token: float | None = None
        self.ended: float | None = None
        self.last_read: float | None = None
        #: Seconds between reads that carried events (8 bytes each).
        self.gaps = array("d")
        self.bytes_received = 0
        self.retries = 0
        self.retry_time = 0.0
        self.retry_started: float | None = None
        #: False for a whole JSON answer: no first token, rate or gaps to speak of.
        self.streamed = True

    def start(self) -> None:
        """The call starts (before its first attempt): every figure in seconds counts from here."""
        self.started = perf_counter()

    def response(self) -> None:
        """An attempt's response headers arrived (the body starts afresh)."""
        now = perf_counter()
        self._close_retry(now)
        self.headers = self.last_read = now
        self.gaps = array("d")
        self.bytes_received = 0

    def retry(self) -> None:
        """An attempt failed and is about to be retried (the time until the next response counts)."""
        now = perf_counter()
        self._close_retry(now)  # an attempt that failed before its headers: its wait ends here
        self.retries += 1
        self.retry_started = now

    def _close_retry(self, now: float) -> None:
        if self.retry_started is not None:
            self.retry_time += now - self.retry_started
            self.retry_started = None

    def content(self) -> None:
        """The first content event reached the collector."""
        if self.first_token is None:
            self.first_token = perf_counter()

    def end(self) -> None:
        """The call ended (done, failed or closed); only the first call counts."""
        if self.ended is None:
            self.ended = perf_counter()
            self._close_retry(self.ended)

    def snapshot(self, completion_tokens: int | None, deltas: int) -> dict[str, Any]:
        """The figures so far, as the result's ``llm_output["metrics"]``."""
        start = self.started
        end = self.ended if self.ended is not None else perf_counter()

        def since(moment: float | None) -> float | None:
            return None if moment is None or start is None else moment - start

        first = self.first_token if self.streamed else None
        streamed = end - first if first is not None else None
        tokens = completion_tokens if completion_tokens else deltas
        gaps = sorted(self.gaps) if self.streamed else []
        return {
            "time_to_headers_s": since(self.headers),
            "time_to_first_token_s": since(first),
            "duration_s": since(end),
            "tokens_per_s": tokens / streamed if streamed and tokens else None,
            "output_deltas": deltas,
            "inter_event_gap_p50_s": _percentile(gaps, 0.50),
            "inter_event_gap_p95_s": _percentile(gaps, 0.95),
            "inter_event_gap_max_s": gaps[-1] if gaps else None,
            "retries": self.retries,
            "retry_time_s": self.retry_time,
            "bytes_received": self.bytes_received,
        }


def _percentile(ordered: list[float], q: float) -> float | None:
    """The ``q`` quantile of sorted values (nearest rank), or None for none."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]
