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

Retries live here, not in the transport, because only this object knows
whether content has reached anyone: a retryable failure is retried with
backoff while nothing was delivered, and raised with its partial result
after. Deadlines (:mod:`streamkit.deadlines`) are checked around each
network read with ``asyncio.timeout_at``: one timer per read, not per token.

Lifecycle and closing policy:

* the request is sent on the first ``__anext__``/``collect()``;
* at the end of the body (read to EOF, a few bytes past the terminal marker)
  the connection goes back to the pool for reuse;
* on any early exit (``break`` and then ``aclose()``/the ``async with``
  exit, an exception, cancellation) the HTTP connection is *closed* at once,
  not returned, because its body was not read; handlers get
  ``on_llm_error`` with :class:`~streamkit.errors.StreamAbandoned` (or the
  real error) carrying the partial result; ``CancelledError`` is re-raised;
* a bare ``async for ... : break`` with no reference left to the stream
  closes the connection as the object is freed, which CPython does right at
  the ``break``; use ``async with`` to also get ``on_llm_error`` delivered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar
from uuid import UUID

import aiohttp
import anyio

from .callbacks.manager import HandlerSet
from .collector import Collector
from .deadlines import Timeouts
from .errors import (
    APIError,
    APITimeoutError,
    IncompleteStreamError,
    ProtocolError,
    StreamAbandoned,
    StreamkitError,
    StreamStateError,
)
from .events import ContentBlock, Event, MessageStart, TextDelta, Usage
from .messages import AIMessage
from .providers.base import Provider, StreamMapper, loads
from .results import ChatGeneration, Generation, LLMResult
from .sse import DEFAULT_MAX_EVENT_SIZE, SSEDecoder
from .transport import map_exception, retry_delay

__all__ = ["ResponseStream"]

_NEW, _OPEN, _DONE, _FAILED, _CLOSED, _RETRY = range(6)

T = TypeVar("T")
_TOKENS, _EVENTS, _DRAIN = 1, 2, 3


