"""Run a slow handler off the token path: a bounded, ordered queue per stream.

``BackgroundHandler(handler)`` wraps any handler. For each stream, its hooks
are put on a queue and run, in order, by one worker task that the stream
owns: started with the stream, drained before ``on_llm_end`` returns (so
the handler has seen every token by the time ``generate()`` returns),
bounded by ``timeout`` when the stream fails, and cancelled if the stream is
dropped. The token path only enqueues; it waits only when ``maxsize``
tokens are already pending, which bounds memory.

A plain (sync) handler runs in a worker thread (anyio's ``to_thread``),
so a blocking one (a database write, a ``print`` to a slow pipe) never
blocks the event loop: the worker takes everything queued so far and runs
it, in order, in one thread call. An async handler runs on the loop.

A background handler's exception is kept and raised when the stream is
drained (``on_llm_end``) if ``raise_error`` is true, else logged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import anyio.to_thread

from ._base import AsyncCallbackHandler, CallbackHandler

__all__ = ["BackgroundHandler"]

logger = logging.getLogger("streamkit")


class BackgroundHandler:
    """Wraps ``handler`` so it runs on its own worker task, in order, off the hot path.

    ``handler``: a :class:`~streamkit.callbacks.BaseCallbackHandler` (run in
    a worker thread) or :class:`~streamkit.callbacks.AsyncCallbackHandler`
    (run on the loop). ``maxsize``: how many hook calls may wait per stream
    (a count, default 1024) before the stream itself waits.
    ``drain_timeout``: seconds the queue may take to drain when the stream
    fails before it is cancelled. Raises
    :class:`~streamkit.errors.HandlerError` for a handler of neither kind,
    one already wrapped, or a ``maxsize`` that is not a positive ``int``.
    """

    def __init__(self, handler: CallbackHandler, *, maxsize: int = 1024, drain_timeout: float = 5.0) -> None:
        from ..errors import HandlerError
        from ._base import check_handler

        if isinstance(handler, BackgroundHandler):
            raise HandlerError("BackgroundHandler: the handler is already a BackgroundHandler")
        if not isinstance(maxsize, int) or isinstance(maxsize, bool) or maxsize < 1:
            raise HandlerError("BackgroundHandler: maxsize must be a positive integer")
        checked = check_handler(handler)
        assert not isinstance(checked, BackgroundHandler)
        self.handler: CallbackHandler = checked
        self.maxsize = maxsize
        self.drain_timeout = drain_timeout

    @property
    def raise_error(self) -> bool:
        """The wrapped handler's ``raise_error``: raise its failure at the drain, or log it."""
        return self.handler.raise_error

    def __repr__(self) -> str:
        return f"BackgroundHandler({self.handler!r}, maxsize={self.maxsize})"


_STOP = object()


class Lane:
    """One background handler's queue and worker for one stream."""

    __slots__ = ("cancelled", "drain_timeout", "error", "handler", "queue", "task")

    def __init__(self, wrapper: BackgroundHandler) -> None:
        self.handler: CallbackHandler = wrapper.handler
        self.queue: asyncio.Queue[Any] = asyncio.Queue(wrapper.maxsize)
        self.task: asyncio.Task[None] | None = None
        self.error: BaseException | None = None
        self.drain_timeout = wrapper.drain_timeout
        self.cancelled = False  # read by the worker thread between hooks

    def start(self) -> None:
        if self.task is None:
            loop = asyncio.get_running_loop()
            self.task = loop.create_task(self._run(), name="streamkit-background-handler")

    async def token(self, token: str, **kwargs: Any) -> None:
        item = ("on_llm_new_token", (token,), kwargs)
        queue = self.queue
        if queue.full():
            await queue.put(item)  # back-pressure only when maxsize tokens are pending
        else:
            queue.put_nowait(item)

    async def send(self, hook: str, *args: Any, **kwargs: Any) -> None:
        self.start()
        await self.queue.put((hook, args, kwargs))

    async def drain(self) -> None:
        """Run everything queued, stop the worker, raise its kept error."""
        if self.task is None:
            return
        await self.queue.put(_STOP)
        await self.task
        if self.error is not None and self.handler.raise_error:
            error, self.error = self.error, None
            raise error

    def cancel(self) -> None:
        self.cancelled = True
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def _run(self) -> None:
        handler = self.handler
        queue = self.queue
        if not isinstance(handler, AsyncCallbackHandler):
            await self._run_in_thread()
            return
        while True:
            item = await queue.get()
            if item is _STOP:
                return
            hook, args, kwargs = item
            try:
                await getattr(handler, hook)(*args, **kwargs)
            except Exception as exc:
                self._failed(hook, exc)

    async def _run_in_thread(self) -> None:
        """A sync handler: each batch of queued hooks runs, in order, in a worker thread."""
        queue = self.queue
        while True:
            batch = [await queue.get()]
            while not queue.empty() and batch[-1] is not _STOP:
                batch.append(queue.get_nowait())
            stop = batch[-1] is _STOP
            if stop:
                batch.pop()
            if batch:
                failures = await anyio.to_thread.run_sync(self._call_all, batch)
                for hook, exc in failures:
                    self._failed(hook, exc)
            if stop:
                return

    def _call_all(self, batch: list[Any]) -> list[tuple[str, Exception]]:
        """In the worker thread: run the hooks in order; return the failures."""
        failures = []
        handler = self.handler
        for hook, args, kwargs in batch:
            if self.cancelled:  # the stream gave up on this handler: no more hooks
                break
            try:
                getattr(handler, hook)(*args, **kwargs)
            except Exception as exc:
                failures.append((hook, exc))
        return failures

    def _failed(self, hook: str, exc: Exception) -> None:
        handler = self.handler
        if handler.raise_error and self.error is None:
            self.error = exc
        elif not handler.raise_error:
            name = type(handler).__name__
            logger.warning("background callback %s.%s failed", name, hook, exc_info=exc)
