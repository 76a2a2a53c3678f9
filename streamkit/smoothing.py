"""Smoothing: the answer's text re-chunked into whole words (or lines), paced, for even typing.

::

    import streamkit

    async for word in streamkit.smooth(chat.stream("hi"), chunking="word", delay_ms=10):
        print(word, end="")

    await sse_response(request, chat.stream(messages), smooth=Smoothing(chunking="word", delay_ms=10))

Providers send text in pieces of any size (a byte, a token, a sentence);
a UI that prints each piece as it comes stutters. Like the AI SDK's
``smoothStream`` transform (its reference: "smoothStream",
https://ai-sdk.dev/docs/reference/ai-sdk-core/smooth-stream), a smoothed
stream holds answer text (:class:`~streamkit.events.TextDelta`) and
reasoning (:class:`~streamkit.events.ThinkingDelta`) in a buffer and lets
it out one chunk at a time, each followed by a pause of ``delay_ms``:

- ``chunking="word"`` (default): a chunk is everything up to and including
  the first run of non-whitespace followed by whitespace (the regular
  expression ``\\S+\\s+``), so every paced chunk ends on a word boundary;
- ``"line"``: up to and including the first run of newlines (``\\n+``);
- a compiled ``re.Pattern``: up to the end of its first match;
- a callable ``(buffer) -> str | None``: the chunk (a non-empty prefix of
  the buffer), or None to wait for more.

Whatever is buffered is let out, unpaced, before any other event (a tool
call, a citation, the finish), before reasoning gives way to the answer,
when the stream ends (the last partial word), and before an error is
raised. The text is preserved exactly: the chunks of a choice join to the
text the provider sent. ``delay_ms=None`` or ``0``: re-chunk, no pauses.
Off by default; it changes what the consumer sees, not what callback
handlers see (they get every upstream token as it arrives) nor
``result``. ``sleep`` (default :func:`anyio.sleep`) is injectable, so tests
need not wait on the clock.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

import anyio

from ._adapter import ResponseStream
from .errors import InvalidArgumentError
from .events import TextDelta, ThinkingDelta
from .results import LLMResult
from .structured import StructuredStream

__all__ = ["Chunking", "SmoothStream", "Smoothing", "smooth"]

Chunking = Literal["word", "line"] | re.Pattern[str] | Callable[[str], str | None]
"""How text is cut into chunks: ``"word"``, ``"line"``, a compiled pattern, or ``(buffer) -> chunk | None``.