#: Sends the request once; takes the connect timeout.
Opener = Callable[[float | None], Awaitable[aiohttp.ClientResponse]]


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
        "_attempt_t0",
        "_busy",
        "_collector",
        "_content",
        "_deferred",
        "_delivered",
        "_handlers",
        "_has_deadline",
        "_mapper",
        "_max_event_size",
        "_max_retries",
        "_mode",
        "_open",
        "_out",
        "_pos",
        "_progress",
        "_provider",
        "_redact",
        "_resp",
        "_result",
        "_run_id",
        "_start_args",
        "_start_hook",
        "_state",
        "_streaming",
        "_t0",
        "_timeouts",
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
    ) -> None:
        self._max_event_size = max_event_size
        self._provider = provider
        #: Removes the client's secrets from an error (an upstream may echo the key).
        self._redact = redact
        self._open = open
        self._handlers = handlers
        self._run_id = run_id
        self._start_hook = start_hook
        self._start_args = start_args
        self._streaming = streaming
        self._timeouts = timeouts or Timeouts.none()
        t = self._timeouts
        self._has_deadline = not (t.first_token is None and t.idle is None and t.total is None)
        self._max_retries = max_retries
        self._attempt = 0
        self._t0 = 0.0  # loop time the call started (the total deadline counts from it)
        self._attempt_t0 = 0.0  # ... this attempt started (first_token counts from it)
        self._progress = 0.0  # ... of the last progress (idle counts from it)
        self._delivered = False  # has any content reached handlers or the consumer?
        self._deferred: StreamkitError | None = None  # raised once the tokens before it are taken
        self._collector = self._new_collector(provider.chat if chat is None else chat)
        self._mapper: StreamMapper | None = None
        self._resp: aiohttp.ClientResponse | None = None
        self._content: aiohttp.StreamReader | None = None
        self._state = _NEW
        self._mode = 0
        self._busy = False
        self._out: list[Any] = []
        self._pos = 0
        self._result: LLMResult | None = None

    # -- public surface ------------------------------------------------

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
        return self._state == _DONE

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

    async def collect(self) -> LLMResult:
        """Read the stream to its end and return the final result."""
        if self._result is not None:
            return self._result
        self._claim(_DRAIN)
        while self._state != _DONE:
            self._out = []
            await self._pump()
        assert self._result is not None
        return self._result

    async def aclose(self) -> None:
        """Stop: close the HTTP connection now; handlers get ``on_llm_error``.

        Idempotent; a no-op on a finished stream.
        """
        if self._state in (_DONE, _FAILED, _CLOSED):
            return
        started = self._state == _OPEN
        self._state = _CLOSED
        self._out = []  # tokens read but not yet taken are dropped with the stream
        self._pos = 0
        self._close_response()
        if started:
            abandoned = StreamAbandoned(
                "the consumer stopped reading before the end of the stream",
                partial_result=self._partial(),
            )
            await self._notify_error(abandoned)

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
        resp = self._resp
        if self._state == _OPEN:
            if resp is not None:
                resp.close()
            self._handlers.cancel()

    # -- the engine ----------------------------------------------------

    def _new_collector(self, chat: bool) -> Collector:
        return Collector(chat=chat, run_id=self._run_id, model_provider=self._provider.model_provider or None)

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
            return self._collector.result(estimate_usage=True)
        except Exception:
            text = self._collector.text()
            generation = (
                ChatGeneration(message=AIMessage(content=text))
                if self._collector.chat
                else Generation(text=text)
            )
            return LLMResult(generations=[[generation]], llm_output=None)

    def _claim(self, mode: int) -> None:
        if self._state in (_DONE, _FAILED, _CLOSED) and not (mode == _DRAIN and self._state == _DONE):
            state = {_DONE: "finished", _FAILED: "failed", _CLOSED: "closed"}[self._state]
            raise StreamStateError(f"this stream has already {state}; call stream() again for a new one")
        if self._mode and self._mode != mode:
            raise StreamStateError(
                "this stream is already being read another way (tokens, events() or collect()); pick one"
            )
        self._mode = mode

    async def _refill(self) -> Any:
        while True:
            if self._state != _OPEN and self._state != _NEW:
                if self._state == _DONE:
                    raise StopAsyncIteration
                raise StreamStateError("this stream was closed")
            self._out = []
            self._pos = 0
            await self._pump()
            if self._out:
                self._pos = 1
                return self._out[0]
            if self._state == _DONE:
                raise StopAsyncIteration

    async def _pump(self) -> None:
        """One step: start, or one network read, or the end. Fills ``_out``.

        A failure before any content was delivered is retried here, if it
        is of a retryable kind and attempts remain; after that it is
        raised, with the partial result.
        """
        if self._busy:
            raise StreamStateError("this stream is already being read by another task")
        self._busy = True
        try:
            while True:
                try:
                    await self._step()
                    return
                except Exception as exc:
                    if not await self._retry(exc):
                        raise
        except BaseException as exc:
            await self._fail(exc)
            raise
        finally:
            self._busy = False

    async def _step(self) -> None:
        if self._deferred is not None:
            error, self._deferred = self._deferred, None
            raise error
        state = self._state
        if state == _OPEN:
            content = self._content
            mapper = self._mapper
            assert content is not None and mapper is not None
            if mapper.terminal:  # the marker came with tokens the consumer now has
                await self._finish()
                return
            if self._has_deadline:
                chunk = await self._deadline_read(content)
            else:
                chunk = await content.readany()
            if chunk:
                events = mapper.feed(chunk)
                if events:
                    await self._process(events)
                    if self._has_deadline:
                        self._progress = asyncio.get_running_loop().time()
                elif self._timeouts.keepalive_is_progress:
                    self._progress = asyncio.get_running_loop().time()
                if mapper.error is not None:
                    error, mapper.error = mapper.error, None
                    if self._out:
                        # Hand over the tokens that came before the error
                        # first; the next read raises it.
                        self._deferred = error
                        return
                    raise error
                if mapper.terminal and not self._out:
                    # The terminal marker ([DONE], message_stop) ends the
                    # answer: done now, whatever the connection does next
                    # (held open, aborted without its last chunk, garbage).
                    # With tokens to hand over, they go first; the next
                    # step finishes without reading.
                    await self._finish()
            else:
                await self._finish()
        elif state == _NEW:
            await self._handlers.call(self._start_hook, *self._start_args, run_id=self._run_id)
            self._t0 = asyncio.get_running_loop().time()
            await self._connect()
        elif state == _RETRY:
            await self._connect()
        else:  # pragma: no cover - _refill and collect() check the state first
            raise StreamStateError("this stream is not open")

    def _deadline(self) -> tuple[float, str, float] | None:
        """The nearest deadline now: (loop time, phase, configured seconds)."""
        t = self._timeouts
        best: tuple[float, str, float] | None = None
        if t.total is not None:
            best = (self._t0 + t.total, "total", t.total)
        if t.idle is not None:
            when = self._progress + t.idle
            if best is None or when < best[0]:
                best = (when, "idle", t.idle)
        if t.first_token is not None and not self._delivered:
            when = self._attempt_t0 + t.first_token
            if best is None or when < best[0]:
                best = (when, "first_token", t.first_token)
        return best

    async def _deadline_read(self, content: aiohttp.StreamReader) -> bytes:
        deadline = self._deadline()
        if deadline is None:
            return await content.readany()
        return await _within(content.readany(), deadline)

    async def _connect(self) -> None:
        """Send the request (one attempt) and get ready to read the body."""
        loop = asyncio.get_running_loop()
        self._attempt_t0 = self._progress = loop.time()
        opening = self._open(self._timeouts.connect)
        deadline = self._deadline() if self._has_deadline else None
        resp = await (opening if deadline is None else _within(opening, deadline))
        self._resp = resp
        self._state = _OPEN
        content_type = resp.content_type
        if not self._streaming or "json" in content_type:
            # A whole JSON response (non-streaming mode, or a server that
            # ignored ``stream: true``): same events, same collector.
            reading = _read_body(resp, self._max_event_size)
            deadline = self._deadline() if self._has_deadline else None
            raw = await (reading if deadline is None else _within(reading, deadline))
            body = loads(raw.decode("utf-8", "replace"))
            resp.release()
            self._resp = None
            await self._process(self._provider.parse_response(body), tokens=self._streaming)
            if not self._collector.finished:
                # Every choice of a whole answer has its finish/stop reason
                # (OpenAI's and Anthropic's documented response objects).
                raise IncompleteStreamError(
                    "the response has no answer with a finish reason: it is empty or was cut short"
                )
            self._complete()
            await self._handlers.call("on_llm_end", self._result, run_id=self._run_id)
            return
        self._content = resp.content
        mapper = self._mapper = self._provider.new_mapper()
        if self._max_event_size != DEFAULT_MAX_EVENT_SIZE:
            mapper.decoder = SSEDecoder(self._max_event_size)

    async def _retry(self, exc: Exception) -> bool:
        """Prepare a new attempt if ``exc`` may be retried now; False to give up."""
        if self._delivered or self._attempt >= self._max_retries or self._state not in (_NEW, _OPEN, _RETRY):
            return False
        error = exc if isinstance(exc, APIError) else map_exception(exc, "read")
        if error is None or not error.retryable:
            return False
        if isinstance(error, APITimeoutError) and error.phase == "total":
            return False
        self._attempt += 1
        delay = retry_delay(error, self._attempt)
        total = self._timeouts.total
        if total is not None and asyncio.get_running_loop().time() + delay >= self._t0 + total:
            return False  # the wait alone would overrun the call's total deadline
        self._close_response()
        self._mapper = None
        self._collector = self._new_collector(self._collector.chat)
        self._state = _RETRY
        await self._handlers.call("on_retry", error, attempt=self._attempt, delay=delay, run_id=self._run_id)
        await asyncio.sleep(delay)
        return True

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

    async def _finish(self) -> None:
        mapper = self._mapper
        assert mapper is not None
        if not mapper.terminal:  # the end of the body
            events = mapper.finish()
            if events:
                await self._process(events)
            if mapper.error is not None:
                raise mapper.error
        mapper.check_complete(self._collector.finished)
        resp = self._resp
        content = self._content
        self._resp = None
        self._content = None
        if resp is not None:
            if content is not None and content.at_eof():
                # Body read to EOF: the connection is clean and goes back to the pool.
                resp.release()
            else:
                # Done at the terminal marker with the body not over: close
                # rather than wait for (or pool) a connection in an unknown state.
                resp.close()
        self._complete()
        await self._handlers.call("on_llm_end", self._result, run_id=self._run_id)

    def _complete(self) -> None:
        self._result = self._collector.result()
        self._state = _DONE

    def _close_response(self) -> None:
        resp = self._resp
        self._resp = None
        self._content = None
        if resp is not None:
            resp.close()

    async def _fail(self, exc: BaseException) -> None:
        """Close, attach the partial result, tell the handlers; the caller re-raises."""
        was_done = self._state == _DONE
        if self._state != _CLOSED:
            self._state = _FAILED if not was_done else _DONE
        self._close_response()
        if was_done:
            return  # on_llm_end itself failed: the result stands
        partial = self._partial()
        if isinstance(exc, APIError) and self._redact is not None:
            self._redact(exc)
        if isinstance(exc, StreamkitError):
            if exc.partial_result is None:
                exc.partial_result = partial
            await self._notify_error(exc)
        elif isinstance(exc, (asyncio.CancelledError, GeneratorExit)) or not isinstance(exc, Exception):
            await self._notify_error(
                StreamAbandoned("the stream was cancelled before its end", partial_result=partial)
            )
        else:
            mapped = map_exception(exc, "read")
            if mapped is not None:
                if self._redact is not None:
                    self._redact(mapped)
                mapped.partial_result = partial
                await self._notify_error(mapped)
                # Not chained: aiohttp's errors can hold the request (and its headers).
                raise mapped from None
            await self._notify_error(exc)

    async def _notify_error(self, error: BaseException) -> None:
        if not self._handlers:
            return
        # Shielded: this runs while a cancellation is being delivered, and an
        # anyio cancel scope would otherwise cancel the handlers' awaits too.
        # Bounded, so a stuck handler cannot hold the cancellation up.
        with anyio.move_on_after(5.0, shield=True):
            await self._handlers.error(error, self._run_id)


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


_PHASE_MESSAGES = {
    "first_token": "no content arrived within {:g}s of sending the request",
    "idle": "the stream was silent for {:g}s",
    "total": "the call did not finish within {:g}s",
}


async def _read_body(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """A whole JSON response body, at most ``limit`` bytes (``max_event_size``)."""
    body = bytearray()
    while chunk := await resp.content.readany():
        body += chunk
        if len(body) > limit:
            raise ProtocolError(
                f"the response body is larger than max_event_size ({limit} bytes); "
                "if the server legitimately sends bodies this large, raise the model's max_event_size setting"
            )
    return bytes(body)


async def _within(awaitable: Awaitable[T], deadline: tuple[float, str, float]) -> T:
    """Await under a deadline; past it, an APITimeoutError naming the phase."""
    when, phase, seconds = deadline
    scope = asyncio.timeout_at(when)
    try:
        async with scope:
            return await awaitable
    except TimeoutError as exc:
        if not scope.expired():
            raise  # some other timeout, already typed upstream
        raise APITimeoutError(_PHASE_MESSAGES[phase].format(seconds), phase=phase, timeout=seconds) from exc
