"""Deadlines: connect, first token, idle and total, each its own typed timeout.

``Timeouts`` is set on a model (``timeout=``) and can be overridden per
call. A plain number ``t`` means "connect within t, and never be silent for
more than t" (``connect=t, idle=t``), as the official SDKs read it.

The phases, in the order a call meets them:

* ``connect``: from the start of an attempt until its request is sent: the
  TCP/TLS connection (or a free pooled one) is made and the request written.
  Only ``connect`` (and ``total``) govern this phase; aiohttp enforces it;
* ``first_token``: from sending the request to the first content event
  (text, tool call, thinking...), per attempt; waiting for the response
  headers counts here, not in ``connect``;
* ``idle``: the longest gap between events, per attempt, counted from the
  request being sent. Keep-alive comments and Anthropic pings are not
  progress by default (a server that only pings is stalled); set
  ``keepalive_is_progress=True`` for reasoning models that think silently
  behind pings;
* ``total``: the whole call, retries and back-off included.

A deadline that passes raises :class:`~streamkit.errors.APITimeoutError`
(also a ``TimeoutError``) whose ``phase`` names which one, with the
partial result. The time spent in your handlers between reads does not
count as the server's silence: each read waits at most until the nearest
deadline, computed when it starts.

:class:`Deadline` keeps one call's deadlines on a :class:`Clock`, the
running loop's clock unless a test installs another with :func:`use_clock`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import APITimeoutError, InvalidArgumentError

__all__ = ["Clock", "Timeouts", "current_clock", "use_clock"]


class Timeouts(BaseModel):
    """The four deadlines, in seconds (``None``: no limit); see the module docstring for the phases.

    ``connect`` (default 10 s), ``first_token`` (default none), ``idle``
    (default 600 s) and ``total`` (default none) are ``float`` seconds
    > 0; ``keepalive_is_progress`` (default False) lets keep-alive comments
    and pings count as progress for ``idle``. Immutable. Give it as a
    model's ``timeout=`` or per call; a plain number ``t`` there means
    ``Timeouts(connect=t, idle=t)``. A value that is not ``None`` or a
    finite number > 0 (a numeric string included), or an unknown field,
    raises
    :class:`~streamkit.errors.InvalidArgumentError` naming it. A deadline
    that passes raises :class:`~streamkit.errors.APITimeoutError` with its
    ``phase``.
    """

    # NaN and infinities are refused (None means "no limit").
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    connect: float | None = Field(default=10.0, gt=0)
    first_token: float | None = Field(default=None, gt=0)
    idle: float | None = Field(default=600.0, gt=0)
    total: float | None = Field(default=None, gt=0)
    keepalive_is_progress: bool = False

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_input=False)
            )
            raise InvalidArgumentError(f"Timeouts: invalid argument: {problems}") from None

    @classmethod
    def none(cls) -> Timeouts:
        """No deadline at all: every phase ``None`` (what ``timeout=None`` means)."""
        return cls(connect=None, first_token=None, idle=None, total=None)


def as_timeouts(value: Any) -> Timeouts:
    """Accept a ``Timeouts`` (or a dict of its fields), a number of seconds, or ``None``.

    Raises ``TypeError`` for another type and ``ValueError`` (pydantic's
    ``ValidationError`` for a dict) for a number that is not finite and > 0.
    """
    if isinstance(value, Timeouts):
        return value
    if value is None:
        return Timeouts.none()
    if isinstance(value, dict):
        return Timeouts.model_validate(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = type(value).__name__
        raise TypeError(f"timeout must be a number of seconds, a Timeouts or None, not {kind}")
    if not math.isfinite(value):
        raise ValueError("timeout must be a finite number of seconds (None: no limit)")
    if value <= 0:
        raise ValueError("timeout must be greater than 0")
    return Timeouts(connect=float(value), idle=float(value))


class Cancellable(Protocol):
    """What :meth:`Clock.call_later` returns (``asyncio.TimerHandle`` is one)."""

    def cancel(self) -> None: ...


class Clock:
    """The time deadlines, back-off and handler bounds are measured on.

    This one is the running event loop's clock (``loop.time()``, seconds).
    A test can install a subclass with :func:`use_clock` and move time
    itself: streams created while it is installed read their deadlines,
    sleep their back-off and bound ``on_llm_error`` on it.
    """

    def now_function(self) -> Callable[[], float]:
        """A function returning the time now (seconds); called in the running loop."""
        return asyncio.get_running_loop().time

    def loop_time(self, when: float) -> float:
        """Loop time (``loop.time()``) for ``when`` on this clock."""
        return when

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        await asyncio.sleep(seconds)

    def call_later(self, seconds: float, callback: Callable[[], object]) -> Cancellable:
        """Call ``callback`` in ``seconds``; the result's ``cancel()`` stops it."""
        return asyncio.get_running_loop().call_later(seconds, callback)


