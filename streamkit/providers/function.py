"""Providers from async generators: a local model, a test double, any source that is not HTTP.

Write an async generator that yields events (or plain ``str`` tokens) and
get a chat model with everything the HTTP ones have: ``stream()``,
``generate()``, ``events()``, ``await chat(...)``, the blocking API,
handlers, the collector and its :class:`~streamkit.results.LLMResult`
(usage, finish reason, tool calls), deadlines, retries and the relay::

    from streamkit.events import Usage
    from streamkit.providers import FunctionModel

    async def echo(messages, params):
        words = messages[-1].text.split()
        for word in words:
            yield word + " "                       # a str is a TextDelta of choice 0
        yield Usage(prompt_tokens=len(words), completion_tokens=len(words))

    chat = FunctionModel(echo, model="echo")
    async for token in chat.stream("hello there"):
        print(token, end="")

The function is called once per attempt as ``function(messages, params)``:

* ``messages``: ``list[BaseMessage]``, the conversation as checked
  (a bare ``str`` became a ``HumanMessage``);
* ``params``: ``dict[str, Any]``, the request's settings that are set
  (``model``, ``temperature``, ``max_tokens``, ``top_p``, ``stop``,
  ``tools`` as :class:`~streamkit.tools.ToolSpec` objects, ``tool_choice``,
  ``model_kwargs`` and per-call ``extra_body`` entries), plus ``stream``
  (``True`` for ``stream()`` and for ``generate()`` with ``streaming=True``).

It yields :mod:`streamkit.events` (``TextDelta``, ``ThinkingDelta``,
``ToolCallStart``/``ToolCallDelta``, ``Usage``, ``Finish``, ...) or
``str``. What the stream does with them is
:class:`~streamkit._adapter.EventSource`'s contract: a missing
``MessageStart`` is added with the model's name, a missing ``Finish`` is
``Finish("stop")`` at the generator's end (``"tool_calls"`` when it started a
tool call), a ``Finish`` without ``normalized`` gets it (its ``reason`` when
that is one of :data:`~streamkit.events.FinishReason`, else ``"other"``),
an :class:`~streamkit.errors.APIError` it raises is the stream's error (retried when ``retryable``, up to
``max_retries``: the function is called again), any other exception
becomes :class:`~streamkit.errors.ProviderStreamError` with the partial
result, and closing the stream closes the generator. ``timeout`` applies
as for HTTP: ``first_token`` and ``read`` bound the waits between events,
``total`` the whole call.

:func:`function_model` is the same as a decorator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar, Unpack, overload

from pydantic import Field, field_serializer, field_validator

from .._adapter import EventSource, Opener
from ..errors import APIError, ProtocolError
from ..events import Event
from ..messages import BaseMessage
from ..models import ChatModel, ChatModelSettings
from ..tools import ToolSpec
from .base import Provider, StreamMapper

__all__ = ["FunctionModel", "FunctionModelSettings", "FunctionProvider", "StreamFunction", "function_model"]

#: ``function(messages, params)`` -> an async iterator of events or ``str`` tokens.
StreamFunction = Callable[[list[BaseMessage], dict[str, Any]], AsyncIterator[Event | str]]


class FunctionProvider(Provider):
    """The provider of :class:`FunctionModel`: no wire format, events come from a function.

    Its request "body" holds live objects (messages, tool specs), never
    encoded: :meth:`open` hands them to the function.
    """

    name = "function"
    model_provider = "function"
    chat = True

    def build(self, request: Any, params: dict[str, Any], stream: bool) -> dict[str, Any]:
        """``{"messages": [...], **params, "stream": stream}``, unset params left out."""
        body = {k: v for k, v in params.items() if v is not None}
        body["messages"] = list(request)
        body["stream"] = stream
        return body

    def tools_to_wire(self, specs: list[ToolSpec], choice: str | None) -> dict[str, Any]:
        """Tools as :class:`~streamkit.tools.ToolSpec` objects, for the function to read."""
        out: dict[str, Any] = {}
        if specs:
            out["tools"] = specs
        if choice is not None:
            out["tool_choice"] = choice
        return out

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        """None: nothing is sent over HTTP."""
        return {}

    def open(self, function: StreamFunction, body: dict[str, Any]) -> EventSource:
        """Call ``function`` for one attempt: its events as an :class:`~streamkit._adapter.EventSource`.

        Raises :class:`~streamkit.errors.ProtocolError` if it does not return
        an async iterator (a plain ``async def`` that returns, say).
        """
        params = dict(body)
        messages = params.pop("messages")
        iterator = function(messages, params)
        if not hasattr(iterator, "__anext__"):
            if hasattr(iterator, "close"):
                iterator.close()  # a coroutine: never awaited, closed quietly
            raise ProtocolError(
                f"the provider function returned {type(iterator).__name__}; it must be an async generator "
                "(an async def with yield) or return an async iterator of events"
            )
        return EventSource(iterator, model=params.get("model"))

    def new_mapper(self) -> StreamMapper:
        """There is no wire format to map."""
        raise ProtocolError("FunctionProvider has no wire format: its events come from the function")

    def parse_response(self, body: Any) -> list[Event]:
        """There is no wire format to map."""
        raise ProtocolError("FunctionProvider has no wire format: its events come from the function")

    def parse_error(self, body: Any) -> tuple[str | None, str | None]:
        """There are no error bodies."""
        return None, None


class FunctionModelSettings(ChatModelSettings, total=False):
    """:class:`FunctionModel`'s keyword arguments: the chat settings and ``function``."""

    function: StreamFunction


