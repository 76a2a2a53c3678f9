"""What every user-facing model class shares (``OpenAI``, ``ChatOpenAI``,
``Anthropic``, ``ChatAnthropic`` live in their provider's module).

Each is a pydantic model holding settings, checked at construction (a bad
argument raises :class:`~streamkit.errors.InvalidArgumentError` naming it,
before any request), plus a lazily created HTTP session. Three ways to
drive the same pipeline::

    text   = await llm("prompt")                 # str (chat: AIMessage)
    result = await llm.generate(["a", "b"])      # LLMResult, prompts run concurrently
    async for token in llm.stream("prompt"): ... # tokens; then stream.result

Use ``async with llm:`` or ``await llm.aclose()`` to release connections.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Sequence
from functools import cache
from typing import Annotated, Any, ClassVar, Self
from urllib.parse import urlsplit
from uuid import uuid4

import anyio
from aiohttp import ClientResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from .adapter import ResponseStream
from .callbacks.base import AnyHandler, check_handlers
from .callbacks.manager import HandlerSet
from .deadlines import Timeouts, as_timeouts
from .errors import InvalidArgumentError
from .messages import AIMessage, BaseMessage, HumanMessage
from .providers.base import Provider
from .results import ChatGeneration, LLMResult
from .tools import ToolSpec, check_tool_choice, to_tool_specs
from .transport import Transport

__all__ = ["ChatModel", "MessagesInput", "PromptModel", "StreamingModel"]


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def _format_validation(cls_name: str, error: ValidationError, field: str | None = None) -> str:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        loc = [field] if field else []
        loc += [str(part) for part in item["loc"]]
        where = ".".join(loc) or "arguments"
        problems.append(f"{where}: {item['msg']}")
    return f"{cls_name}: invalid argument{'s' if len(problems) > 1 else ''}: " + "; ".join(problems)


@cache
def _field_adapter(cls: type[StreamingModel], name: str) -> TypeAdapter[Any]:
    field = cls.model_fields[name]
    annotated: Any = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    return TypeAdapter(annotated, config=ConfigDict(strict=True, hide_input_in_errors=True))


class StreamingModel(BaseModel):
    """Settings and behaviour shared by every model class."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        arbitrary_types_allowed=True,
        protected_namespaces=(),
        hide_input_in_errors=True,
        strict=True,
        validate_default=True,
    )

    # Subclasses set these.
    _provider_class: ClassVar[type[Provider]]
    _api_key_env: ClassVar[str]
    _base_url_env: ClassVar[str]
    _default_base_url: ClassVar[str]
    #: Results are ChatGenerations holding AIMessages.
    _chat_results: ClassVar[bool] = False
    #: Per-call keyword arguments accepted by stream()/generate()/__call__.
    _call_options: ClassVar[frozenset[str]] = frozenset(
        {"model", "temperature", "max_tokens", "top_p", "stop"}
    )

    model: str = Field(alias="model_name", min_length=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, gt=0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    stop: list[str] | None = None
    streaming: bool = False
    callbacks: list[Any] | None = None
    #: Accepts a str; always stored as a ``SecretStr`` so it never prints.
    api_key: SecretStr | str | None = None
    base_url: str | None = None
    #: Seconds, a :class:`~streamkit.deadlines.Timeouts`, or None (no deadlines).
    #: Always a ``Timeouts`` once constructed.
    timeout: Timeouts | float | None = Field(default_factory=Timeouts)
    max_retries: int = Field(default=2, ge=0)
    max_concurrency: int = Field(default=8, ge=1)
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    default_headers: dict[str, str] = Field(default_factory=dict, repr=False)

    _transport: Transport | None = PrivateAttr(default=None)
    _provider: Provider = PrivateAttr()
    _handlers: list[AnyHandler] = PrivateAttr(default_factory=list)

    def __init__(self, **data: Any) -> None:
        cls = type(self)
        if "api_key" not in data or data["api_key"] is None:
            data["api_key"] = _env(cls._api_key_env)
        if "base_url" not in data or data["base_url"] is None:
            data["base_url"] = _env(cls._base_url_env) or cls._default_base_url
        if isinstance(data.get("api_key"), str):
            data["api_key"] = SecretStr(data["api_key"])
        if isinstance(data.get("stop"), str):
            data["stop"] = [data["stop"]]
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InvalidArgumentError(_format_validation(cls.__name__, exc)) from None
        self._provider = cls._provider_class()
        self._handlers = check_handlers(self.callbacks)
        self._check()

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL with a host, such as http://127.0.0.1:8000/v1")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query string or fragment")
        return value.rstrip("/")

    @field_validator("timeout", mode="before")
    @classmethod
    def _check_timeout(cls, value: Any) -> Timeouts:
        try:
            return as_timeouts(value)
        except TypeError as exc:  # pydantic reports ValueErrors only
            raise ValueError(str(exc)) from None

    @field_validator("callbacks", mode="before")
    @classmethod
    def _check_callbacks(cls, value: Any) -> Any:
        # Checked here so the error names the handler; HandlerError is a
        # TypeError and passes through pydantic unwrapped.
        return check_handlers(value) if value is not None else None

    def _check(self) -> None:
        """Cross-field checks; subclasses extend."""
        official = urlsplit(type(self)._default_base_url).hostname
        if self.api_key is None and urlsplit(self.base_url or "").hostname == official:
            raise InvalidArgumentError(
                f"{type(self).__name__}: no API key: pass api_key=... or set {type(self)._api_key_env} "
                f"(or point base_url at another server)"
            )

    # -- lifecycle -----------------------------------------------------

    @property
    def model_name(self) -> str:
        """The model requested (``llm_output['model_name']`` is what the server reported)."""
        return self.model

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            key = self.api_key.get_secret_value() if isinstance(self.api_key, SecretStr) else self.api_key
            headers = {**self.default_headers, **self._provider.auth_headers(key)}
            self._transport = Transport(
                base_url=self.base_url or type(self)._default_base_url,
                headers=headers,
                error_parser=self._provider.parse_error,
            )
        return self._transport

    async def aclose(self) -> None:
        """Close the HTTP session and its pooled connections."""
        if self._transport is not None:
            await self._transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        transport = getattr(self, "__pydantic_private__", None) or {}
        t = transport.get("_transport")
        if t is not None:
            t.close_nowait()

    # -- requests ------------------------------------------------------

    def _params(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """The body parameters for one request (provider-specific keys added by subclasses)."""
        cls = type(self)
        for name, value in overrides.items():
            if name not in cls._call_options:
                allowed = ", ".join(sorted(cls._call_options))
                raise InvalidArgumentError(
                    f"{cls.__name__}: unknown argument {name!r} (per-call options: {allowed}; "
                    "others go in model_kwargs)"
                )
            try:
                if name == "stop" and isinstance(value, str):
                    value = [value]
                _field_adapter(cls, name).validate_python(value)
            except ValidationError as exc:
                raise InvalidArgumentError(_format_validation(cls.__name__, exc, name)) from None
            overrides[name] = value
        params: dict[str, Any] = {
            "model": self.model,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "stop": self.stop,
        }
        params.update(self._extra_params())
        params.update(self.model_kwargs)
        params.update(overrides)
        return params

    def _extra_params(self) -> dict[str, Any]:
        return {}

    def _handler_set(self, callbacks: Sequence[AnyHandler] | None) -> HandlerSet:
        return HandlerSet(self._handlers + check_handlers(callbacks))

    def _serialized(self) -> dict[str, Any]:
        return {"name": type(self).__name__, "model": self.model, "base_url": self.base_url}

    def _call_settings(self, kwargs: dict[str, Any]) -> tuple[Timeouts, int]:
        """Take ``timeout`` and ``max_retries`` out of per-call kwargs (not body fields)."""
        cls = type(self).__name__
        timeouts = self.timeout if isinstance(self.timeout, Timeouts) else as_timeouts(self.timeout)
        if "timeout" in kwargs:
            try:
                timeouts = as_timeouts(kwargs.pop("timeout"))
            except (TypeError, ValueError) as exc:
                raise InvalidArgumentError(f"{cls}: invalid argument: timeout: {exc}") from None
        retries = self.max_retries
        if "max_retries" in kwargs:
            retries = kwargs.pop("max_retries")
            if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
                raise InvalidArgumentError(f"{cls}: invalid argument: max_retries: must be an integer >= 0")
        return timeouts, retries

    def _make_stream(
        self,
        body: dict[str, Any],
        *,
        handlers: HandlerSet,
        streaming: bool,
        start_hook: str,
        start_args: tuple[Any, ...],
        settings: tuple[Timeouts, int],
    ) -> ResponseStream:
        run_id = uuid4()
        transport = self.transport
        path = self._provider.path

        def open_response(connect_timeout: float | None) -> Awaitable[ClientResponse]:
            return transport.post(path, body, connect_timeout=connect_timeout)

        return ResponseStream(
            provider=self._provider,
            chat=self._chat_results,
            open=open_response,
            handlers=handlers,
            run_id=run_id,
            start_hook=start_hook,
            start_args=start_args,
            streaming=streaming,
            timeouts=settings[0],
            max_retries=settings[1],
        )

    def _body(self, request: Any, params: dict[str, Any], stream: bool) -> dict[str, Any]:
        """The provider's request body for one prompt or conversation."""
        return self._provider.build(request, params, stream)

    async def _generate_streams(
        self, streams: list[ResponseStream], max_concurrency: int | None
    ) -> LLMResult:
        """Run prompts concurrently (bounded), results in input order.

        The first failure cancels the others and is raised as itself (not
        wrapped in an exception group); the cancelled ones tell their
        handlers through ``on_llm_error``.
        """
        if max_concurrency is not None and (not isinstance(max_concurrency, int) or max_concurrency < 1):
            raise InvalidArgumentError("max_concurrency must be a positive integer")
        if len(streams) == 1:
            return LLMResult.merge([await streams[0].collect()])
        results: list[LLMResult | None] = [None] * len(streams)
        failures: list[Exception] = []
        limiter = anyio.CapacityLimiter(max_concurrency or self.max_concurrency)

        async def run(index: int, stream: ResponseStream) -> None:
            async with limiter:
                try:
                    results[index] = await stream.collect()
                except Exception as exc:
                    failures.append(exc)
                    tg.cancel_scope.cancel()

        async with anyio.create_task_group() as tg:
            for index, stream in enumerate(streams):
                tg.start_soon(run, index, stream)
        if failures:
            raise failures[0]
        return LLMResult.merge([r for r in results if r is not None])


class PromptModel(StreamingModel):
    """A prompt string in, text out (``OpenAI``, ``Anthropic``)."""

    def stream(
        self, prompt: str, *, callbacks: Sequence[AnyHandler] | None = None, **kwargs: Any
    ) -> ResponseStream:
        """Stream one prompt: ``async for token in llm.stream("...")``."""
        return self._prompt_stream(prompt, callbacks, kwargs, streaming=True)

    async def generate(
        self,
        prompts: Sequence[str],
        *,
        callbacks: Sequence[AnyHandler] | None = None,
        max_concurrency: int | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        """Complete every prompt (concurrently, bounded) and return one ``LLMResult``.

        Streams under the hood when ``streaming=True`` (handlers see each
        token); ``token_usage`` is filled in either way.
        """
        if isinstance(prompts, str) or not isinstance(prompts, Sequence):
            raise InvalidArgumentError(
                f"{type(self).__name__}.generate() takes a list of prompts, e.g. generate(['...']); "
                f"got {type(prompts).__name__}"
            )
        streams = [
            self._prompt_stream(p, callbacks, dict(kwargs), streaming=self.streaming, where=f"prompts[{i}]")
            for i, p in enumerate(prompts)
        ]
        return await self._generate_streams(streams, max_concurrency)

    async def __call__(
        self, prompt: str, *, callbacks: Sequence[AnyHandler] | None = None, **kwargs: Any
    ) -> str:
        """Complete one prompt and return its text."""
        result = await self.generate([prompt], callbacks=callbacks, **kwargs)
        return result.generations[0][0].text

    ainvoke = __call__
    agenerate = generate
    astream = stream

    def _prompt_stream(
        self,
        prompt: str,
        callbacks: Sequence[AnyHandler] | None,
        kwargs: dict[str, Any],
        *,
        streaming: bool,
        where: str = "prompt",
    ) -> ResponseStream:
        if not isinstance(prompt, str):
            raise InvalidArgumentError(
                f"{type(self).__name__}: {where} must be a str, not {type(prompt).__name__}"
            )
        settings = self._call_settings(kwargs)
        body = self._body(prompt, self._params(kwargs), streaming)
        return self._make_stream(
            body,
            handlers=self._handler_set(callbacks),
            streaming=streaming,
            start_hook="on_llm_start",
            start_args=(self._serialized(), [prompt]),
            settings=settings,
        )


MessagesInput = str | Sequence[BaseMessage]


class ChatModel(StreamingModel):
    """Message lists in, ``AIMessage`` out; tools can be bound or given per call."""

    _chat_results = True
    _call_options = StreamingModel._call_options | {"tools", "tool_choice"}

    tools: list[Any] | None = None
    tool_choice: str | None = None

    def _check(self) -> None:
        super()._check()
        try:
            specs = to_tool_specs(self.tools)
            check_tool_choice(self.tool_choice, specs)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"{type(self).__name__}: {exc}") from None

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None) -> Self:
        """A copy of this model that offers ``tools`` on every call (checked now)."""
        specs = to_tool_specs(tools)
        check_tool_choice(tool_choice, specs)
        data = self.model_dump(exclude={"tools", "tool_choice", "callbacks", "api_key", "timeout"})
        return type(self)(
            **data,
            tools=list(tools),
            tool_choice=tool_choice,
            callbacks=self.callbacks,
            api_key=self.api_key,
            timeout=self.timeout,
        )

    def _params(self, overrides: dict[str, Any]) -> dict[str, Any]:
        tools = overrides.pop("tools", self.tools)
        choice = overrides.pop("tool_choice", self.tool_choice)
        params = super()._params(overrides)
        specs = to_tool_specs(tools)
        params.update(self._tools_to_wire(specs, check_tool_choice(choice, specs)))
        return params

    def _tools_to_wire(self, specs: list[ToolSpec], choice: str | None) -> dict[str, Any]:
        return self._provider.tools_to_wire(specs, choice)

    def _messages(self, messages: Any, where: str) -> list[BaseMessage]:
        if isinstance(messages, str):
            return [HumanMessage(content=messages)]
        if isinstance(messages, BaseMessage):
            raise InvalidArgumentError(
                f"{type(self).__name__}: {where} must be a list of messages; "
                f"wrap it: [{type(messages).__name__}(...)]"
            )
        if not isinstance(messages, Sequence) or not messages:
            raise InvalidArgumentError(
                f"{type(self).__name__}: {where} must be a non-empty list of messages, "
                f"not {type(messages).__name__ if messages is not None else 'None'}"
            )
        checked: list[BaseMessage] = []
        for i, message in enumerate(messages):
            if isinstance(message, str):  # a bare string in a conversation is the user speaking
                checked.append(HumanMessage(content=message))
                continue
            if not isinstance(message, BaseMessage):
                hint = (
                    " (one list per conversation: generate([[...], [...]]))"
                    if isinstance(message, list)
                    else ""
                )
                raise InvalidArgumentError(
                    f"{type(self).__name__}: {where}[{i}] must be a message (HumanMessage, SystemMessage, "
                    f"AIMessage, ToolMessage) or a str, not {type(message).__name__}{hint}"
                )
            checked.append(message)
        return checked

    def stream(
        self, messages: MessagesInput, *, callbacks: Sequence[AnyHandler] | None = None, **kwargs: Any
    ) -> ResponseStream:
        """Stream one conversation's answer: ``async for token in chat.stream([...])``."""
        return self._chat_stream(messages, callbacks, kwargs, streaming=True)

    async def generate(
        self,
        messages: Sequence[MessagesInput],
        *,
        callbacks: Sequence[AnyHandler] | None = None,
        max_concurrency: int | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        """Answer every conversation (one message list each), concurrently, bounded."""
        if isinstance(messages, str) or not isinstance(messages, Sequence):
            raise InvalidArgumentError(
                f"{type(self).__name__}.generate() takes one message list per conversation, "
                f"e.g. generate([[HumanMessage(content='hi')]]); got {type(messages).__name__}"
            )
        if messages and isinstance(messages[0], BaseMessage):
            raise InvalidArgumentError(
                f"{type(self).__name__}.generate() takes one message list per conversation: "
                "wrap your messages in another list, generate([[...]])"
            )
        streams = [
            self._chat_stream(m, callbacks, dict(kwargs), streaming=self.streaming, where=f"messages[{i}]")
            for i, m in enumerate(messages)
        ]
        return await self._generate_streams(streams, max_concurrency)

    async def __call__(
        self, messages: MessagesInput, *, callbacks: Sequence[AnyHandler] | None = None, **kwargs: Any
    ) -> AIMessage:
        """Answer one conversation and return the ``AIMessage``."""
        result = await self.generate([messages], callbacks=callbacks, **kwargs)
        generation = result.generations[0][0]
        assert isinstance(generation, ChatGeneration)
        return generation.message

    ainvoke = __call__
    agenerate = generate
    astream = stream

    def _chat_stream(
        self,
        messages: Any,
        callbacks: Sequence[AnyHandler] | None,
        kwargs: dict[str, Any],
        *,
        streaming: bool,
        where: str = "messages",
    ) -> ResponseStream:
        checked = self._messages(messages, where)
        settings = self._call_settings(kwargs)
        body = self._body(checked, self._params(kwargs), streaming)
        return self._make_stream(
            body,
            handlers=self._handler_set(callbacks),
            streaming=streaming,
            start_hook="on_chat_model_start",
            start_args=(self._serialized(), [checked]),
            settings=settings,
        )
