"""Blocking calls, for plain scripts and the REPL: no ``async``, no ``await``.

Every model (``OpenAI``, ``ChatOpenAI``, ``Anthropic``, ``ChatAnthropic``)
has these besides its async API::

    llm = ChatOpenAI()
    message = llm.invoke("Tell me a joke.")           # AIMessage (prompt models: str)
    for token in llm.stream_sync("Tell me a joke."):  # tokens as they arrive
        print(token, end="", flush=True)
    answers = llm.batch(["a", "b"])                   # [AIMessage, AIMessage], in order
    result = llm.generate_sync(["a", "b"])            # LLMResult (usage, finish reasons)
    llm.close()                                       # or: with ChatOpenAI() as llm: ...

**Names.** ``invoke`` and ``batch`` are LangChain's names for the blocking
calls and are free here. LangChain's blocking ``stream`` and ``generate``
are not: in streamkit those names are the async API (``llm.stream(...)``
is an async iterator, ``llm.generate(...)`` a coroutine), and a method
that blocks or not depending on where it is called would hide bugs. So
their blocking twins carry a ``_sync`` suffix: ``stream_sync`` and
``generate_sync``. ``close()`` and ``with`` are the blocking twins of
``aclose()`` and ``async with``.

**How it runs.** The first blocking call starts a private event loop on a
daemon thread, owned by that model (an anyio
:class:`~anyio.from_thread.BlockingPortal` runs in it); each call is sent
to that loop and the calling thread waits for its answer. Nothing else
changes: same retries, deadlines, handlers (they run on the loop thread),
errors (the same typed :mod:`streamkit.errors`, with ``partial_result``).
``close()`` (or leaving ``with``) closes the model's HTTP connections and
stops the thread, deterministically; a model that is never closed is
cleaned up when it is garbage collected or at interpreter exit
(``weakref.finalize``), and its daemon thread never holds the interpreter
open. (``anyio.from_thread.start_blocking_portal`` is not used: on anyio
4.4, which this package supports, its thread is a non-daemon executor
worker, and a model never closed would keep the script from exiting.)

**Where they refuse to run.** A blocking call made from a thread that is
running an event loop (an ``async def``, a callback handler, a Jupyter
cell) would stall that loop: it raises :class:`BlockingCallError`, which
names the async call to use there (a notebook accepts top-level ``await``).

**Forgetting ``await``.** ``llm("hi")`` and ``llm.generate([...])`` return
a coroutine; one that is never awaited sends nothing. When such a call is
dropped without being awaited, streamkit warns at once (a
``RuntimeWarning`` pointing at the line that made the call) and names both
fixes, ``await llm(...)`` and ``llm.invoke(...)``.

**Leaving early** works as in async code: ``break`` out of
``for token in llm.stream_sync(...)`` closes the connection right there
(CPython frees the stream at the ``break``, and handlers get
``on_llm_error`` with ``StreamAbandoned`` before the next line runs); use
``with llm.stream_sync(...) as stream:`` to keep ``stream.result`` and have
the close guaranteed on any exit. ``Ctrl-C`` while a call or stream waits
cancels the request and closes its connection before ``KeyboardInterrupt``
reaches you.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import functools
import queue
import sys
import threading
import warnings
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, Self, TypeVar, cast

import anyio
from anyio.from_thread import BlockingPortal

from .errors import InvalidArgumentError, StreamkitError, StreamStateError
from .results import ChatGeneration, LLMResult

if TYPE_CHECKING:
    from .events import Event

__all__ = ["BlockingCallError", "SyncStream"]

T = TypeVar("T")
P = ParamSpec("P")
InputT = TypeVar("InputT")
OutputT = TypeVar("OutputT")


class BlockingCallError(StreamkitError, RuntimeError):
    """A blocking call (``invoke``, ``stream_sync``, ``close``...) was made on a
    thread that is running an event loop, which it would stall.

    The message names the async call to use instead.
    """


# -- the private event loop ----------------------------------------------------

#: Seconds a cancelled call or stream is given to unwind (close its
#: connection, tell its handlers, which are bounded to 5 s) before
#: ``close()`` or ``Ctrl-C`` goes on without it.
_UNWIND_WAIT = 10.0


class _Runner:
    """One event loop on a daemon thread, reached through an anyio ``BlockingPortal``."""

    def __init__(self, name: str) -> None:
        self._portal: BlockingPortal | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._failure: BaseException | None = None
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name=name, daemon=True)
        self._thread.start()
        ready.wait()
        if self._portal is None:  # pragma: no cover - the loop failed to start
            raise RuntimeError("streamkit: could not start the event loop thread") from self._failure

    def _run(self, ready: threading.Event) -> None:
        try:
            anyio.run(self._serve, ready)
        except BaseException as exc:  # pragma: no cover - reported by __init__
            self._failure = exc
        finally:
            self._portal = None
            ready.set()

    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        async with BlockingPortal() as portal:
            self._portal = portal
            ready.set()
            await self._stop_event.wait()
            # Whatever is still running (a stream another thread left open) is cancelled.
            await portal.stop(cancel_remaining=True)

    @property
    def alive(self) -> bool:
        return self._portal is not None

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn()`` on the loop and await it there; block for the answer.

        Raises what ``fn`` raised. If the wait is interrupted (``Ctrl-C``),
        the call is cancelled on the loop, and has unwound (its connection
        closed) before the interruption goes on. Raises
        :class:`~streamkit.errors.StreamStateError` once the loop has
        stopped (the model was closed).
        """
        portal = self._portal
        if portal is None:
            raise StreamStateError("the model was closed; this stream went with it")
        unwound = threading.Event()

        async def run() -> T:
            try:
                return await fn()
            finally:
                unwound.set()

        future = portal.start_task_soon(run)
        try:
            return future.result()
        except BaseException:
            if future.cancel():  # False once it has finished
                unwound.wait(_UNWIND_WAIT)
            raise

    def start(self, fn: Callable[[], Awaitable[object]]) -> None:
        """Start ``fn()`` on the loop without waiting for it."""
        portal = self._portal
        if portal is None:
            raise StreamStateError("the model was closed; this stream went with it")
        portal.start_task_soon(fn)

    def call_sync(self, fn: Callable[[], T]) -> T:
        """Run the plain function ``fn()`` on the loop thread; block for its result."""

        async def run() -> T:
            return fn()

        return self.call(run)

    def stop(self) -> None:
        """Cancel what still runs on the loop, end it and (off the loop thread) join the thread."""
        loop, stop_event = self._loop, self._stop_event
        if self._portal is None or loop is None or stop_event is None:
            return
        try:
            loop.call_soon_threadsafe(stop_event.set)
        except RuntimeError:  # pragma: no cover - the loop is already closed
            return
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=10)