LOOP_CLOCK = Clock()
_CLOCK: ContextVar[Clock] = ContextVar("streamkit_clock", default=LOOP_CLOCK)


def current_clock() -> Clock:
    """The clock new streams use (the loop's, unless :func:`use_clock` installed another)."""
    return _CLOCK.get()


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Streams created inside this block (in this context) measure time on ``clock``."""
    token = _CLOCK.set(clock)
    try:
        yield clock
    finally:
        _CLOCK.reset(token)


_PHASE_MESSAGES = {
    "first_token": "no content arrived within {:g}s of sending the request",
    "idle": "the stream was silent for {:g}s",
    "total": "the call did not finish within {:g}s",
}


class Deadline:
    """One call's deadlines, on a :class:`Clock`.

    The stream tells it what happened: :meth:`start` (the call begins),
    :meth:`attempt` (a request is about to be sent: the connect phase, in
    which only ``total`` is counted here, aiohttp enforcing ``connect``),
    :meth:`request_sent` (``first_token`` and ``idle`` start), :meth:`progress`
    (an event arrived) and :meth:`content` (the first content event: the
    ``first_token`` deadline is met). :meth:`loop_when` is the nearest
    deadline in loop time, for the next wait; :meth:`expired` the error when
    it passes.
    """

    __slots__ = (
        "_content",
        "_first_token",
        "_idle",
        "_now",
        "_progress",
        "_sent",
        "_t0",
        "_total",
        "active",
        "clock",
        "keepalive_is_progress",
    )

    def __init__(self, timeouts: Timeouts, clock: Clock = LOOP_CLOCK) -> None:
        self.clock = clock
        self._first_token = timeouts.first_token
        self._idle = timeouts.idle
        self._total = timeouts.total
        self.keepalive_is_progress = timeouts.keepalive_is_progress
        #: False when no deadline is set at all (nothing to compute per read).
        self.active = not (self._first_token is None and self._idle is None and self._total is None)
        self._now: Callable[[], float] = _unstarted
        self._t0 = 0.0
        self._sent: float | None = None  # when this attempt's request was sent (None: connecting)
        self._progress = 0.0
        self._content = False

    def start(self) -> None:
        """The call begins (in the running loop): ``total`` counts from now."""
        self._now = self.clock.now_function()
        self._t0 = self._now()

    def attempt(self) -> None:
        """An attempt begins: the connect phase, until :meth:`request_sent`."""
        self._sent = None

    def request_sent(self) -> None:
        """This attempt's request is sent: ``first_token`` and ``idle`` count from now."""
        self._sent = self._progress = self._now()

    @property
    def sent(self) -> bool:
        return self._sent is not None

    def progress(self) -> None:
        """An event arrived: the ``idle`` deadline moves."""
        self._progress = self._now()

    def content(self) -> None:
        """The first content event arrived: ``first_token`` no longer applies."""
        self._content = True

    def nearest(self) -> tuple[float, str, float] | None:
        """The nearest deadline: (time on the clock, phase, configured seconds), or None."""
        best: tuple[float, str, float] | None = None
        if self._total is not None:
            best = (self._t0 + self._total, "total", self._total)
        if self._sent is not None:
            if self._idle is not None:
                when = self._progress + self._idle
                if best is None or when < best[0]:
                    best = (when, "idle", self._idle)
            if self._first_token is not None and not self._content:
                when = self._sent + self._first_token
                if best is None or when < best[0]:
                    best = (when, "first_token", self._first_token)
        return best

    def loop_when(self) -> float | None:
        """The nearest deadline in loop time (``None``: none), for ``asyncio.timeout_at``.

        Called before every network read: :meth:`nearest` written out flat.
        """
        if not self.active:
            return None
        when = None if self._total is None else self._t0 + self._total
        sent = self._sent
        if sent is not None:
            if self._idle is not None:
                idle = self._progress + self._idle
                if when is None or idle < when:
                    when = idle
            if self._first_token is not None and not self._content:
                first = sent + self._first_token
                if when is None or first < when:
                    when = first
        if when is None or self.clock is LOOP_CLOCK:
            return when
        return self.clock.loop_time(when)

    def expired(self) -> APITimeoutError:
        """The error for the deadline that has just passed (the nearest one)."""
        best = self.nearest()
        phase, seconds = (best[1], best[2]) if best is not None else ("total", 0.0)
        return APITimeoutError(_PHASE_MESSAGES[phase].format(seconds), phase=phase, timeout=seconds)

    def overruns(self, delay: float) -> bool:
        """True if waiting ``delay`` seconds from now would pass the ``total`` deadline."""
        return self._total is not None and self._now() + delay >= self._t0 + self._total


def _unstarted() -> float:
    raise RuntimeError("Deadline.start() was not called")
