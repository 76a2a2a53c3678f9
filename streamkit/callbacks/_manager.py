"""The handlers of one call, checked and sorted once: what the adapter drives."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from uuid import UUID

import anyio

from ..deadlines import LOOP_CLOCK, Clock
from ._background import BackgroundHandler, Lane
from ._base import AnyHandler, AsyncCallbackHandler, CallbackHandler, overrides

__all__ = ["ON_ERROR_TIMEOUT", "HandlerSet"]

#: Seconds ``on_llm_error`` may take, all handlers together, before it is cancelled.
ON_ERROR_TIMEOUT = 5.0

logger = logging.getLogger("streamkit")

SyncHook = Callable[..., None]
AsyncHook = Callable[..., Awaitable[None]]


class HandlerSet:
    """Handlers sorted by hook and kind, for one stream.

    Only hooks a handler overrides are kept, so the token path calls nothing
    for handlers that don't listen to tokens. Background handlers get a
    :class:`~streamkit.callbacks._background.Lane` each, owned by this set.
    """

    __slots__ = ("handlers", "inline", "lanes", "token_async", "token_sync")

    def __init__(self, handlers: Sequence[AnyHandler]) -> None:
        self.handlers = list(handlers)
        self.inline: list[CallbackHandler] = []
        self.lanes: list[Lane] = []
        self.token_sync: list[SyncHook] = []
        self.token_async: list[AsyncHook] = []
        for h in self.handlers:
            if isinstance(h, BackgroundHandler):
                lane = Lane(h)
                self.lanes.append(lane)
                if overrides(h.handler, "on_llm_new_token"):
                    self.token_async.append(lane.token)
                continue
            self.inline.append(h)
            if not overrides(h, "on_llm_new_token"):
                continue
            if isinstance(h, AsyncCallbackHandler):
                self.token_async.append(_guard_async(h.on_llm_new_token, h))
            else:
                self.token_sync.append(_guard_sync(h.on_llm_new_token, h))

    def __bool__(self) -> bool:
        return bool(self.handlers)

    async def call(self, hook: str, *args: Any, **kwargs: Any) -> None:
        """Call one (non-token) hook on every handler that overrides it, in order.

        ``on_llm_end`` also drains the background lanes, so every handler
        has seen every token when the call returns.
        """
        for h in self.inline:
            if not _listens(h, hook):
                continue
            try:
                if isinstance(h, AsyncCallbackHandler):
                    await getattr(h, hook)(*args, **kwargs)
                else:
                    getattr(h, hook)(*args, **kwargs)
            except Exception:
                if h.raise_error:
                    raise
                logger.warning("callback %s.%s failed", type(h).__name__, hook, exc_info=True)
        for lane in self.lanes:
            if hook in ("on_llm_start", "on_chat_model_start"):
                lane.start()
            if _listens(lane.handler, hook):
                await lane.send(hook, *args, **kwargs)
        if hook == "on_llm_end":
            for lane in self.lanes:
                await lane.drain()

    async def error(self, error: BaseException, run_id: UUID, *, clock: Clock = LOOP_CLOCK) -> None:
        """``on_llm_error`` on every handler; never lets a handler's failure hide ``error``.

        Shielded: this runs while a cancellation is being delivered (a
        cancelled task, an anyio cancel scope), which must not cancel the
        handlers' own awaits. Bounded: after :data:`ON_ERROR_TIMEOUT` seconds
        on ``clock`` the handlers still running are cancelled, so a stuck
        handler cannot hold the cancellation up. Returns normally either way.
        """
        if not self.handlers:
            return
        with anyio.CancelScope(shield=True) as scope:
            timer = clock.call_later(ON_ERROR_TIMEOUT, scope.cancel)
            try:
                await self._error(error, run_id)
            finally:
                timer.cancel()

    def error_nowait(self, error: BaseException, run_id: UUID) -> None:
        """``on_llm_error`` on the sync handlers only, never raising: for a stream
        dropped without being closed (``__del__``), where nothing can be awaited."""
        for h in self.inline:
            if isinstance(h, AsyncCallbackHandler) or not overrides(h, "on_llm_error"):
                continue
            try:
                h.on_llm_error(error, run_id=run_id)
            except Exception:
                logger.warning("callback %s.on_llm_error failed", type(h).__name__, exc_info=True)

    async def _error(self, error: BaseException, run_id: UUID) -> None:
        for h in self.inline:
            if not overrides(h, "on_llm_error"):
                continue
            try:
                if isinstance(h, AsyncCallbackHandler):
                    await h.on_llm_error(error, run_id=run_id)
                else:
                    h.on_llm_error(error, run_id=run_id)
            except Exception:
                logger.warning("callback %s.on_llm_error failed", type(h).__name__, exc_info=True)
        for lane in self.lanes:
            if lane.task is None:
                continue
            if overrides(lane.handler, "on_llm_error"):
                await lane.send("on_llm_error", error, run_id=run_id)
            try:
                await _bounded(lane.drain(), lane.drain_timeout)
            except Exception:
                logger.warning("background callback %s failed", type(lane.handler).__name__, exc_info=True)
            finally:
                lane.cancel()

    def cancel(self) -> None:
        """Stop background workers at once (the stream was dropped unclosed)."""
        for lane in self.lanes:
            lane.cancel()


async def _bounded(awaitable: Awaitable[None], seconds: float) -> None:
    import asyncio

    try:
        await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        logger.warning("a background callback did not drain within %.1fs; cancelled", seconds)


def _listens(handler: CallbackHandler, hook: str) -> bool:
    if overrides(handler, hook):
        return True
    # on_chat_model_start falls back to on_llm_start by default.
    return hook == "on_chat_model_start" and overrides(handler, "on_llm_start")


def _guard_sync(fn: SyncHook, owner: CallbackHandler) -> SyncHook:
    if owner.raise_error:
        return fn

    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except Exception:
            logger.warning("callback %s.on_llm_new_token failed", type(owner).__name__, exc_info=True)

    return guarded


def _guard_async(fn: AsyncHook, owner: CallbackHandler) -> AsyncHook:
    if owner.raise_error:
        return fn

    async def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            await fn(*args, **kwargs)
        except Exception:
            logger.warning("callback %s.on_llm_new_token failed", type(owner).__name__, exc_info=True)

    return guarded