_registry_lock = threading.Lock()
#: id(model) -> its runner and the finalizer that stops it. Keyed by id, not
#: by the model: pydantic models are unhashable, and the entry must not keep
#: the model alive. The finalizer removes the entry before the id can be reused.
_registry: dict[int, tuple[_Runner, weakref.finalize[Any, Any]]] = {}


def _forget(key: int, runner: _Runner, ref: weakref.ref[Any]) -> None:
    """The fallback for a model never closed: at its garbage collection, or at exit."""
    with _registry_lock:
        entry = _registry.get(key)
        if entry is not None and entry[0] is runner:
            del _registry[key]
    model = ref()
    if model is not None and runner.alive and threading.current_thread() is not runner.thread:
        # At interpreter exit the model is still alive: close its connections on its loop.
        with contextlib.suppress(Exception):
            runner.call(cast(_AsyncModel, model).aclose)
    del model
    runner.stop()


def _runner_for(model: object) -> _Runner:
    key = id(model)
    with _registry_lock:
        entry = _registry.get(key)
        if entry is not None and entry[0].alive:
            return entry[0]
        runner = _Runner(f"streamkit-sync-{type(model).__name__}")
        _registry[key] = (runner, weakref.finalize(model, _forget, key, runner, weakref.ref(model)))
        return runner


def _take_runner(model: object) -> _Runner | None:
    """Remove the model's runner from the registry (its finalizer too) and return it."""
    with _registry_lock:
        entry = _registry.pop(id(model), None)
    if entry is None:
        return None
    entry[1].detach()
    return entry[0]