class FunctionModel(ChatModel):
    """A chat model whose answers come from an async generator function.

    ``FunctionModel(function, **settings)``: the function as the first
    argument (or ``function=``), any chat-model setting after it
    (``model`` defaults to the function's name; ``callbacks``,
    ``streaming``, ``timeout``, ``max_retries``, ``tools``...). HTTP
    settings (``api_key``, ``base_url``, ``proxy``...) are accepted and
    unused. See the module docstring for the function's contract.
    """

    _provider_class: ClassVar[type[Provider]] = FunctionProvider

    function: Callable[..., Any]
    model: str = Field(default="function", alias="model_name", min_length=1)

    def __init__(
        self, function: StreamFunction | None = None, /, **settings: Unpack[FunctionModelSettings]
    ) -> None:
        data: dict[str, Any] = dict(settings)
        if function is not None:
            data["function"] = function
        if callable(data.get("function")) and "model" not in data and "model_name" not in data:
            name = getattr(data["function"], "__name__", "")
            data["model"] = name if name.isidentifier() else "function"
        super().__init__(**data)

    @field_validator("function", mode="before")
    @classmethod
    def _check_function(cls, value: Any) -> Any:
        if not callable(value):
            raise ValueError(
                f"must be an async generator function taking (messages, params), not {type(value).__name__}"
            )
        return value

    @field_serializer("function", when_used="json")
    def _show_function(self, value: Callable[..., Any]) -> str:
        """JSON has no form for a function: dumps name it."""
        return getattr(value, "__qualname__", type(value).__name__)

    def _opener(
        self, body: dict[str, Any], path: str, extra_headers: dict[str, str] | None
    ) -> tuple[Opener, Callable[[APIError], APIError] | None]:
        provider = self._provider
        assert isinstance(provider, FunctionProvider)
        function = self.function

        async def open_events(connect_timeout: float | None, on_sent: Callable[[], None]) -> EventSource:
            on_sent()
            return provider.open(function, body)

        return open_events, None


@overload
def function_model(function: StreamFunction, /) -> FunctionModel: ...
@overload
def function_model(
    function: None = None, /, **settings: Unpack[FunctionModelSettings]
) -> Callable[[StreamFunction], FunctionModel]: ...
def function_model(
    function: StreamFunction | None = None, /, **settings: Unpack[FunctionModelSettings]
) -> FunctionModel | Callable[[StreamFunction], FunctionModel]:
    """Decorate an async generator function to make it a :class:`FunctionModel`.

    ``@function_model`` or ``@function_model(model="echo", streaming=True)``;
    the decorated name is then the model (``await echo("hi")``).
    """
    if function is not None:
        return FunctionModel(function, **settings)

    def wrap(fn: StreamFunction) -> FunctionModel:
        return FunctionModel(fn, **settings)

    return wrap