See the module docstring; the named ones are the AI SDK's ``smoothStream``
chunkings (https://ai-sdk.dev/docs/reference/ai-sdk-core/smooth-stream).
"""

# The AI SDK's two named chunkings (its smoothStream source, CHUNKING_REGEXPS).
_NAMED: dict[str, re.Pattern[str]] = {"word": re.compile(r"\S+\s+"), "line": re.compile(r"\n+")}


@dataclass(frozen=True, slots=True)
class Smoothing:
    """How to smooth a stream: ``chunking`` (see the module docstring), ``delay_ms`` after each chunk.

    ``sleep``: awaited with the pause in seconds (default :func:`anyio.sleep`).
    Raises InvalidArgumentError for an unknown chunking name, a pattern
    that matches the empty string, or a negative or non-finite delay.
    """

    chunking: Chunking = "word"
    delay_ms: float | None = 10.0
    sleep: Callable[[float], Awaitable[Any]] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        chunking = self.chunking
        if isinstance(chunking, str):
            if chunking not in _NAMED:
                raise InvalidArgumentError(
                    f"chunking must be 'word', 'line', a compiled regular expression or a callable; "
                    f"got {chunking!r}"
                )
        elif isinstance(chunking, re.Pattern):
            if chunking.fullmatch("") is not None:
                raise InvalidArgumentError(f"chunking pattern {chunking.pattern!r} matches the empty string")
        elif not callable(chunking):
            raise InvalidArgumentError(
                "chunking must be 'word', 'line', a compiled regular expression or a callable; "
                f"got {chunking!r}"
            )
        delay = self.delay_ms
        if delay is not None and (
            isinstance(delay, bool)
            or not isinstance(delay, int | float)
            or not math.isfinite(delay)
            or delay < 0
        ):
            raise InvalidArgumentError(f"delay_ms must be None or a finite number >= 0; got {delay!r}")

    def events(self, source: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """Smooth an event iterator (``stream.events()``): text and reasoning re-chunked, the rest kept."""
        return _SmoothEvents(source, self)

    def wrap(self, stream: Smoothable) -> SmoothStream:
        """``stream``, smoothed: a :class:`SmoothStream`."""
        return SmoothStream(stream, self)

    def _detector(self) -> Callable[[str], str | None]:
        chunking = self.chunking
        if isinstance(chunking, str):
            chunking = _NAMED[chunking]
        if isinstance(chunking, re.Pattern):
            pattern = chunking

            def detect(buffer: str) -> str | None:
                match = pattern.search(buffer)
                if match is None or match.end() == 0:
                    return None
                return buffer[: match.end()]

            return detect
        custom = chunking

        def checked(buffer: str) -> str | None:
            chunk = custom(buffer)
            if chunk is None:
                return None
            if not isinstance(chunk, str) or not chunk or not buffer.startswith(chunk):
                raise InvalidArgumentError(
                    "the chunking callable must return a non-empty prefix of the buffer or None; "
                    f"got {chunk!r}"
                )
            return chunk

        return checked


class _Buffer:
    __slots__ = ("logprobs", "text")

    def __init__(self) -> None:
        self.text = ""
        self.logprobs: list[Any] = []


class _SmoothEvents:
    """The smoothed events of one stream (see the module docstring)."""

    def __init__(self, source: AsyncIterator[Any], smoothing: Smoothing) -> None:
        self._source = source
        self._detect = smoothing._detector()
        self._delay = (smoothing.delay_ms or 0) / 1000
        self._sleep: Callable[[float], Awaitable[Any]] = smoothing.sleep or anyio.sleep
        # One buffer per (kind, choice): choices interleave on the wire.
        self._buffers: dict[tuple[type, int], _Buffer] = {}
        self._out: deque[tuple[Any, bool]] = deque()
        self._pause = False
        self._error: Exception | None = None
        self._done = False

    def __aiter__(self) -> _SmoothEvents:
        return self

    async def __anext__(self) -> Any:
        if self._pause:
            self._pause = False
            await self._sleep(self._delay)
        while not self._out:
            if self._error is not None:
                error, self._error = self._error, None
                self._done = True
                raise error
            if self._done:
                raise StopAsyncIteration
            try:
                event = await self._source.__anext__()
            except StopAsyncIteration:
                self._done = True
                self._flush_all()
                continue
            except Exception as exc:  # let out what was buffered, then raise it
                self._error = exc
                self._flush_all()
                continue
            self._feed(event)
        event, paced = self._out.popleft()
        self._pause = paced and self._delay > 0
        return event

    def _feed(self, event: Any) -> None:
        if not (
            isinstance(event, TextDelta | ThinkingDelta)
            and event.text
            and not (isinstance(event, ThinkingDelta) and event.signature)
        ):
            self._flush_all()
            self._out.append((event, False))
            return
        kind, index = type(event), event.index
        for key in [k for k in self._buffers if k[1] == index and k[0] is not kind]:
            self._flush(key)  # reasoning gives way to the answer (or back): its text ends here
        buffer = self._buffers.get((kind, index))
        if buffer is None:
            buffer = self._buffers[(kind, index)] = _Buffer()
        buffer.text += event.text
        if isinstance(event, TextDelta) and event.logprobs is not None:
            if isinstance(event.logprobs, list):
                buffer.logprobs.extend(event.logprobs)
            else:
                buffer.logprobs.append(event.logprobs)
        while (chunk := self._detect(buffer.text)) is not None:
            buffer.text = buffer.text[len(chunk) :]
            self._out.append((self._event(kind, chunk, index, buffer), True))

    @staticmethod
    def _event(kind: type, text: str, index: int, buffer: _Buffer) -> TextDelta | ThinkingDelta:
        if kind is ThinkingDelta:
            return ThinkingDelta(text=text, index=index)
        logprobs, buffer.logprobs = buffer.logprobs or None, []
        return TextDelta(text=text, index=index, logprobs=logprobs)

    def _flush(self, key: tuple[type, int]) -> None:
        buffer = self._buffers.pop(key)
        if buffer.text:
            self._out.append((self._event(key[0], buffer.text, key[1], buffer), False))

    def _flush_all(self) -> None:
        for key in list(self._buffers):
            self._flush(key)


class SmoothStream:
    """A stream, smoothed: ``async for text in smoothed`` yields the answer text in whole chunks.

    The same surface as the stream it wraps, for what a consumer or the
    relay uses: ``events()`` (smoothed), ``result``, ``partial_result``,
    ``text`` (everything received, buffered text included), ``finished``,
    ``run_id``, ``aclose()``, ``async with``. Iterating it yields ``str``
    chunks of answer text (of every choice), also for a structured stream.
    Iterate it, or its ``events()``, not both.
    """

    def __init__(self, stream: Smoothable, smoothing: Smoothing) -> None:
        self._stream = stream
        self._smoothing = smoothing
        self._events: AsyncIterator[Any] | None = None

    @property
    def stream(self) -> Smoothable:
        """The stream this one smooths."""
        return self._stream

    @property
    def run_id(self) -> Any:
        """The id handlers receive as ``run_id``."""
        return self._stream.run_id

    @property
    def result(self) -> LLMResult:
        """The final result (StreamStateError before the end, as on the wrapped stream)."""
        return self._stream.result

    @property
    def partial_result(self) -> LLMResult:
        """What has arrived so far."""
        return self._stream.partial_result

    @property
    def text(self) -> str:
        """The answer text received so far (including what is still buffered)."""
        return self._stream.text

    @property
    def finished(self) -> bool:
        """True once the wrapped stream was read to its end."""
        return self._stream.finished

    def events(self) -> AsyncIterator[Any]:
        """The wrapped stream's events, text and reasoning re-chunked and paced (``delay_ms`` apart).

        Other events pass unchanged, after the buffered text. The wrapped
        stream's error is raised after the text buffered before it was let
        out; a bad chunking callable's result raises
        :class:`~streamkit.errors.InvalidArgumentError`.
        """
        if self._events is None:
            self._events = self._smoothing.events(self._stream.events())
        return self._events

    def __aiter__(self) -> SmoothStream:
        return self

    async def __anext__(self) -> str:
        events = self.events()
        while True:
            event = await events.__anext__()
            if isinstance(event, TextDelta):
                return event.text

    async def aclose(self) -> None:
        """Close the wrapped stream now (idempotent)."""
        await self._stream.aclose()

    async def __aenter__(self) -> SmoothStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


#: What can be smoothed.
Smoothable = ResponseStream | StructuredStream[Any] | SmoothStream


def smooth(
    stream: Smoothable,
    *,
    chunking: Chunking = "word",
    delay_ms: float | None = 10.0,
    sleep: Callable[[float], Awaitable[Any]] | None = None,
) -> SmoothStream:
    """``stream`` with its text re-chunked into words (or lines) and paced; see :mod:`streamkit.smoothing`.

    ``async for chunk in streamkit.smooth(chat.stream("hi"))`` yields the
    answer in whole words, ``delay_ms`` (10 by default; None: no pause)
    apart; ``sleep`` replaces :func:`anyio.sleep` for the pauses. Raises
    InvalidArgumentError for a bad ``chunking`` or ``delay_ms``.
    """
    return Smoothing(chunking=chunking, delay_ms=delay_ms, sleep=sleep).wrap(stream)