def _refuse_in_event_loop(model: object, call: str, instead: str) -> None:
    """Raise :class:`BlockingCallError` if this thread runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise BlockingCallError(
        f"{type(model).__name__}.{call} blocks until it is done, and this thread is running an event "
        f"loop (async code, a callback handler or a notebook cell), which it would stall: "
        f"use {instead} here (a notebook accepts top-level await)"
    )


# -- the async API the mixin drives -------------------------------------------


class _AsyncStream(Protocol):
    """What the blocking stream drives: a :class:`~streamkit._adapter.ResponseStream`."""

    @property
    def result(self) -> LLMResult: ...
    @property
    def partial_result(self) -> LLMResult: ...
    @property
    def text(self) -> str: ...
    @property
    def finished(self) -> bool: ...
    def __aiter__(self) -> AsyncIterator[str]: ...
    def events(self) -> AsyncIterator[Event]: ...
    async def collect(self) -> LLMResult: ...
    async def aclose(self) -> None: ...


class _AsyncModel(Protocol):
    def __call__(self, request: Any, /, **kwargs: Any) -> Awaitable[Any]: ...
    def generate(self, requests: Any, /, **kwargs: Any) -> Awaitable[LLMResult]: ...
    def stream(self, request: Any, /, **kwargs: Any) -> _AsyncStream: ...
    async def aclose(self) -> None: ...


class BlockingMixin(Generic[InputT, OutputT]):
    """The blocking API of a model (see the module docstring); ``OutputT`` is
    ``str`` for prompt models and ``AIMessage`` for chat models."""

    def invoke(self, input: InputT, /, **kwargs: Any) -> OutputT:
        """Blocking ``await llm(input)``: one answer, ``str`` (chat models: ``AIMessage``).

        Takes the same per-call options (``callbacks=``, ``temperature=``,
        ``timeout=``...). Raises the same typed errors as the async call;
        :class:`BlockingCallError` on a thread running an event loop.
        """
        _refuse_in_event_loop(self, "invoke()", "await llm(...) (or await llm.ainvoke(...))")
        model = cast(_AsyncModel, self)
        return cast(OutputT, _runner_for(self).call(functools.partial(model.__call__, input, **kwargs)))

    def generate_sync(self, inputs: Sequence[InputT], /, **kwargs: Any) -> LLMResult:
        """Blocking ``await llm.generate(inputs)``: every prompt (or conversation), concurrently.

        Returns the ``LLMResult`` (``generations[i]`` for input ``i``,
        ``llm_output["token_usage"]``); accepts ``max_concurrency``,
        ``return_exceptions``, ``on_progress`` and the per-call options.
        Named with ``_sync`` because ``generate`` is the async method.
        """
        _refuse_in_event_loop(self, "generate_sync()", "await llm.generate([...])")
        model = cast(_AsyncModel, self)
        return _runner_for(self).call(functools.partial(model.generate, inputs, **kwargs))

    def batch(self, inputs: Sequence[InputT], /, **kwargs: Any) -> list[OutputT]:
        """Blocking: one answer per input, in input order (``str`` or ``AIMessage`` each).

        LangChain's name. Runs the inputs concurrently (``max_concurrency``,
        default the model's); the first failure cancels the others and is
        raised (with ``batch_results`` and ``partial_result``). For every
        outcome, failures included, use
        ``generate_sync(inputs, return_exceptions=True)`` and read
        ``result.errors``.
        """
        if "return_exceptions" in kwargs:
            raise InvalidArgumentError(
                f"{type(self).__name__}.batch() raises the first error; for every outcome use "
                "generate_sync(inputs, return_exceptions=True) and read result.errors"
            )
        _refuse_in_event_loop(self, "batch()", "await llm.generate([...])")
        result = self.generate_sync(inputs, **kwargs)
        return [cast(OutputT, _output(generations[0])) for generations in result.generations]

    def stream_sync(self, input: InputT, /, **kwargs: Any) -> SyncStream:
        """Blocking stream: ``for token in llm.stream_sync("...")``, then ``.result``.

        Named with ``_sync`` because ``stream`` is the async iterator. The
        request is sent on the first iteration; bad arguments raise
        :class:`~streamkit.errors.InvalidArgumentError` here. Use ``with``
        to close the connection on any exit and keep ``.result``.
        """
        _refuse_in_event_loop(self, "stream_sync()", "async for token in llm.stream(...)")
        model = cast(_AsyncModel, self)
        runner = _runner_for(self)
        # Built on the loop thread, like everything that touches the model's session.
        stream = runner.call_sync(functools.partial(model.stream, input, **kwargs))
        return SyncStream(stream, runner, self)

    def close(self) -> None:
        """Close the HTTP connections and stop the private loop thread (blocking ``aclose()``).

        Idempotent; the next blocking call starts a new loop. (Connections
        the async API opened belong to that loop: ``await llm.aclose()``
        there.) Raises :class:`BlockingCallError` on a thread running an event loop
        (use ``await llm.aclose()``).
        """
        _refuse_in_event_loop(self, "close()", "await llm.aclose() (or async with llm: ...)")
        model = cast(_AsyncModel, self)
        runner = _take_runner(self)
        if runner is None:
            return
        try:
            runner.call(model.aclose)
        finally:
            runner.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _output(generation: Any) -> Any:
    return generation.message if isinstance(generation, ChatGeneration) else generation.text


class _Pump(Generic[T]):
    """Reads an async iterator on the loop into a queue the calling thread takes from.

    One cross-thread hand-off per token would cost two thread switches
    each; the pump reads the stream as it arrives and the caller takes the
    items in order, errors after the items before them.
    """

    def __init__(self, runner: _Runner, source: AsyncIterator[T]) -> None:
        self._runner = runner
        self._queue: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self._scope: anyio.CancelScope | None = None
        self._cancelled = False
        self._unwound = threading.Event()
        runner.start(functools.partial(self._run, source))

    async def _run(self, source: AsyncIterator[T]) -> None:
        last: tuple[int, Any] = (_STOPPED, None)  # cancelled: by close(), or by the loop stopping
        try:
            with anyio.CancelScope() as self._scope:
                if self._cancelled:
                    self._scope.cancel()
                async for item in source:
                    self._queue.put((_ITEM, item))
                last = (_END, None)
        except Exception as exc:
            last = (_ERROR, exc)
        finally:
            self._queue.put(last)
            self._unwound.set()

    def take(self) -> T:
        """The next item; raises ``StopIteration`` at the end, or the stream's error."""
        kind, value = self._queue.get()
        if kind == _ITEM:
            return cast(T, value)
        self._queue.put((kind, value))  # every later call gets the same answer
        if kind == _END:
            raise StopIteration
        if kind == _ERROR:
            raise value
        raise StreamStateError("this stream was closed")

    def cancel(self) -> None:
        """Stop reading and wait until the read has unwound (connection closed, handlers told)."""
        if self._unwound.is_set():
            return

        async def cancel() -> None:
            self._cancelled = True
            if self._scope is not None:
                self._scope.cancel()

        if self._runner.alive:
            self._runner.call(cancel)
            self._unwound.wait(_UNWIND_WAIT)


