"""A model with fallbacks: the next model answers when one is down.

``model.with_fallbacks([other, ...])`` (LangChain's name) gives an object
with the same calls as a model (``await m(...)``, ``m.stream(...)``,
``await m.generate([...])``). Each call goes to the first model; on a
*retryable* failure (overloaded, rate limited, 5xx, connection errors,
timeouts other than ``total``) raised **before any content reached
anyone** (after that model's own retries), the same input goes to the next
model, and handlers get ``on_retry(error, attempt=, delay=0.0,
fallback=<model>)`` first. Once content has reached the consumer or a
handler, it never switches: the error is raised with its partial result
(the same honesty rule as retries). A non-retryable error (400, 401, bad
arguments) is raised at once.

Models may be of different providers (OpenAI, then Anthropic): a message
list works for every chat model. The result says which model answered:
``llm_output["answered_by"]`` is ``{"index": i, "model": "<class>(<model>)"}``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .errors import APIError, APITimeoutError, InvalidArgumentError, StreamStateError
from .events import ContentBlock, Event, MessageStart, Usage
from .results import LLMResult

if TYPE_CHECKING:
    from ._adapter import ResponseStream
    from .models import StreamingModel

__all__ = ["FallbackStream", "ModelWithFallbacks"]


def _describe(model: StreamingModel) -> str:
    return f"{type(model).__name__}({model.model})"


def _switchable(error: BaseException) -> bool:
    """May the next model take over after ``error`` (nothing having been delivered)?"""
    if not isinstance(error, APIError) or not error.retryable:
        return False
    return not (isinstance(error, APITimeoutError) and error.phase == "total")


def _has_content(result: LLMResult | None) -> bool:
    """Did any content (text, refusal, thinking, a tool call) arrive in ``result``?"""
    if result is None:
        return False
    for generation in (g for gs in result.generations for g in gs):
        info = generation.generation_info or {}
        message = getattr(generation, "message", None)
        if generation.text or info.get("refusal") or info.get("thinking"):
            return True
        if message is not None and (message.tool_calls or message.content_blocks):
            return True
    return False


class ModelWithFallbacks:
    """``models[0]``, then each of ``models[1:]`` in turn when one fails before any content."""

    def __init__(self, models: Sequence[StreamingModel]) -> None:
        from .models import StreamingModel

        if len(models) < 2 or not all(isinstance(m, StreamingModel) for m in models):
            raise InvalidArgumentError(
                "with_fallbacks: give a list of streamkit models "
                "(OpenAI, ChatOpenAI, Anthropic, ChatAnthropic)"
            )
        self.models = list(models)

    def __repr__(self) -> str:
        return f"ModelWithFallbacks([{', '.join(_describe(m) for m in self.models)}])"

    def stream(self, request: Any, **kwargs: Any) -> FallbackStream:
        """Like ``model.stream(...)``: tokens, ``events()``, ``collect()``, ``result``.

        Switches model only before any content.
        """
        return FallbackStream(self.models, request, kwargs)

    async def __call__(self, request: Any, **kwargs: Any) -> Any:
        """Like ``await model(...)``: the answer text (prompt models) or ``AIMessage`` (chat models)."""
        result = await self.stream(request, **kwargs).collect()
        generation = result.generations[0][0]
        message = getattr(generation, "message", None)
        return message if message is not None else generation.text

    ainvoke = __call__

    async def generate(self, requests: Sequence[Any], **kwargs: Any) -> LLMResult:
        """Like ``model.generate([...])``, one fallback chain per prompt (sequentially)."""
        if isinstance(requests, str) or not isinstance(requests, Sequence):
            raise InvalidArgumentError(
                "with_fallbacks(...).generate() takes a list of prompts or conversations"
            )
        results = [await self.stream(request, **kwargs).collect() for request in requests]
        merged = LLMResult.merge(results)
        if merged.llm_output is not None:
            merged.llm_output["answered_by"] = [(r.llm_output or {}).get("answered_by") for r in results]
        return merged

    async def aclose(self) -> None:
        """Close every model's connections."""
        for model in self.models:
            await model.aclose()

    async def __aenter__(self) -> ModelWithFallbacks:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class FallbackStream:
    """One call through a fallback chain; reads like a :class:`~streamkit._adapter.ResponseStream`."""

    def __init__(self, models: list[StreamingModel], request: Any, kwargs: dict[str, Any]) -> None:
        self._models = models
        self._request = request
        self._kwargs = kwargs
        self._callbacks = kwargs.get("callbacks")
        self._index = 0
        self._delivered = False
        # Every model's stream is created now (none is started), so an argument
        # one of them cannot take fails here, before any request.
        self._streams = [self._open(i) for i in range(len(models))]
        self._current: ResponseStream = self._streams[0]
        self._result: LLMResult | None = None
        self._iterating: ResponseStream | None = None

    def _open(self, index: int) -> ResponseStream:
        model: Any = self._models[index]  # a PromptModel or a ChatModel: both have stream()
        stream: ResponseStream = model.stream(self._request, **dict(self._kwargs))
        return stream

    @property
    def answered_by(self) -> int:
        """The index of the model that is answering (or answered)."""
        return self._index

    @property
    def result(self) -> LLMResult:
        if self._result is None:
            raise StreamStateError(
                "the stream has not finished: iterate it to the end (or await collect()) first"
            )
        return self._result

    @property
    def partial_result(self) -> LLMResult:
        return self._current.partial_result

    async def _switch(self, error: BaseException) -> bool:
        """Move to the next model if ``error`` allows it; False to raise ``error``."""
        partial = getattr(error, "partial_result", None)
        if self._delivered or _has_content(partial) or not _switchable(error):
            return False
        if self._index + 1 >= len(self._models):
            return False
        self._index += 1
        nxt = self._models[self._index]
        self._current = self._streams[self._index]
        handlers = nxt._handler_set(self._callbacks)
        await handlers.call(
            "on_retry",
            error,
            attempt=self._index,
            delay=0.0,
            fallback=_describe(nxt),
            run_id=self._current.run_id,
        )
        return True

    def _finish(self, result: LLMResult) -> LLMResult:
        answered = {"index": self._index, "model": _describe(self._models[self._index])}
        output = dict(result.llm_output or {})
        output["answered_by"] = answered
        self._result = result.model_copy(update={"llm_output": output})
        return self._result

    async def collect(self) -> LLMResult:
        while True:
            try:
                return self._finish(await self._current.collect())
            except Exception as exc:
                if not await self._switch(exc):
                    raise

    def __aiter__(self) -> FallbackStream:
        return self

    async def __anext__(self) -> str:
        while True:
            if self._iterating is not self._current:  # claim token mode on each model's stream
                self._iterating = self._current.__aiter__()
            try:
                token: str = await self._current.__anext__()
            except StopAsyncIteration:
                if self._current.finished:  # not after a close from another task
                    self._finish(self._current.result)
                raise
            except Exception as exc:
                if not await self._switch(exc):
                    raise
                continue
            self._delivered = True
            return token

    async def events(self) -> AsyncIterator[Event]:
        """Typed events of whichever model answers; switches only before a content event."""
        while True:
            # Events before the first content (MessageStart, Usage, a block's
            # start) are held until content comes: a model that fails before it
            # leaves nothing behind, so MessageStart comes once, from the one answering.
            held: list[Event] = []
            try:
                async for event in self._current.events():
                    cls = event.__class__
                    opening = isinstance(event, ContentBlock) and event.block is None
                    if not self._delivered and (cls is MessageStart or cls is Usage or opening):
                        held.append(event)
                        continue
                    self._delivered = True
                    for early in held:
                        yield early
                    held.clear()
                    yield event
            except Exception as exc:
                if not await self._switch(exc):
                    raise
                continue
            for early in held:
                yield early
            if self._current.finished:
                self._finish(self._current.result)
            return

    async def aclose(self) -> None:
        await self._current.aclose()

    async def __aenter__(self) -> FallbackStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
