"""The adapter: drives one provider stream through collector and handlers.

A :class:`ResponseStream` is what ``llm.stream(...)`` returns. It is an
async iterator of ``str`` tokens, an async context manager, and, through
``events()``, an async iterator of typed events. ``generate()`` and
``await llm(...)`` drive the very same object with ``collect()``.

One network read is handled in one pass: the mapper turns all the events
in it into streamkit events, each is fed to the collector and then to the
handlers, and the tokens are queued for the consumer, who then takes them
without any further ``await`` on the network. There is no task per stream
and no task per token: everything runs on the consumer's own task, so
cancelling that task cancels the stream, and nothing outlives it. (The one
opt-in exception is a ``BackgroundHandler``, whose worker the stream owns
and joins or cancels on every exit.)

The parts, each with one job:

* :class:`State`: the stream's state machine. ``NEW`` -> ``OPENING``
  (started: ``on_llm_start`` called, a request being sent or a retry
  waited for) -> ``OPEN`` (reading a body) -> one of ``DONE``, ``FAILED``,
  ``CLOSED``. The terminal state is entered in :meth:`ResponseStream._end`
  only, which is also the only caller of ``on_llm_end`` and ``on_llm_error``:
  a started stream gets exactly one of them.
* :class:`_Request`: the call's request, sent once per attempt, and how an
  answer to it is read (an event stream, or a whole JSON body).
* :class:`_Attempt`: one HTTP response: its :class:`~streamkit._transport.Body`
  (which reads the network and maps its errors: the network boundary) and
  the provider's mapper (bytes to events, or the wire format's errors).
* :class:`~streamkit._retry.RetryPolicy`: whether and when a failed attempt
  is tried again. Only errors of the *retried region* reach it: sending the
  request, reading the body, the wire format. Handler calls sit outside
  that region, so a handler's exception propagates as itself, never
  renamed and never retried.
* :class:`~streamkit.deadlines.Deadline`: the phases' deadlines; each read
  waits until the nearest one (one timer per read, not per token).

Lifecycle and closing policy:

* the request is sent on the first ``__anext__``/``collect()``;
* at the end of the body (read to EOF, a few bytes past the terminal marker)
  the connection goes back to the pool for reuse;
* on any early exit (``break`` and then ``aclose()``/the ``async with``
  exit, an exception, cancellation) the HTTP connection is *closed* at once,
  not returned, because its body was not read; handlers get
  ``on_llm_error`` with :class:`~streamkit.errors.StreamAbandoned` (or the
  real error) carrying the partial result; ``CancelledError`` is re-raised;
* ``aclose()`` from another task (a Stop button) closes the connection at
  once and wakes the reading task, whose ``async for`` then just ends
  (``collect()`` raises :class:`~streamkit.errors.StreamClosedError`);
  ``on_llm_error`` gets one ``StreamAbandoned``, from whichever task ends
  the stream;
* the model's ``aclose()`` does the same to every stream it has open, with
  :class:`~streamkit.errors.StreamClosedError`, raised in the reading task;
* a bare ``async for ... : break`` with no reference left to the stream
  closes the connection as the object is freed, which CPython does right at
  the ``break``; use ``async with`` to also get ``on_llm_error`` delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from enum import Enum
from time import perf_counter
from types import TracebackType
from typing import Any, TypeVar, get_args
from uuid import UUID

from ._collector import Collector
from ._metrics import StreamMetrics
from ._retry import RetryPolicy
from ._sse import DEFAULT_MAX_EVENT_SIZE
from ._transport import Body
from .callbacks._manager import HandlerSet
from .deadlines import Deadline, Timeouts, current_clock
from .errors import (
    APIError,
    IncompleteStreamError,
    ProtocolError,
    ProviderStreamError,
    StreamAbandoned,
    StreamClosedError,
    StreamkitError,
    StreamStateError,
)
from .events import (
    Citation,
    ContentBlock,
    Event,
    Finish,
    FinishReason,
    MessageStart,
    RefusalDelta,
    ServerToolResult,
    ServerToolUse,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from .messages import AIMessage
from .providers.base import Provider, StreamMapper, loads
from .results import ChatGeneration, Generation, LLMResult

__all__ = ["EventSource", "ResponseStream", "State"]

#: ``Finish.normalized``'s vocabulary (``streamkit.events.FinishReason``).
_FINISH_REASONS = frozenset(get_args(FinishReason))

_EVENT_TYPES = (
    TextDelta,
    ThinkingDelta,
    RefusalDelta,
    ToolCallStart,
    ToolCallDelta,
    Citation,
    ContentBlock,
    Usage,
    Finish,
    MessageStart,
    ServerToolUse,
    ServerToolResult,
)

T = TypeVar("T")
_TOKENS, _EVENTS, _DRAIN = 1, 2, 3


class State(Enum):
    """Where a stream is in its life."""

    NEW = "new"  # created, nothing sent
    OPENING = "opening"  # started: sending a request, or waiting to retry
    OPEN = "open"  # reading a response body
    DONE = "done"  # read to its end: ``result`` is there
    FAILED = "failed"  # an error was raised to the reader
    CLOSED = "closed"  # closed before its end: aclose(), the model's aclose(), cancellation


# Module-level names for the members: ``_OPEN`` is an enum attribute
# lookup (about 0.25 us on CPython 3.11), too slow for a check per read.
_NEW, _OPENING, _OPEN, _DONE, _FAILED, _CLOSED = State
_ENDED = frozenset({_DONE, _FAILED, _CLOSED})


#: Opens one attempt's answer: takes the connect timeout and a callback for
#: the moment the request is sent; returns an HTTP :class:`~streamkit._transport.Body`,
#: or an :class:`EventSource` for a provider that yields events itself.
Opener = Callable[[float | None, Callable[[], None]], Coroutine[Any, Any, "Body | EventSource"]]


class EventSource:
    """An answer that arrives as events, not bytes: a provider's own async iterator.

    What the opener of a non-HTTP provider returns (see
    :mod:`streamkit.providers.function`). The iterator yields streamkit
    :mod:`~streamkit.events` or plain ``str`` (a :class:`~streamkit.events.TextDelta`
    of choice 0). Everything after it is shared with HTTP answers: the
    collector, handlers, deadlines (a wait for the next event counts as a
    read), retries and the relay.

    * An :class:`~streamkit.errors.APIError` raised by the iterator is the
      stream's error, retried like an HTTP one if it is ``retryable``; any
      other exception becomes :class:`~streamkit.errors.ProviderStreamError`
      (its ``__cause__`` is the original), with the partial result.
    * A stream without :class:`~streamkit.events.MessageStart` gets one with
      ``model``; one that ends without a :class:`~streamkit.events.Finish`
      for choice 0 ends with ``Finish("stop")`` (``"tool_calls"`` after a
      tool call): the iterator's end is the answer's end. A ``Finish``
      without ``normalized`` gets it (its reason if it is one of
      :data:`~streamkit.events.FinishReason`, else ``"other"``).
    * A ``CancelledError`` raised inside the iterator while the reading task
      is not being cancelled (an inner task of the provider's) is the
      provider's error, ``ProviderStreamError``; cancelling the reader is
      never swallowed.
    * Closing the stream (``aclose()``, ``break``, cancellation, a deadline)
      closes the iterator (``aclose()``: its ``finally`` blocks run).
    """

    __slots__ = ("_iterator", "_model", "_scope", "_started", "_stop", "called", "content_type", "finished")

    def __init__(self, iterator: AsyncIterator[Any], model: str | None = None) -> None:
        self._iterator = iterator
        self._model = model
        self._scope: asyncio.Timeout | None = None
        self._stop: BaseException | None = None
        self._started = False
        #: The choices a Finish was seen for.
        self.finished: set[int] = set()
        #: The choices a tool call was started for (their natural end is ``tool_calls``).
        self.called: set[int] = set()
        self.content_type = "application/x-streamkit-events"

    async def receive(self, when: float | None) -> list[Event] | None:
        """The next event(s); ``[]`` never; ``None`` at the iterator's end.

        Raises :class:`~streamkit.errors.APITimeoutError`-free: a passed
        ``when`` (loop time) raises ``TimeoutError`` for the caller to name.
        """
        if self._stop is not None:
            raise self._stop
        scope = asyncio.timeout_at(when)
        self._scope = scope
        try:
            async with scope:
                item = await anext(self._iterator)
        except StopAsyncIteration:
            return None
        except TimeoutError as exc:
            if self._stop is not None:
                raise self._stop from None
            if scope.expired():
                raise
            raise _wrapped(exc) from exc  # the provider's own TimeoutError, message kept
        except APIError:
            raise
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if self._stop is not None or task is None or task.cancelling():
                raise  # this task is being cancelled: never swallowed
            raise _wrapped(exc) from exc  # the provider's own (an inner task of its was cancelled)
        except Exception as exc:
            if self._stop is not None:
                raise self._stop from None
            raise _wrapped(exc) from exc
        finally:
            self._scope = None
        if self._stop is not None:
            raise self._stop
        if when is not None and asyncio.get_running_loop().time() >= when:
            # An iterator that never suspends (a local model's tight loop) gives
            # the timeout no chance to fire: the deadline is checked here too.
            raise TimeoutError
        cls = item.__class__
        if cls is str:
            event: Event = TextDelta(item)
        elif isinstance(item, _EVENT_TYPES):
            event = item
            if cls is Finish:
                assert isinstance(event, Finish)
                self.finished.add(event.index)
                if event.normalized is None:  # the one vocabulary, as every provider gives it
                    reason = event.reason if event.reason in _FINISH_REASONS else "other"
                    event = Finish(event.reason, event.index, reason, event.stop_sequence)  # type: ignore[arg-type]
            elif cls is ToolCallStart:
                assert isinstance(event, ToolCallStart)
                self.called.add(event.index)
        else:
            raise ProtocolError(
                f"the provider yielded {type(item).__name__}; it must yield str or streamkit events "
                "(TextDelta, ToolCallStart, Usage, Finish, ...)"
            )
        if not self._started:
            self._started = True
            if cls is not MessageStart:
                return [MessageStart(model=self._model), event]
        return [event]

    def interrupt(self, error: BaseException) -> None:
        """Make the waiting receive, and every later one, raise ``error``."""
        self._stop = error
        scope = self._scope
        if scope is not None and not scope.expired():
            scope.reschedule(float("-inf"))

    def done(self) -> None:
        """The answer is complete (the iterator is exhausted): nothing to release."""

    def close(self) -> None:
        """Close the iterator without waiting (from sync code): its ``aclose()`` is scheduled."""
        iterator, self._iterator = self._iterator, _EMPTY
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop: the generator is finalised when it is freed
            # As asyncio's own async-generator finalizer does: the close runs
            # as its own task (held until done), so a ``finally`` that awaits works.
            task = loop.create_task(_close_quietly(aclose))
            _CLOSING.add(task)
            task.add_done_callback(_CLOSING.discard)


#: Iterator closes in flight (held so they are not garbage-collected mid-way).
_CLOSING: set[asyncio.Task[None]] = set()


async def _close_quietly(aclose: Callable[[], Awaitable[Any]]) -> None:
    with contextlib.suppress(RuntimeError):  # still running: it ends with the task reading it
        await aclose()


class _Empty:
    def __aiter__(self) -> _Empty:
        return self

    async def __anext__(self) -> Any:
        raise StopAsyncIteration


_EMPTY = _Empty()


def _wrapped(exc: BaseException) -> ProviderStreamError:
    error = ProviderStreamError(
        f"the provider raised {type(exc).__name__}: {exc}", error_type="provider_exception"
    )
    error.__cause__ = exc
    return error


class _SourceAttempt:
    """One attempt whose answer is an :class:`EventSource` (no bytes, no mapper)."""

    __slots__ = ("body", "ended", "metrics", "tokens")

    def __init__(self, source: EventSource, metrics: StreamMetrics) -> None:
        self.body = source
        self.metrics = metrics
        self.tokens = True
        self.ended = False

    async def receive(self, deadline: Deadline) -> list[Event] | None:
        if self.ended:
            return None
        try:
            events = await self.body.receive(deadline.loop_when())
        except TimeoutError:
            raise deadline.expired() from None
        if events is None:
            self.ended = True
            if 0 not in self.body.finished:
                if 0 in self.body.called:
                    return [Finish("tool_calls", normalized="tool_calls")]
                return [Finish("stop", normalized="stop")]
            return None
        now = perf_counter()
        metrics = self.metrics
        metrics.gaps.append(now - metrics.last_read)  # type: ignore[operator]
        metrics.last_read = now
        if deadline.active:
            deadline.progress()
        return events

    def check_complete(self, finished: bool) -> None:
        """The iterator's end is the answer's end."""


class _Attempt:
    """One HTTP response: the body being read and the mapper turning its bytes into events.

    A whole JSON answer has no body left to read: its events are
    ``pending``, handed over at once.
    """

    __slots__ = ("body", "deferred", "ended", "mapper", "metrics", "pending", "tokens")

    def __init__(self, body: Body, metrics: StreamMetrics) -> None:
        self.body = body
        self.metrics = metrics
        self.mapper: StreamMapper | None = None
        self.pending: list[Event] | None = None
        #: Whether text events reach the token hooks (not for a non-streaming call).
        self.tokens = True
        #: An error met after events in the same read: raised at the next one.
        self.deferred: StreamkitError | None = None
        self.ended = False

    async def receive(self, deadline: Deadline) -> list[Event] | None:
        """The events of the next network read; ``None`` once the answer is over.

        Raises only :class:`~streamkit.errors.APIError`: from the network
        (mapped by the body), a passed deadline, or the wire format.
        """
        error = self.deferred
        if error is not None:
            self.deferred = None
            raise error
        mapper = self.mapper
        if mapper is None:  # a whole JSON answer
            events, self.pending = self.pending, None
            return events
        if mapper.terminal or self.ended:
            return None
        chunk = await self.body.read(deadline.loop_when())
        if chunk is None:
            raise deadline.expired()
        if chunk:
            metrics = self.metrics
            metrics.bytes_received += len(chunk)
            events = mapper.feed(chunk)
            if events:
                now = perf_counter()  # per read, never per token
                metrics.gaps.append(now - metrics.last_read)  # type: ignore[operator]
                metrics.last_read = now
                if deadline.active:
                    deadline.progress()
            elif deadline.keepalive_is_progress and deadline.active:
                deadline.progress()
        else:
            self.ended = True
            events = mapper.finish()
        error = mapper.error
        if error is not None:
            mapper.error = None
            if not events:
                raise error
            # Hand over the events that came before the error first.
            self.deferred = error
        return events

    def check_complete(self, finished: bool) -> None:
        """At the end of the answer: raise IncompleteStreamError if it stopped short."""
        mapper = self.mapper
        if mapper is not None:
            mapper.check_complete(finished)
        elif not finished:
            # Every choice of a whole answer has its finish/stop reason
            # (OpenAI's and Anthropic's documented response objects).
            raise IncompleteStreamError(
                "the response has no answer with a finish reason: it is empty or was cut short"
            )


class _Request:
    """This call's request: how to send it, and how to read an answer to it.

    One per stream; each attempt sends it anew (the body bytes are encoded once).
    """

    __slots__ = ("connect_timeout", "max_event_size", "opener", "provider", "redact", "streaming")

    def __init__(
        self,
        opener: Opener,
        provider: Provider,
        *,
        streaming: bool,
        connect_timeout: float | None,
        max_event_size: int,
        redact: Callable[[APIError], APIError] | None,
    ) -> None:
        self.opener = opener
        self.provider = provider
        self.streaming = streaming
        self.connect_timeout = connect_timeout
        self.max_event_size = max_event_size
        #: Removes the client's secrets from an error (an upstream may echo the key).
        self.redact = redact

    def send(self, on_sent: Callable[[], None]) -> Coroutine[Any, Any, Body | EventSource]:
        """Send the request (one attempt): its 2xx response's body. ``on_sent`` ends the connect phase."""
        return self.opener(self.connect_timeout, on_sent)

    async def prepare(self, attempt: _Attempt, deadline: Deadline) -> None:
        """Get ``attempt`` ready: a mapper for an event stream, or the events of a whole JSON answer."""
        body = attempt.body
        if self.provider.framing(self.streaming, body.content_type) != "json":
            # SSE or NDJSON: the provider's mapper picks the shared decoder.
            mapper = attempt.mapper = self.provider.new_mapper()
            mapper.set_max_event_size(self.max_event_size)
            return
        # A whole JSON response (non-streaming mode, or a server that ignored
        # ``stream: true``): same mapper, same events, same collector.
        raw = await self._read_whole(body, deadline)
        attempt.metrics.bytes_received = len(raw)
        attempt.metrics.streamed = False
        body.done()
        attempt.pending = self.provider.parse_response(loads(raw.decode("utf-8", "replace")))
        attempt.tokens = self.streaming

    async def _read_whole(self, body: Body, deadline: Deadline) -> bytes:
        """A whole JSON response body, at most ``max_event_size`` bytes."""
        limit = self.max_event_size
        when = deadline.loop_when()
        data = bytearray()
        while chunk := await body.read(when):
            data += chunk
            if len(data) > limit:
                raise ProtocolError(
                    f"the response body is larger than max_event_size ({limit} bytes); if the server "
                    "legitimately sends bodies this large, raise the model's max_event_size setting"
                )
        if chunk is None:
            raise deadline.expired()
        return bytes(data)


class ResponseStream:
    """One streamed response: ``async for token in stream``, then ``stream.result``.

    Raises typed :mod:`streamkit.errors` from iteration; errors after the
    stream began carry ``.partial_result``. With ``n > 1`` the tokens of
    every choice arrive interleaved, in wire order; use ``events()`` (each
    ``TextDelta`` has its choice ``index``) to tell them apart.
    """

    __slots__ = (
        "__weakref__",
        "_attempt",
        "_busy",
        "_closing",
        "_collector",
        "_deadline",
        "_delivered",
        "_error",
        "_handlers",
        "_loop",
        "_metrics",
        "_mode",
        "_out",
        "_policy",
        "_pos",
        "_registry",
        "_request",
        "_result",
        "_run_id",
        "_scope",
        "_start_args",
        "_start_hook",
        "_state",
    )

    def __init__(
        self,
        *,
        provider: Provider,
        chat: bool | None = None,
        open: Opener,
        handlers: HandlerSet,
        run_id: UUID,
        start_hook: str,
        start_args: tuple[Any, ...],
        streaming: bool = True,
        timeouts: Timeouts | None = None,
        max_retries: int = 0,
        redact: Callable[[APIError], APIError] | None = None,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        registry: weakref.WeakSet[ResponseStream] | None = None,
    ) -> None:
        timeouts = timeouts or Timeouts.none()
        self._request = _Request(
            open,
            provider,
            streaming=streaming,
            connect_timeout=timeouts.connect,
            max_event_size=max_event_size,
            redact=redact,
        )
        self._handlers = handlers
        self._run_id = run_id
        self._start_hook = start_hook
        self._start_args = start_args
        #: The open streams of the model: its aclose() closes them.
        self._registry = registry
        clock = current_clock()
        self._deadline = Deadline(timeouts, clock)
        self._policy = RetryPolicy(max_retries, clock)
        self._collector = self._new_collector(provider.chat if chat is None else chat)
        self._delivered = False  # has any content reached handlers or the consumer?
        self._attempt: _Attempt | _SourceAttempt | None = None
        self._state = _NEW
        self._mode = 0
        self._busy = False  # a task is inside _pump
        self._scope: asyncio.Timeout | None = None  # the non-read wait in progress (request, back-off)
        self._closing: StreamkitError | None = None  # set by a close while a task is inside
        self._error: BaseException | None = None  # what ended the stream, if not DONE
        self._out: list[Any] = []
        self._pos = 0
        self._result: LLMResult | None = None
        self._metrics = StreamMetrics()
        #: The event loop the stream runs on (set when it starts).
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- public surface ------------------------------------------------

    @property
    def metrics(self) -> dict[str, Any]:
        """Timing and size figures so far (see :mod:`streamkit._metrics`; seconds and bytes)."""
        return self._metrics_snapshot()

    def _metrics_snapshot(self) -> dict[str, Any]:
        collector = self._collector
        usage = collector.usage
        return self._metrics.snapshot(
            usage.completion_tokens if usage else None, collector.delivered_deltas()
        )

    @property
    def run_id(self) -> UUID:
        """The id handlers receive as ``run_id``."""
        return self._run_id

    @property
    def result(self) -> LLMResult:
        """The final result; only once the stream has been read to its end.

        Raises :class:`StreamStateError` before that (see ``partial_result``).
        """
        if self._result is None:
            raise StreamStateError(
                "the stream has not finished: iterate it to the end (or await collect()) first; "
                "partial_result holds what has arrived so far"
            )
        return self._result

    @property
    def partial_result(self) -> LLMResult:
        """What has arrived so far, as an ``LLMResult`` (available at any time)."""
        return self._result or self._partial()

    @property
    def text(self) -> str:
        """The answer text so far (choice 0)."""
        return self._collector.text()

    @property
    def finished(self) -> bool:
        """True once the stream was read to its end successfully."""
        return self._state is _DONE

    def __aiter__(self) -> ResponseStream:
        self._claim(_TOKENS)
        return self

    async def __anext__(self) -> str:
        out = self._out
        pos = self._pos
        if pos < len(out):
            self._pos = pos + 1
            token: str = out[pos]
            return token
        return await self._refill()  # type: ignore[no-any-return]

    def events(self) -> AsyncIterator[Event]:
        """Iterate typed events (text, tool calls, thinking, usage, finish) instead of tokens."""
        self._claim(_EVENTS)
        return _EventIterator(self)

    def choice_tokens(self) -> AsyncIterator[tuple[int, str]]:
        """Iterate ``(index, token)`` pairs: each token with its choice's ``index``.

        For ``n > 1``, whose choices' tokens arrive interleaved, in wire
        order: ``async for index, token in stream.choice_tokens():
        texts[index] += token``. With one choice, ``index`` is always 0. The
        tokens are exactly those ``async for token in stream`` yields (and
        handlers get); a stream is read one way, so this instead of that.
        """
        self._claim(_EVENTS)
        return _ChoiceTokenIterator(self)

    async def collect(self) -> LLMResult:
        """Read the stream to its end and return the final result.

        Raises :class:`StreamClosedError` if the stream is closed meanwhile
        (``aclose()`` from another task, or the model's ``aclose()``).
        """
        if self._result is not None:
            return self._result
        self._claim(_DRAIN)
        while self._state is not _DONE:
            if self._state in _ENDED:
                raise self._closed_error()
            self._out = []
            try:
                await self._pump()
            except StreamAbandoned as exc:
                if exc is not self._closing:
                    raise
                raise self._closed_error() from None
        assert self._result is not None
        return self._result

    async def aclose(self) -> None:
        """Stop: close the HTTP connection now; handlers get ``on_llm_error`` (``StreamAbandoned``).

        Idempotent; a no-op on a finished stream. From another task while
        one reads the stream, it also wakes that task at once: its ``async
        for`` ends (its ``collect()`` raises :class:`StreamClosedError`),
        and that task tells the handlers. A task running one of your
        handlers notices when the handler returns.
        """
        await self._close(StreamAbandoned("the consumer stopped reading before the end of the stream"))

    async def __aenter__(self) -> ResponseStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # Reached at a bare ``async for ...: break``: close at once, not at
        # some later garbage collection of the response.
        if self._state is _OPEN or self._state is _OPENING:
            attempt = self._attempt
            if attempt is not None:
                attempt.body.close()
            self._handlers.cancel()
            if self._state is _OPEN:
                # Sync handlers can still be told (an OpenTelemetry span ended,
                # a row closed); async ones cannot be awaited from here.
                abandoned = StreamAbandoned("the stream was dropped before its end (a bare break)")
                self._handlers.error_nowait(abandoned, self._run_id)

    # -- the engine ----------------------------------------------------

    def _new_collector(self, chat: bool) -> Collector:
        provider = self._request.provider
        return Collector(chat=chat, run_id=self._run_id, model_provider=provider.model_provider or None)

    def _partial(self) -> LLMResult:
        """The result so far, for an error or an abandoned stream: never raises.

        Its usage is what the server reported, with the completion tokens
        delivered counted in when the report is missing or behind
        (``usage_estimated: True``).

        The mappers only emit values of the right types, so building the
        result cannot fail; should it anyway, the text received is still
        returned rather than a second error that would hide the first.
        """
        try:
            result = self._collector.result(estimate_usage=True)
            assert result.llm_output is not None
            result.llm_output["metrics"] = self._metrics_snapshot()
            return result
        except Exception:
            text = self._collector.text()
            generation = (
                ChatGeneration(message=AIMessage(content=text))
                if self._collector.chat
                else Generation(text=text)
            )
            return LLMResult(generations=[[generation]], llm_output=None)

    def _claim(self, mode: int) -> None:
        state = self._state
        if state in _ENDED and not (mode == _DRAIN and state is _DONE):
            if isinstance(self._error, StreamClosedError):
                raise self._error
            word = {_DONE: "finished", _FAILED: "failed", _CLOSED: "closed"}[state]
            raise StreamStateError(f"this stream has already {word}; call stream() again for a new one")
        if self._mode and self._mode != mode:
            raise StreamStateError(
                "this stream is already being read another way (tokens, events() or collect()); pick one"
            )
        self._mode = mode

    async def _refill(self) -> Any:
        while True:
            if self._state is not _OPEN:
                self._check_readable()
            self._out = []
            self._pos = 0
            try:
                await self._pump()
            except StreamAbandoned as exc:
                if exc is not self._closing:
                    raise
                raise StopAsyncIteration from None  # closed by aclose(): the loop just ends
            out = self._out
            if out and self._closing is None:
                self._pos = 1
                return out[0]

    def _check_readable(self) -> None:
        """Before a read in a state other than OPEN: raise what ends the iteration, if anything."""
        state = self._state
        if state is _DONE:
            raise StopAsyncIteration
        if state is _CLOSED:
            error = self._error
            if isinstance(error, StreamClosedError):
                raise error
            if error is not None and error is self._closing:
                raise StopAsyncIteration
            raise StreamStateError("this stream was closed")
        if state is _FAILED:
            raise StreamStateError("this stream has failed; call stream() again for a new one")

    def _closed_error(self) -> StreamClosedError:
        error = self._error
        if isinstance(error, StreamClosedError):
            return error
        return StreamClosedError(
            "the stream was closed (aclose()) before its end", partial_result=self._partial()
        )

    async def _pump(self) -> None:
        """One step for the reader: start, or one network read and its events, or the end.

        The retried region (sending the request, reading, the wire format)
        raises only APIErrors, which go to the retry policy; the handler
        calls (start, tokens, retry, end) are outside it.
        """
        if self._busy:
            raise StreamStateError("this stream is already being read by another task")
        self._busy = True
        try:
            if self._state is _NEW:
                await self._start()
            while True:
                if self._closing is not None:
                    raise self._closing  # closed while this task was in a handler
                attempt = self._attempt
                try:
                    if attempt is None:
                        attempt = await self._open()
                    events = await attempt.receive(self._deadline)
                    if events is None:
                        attempt.check_complete(self._collector.finished)
                except APIError as exc:
                    failure = exc
                else:
                    if events is None:
                        await self._end(_DONE)
                    elif events:
                        await self._process(events, attempt.tokens)
                    return
                await self._retry(failure)
        except BaseException as exc:
            await self._abort(exc)
            raise
        finally:
            self._busy = False

    async def _start(self) -> None:
        self._state = _OPENING
        self._loop = asyncio.get_running_loop()
        if self._registry is not None:
            self._registry.add(self)
        await self._handlers.call(self._start_hook, *self._start_args, run_id=self._run_id)
        self._deadline.start()
        self._metrics.start()

    async def _open(self) -> _Attempt | _SourceAttempt:
        """Send the request (one attempt) and get ready to read its answer."""
        deadline = self._deadline
        deadline.attempt()
        body = await self._wait(self._request.send(_weak(self._request_sent)))
        self._metrics.response()
        if body.__class__ is EventSource:
            assert isinstance(body, EventSource)
            source = self._attempt = _SourceAttempt(body, self._metrics)
            source.tokens = self._metrics.streamed = self._request.streaming
            self._state = _OPEN
            if not deadline.sent:
                deadline.request_sent()
            return source
        assert isinstance(body, Body)
        attempt = self._attempt = _Attempt(body, self._metrics)
        self._state = _OPEN
        if not deadline.sent:
            deadline.request_sent()  # a session that cannot tell: the phases start at the headers
        await self._request.prepare(attempt, deadline)
        return attempt

    def _request_sent(self) -> None:
        """The request is written: the connect phase is over, the next deadline applies now."""
        deadline = self._deadline
        deadline.request_sent()
        scope = self._scope
        if scope is not None and not scope.expired():
            scope.reschedule(deadline.loop_when())

    async def _wait(self, step: Coroutine[Any, Any, T]) -> T:
        """Await a step that is not a body read (sending the request, a back-off).

        Under the call's deadline, and woken at once by a close.
        """
        if self._closing is not None:
            step.close()
            raise self._closing
        scope = asyncio.timeout_at(self._deadline.loop_when())
        self._scope = scope
        try:
            async with scope:
                return await step
        except TimeoutError:
            if not scope.expired():
                raise  # typed already: the connect phase's APITimeoutError
            if self._closing is not None:
                raise self._closing from None
            raise self._deadline.expired() from None
        finally:
            self._scope = None

    async def _retry(self, error: APIError) -> None:
        """Try again after ``error`` if the policy says so; else raise it as the stream's error."""
        redact = self._request.redact
        if redact is not None:
            redact(error)
        policy = self._policy
        delay = policy.delay(error, delivered=self._delivered, deadline=self._deadline)
        if delay is None:
            if error.partial_result is None:
                error.partial_result = self._partial()
            raise error
        attempt, self._attempt = self._attempt, None
        if attempt is not None:
            attempt.body.close()
        self._collector = self._new_collector(self._collector.chat)
        self._state = _OPENING
        self._metrics.retry()
        self._deadline.attempt()  # no attempt runs during the back-off: only ``total`` counts
        await self._handlers.call(
            "on_retry", error, attempt=policy.attempts, delay=delay, run_id=self._run_id
        )
        await self._wait(policy.sleep(delay))

    async def _process(self, events: list[Event], tokens: bool = True) -> None:
        """The hot path: collector first, then handlers, then the consumer's queue."""
        feed = self._collector.feed
        handlers = self._handlers
        sync_hooks = handlers.token_sync if tokens else ()
        async_hooks = handlers.token_async if tokens else ()
        mode = self._mode
        out = self._out
        run_id = self._run_id
        if not self._delivered:
            # Until content arrives a failure may still be retried silently;
            # from here on the user has seen something, so never again.
            for event in events:
                cls = event.__class__
                if cls is MessageStart or cls is Usage:
                    continue
                if isinstance(event, ContentBlock) and event.block is None:
                    continue  # a block begins: no content yet
                self._delivered = True
                self._deadline.content()
                self._metrics.content()
                break
        if mode == _EVENTS:
            out.extend(events)
        for event in events:
            feed(event)
            if event.__class__ is TextDelta:
                text = event.text
                for hook in sync_hooks:
                    hook(text, run_id=run_id, index=event.index)
                for ahook in async_hooks:
                    await ahook(text, run_id=run_id, index=event.index)
                if mode == _TOKENS:
                    out.append(text)

    # -- the way out -----------------------------------------------------

    async def _close(self, reason: StreamkitError) -> None:
        """Close from outside the read: now, or by waking the task inside the stream."""
        if self._state in _ENDED:
            return
        if self._closing is None:
            self._closing = reason
        if self._busy:
            # A task is inside the stream (another one, or a handler of the
            # reader's own): wake it; it ends the stream and tells the handlers.
            scope = self._scope
            if scope is not None and not scope.expired():
                scope.reschedule(float("-inf"))
            attempt = self._attempt
            if attempt is not None:
                attempt.body.interrupt(self._closing)
            return
        await self._end(_CLOSED, self._closing)

    async def _abort(self, exc: BaseException) -> None:
        """The task reading the stream is leaving it with ``exc``: end the stream (once)."""
        if self._state in _ENDED:
            return  # on_llm_end itself failed: the result stands
        if exc is self._closing:
            await self._end(_CLOSED, exc)
        elif isinstance(exc, Exception):
            await self._end(_FAILED, exc)
        else:  # CancelledError, GeneratorExit, KeyboardInterrupt
            abandoned = StreamAbandoned("the stream was cancelled before its end")
            await self._end(_CLOSED, abandoned)

    async def _end(self, state: State, error: BaseException | None = None) -> None:
        """Enter a terminal state. The one place that does, and that calls on_llm_end / on_llm_error.

        DONE: the connection goes back to the pool (if its body was read to
        the end), the result is built and ``on_llm_end`` called. FAILED or
        CLOSED: the connection is closed, tokens not yet taken are dropped,
        and a started stream's handlers get ``on_llm_error`` once.
        """
        started = self._state is not _NEW
        self._state = state
        attempt, self._attempt = self._attempt, None
        if self._registry is not None:
            self._registry.discard(self)
        self._metrics.end()
        if state is _DONE:
            if attempt is not None:
                attempt.body.done()
            result = self._result = self._collector.result()
            assert result.llm_output is not None
            result.llm_output["metrics"] = self._metrics_snapshot()
            await self._handlers.call("on_llm_end", result, run_id=self._run_id)
            return
        if attempt is not None:
            attempt.body.close()
        self._out = []
        self._pos = 0
        self._error = error
        if (
            isinstance(error, StreamkitError)
            and error.partial_result is None
            and (error is self._closing or isinstance(error, StreamAbandoned))
        ):
            error.partial_result = self._partial()
        if not started:
            return
        if error is not None:
            await self._handlers.error(error, self._run_id, clock=self._deadline.clock)


def _weak(method: Callable[[], None]) -> Callable[[], None]:
    """``method``, called through a weak reference to its object.

    aiohttp keeps a request's trace context (where ``on_sent`` lives) on
    the response, which the stream holds: a strong reference there would
    make a cycle, and the stream would no longer be freed (and its
    connection closed) right at a bare ``break``.
    """
    ref = weakref.WeakMethod(method)

    def call() -> None:
        bound = ref()
        if bound is not None:
            bound()

    return call


class _EventIterator:
    """``stream.events()``: the typed events, through the same engine.

    In events mode the stream's queue holds events instead of tokens, so
    the stream's own ``__anext__`` serves them.
    """

    __slots__ = ("_stream",)

    def __init__(self, stream: ResponseStream) -> None:
        self._stream = stream

    def __aiter__(self) -> _EventIterator:
        return self

    def __anext__(self) -> Awaitable[Event]:
        return self._stream.__anext__()  # type: ignore[return-value]


class _ChoiceTokenIterator:
    """``stream.choice_tokens()``: the events mode's text deltas, as ``(index, text)``."""

    __slots__ = ("_stream",)

    def __init__(self, stream: ResponseStream) -> None:
        self._stream = stream

    def __aiter__(self) -> _ChoiceTokenIterator:
        return self

    async def __anext__(self) -> tuple[int, str]:
        stream = self._stream
        while True:
            event: Any = await stream.__anext__()  # in events mode, an Event
            if event.__class__ is TextDelta:
                return event.index, event.text