_ITEM, _END, _ERROR, _STOPPED = range(4)


class SyncStream:
    """A blocking stream: ``for token in stream``, then ``stream.result``.

    What ``llm.stream_sync(...)`` returns; the blocking face of a
    :class:`~streamkit._adapter.ResponseStream`, read one of three ways:
    tokens (``for``, ``next()``), typed events (``events()``), or the
    whole result (``collect()``). The request is sent when reading starts;
    from then on the stream is read on the model's loop thread as it
    arrives, and your loop takes the tokens in order (an error comes after
    the tokens before it, as in async code).
    """

    __slots__ = ("__weakref__", "_model", "_pump", "_runner", "_stream", "_tokens")

    def __init__(self, stream: _AsyncStream, runner: _Runner, model: object) -> None:
        self._model = model  # keeps the model, and so its loop thread, alive while the stream is
        self._stream = stream
        self._runner = runner
        self._pump: _Pump[Any] | None = None
        self._tokens: Iterator[str] | None = None

    def __iter__(self) -> Iterator[str]:
        """The answer's tokens (``str``), as they arrive."""
        return self._read(self._stream.__aiter__())

    def __next__(self) -> str:
        if self._tokens is None:
            self._tokens = iter(self)
        return next(self._tokens)

    def events(self) -> Iterator[Event]:
        """Typed events (see :mod:`streamkit.events`) instead of tokens: a blocking iterator.

        Raises the stream's typed error after the events that came before
        it; read the stream one way only (tokens, events or ``collect()``).
        """
        return self._read(self._stream.events())

    def collect(self) -> LLMResult:
        """Read to the end (blocking); the final ``LLMResult``.

        Raises the stream's typed error (with ``partial_result``), and
        :class:`~streamkit.errors.StreamClosedError` if the stream or its
        model is closed meanwhile.
        """
        return self._runner.call(self._stream.collect)

    def _read(self, source: AsyncIterator[T]) -> Iterator[T]:
        pump = _Pump(self._runner, source)
        self._pump = pump
        return self._drain(pump)

    def _drain(self, pump: _Pump[T]) -> Generator[T]:
        while True:
            try:
                item = pump.take()
            except StopIteration:
                return
            except BaseException as exc:
                if not isinstance(exc, Exception):  # Ctrl-C: stop the read before it goes on
                    self.close()
                raise
            yield item

    @property
    def result(self) -> LLMResult:
        """The final result, once the stream was read to its end (else ``StreamStateError``)."""
        return self._stream.result

    @property
    def partial_result(self) -> LLMResult:
        """What has arrived so far, as an ``LLMResult``."""
        return self._stream.partial_result

    @property
    def text(self) -> str:
        """The answer text received so far (read on the loop thread, possibly ahead of your loop)."""
        return self._stream.text

    @property
    def finished(self) -> bool:
        """True once the stream was read to its end."""
        return self._stream.finished

    def close(self) -> None:
        """Stop: close the HTTP connection now (handlers get ``on_llm_error``). Idempotent.

        Returns once the connection is closed.
        """
        if self._pump is not None:
            self._pump.cancel()
        if not self._stream.finished and self._runner.alive:
            self._runner.call(self._stream.aclose)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # Reached at a bare ``for ...: break``. On the loop thread itself (a
        # garbage collection there) it cannot wait: the ResponseStream's own
        # finalizer closes the connection.
        runner = getattr(self, "_runner", None)
        if runner is None or threading.current_thread() is runner.thread:
            return
        with contextlib.suppress(Exception):  # nothing to report to from a finalizer
            self.close()


