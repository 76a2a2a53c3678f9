"""Deadlines: connect, first token, idle and total, each its own typed timeout.

``Timeouts`` is set on a model (``timeout=``) and can be overridden per
call. A plain number ``t`` means "connect within t, and never be silent for
more than t" (``connect=t, idle=t``), as the official SDKs read it.

* ``connect``: to establish the TCP/TLS connection;
* ``first_token``: from sending the request to the first content event
  (text, tool call, thinking...), per attempt;
* ``idle``: the longest gap between events, per attempt. Keep-alive comments
  and Anthropic pings are not progress by default (a server that only
  pings is stalled); set ``keepalive_is_progress=True`` for reasoning
  models that think silently behind pings;
* ``total``: the whole call, retries and back-off included.

A deadline that passes raises :class:`~streamkit.errors.APITimeoutError`
(also a ``TimeoutError``) whose ``phase`` names which one, with the
partial result.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Timeouts", "as_timeouts"]


class Timeouts(BaseModel):
    """The four deadlines, in seconds (``None``: no limit)."""

    # NaN and infinities are refused (None means "no limit").
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    connect: float | None = Field(default=10.0, gt=0)
    first_token: float | None = Field(default=None, gt=0)
    idle: float | None = Field(default=600.0, gt=0)
    total: float | None = Field(default=None, gt=0)
    keepalive_is_progress: bool = False

    @classmethod
    def none(cls) -> Timeouts:
        """No deadline at all."""
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
