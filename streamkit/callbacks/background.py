"""Run a slow handler off the token path: a bounded, ordered queue per stream.

``BackgroundHandler(handler)`` wraps any handler. For each stream, its hooks
are put on a queue and run, in order, by one worker task that the stream
owns: started with the stream, drained before ``on_llm_end`` returns (so
the handler has seen every token by the time ``generate()`` returns),
bounded by ``timeout`` when the stream fails, and cancelled if the stream is
dropped. The token path only enqueues; it waits only when ``maxsize``
tokens are already pending, which bounds memory.

A background handler's exception is kept and raised when the stream is
drained (``on_llm_end``) if ``raise_error`` is true, else logged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .base import AsyncCallbackHandler, CallbackHandler

__all__ = ["BackgroundHandler"]

logger = logging.getLogger("streamkit")


class BackgroundHandler:
    """Wraps ``handler`` so it runs on its own worker task, in order, off the hot path."""

    def __init__(self, handler: CallbackHandler, *, maxsize: int = 1024, drain_timeout: float = 5.0) -> None:
        from ..errors import HandlerError
        from .base import check_handler

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
        return self.handler.raise_error

    def __repr__(self) -> str:
        return f"BackgroundHandler({self.handler!r}, maxsize={self.maxsize})"


_STOP = object()


class Lane:
    """One background handler's queue and worker for one stream."""

    __slots__ = ("drain_timeout", "error", "handler", "queue", "task")

    def __init__(self, wrapper: BackgroundHandler) -> None:
        self.handler: CallbackHandler = wrapper.handler
        self.queue: asyncio.Queue[Any] = asyncio.Queue(wrapper.maxsize)
        self.task: asyncio.Task[None] | None = None
        self.error: BaseException | None = None
        self.drain_timeout = wrapper.drain_timeout

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
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def _run(self) -> None:
        handler = self.handler
        while True:
            item = await self.queue.get()
            if item is _STOP:
                return
            hook, args, kwargs = item
            method = getattr(handler, hook)
            try:
                if isinstance(handler, AsyncCallbackHandler):
                    await method(*args, **kwargs)
                else:
                    method(*args, **kwargs)
            except Exception as exc:
                if handler.raise_error and self.error is None:
                    self.error = exc
                elif not handler.raise_error:
                    name = type(handler).__name__
                    logger.warning("background callback %s.%s failed", name, hook, exc_info=True)