# -- forgotten awaits ----------------------------------------------------------


class _Watched(collections.abc.Coroutine[Any, Any, T]):
    """A coroutine that warns, naming the fix, if it is dropped without being awaited."""

    __slots__ = ("_coro", "_filename", "_lineno", "_message", "_module", "_started")

    def __init__(self, coro: Coroutine[Any, Any, T], message: str, filename: str, lineno: int, module: str):
        self._coro = coro
        self._message = message
        self._filename = filename
        self._lineno = lineno
        self._module = module
        self._started = False

    def __await__(self) -> Generator[Any, None, T]:
        self._started = True
        return self._coro.__await__()

    def send(self, value: Any) -> Any:
        self._started = True
        return self._coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        self._started = True
        if val is None and tb is None:
            return self._coro.throw(typ)
        return self._coro.throw(typ, val, tb)

    def close(self) -> None:
        self._started = True
        self._coro.close()

    def __repr__(self) -> str:
        state = "started" if self._started else "not awaited yet: nothing is sent until it is"
        return f"<streamkit call ({state})>"

    def __del__(self) -> None:
        if getattr(self, "_started", True):
            return
        self._coro.close()  # never started: no request was made; silences Python's own warning
        try:  # noqa: SIM105 - contextlib may be gone at interpreter shutdown too
            warnings.warn_explicit(self._message, RuntimeWarning, self._filename, self._lineno, self._module)
        except (AttributeError, ImportError, TypeError):  # pragma: no cover - interpreter shutdown
            pass


_NEVER_AWAITED = {
    "__call__": (
        "{cls}(...) call was never awaited, so no request was sent: write `await llm(...)` in async "
        "code, or call `llm.invoke(...)`, which blocks until the answer is in"
    ),
    "generate": (
        "{cls}.generate(...) was never awaited, so no request was sent: write `await llm.generate(...)` "
        "in async code, or call `llm.generate_sync(...)` (or `llm.batch(...)`), which block"
    ),
}


def warn_if_never_awaited(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Decorate an ``async def`` method so that a call never awaited warns.

    The call still returns a coroutine (``asyncio.create_task``, ``gather``,
    anyio task groups and ``await`` take it as before); if it is garbage
    collected without ever being started, a ``RuntimeWarning`` is issued at
    the line that made the call, naming ``await`` and the blocking method.
    """
    template = _NEVER_AWAITED.get(fn.__name__, "{cls}." + fn.__name__ + "(...) was never awaited")

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, T]:
        coro = fn(*args, **kwargs)
        caller = sys._getframe(1)
        owner = type(args[0]).__name__ if args else "model"
        return _Watched(
            coro,
            template.format(cls=owner),
            caller.f_code.co_filename,
            caller.f_lineno,
            caller.f_globals.get("__name__", "__main__"),
        )

    return wrapper
