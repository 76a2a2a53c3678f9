"""When a failed attempt is tried again, and after how long.

A :class:`RetryPolicy` belongs to one call. The stream asks it, for each
failure of an attempt, whether to try again: only an
:class:`~streamkit.errors.APIError` of a retryable kind (connection errors,
timeouts other than ``total``, 408/409/429/5xx/529, in-stream overloaded
and server errors, an incomplete stream) is retried, only while no content
has reached anyone (so no token is ever shown twice), only while attempts
remain (``max_retries``), and only if the back-off would not overrun the
call's ``total`` deadline. Anything else, a handler's exception above all,
is never seen here: the stream asks only about errors raised by the
network and the wire format.

The back-off is :func:`~streamkit._transport.retry_delay` (the server's
``Retry-After`` if given, else exponential with jitter), slept on the
call's :class:`~streamkit.deadlines.Clock`.
"""

from __future__ import annotations

from ._transport import retry_delay
from .deadlines import LOOP_CLOCK, Clock, Deadline
from .errors import APIError, APITimeoutError

__all__ = ["RetryPolicy"]


class RetryPolicy:
    """``max_retries`` attempts after the first, for one call.

    Retries only a retryable :class:`~streamkit.errors.APIError` (see its
    ``retryable``), only while nothing was delivered to the reader, never
    after the ``total`` deadline passed or when the back-off alone would
    pass it. Waits are on ``clock`` (the loop's, unless a test installs one).
    """

    __slots__ = ("attempts", "clock", "max_retries")

    def __init__(self, max_retries: int, clock: Clock = LOOP_CLOCK) -> None:
        self.max_retries = max_retries
        self.clock = clock
        #: Retries made so far (the first attempt is not one).
        self.attempts = 0

    def delay(self, error: APIError, *, delivered: bool, deadline: Deadline) -> float | None:
        """Seconds to wait before trying again after ``error``, or None to give up.

        The server's ``Retry-After`` hint when it gave one (at most 60 s),
        else exponential back-off with jitter (about 0.5 s, 1 s, 2 s, ...
        up to 8 s). Counts the retry when it returns a delay. Never raises.
        """
        if delivered or not error.retryable or self.attempts >= self.max_retries:
            return None
        if isinstance(error, APITimeoutError) and error.phase == "total":
            return None
        delay = retry_delay(error, self.attempts + 1)
        if deadline.overruns(delay):
            return None  # the wait alone would overrun the call's total deadline
        self.attempts += 1
        return delay

    async def sleep(self, delay: float) -> None:
        """Wait ``delay`` seconds (the back-off before the next attempt) on the policy's clock."""
        await self.clock.sleep(delay)
