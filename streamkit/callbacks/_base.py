"""Callback handler base classes, and their checked, pre-sorted runtime form.

Subclass :class:`AsyncCallbackHandler` (hooks are coroutines) or
:class:`BaseCallbackHandler` (plain methods) and override only the hooks you
need: every hook has a no-op default and neither class needs
``super().__init__()``.

Handlers are checked when they are registered (on the model or on a call):
an object of neither kind, or a hook of the wrong kind (``async def`` on a
``BaseCallbackHandler``, a plain ``def`` on an ``AsyncCallbackHandler``) is
rejected then, with a message naming it, instead of failing mid-stream.

**Errors in handlers** propagate by default: a handler is the user's code,
and a bug in it should surface like one in the ``async for`` body rather
than vanish into a log. The stream is closed, the collector (fed before any
handler) still holds the full partial result, and the other handlers get
``on_llm_error``. Set ``raise_error = False`` on a handler (class attribute
or instance attribute) to log its failures on the ``streamkit`` logger and
carry on instead.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from ..messages import BaseMessage
    from ..results import LLMResult
    from ._background import BackgroundHandler

__all__ = [
    "AnyHandler",
    "AsyncCallbackHandler",
    "BaseCallbackHandler",
    "CallbackHandler",
    "Callbacks",
    "check_handler",
    "check_handlers",
    "overrides",
]

logger = logging.getLogger("streamkit")

_HOOKS = ("on_llm_start", "on_chat_model_start", "on_llm_new_token", "on_llm_end", "on_llm_error", "on_retry")


class BaseCallbackHandler:
    """A handler whose hooks are plain methods, called inline on the stream's task.

    Override only the hooks you need; each has a no-op default. Keep them
    fast: they run on the token path (a slow one delays every token). For
    slow work, use an :class:`AsyncCallbackHandler` or wrap the handler in
    :class:`~streamkit.callbacks.BackgroundHandler`. A hook that raises
    closes the stream and the exception reaches the reader, unless
    ``raise_error`` is false (then it is logged on the ``streamkit``
    logger). Registering a handler whose hooks are ``async def`` raises
    :class:`~streamkit.errors.HandlerError`.
    """

    raise_error: bool = True

    def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], **kwargs: Any) -> None:
        """A request starts (a prompt model's call; chat models call :meth:`on_chat_model_start`).

        ``serialized``: ``{"name": class name, "model", "base_url",
        "model_provider": "openai"|"anthropic", "invocation_params": the
        sampling parameters as sent}``; ``prompts``: the prompt texts.
        ``kwargs``: ``run_id`` (a ``UUID``, the same in every hook of the
        call). Called once per prompt, before the request is sent.
        """

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kwargs: Any
    ) -> None:
        """A chat request starts; by default this calls :meth:`on_llm_start` with the messages rendered.

        ``messages``: one list of messages per conversation; the rendering
        is ``"Human: ...\nAI: ..."``, text parts only (never an image's
        data). ``serialized`` and ``kwargs`` as in :meth:`on_llm_start`.
        """
        self.on_llm_start(serialized, [_render(m) for m in messages], **kwargs)

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        """A piece of answer text arrived (a non-empty ``str``, as the provider chunked it).

        ``kwargs``: ``run_id`` and ``index`` (the choice, for ``n > 1``).
        Called for every text delta, before the reader sees it; never for
        reasoning, refusals or tool arguments (use ``stream.events()``).
        """

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        """The request finished; ``response`` is its complete :class:`~streamkit.results.LLMResult`.

        ``kwargs``: ``run_id``. Called once, after the last event and
        before ``generate()`` or the stream's iteration returns.
        """

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        """The request failed or was abandoned; ``error.partial_result`` holds what had arrived.

        ``error`` is the streamkit error raised to the reader, or
        :class:`~streamkit.errors.StreamAbandoned` when the reader left
        early (``break``, cancellation, ``aclose()``). ``kwargs``:
        ``run_id``. All handlers' ``on_llm_error`` together may take 5
        seconds, then they are cancelled; a failure in one is logged, never
        raised over ``error``.
        """

    def on_retry(self, error: BaseException, **kwargs: Any) -> None:
        """A failed attempt is about to be retried: ``error`` is why (an :class:`~streamkit.errors.APIError`).

        ``kwargs``: ``attempt`` (the retry's number, from 1), ``delay``
        (the back-off before it, in seconds) and ``run_id``.
        """


class AsyncCallbackHandler:
    """A handler whose hooks are coroutines, awaited in order on the stream's task.

    The stream waits for each hook before reading on (for work that must
    not slow the stream, wrap the handler in
    :class:`~streamkit.callbacks.BackgroundHandler`). Errors as for
    :class:`BaseCallbackHandler`; registering one whose hooks are plain
    ``def`` raises :class:`~streamkit.errors.HandlerError`.
    """

    raise_error: bool = True

    async def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], **kwargs: Any) -> None:
        """A request starts (a prompt model's call; chat models call :meth:`on_chat_model_start`).

        ``serialized``: ``{"name": class name, "model", "base_url",
        "model_provider": "openai"|"anthropic", "invocation_params": the
        sampling parameters as sent}``; ``prompts``: the prompt texts.
        ``kwargs``: ``run_id`` (a ``UUID``, the same in every hook of the
        call). Called once per prompt, before the request is sent.
        """

    async def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kwargs: Any
    ) -> None:
        """A chat request starts; by default this calls :meth:`on_llm_start` with the messages rendered.

        ``messages``: one list of messages per conversation; the rendering
        is ``"Human: ...\nAI: ..."``, text parts only (never an image's
        data). ``serialized`` and ``kwargs`` as in :meth:`on_llm_start`.
        """
        await self.on_llm_start(serialized, [_render(m) for m in messages], **kwargs)

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        """A piece of answer text arrived (a non-empty ``str``, as the provider chunked it).

        ``kwargs``: ``run_id`` and ``index`` (the choice, for ``n > 1``).
        Called for every text delta, before the reader sees it; never for
        reasoning, refusals or tool arguments (use ``stream.events()``).
        """

    async def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        """The request finished; ``response`` is its complete :class:`~streamkit.results.LLMResult`.

        ``kwargs``: ``run_id``. Called once, after the last event and
        before ``generate()`` or the stream's iteration returns.
        """

    async def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        """The request failed or was abandoned; ``error.partial_result`` holds what had arrived.

        ``error`` is the streamkit error raised to the reader, or
        :class:`~streamkit.errors.StreamAbandoned` when the reader left
        early (``break``, cancellation, ``aclose()``). ``kwargs``:
        ``run_id``. All handlers' ``on_llm_error`` together may take 5
        seconds, then they are cancelled; a failure in one is logged, never
        raised over ``error``.
        """

    async def on_retry(self, error: BaseException, **kwargs: Any) -> None:
        """A failed attempt is about to be retried: ``error`` is why (an :class:`~streamkit.errors.APIError`).

        ``kwargs``: ``attempt`` (the retry's number, from 1), ``delay``
        (the back-off before it, in seconds) and ``run_id``.
        """


CallbackHandler: TypeAlias = BaseCallbackHandler | AsyncCallbackHandler
"""A handler of either kind."""
#: What ``callbacks=`` accepts: handlers, possibly wrapped to run in the background.
AnyHandler: TypeAlias = "BaseCallbackHandler | AsyncCallbackHandler | BackgroundHandler"
Callbacks: TypeAlias = Sequence[AnyHandler] | None
"""What ``callbacks=`` accepts (on a model or a call).

A list of handlers, some wrapped in ``BackgroundHandler``, or ``None``.
"""


def _render(messages: list[BaseMessage]) -> str:
    names = {"human": "Human", "ai": "AI", "system": "System", "tool": "Tool"}
    # m.text: the text parts of a list content, never an image's base64 data.
    return "\n".join(f"{names.get(getattr(m, 'type', ''), 'Human')}: {m.text}" for m in messages)


def check_handler(handler: object) -> AnyHandler:
    """Reject a handler of the wrong kind, naming it."""
    from ..errors import HandlerError
    from ._background import BackgroundHandler

    if isinstance(handler, BackgroundHandler):
        return handler
    if isinstance(handler, type):
        raise HandlerError(
            f"callbacks: got the class {handler.__name__}, not an instance; pass {handler.__name__}()"
        )
    if isinstance(handler, AsyncCallbackHandler):
        want_async = True
    elif isinstance(handler, BaseCallbackHandler):
        want_async = False
    else:
        raise HandlerError(
            f"callbacks: {type(handler).__name__} is not a callback handler; subclass "
            "streamkit.callbacks.AsyncCallbackHandler or BaseCallbackHandler"
        )
    for hook in _HOOKS:
        method = getattr(handler, hook, None)
        if method is None:
            continue
        is_async = inspect.iscoroutinefunction(method)
        if is_async != want_async:
            kind = "AsyncCallbackHandler" if want_async else "BaseCallbackHandler"
            need = "async def" if want_async else "def (not async def)"
            raise HandlerError(
                f"callbacks: {type(handler).__name__}.{hook} must be {need}, "
                f"because {type(handler).__name__} subclasses {kind}"
            )
    return handler


def check_handlers(handlers: object) -> list[AnyHandler]:
    """Validate a callbacks argument (a sequence of handlers, or None)."""
    from ..errors import HandlerError

    if handlers is None:
        return []
    if isinstance(handlers, (BaseCallbackHandler, AsyncCallbackHandler)):
        return [check_handler(handlers)]
    if isinstance(handlers, (str, bytes)) or not isinstance(handlers, Sequence):
        raise HandlerError(f"callbacks must be a list of handlers, not {type(handlers).__name__}")
    return [check_handler(h) for h in handlers]


def overrides(handler: CallbackHandler, hook: str) -> bool:
    """True if the handler's class defines its own ``hook``."""
    base = AsyncCallbackHandler if isinstance(handler, AsyncCallbackHandler) else BaseCallbackHandler
    return getattr(type(handler), hook) is not getattr(base, hook)
