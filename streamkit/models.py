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
Connections are pooled per event loop (see :class:`~streamkit._transport.Transport`):
a model made at import time works across ``asyncio.run`` calls, pytest-asyncio's
per-test loops and threads, and each pool is closed on its own loop.

Settings are checked the same way at construction, on assignment
(``llm.temperature = 0.2``) and per call (``await llm("hi", temperature=0.2)``):
each bad value raises :class:`~streamkit.errors.InvalidArgumentError` naming
the argument, and an assignment that fails leaves the model unchanged.

**Typed signatures.** A model class declares the keyword arguments its
constructor takes as a ``TypedDict`` next to it, extending its base's
(:class:`ModelSettings`, :class:`ChatModelSettings`) with its own fields, and
``if TYPE_CHECKING: def __init__(self, **settings: Unpack[XSettings]) -> None: ...``
in the class body (see ``ChatOpenAI``); tests/test_readme_typing.py checks
that the keys match the pydantic fields.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import os
import re
import ssl
import unicodedata
import weakref
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    ClassVar,
    Literal,
    Self,
    TypedDict,
    TypeVar,
    Unpack,
    overload,
)
from urllib.parse import urlsplit
from uuid import uuid4

import aiohttp
import anyio
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_serializer,
    field_validator,
)

from ._adapter import Opener, ResponseStream
from ._sse import DEFAULT_MAX_EVENT_SIZE
from ._transport import (
    DEFAULT_MAX_CONNECTIONS,
    MIN_SECRET_LENGTH,
    Body,
    Transport,
    encode_body,
    resolve_proxy,
)
from .callbacks._base import AnyHandler, check_handlers
from .callbacks._manager import HandlerSet
from .deadlines import Timeouts, as_timeouts
from .errors import APIError, InvalidArgumentError, StreamClosedError, StreamkitError, redact_error
from .messages import AIMessage, BaseMessage, HumanMessage
from .providers.base import Provider
from .results import BatchProgress, ChatGeneration, LLMResult
from .sync import BlockingMixin, warn_if_never_awaited
from .tools import ToolSpec, check_tool_choice, to_tool_specs

if TYPE_CHECKING:
    from ._fallbacks import ModelWithFallbacks

if TYPE_CHECKING:
    from .structured import RawResult, StructuredChat

__all__ = [
    "ChatModel",
    "ChatModelSettings",
    "MessagesInput",
    "ModelSettings",
    "PromptModel",
    "StreamingModel",
]

_S = TypeVar("_S")


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
    return TypeAdapter(
        annotated, config=ConfigDict(strict=True, hide_input_in_errors=True, allow_inf_nan=False)
    )


#: An HTTP header name (RFC 9110 section 5.1: a ``token``).
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: Settings that the HTTP transport is built from: changing one rebuilds it.
_TRANSPORT_FIELDS = frozenset(
    {
        "api_key",
        "base_url",
        "default_headers",
        "max_connections",
        "proxy",
        "trust_env",
        "verify",
        "http_client",
    }
)
#: Settings that belong to a user-given ``http_client`` (its own connector,
#: TLS and proxy): giving one together with it is refused, not ignored.
_SESSION_FIELDS = ("max_connections", "proxy", "verify", "trust_env")


def _control_char(text: str) -> str | None:
    """The first control character in ``text`` (CR, LF, NUL, TAB, DEL...), as ``repr``, or None."""
    for ch in text:
        if unicodedata.category(ch) == "Cc":
            return repr(ch)
    return None


def _redactor(transport: Transport, extra_headers: dict[str, str] | None) -> Callable[[APIError], APIError]:
    """The client's secrets out of an error, and this call's ``extra_headers`` values too."""
    extra = sorted(
        (v for v in (extra_headers or {}).values() if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True
    )
    if not extra:
        return transport.redact
    return lambda error: redact_error(transport.redact(error), extra)


def _json_problem(value: Any) -> str | None:
    """Why ``value`` cannot go into a request body as strict JSON, or None."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        return f"cannot be sent as JSON ({exc})"
    return None


def _secret_value(value: SecretStr | str) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _url_problem(value: str) -> str | None:
    """Why ``value`` is not an http(s) URL with a host and a port in range, or None."""
    if bad := _control_char(value):
        return f"must not contain control characters (found {bad})"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL with a host, such as http://127.0.0.1:8000/v1"
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        return "the port must be a number from 1 to 65535"
    return None


def _ssl_setting(verify: bool | str | Path | ssl.SSLContext) -> ssl.SSLContext | bool:
    """What aiohttp takes for ``verify``: True, False or a context (a CA bundle loaded now).

    Raises ``ValueError`` naming the path when it cannot be loaded.
    """
    if isinstance(verify, (bool, ssl.SSLContext)):
        return verify
    path = Path(verify)
    try:
        if path.is_dir():
            return ssl.create_default_context(capath=str(path))
        return ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise ValueError(f"cannot load a CA bundle from {str(path)!r}: {reason}") from None


class ModelSettings(TypedDict, total=False):
    """The keyword arguments every model class's constructor takes, as user code gives them.

    What a type checker sees (pydantic validates them at run time, see
    :class:`StreamingModel`): ``model`` or its alias ``model_name``;
    ``stop`` as one string or a list; ``timeout`` in seconds, a
    ``Timeouts`` or None (the attribute is always a ``Timeouts``). How a
    new model class declares its own: see "Typed signatures" in this
    module's docstring.
    """

    model: str
    model_name: str
    temperature: float | None
    max_tokens: int | None
    top_p: float | None
    stop: str | list[str] | None
    streaming: bool
    callbacks: Sequence[AnyHandler] | None
    api_key: SecretStr | str | None
    base_url: str | None
    timeout: Timeouts | float | None
    max_retries: int
    max_concurrency: int
    max_event_size: int
    model_kwargs: dict[str, Any]
    default_headers: Mapping[str, SecretStr | str]
    max_connections: int | None
    proxy: SecretStr | str | None
    trust_env: bool
    verify: bool | str | Path | ssl.SSLContext
    http_client: aiohttp.ClientSession | None


class ChatModelSettings(ModelSettings, total=False):
    """:class:`ModelSettings` and the tools a chat model offers on every call."""

    tools: list[Any] | None
    tool_choice: str | None


class StreamingModel(BaseModel):
    """Settings and behaviour shared by every model class.

    **Settings are validated wherever they change.** At construction, on
    assignment and per call, a bad value raises
    :class:`~streamkit.errors.InvalidArgumentError` naming the argument,
    before any request: a control character (CR, LF, NUL...) in
    ``api_key``, a header name or value; a header name that is not an HTTP
    token; NaN or an infinity (``temperature``, ``top_p``, ``timeout``); a
    ``base_url`` whose port is out of range; ``model_kwargs``, ``tools``,
    ``stop`` (and Anthropic's ``thinking``) that cannot be sent as strict
    JSON; a ``proxy`` that is not an http(s) URL with a host (or has a
    path); a ``verify`` path that is not a loadable CA bundle; an
    environment proxy (with ``trust_env``) that is not a URL;
    ``max_connections`` below 1; ``http_client`` that is closed, or given
    together with ``max_connections``, ``proxy``, ``verify`` or
    ``trust_env``. The policy for changes after construction is *validate on
    assignment*: ``llm.base_url = ...`` is checked like the constructor's
    argument (cross-field checks included), a failed assignment leaves the
    model as it was, and changing ``api_key``, ``base_url``,
    ``default_headers`` or a connection setting (``max_connections``,
    ``proxy``, ``trust_env``, ``verify``, ``http_client``) gives the next
    call a new HTTP transport (streams already open finish on the old one,
    closed by ``aclose()``). ``model_copy(update=...)``, ``bind_tools()``
    and ``copy.copy()`` validate the same way and give the copy its own
    HTTP sessions: dropping or closing a copy never touches the original's
    connections.

    **Connections.** One connection pool per event loop (each
    ``asyncio.run``, test loop or thread gets its own, closed on that loop
    by ``aclose()`` or when the loop shuts down), at most
    ``max_connections`` connections open at once in each (default 1000;
    ``None``: no bound; a call waiting for a free connection counts it
    against its ``connect`` deadline).

    * ``proxy``: every request goes through this HTTP(S) proxy
      (``http://user:pass@proxy:3128``; the credentials are sent as
      ``Proxy-Authorization`` and are secrets like the key).
    * ``trust_env`` (default True): without ``proxy``, use
      ``HTTPS_PROXY``/``HTTP_PROXY`` (for the ``base_url``'s scheme, upper
      or lower case) unless ``NO_PROXY`` lists the host, read at
      construction (and when ``base_url`` changes). ``~/.netrc`` is not read.
    * ``verify``: ``True`` (the system's CA store), the path of a CA bundle
      (a PEM file, or a directory of hashed certificates) for a self-hosted
      server, an ``ssl.SSLContext`` used as it is, or ``False`` (no
      verification: anyone on the path can read and change the traffic). A
      certificate that fails verification raises
      :class:`~streamkit.errors.CertificateError`, never retried.
    * ``http_client``: your own ``aiohttp.ClientSession``. streamkit uses it
      on the loop it belongs to and never closes it (``aclose()`` leaves it
      open). Its connector, TLS, proxy, ``trust_env``, cookies and default
      headers apply; ``max_connections``, ``proxy``, ``verify`` and
      ``trust_env`` are not used, so giving one with it is an error. Per
      request streamkit still sets the key and headers, its deadlines
      (``timeout``), ``allow_redirects=False`` and
      ``raise_for_status=False``.

    **Secrets.** ``api_key``, every ``default_headers`` value and ``proxy``
    are stored as ``SecretStr``: ``repr()``, ``model_dump()`` and
    ``model_dump_json()`` show ``**********``; read a header back with
    ``llm.default_headers["X"].get_secret_value()``. The key, header values
    and the proxy's credentials are redacted from every error.
    """

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        arbitrary_types_allowed=True,
        protected_namespaces=(),
        hide_input_in_errors=True,
        strict=True,
        validate_default=True,
        # Assignments are checked like constructor arguments (see __setattr__).
        validate_assignment=True,
        # NaN and infinities are never valid settings (and not JSON).
        allow_inf_nan=False,
    )

    # Subclasses set this: the provider owns the endpoint, its env vars and default URL.
    _provider_class: ClassVar[type[Provider]]
    #: Results are ChatGenerations holding AIMessages.
    _chat_results: ClassVar[bool] = False
    #: Per-call keyword arguments accepted by stream()/generate()/__call__.
    #: Body fields of the provider's API accepted per call and sent as given
    #: (checked only for being JSON); ``extra_body`` takes any other.
    _body_fields: ClassVar[frozenset[str]] = frozenset()
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
    #: Given as seconds, a :class:`~streamkit.deadlines.Timeouts`, or None (no
    #: deadlines); stored as a ``Timeouts`` (converted by ``_check_timeout``).
    timeout: Timeouts = Field(default_factory=Timeouts)
    max_retries: int = Field(default=2, ge=0)
    max_concurrency: int = Field(default=8, ge=1)
    #: Bytes: the largest SSE line or event accepted; past it the stream fails
    #: with ProtocolError (partial result kept) instead of buffering forever.
    max_event_size: int = Field(default=DEFAULT_MAX_EVENT_SIZE, gt=0)
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    #: Accepts str values; always stored as ``SecretStr`` so they never print.
    default_headers: dict[str, SecretStr | str] = Field(default_factory=dict, repr=False)
    #: Connections open at once per event loop (None: no bound); more calls wait for one.
    max_connections: int | None = Field(default=DEFAULT_MAX_CONNECTIONS, ge=1)
    #: An HTTP(S) proxy URL, credentials allowed (``http://user:pass@host:3128``).
    #: Accepts a str; always stored as a ``SecretStr`` so it never prints.
    proxy: SecretStr | str | None = None
    #: Read ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` from the environment (at construction).
    trust_env: bool = True
    #: TLS verification: True (the system's CAs), False (none), a CA bundle path, or an SSLContext.
    verify: bool | str | Path | ssl.SSLContext = True
    #: Your own ``aiohttp.ClientSession``: used as it is, never closed by streamkit.
    http_client: aiohttp.ClientSession | None = None

    _transport: Transport | None = PrivateAttr(default=None)
    #: Transports replaced by a change of key, URL or headers; closed by aclose().
    _retired: list[Transport] = PrivateAttr(default_factory=list)
    _provider: Provider = PrivateAttr()
    _handlers: list[AnyHandler] = PrivateAttr(default_factory=list)
    #: ``(verify, proxy, trust_env, base_url)`` the two below were computed from.
    _connection_key: tuple[Any, ...] | None = PrivateAttr(default=None)
    #: What aiohttp takes for TLS (``verify`` with its CA bundle loaded).
    _ssl: ssl.SSLContext | bool = PrivateAttr(default=True)
    #: The proxy every request goes through (``proxy``, or the environment's), or None.
    _proxy_url: str | None = PrivateAttr(default=None)
    #: Streams started and not yet ended: aclose() closes them.
    _streams: weakref.WeakSet[ResponseStream] = PrivateAttr(default_factory=weakref.WeakSet)

    def __init__(self, **data: Any) -> None:
        cls = type(self)
        provider = cls._new_provider(data)
        if ("api_key" not in data or data["api_key"] is None) and provider.api_key_env:
            data["api_key"] = _env(provider.api_key_env)
        if "base_url" not in data or data["base_url"] is None:
            env_url = _env(provider.base_url_env) if provider.base_url_env else None
            data["base_url"] = env_url or provider.default_base_url or None
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InvalidArgumentError(_format_validation(cls.__name__, exc)) from None
        self._provider = provider
        self._handlers = check_handlers(self.callbacks)
        self._check()

    @field_validator("api_key", mode="before")
    @classmethod
    def _check_api_key(cls, value: Any) -> Any:
        secret = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(secret, str) and (bad := _control_char(secret)):
            # The key is not shown, not even in part.
            raise ValueError(f"must not contain control characters (found {bad})")
        return SecretStr(value) if isinstance(value, str) else value

    @field_validator("default_headers", mode="before")
    @classmethod
    def _check_headers(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value  # the type check names it
        checked: dict[Any, Any] = {}
        for name, raw in value.items():
            if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
                shown = repr(name) if not isinstance(name, str) or len(name) < 80 else repr(name[:80] + "...")
                raise ValueError(f"header name {shown} is not a valid HTTP header name")
            text = raw.get_secret_value() if isinstance(raw, SecretStr) else raw
            if isinstance(text, str) and (bad := _control_char(text)):
                raise ValueError(
                    f"the value of header {name!r} must not contain control characters (found {bad})"
                )
            checked[name] = SecretStr(raw) if isinstance(raw, str) else raw
        return checked

    @field_validator("stop", mode="before")
    @classmethod
    def _check_stop(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("model_kwargs")
    @classmethod
    def _check_model_kwargs(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            if problem := _json_problem(item):
                raise ValueError(f"{key!r} {problem}")
        return value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if problem := _url_problem(value):
            raise ValueError(problem)
        parts = urlsplit(value)
        if parts.query or parts.fragment:
            raise ValueError("must not have a query string or fragment")
        if parts.username is not None or parts.password is not None:
            # Not shown: the URL holds a password. aiohttp would refuse it
            # beside the Authorization header anyway.
            raise ValueError(
                "must not carry credentials (user:password@): pass the key as api_key, "
                "other credentials in default_headers"
            )
        return value.rstrip("/")

    @field_validator("proxy", mode="before")
    @classmethod
    def _check_proxy(cls, value: Any) -> Any:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str):
            # The URL is not shown: it may hold a password.
            if problem := _url_problem(text):
                raise ValueError(problem.replace("http://127.0.0.1:8000/v1", "http://127.0.0.1:3128"))
            parts = urlsplit(text)
            if parts.path not in ("", "/") or parts.query or parts.fragment:
                raise ValueError("must be a proxy URL without a path, such as http://user:pass@proxy:3128")
        return SecretStr(value) if isinstance(value, str) else value

    @field_validator("verify", mode="before")
    @classmethod
    def _check_verify(cls, value: Any) -> Any:
        if not isinstance(value, (bool, str, Path, ssl.SSLContext)):
            raise ValueError(
                "must be True, False, an ssl.SSLContext or the path of a CA bundle, "
                f"not {type(value).__name__}"
            )
        if isinstance(value, (str, Path)):
            if not str(value) or _control_char(str(value)):
                raise ValueError("must be True, False, an ssl.SSLContext or the path of a CA bundle")
            _ssl_setting(value)  # loads it now: a bad path fails here, naming it
        return value

    @field_validator("http_client")
    @classmethod
    def _check_http_client(cls, value: aiohttp.ClientSession | None) -> aiohttp.ClientSession | None:
        if value is not None and value.closed:
            raise ValueError("the aiohttp.ClientSession is already closed")
        return value

    @field_serializer("http_client", when_used="json")
    def _show_http_client(self, value: aiohttp.ClientSession | None) -> str | None:
        """JSON has no form for a session: dumps name its type."""
        return None if value is None else f"<{type(value).__name__}>"

    @field_serializer("verify", when_used="json")
    def _show_verify(self, value: bool | str | Path | ssl.SSLContext) -> bool | str:
        """A flag or a path as it is; an ``SSLContext`` by its type."""
        if isinstance(value, (bool, str)):
            return value
        return str(value) if isinstance(value, Path) else f"<{type(value).__name__}>"

    @field_validator("timeout", mode="before")
    @classmethod
    def _check_timeout(cls, value: Any) -> Timeouts:
        try:
            return as_timeouts(value)
        except TypeError as exc:  # pydantic reports ValueErrors only
            raise ValueError(str(exc)) from None

    def __setattr__(self, name: str, value: Any) -> None:
        """Validate an assignment like a constructor argument; on failure nothing changes."""
        if name.startswith("_") or name not in type(self).model_fields:
            super().__setattr__(name, value)
            return
        cls = type(self)
        old = self.__dict__.get(name)
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            raise InvalidArgumentError(_format_validation(cls.__name__, exc)) from None
        try:
            self._check()
            handlers = check_handlers(self.callbacks) if name == "callbacks" else None
        except BaseException:
            self.__dict__[name] = old
            raise
        if handlers is not None:
            self._handlers = handlers
        if name in _TRANSPORT_FIELDS and self._transport is not None and self.__dict__[name] != old:
            # The transport holds the headers and URL: the next call builds
            # a new one; streams already open keep theirs until aclose().
            self._retired.append(self._transport)
            self._transport = None

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy, with ``update`` validated like constructor arguments and its own HTTP sessions.

        The copy shares no connection pool with this model: closing,
        dropping or garbage-collecting either never touches the other's
        connections. Handlers, a user-given ``http_client`` and an
        ``ssl.SSLContext`` are shared, never deep-copied.
        """
        data: dict[str, Any] = {name: getattr(self, name) for name in type(self).model_fields}
        if deep:
            shared = {name: data.pop(name) for name in ("callbacks", "http_client", "verify")}
            data = copy.deepcopy(data)
            data.update(shared)
        if update:
            if "model_name" in update:
                data.pop("model", None)
            data.update(update)
        return type(self)(**data)

    def __copy__(self) -> Self:
        """``copy.copy(model)``: :meth:`model_copy`, so the copy has its own sessions."""
        return self.model_copy()

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        """``copy.deepcopy(model)``: :meth:`model_copy` with ``deep=True``."""
        return self.model_copy(deep=True)

    @field_validator("callbacks", mode="before")
    @classmethod
    def _check_callbacks(cls, value: Any) -> Any:
        # Checked here so the error names the handler; HandlerError is a
        # TypeError and passes through pydantic unwrapped.
        return check_handlers(value) if value is not None else None

    @classmethod
    def _new_provider(cls, data: dict[str, Any]) -> Provider:
        """The provider for a model made from ``data`` (the constructor's arguments).

        A subclass whose provider depends on a setting (a preset, a
        deployment) overrides this; ``data`` may be adjusted in place.
        """
        return cls._provider_class()

    def _check(self) -> None:
        """Cross-field checks; subclasses extend."""
        provider = self._provider
        official = urlsplit(provider.default_base_url).hostname
        if (
            self.api_key is None
            and provider.requires_key
            and official is not None
            and urlsplit(self.base_url or "").hostname == official
        ):
            where = f"set {provider.api_key_env}" if provider.api_key_env else "pass it"
            raise InvalidArgumentError(
                f"{type(self).__name__}: no API key: pass api_key=... or {where} "
                f"(or point base_url at another server)"
            )
        for name in self._json_fields:
            if problem := _json_problem(getattr(self, name)):
                raise InvalidArgumentError(f"{type(self).__name__}: invalid argument: {name}: {problem}")
        self._check_connection()

    def _check_connection(self) -> None:
        """Resolve TLS and the proxy now, so a bad CA bundle or proxy variable fails here."""
        cls = type(self).__name__
        if self.http_client is not None:
            given = [
                name
                for name in _SESSION_FIELDS
                if getattr(self, name) != type(self).model_fields[name].default
            ]
            if given:
                raise InvalidArgumentError(
                    f"{cls}: invalid arguments: http_client: {', '.join(given)} cannot be combined with "
                    "your own session; configure its connector, TLS and proxy on the session itself"
                )
            self._connection_key, self._ssl, self._proxy_url = None, True, None
            return
        proxy = _secret_value(self.proxy) if self.proxy is not None else None
        verify = self.verify if isinstance(self.verify, (bool, str, Path)) else id(self.verify)
        key = (verify, proxy, self.trust_env, self.base_url)
        if key == self._connection_key:
            return
        base_url = self.base_url or self._provider.default_base_url
        try:
            proxy_url = resolve_proxy(base_url, proxy=proxy, trust_env=self.trust_env)
        except ValueError as exc:
            raise InvalidArgumentError(f"{cls}: invalid argument: trust_env: {exc}") from None
        try:
            ssl_setting = _ssl_setting(self.verify)
        except ValueError as exc:  # the file changed since it was validated
            raise InvalidArgumentError(f"{cls}: invalid argument: verify: {exc}") from None
        self._connection_key, self._ssl, self._proxy_url = key, ssl_setting, proxy_url

    #: Free-form settings sent as JSON (``model_kwargs`` is checked per key).
    _json_fields: ClassVar[tuple[str, ...]] = ()

    # -- lifecycle -----------------------------------------------------

    @property
    def model_name(self) -> str:
        """The model requested (``llm_output['model_name']`` is what the server reported)."""
        return self.model

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            key = _secret_value(self.api_key) if self.api_key is not None else None
            extra = {name: _secret_value(value) for name, value in self.default_headers.items()}
            headers = {**extra, **self._provider.auth_headers(key)}
            self._transport = Transport(
                base_url=self.base_url or self._provider.default_base_url,
                headers=headers,
                error_parser=self._provider.parse_error,
                # Header values (and a password in the URL) are treated as
                # secrets: errors never show them. The transport adds the
                # proxy's credentials.
                secrets=[key or "", *extra.values(), urlsplit(self.base_url or "").password or ""],
                proxy=self._proxy_url,
                ssl=self._ssl,
                max_connections=self.max_connections,
                http_client=self.http_client,
            )
        return self._transport

    def with_fallbacks(self, fallbacks: Sequence[StreamingModel]) -> ModelWithFallbacks:
        """This model, then each of ``fallbacks`` in turn, for failures before any content.

        See :mod:`streamkit._fallbacks`: only a retryable failure (after this
        model's own retries) raised before any content reached anyone moves
        to the next model; ``llm_output["answered_by"]`` says which answered.
        """
        from ._fallbacks import ModelWithFallbacks

        if isinstance(fallbacks, StreamingModel) or not isinstance(fallbacks, Sequence):
            raise InvalidArgumentError(f"{type(self).__name__}.with_fallbacks() takes a list of models")
        return ModelWithFallbacks([self, *fallbacks])

    async def aclose(self) -> None:
        """Close the streams still open, then this event loop's HTTP session and its connections.

        Every stream of this model that has started and not ended fails at
        once with :class:`~streamkit.errors.StreamClosedError` (carrying its
        partial result), raised in the task reading it, whatever it was
        waiting for (the response, the next bytes, a retry's back-off); its
        handlers get ``on_llm_error`` once. Sessions this model holds on
        other event loops (other threads, or a loop still running elsewhere)
        are left to their own loop: closed by ``aclose()`` there, or when
        that loop shuts down. A user-given ``http_client`` is never closed.
        The model stays usable: the next call opens a new session.
        """
        loop = asyncio.get_running_loop()
        # This loop's streams only: one running on another thread's loop is
        # left to it (as its session is), never touched from here.
        open_streams = [stream for stream in list(self._streams) if stream._loop is loop]
        if open_streams:
            message = "the model was closed (aclose()) before the stream ended"
            await asyncio.gather(*(stream._close(StreamClosedError(message)) for stream in open_streams))
        retired, self._retired = self._retired, []
        for old in retired:
            await old.aclose()
        if self._transport is not None:
            await self._transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # No ``__del__``: a model's sessions belong to its transport, which
    # streams still open keep alive; when the last of them goes, each
    # session is closed on its own loop (see Transport).

    # -- requests ------------------------------------------------------

    def _params(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """The body parameters for one request (provider-specific keys added by subclasses)."""
        cls = type(self)
        for name, value in overrides.items():
            if name in cls._body_fields:
                # A provider body field accepted per call as given (seed, response_format, ...).
                if problem := _json_problem(value):
                    raise InvalidArgumentError(f"{cls.__name__}: invalid argument: {name}: {problem}")
                continue
            if name not in cls._call_options:
                allowed = ", ".join(sorted(cls._call_options))
                raise InvalidArgumentError(
                    f"{cls.__name__}: unknown argument {name!r} (per-call options: {allowed}, "
                    "extra_body, extra_headers, timeout, max_retries, "
                    f"{', '.join(sorted(cls._body_fields))}; any other body field goes in "
                    "extra_body={...} or model_kwargs)"
                )
            try:
                if name == "stop" and isinstance(value, str):
                    value = [value]
                _field_adapter(cls, name).validate_python(value)
            except ValidationError as exc:
                raise InvalidArgumentError(_format_validation(cls.__name__, exc, name)) from None
            if name != "tools" and (problem := _json_problem(value)):
                raise InvalidArgumentError(f"{cls.__name__}: invalid argument: {name}: {problem}")
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

    def _serialized(
        self,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        streaming: bool | None = None,
    ) -> dict[str, Any]:
        """``on_llm_start``'s ``serialized``: the class, model and URL, the provider
        (``model_provider``: ``openai``, ``anthropic``...), and the request's
        sampling parameters (``invocation_params``, LangChain's name): each as
        the body sends it at its top level, else as the settings give it
        (a provider may nest them, as Ollama's ``options`` and Gemini's
        ``generationConfig`` do), and ``stream``."""
        serialized: dict[str, Any] = {
            "name": type(self).__name__,
            "model": self.model,
            "base_url": self.base_url,
            "model_provider": self._provider.model_provider,
        }
        if body is not None:
            invocation: dict[str, Any] = {}
            for key in _INVOCATION_KEYS:
                for source in (body, params or {}):
                    value = source.get(key)
                    if value is not None:
                        invocation[key] = value
                        break
            if streaming is not None:
                invocation["stream"] = streaming
            elif body.get("stream") is not None:
                invocation["stream"] = body["stream"]
            serialized["invocation_params"] = invocation
        return serialized

    def _call_settings(self, kwargs: dict[str, Any]) -> tuple[Timeouts, int]:
        """Take ``timeout`` and ``max_retries`` out of per-call kwargs (not body fields)."""
        cls = type(self).__name__
        timeouts = self.timeout
        if "timeout" in kwargs:
            try:
                timeouts = as_timeouts(kwargs.pop("timeout"))
            except ValidationError as exc:
                raise InvalidArgumentError(_format_validation(cls, exc, "timeout")) from None
            except (TypeError, ValueError) as exc:
                raise InvalidArgumentError(f"{cls}: invalid argument: timeout: {exc}") from None
        retries = self.max_retries
        if "max_retries" in kwargs:
            retries = kwargs.pop("max_retries")
            if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
                raise InvalidArgumentError(f"{cls}: invalid argument: max_retries: must be an integer >= 0")
        return timeouts, retries

    def _request_options(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """Take ``extra_body`` and ``extra_headers`` out of per-call kwargs, checked.

        ``extra_body``: fields merged into the JSON body last (they win);
        ``extra_headers``: headers for this call only (checked like
        ``default_headers``; their values are redacted from errors too).
        """
        cls = type(self).__name__
        extra_body = kwargs.pop("extra_body", None) or {}
        if not isinstance(extra_body, dict) or not all(isinstance(k, str) for k in extra_body):
            raise InvalidArgumentError(f"{cls}: invalid argument: extra_body: must be a dict of body fields")
        if problem := _json_problem(extra_body):
            raise InvalidArgumentError(f"{cls}: invalid argument: extra_body: {problem}")
        headers = kwargs.pop("extra_headers", None) or {}
        try:
            if not isinstance(headers, Mapping) or not all(isinstance(v, str) for v in headers.values()):
                raise ValueError("must be a dict of header names to str values")
            checked = type(self)._check_headers(headers)
        except ValueError as exc:
            raise InvalidArgumentError(f"{cls}: invalid argument: extra_headers: {exc}") from None
        return extra_body, {name: _secret_value(value) for name, value in checked.items()}

    def _make_stream(
        self,
        body: dict[str, Any],
        *,
        path: str,
        handlers: HandlerSet,
        streaming: bool,
        start_hook: str,
        start_args: tuple[Any, ...],
        settings: tuple[Timeouts, int],
        extra_headers: dict[str, str] | None = None,
    ) -> ResponseStream:
        run_id = uuid4()
        try:
            # Checked again per call: a header changed in place skips assignment checks.
            type(self)._check_headers(self.default_headers)
        except ValueError as exc:
            raise InvalidArgumentError(
                f"{type(self).__name__}: invalid argument: default_headers: {exc}"
            ) from None
        open_response, redact = self._opener(body, path, extra_headers)
        return ResponseStream(
            provider=self._provider,
            chat=self._chat_results,
            open=open_response,
            redact=redact,
            max_event_size=self.max_event_size,
            handlers=handlers,
            run_id=run_id,
            start_hook=start_hook,
            start_args=start_args,
            streaming=streaming,
            timeouts=settings[0],
            max_retries=settings[1],
            registry=self._streams,
        )

    def _opener(
        self, body: dict[str, Any], path: str, extra_headers: dict[str, str] | None
    ) -> tuple[Opener, Callable[[APIError], APIError] | None]:
        """How each attempt opens its answer (here: POST ``body`` to ``path``), and the error redactor."""
        transport = self.transport
        try:
            # Encoded once, strictly (no NaN), before any request: every
            # attempt sends these bytes.
            data = encode_body(body)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"{type(self).__name__}: invalid arguments: {exc}") from None

        async def open_response(connect_timeout: float | None, on_sent: Callable[[], None]) -> Body:
            response = await transport.post(
                path, data, connect_timeout=connect_timeout, extra_headers=extra_headers, on_sent=on_sent
            )
            return Body(response)

        return open_response, _redactor(transport, extra_headers)

    def _body(self, request: Any, params: dict[str, Any], stream: bool) -> dict[str, Any]:
        """The provider's request body for one prompt or conversation."""
        return self._provider.build(request, params, stream)

    async def _generate_streams(
        self,
        streams: list[ResponseStream],
        max_concurrency: int | None,
        return_exceptions: bool = False,
        on_progress: Callable[[BatchProgress], object] | None = None,
    ) -> LLMResult:
        """Run prompts concurrently (bounded), results in input order.

        By default the first failure cancels the others and is raised as
        itself (not wrapped in an exception group), with
        ``.batch_results``: the results of the prompts that had finished
        (``None`` for the others); the cancelled ones tell their handlers
        through ``on_llm_error``. With ``return_exceptions=True`` nothing is
        cancelled: every prompt runs to its end, a failed one contributes
        its partial result, and ``LLMResult.errors[i]`` is its error
        (``None`` where prompt ``i`` succeeded). ``on_progress`` is called
        (and awaited, if it returns an awaitable) as each prompt finishes.
        """
        if max_concurrency is not None and (not isinstance(max_concurrency, int) or max_concurrency < 1):
            raise InvalidArgumentError("max_concurrency must be a positive integer")
        if on_progress is not None and not callable(on_progress):
            raise InvalidArgumentError("on_progress must be a callable taking a BatchProgress")
        total = len(streams)
        if total == 1 and not return_exceptions and on_progress is None:
            return LLMResult.merge([await streams[0].collect()])  # await llm(...): no task group
        results: list[LLMResult | None] = [None] * total
        errors: list[BaseException | None] = [None] * total
        failures: list[Exception] = []
        callback_errors: list[Exception] = []
        finished = 0
        limiter = anyio.CapacityLimiter(max_concurrency or self.max_concurrency)

        async def run(index: int, stream: ResponseStream) -> None:
            nonlocal finished
            async with limiter:
                try:
                    results[index] = await stream.collect()
                except Exception as exc:
                    errors[index] = exc
                    if not return_exceptions:
                        failures.append(exc)
                        tg.cancel_scope.cancel()
                        return
                    results[index] = getattr(exc, "partial_result", None)
            finished += 1
            if on_progress is not None:
                try:
                    outcome = on_progress(
                        BatchProgress(index, finished, total, results[index], errors[index])
                    )
                    if inspect.isawaitable(outcome):
                        await outcome
                except Exception as exc:  # the caller's own code: raised as itself, below
                    callback_errors.append(exc)
                    tg.cancel_scope.cancel()

        async with anyio.create_task_group() as tg:
            for index, stream in enumerate(streams):
                tg.start_soon(run, index, stream)
        if callback_errors:
            raise callback_errors[0]
        if failures:
            first = failures[0]
            if isinstance(first, StreamkitError):
                first.batch_results = [r if errors[i] is None else None for i, r in enumerate(results)]
            raise first
        merged = LLMResult.merge([r if r is not None else LLMResult(generations=[[]]) for r in results])
        if return_exceptions:
            merged.errors = errors
        return merged


class PromptModel(StreamingModel, BlockingMixin[str, str]):
    """A prompt string in, text out (``OpenAI``, ``Anthropic``)."""

    if TYPE_CHECKING:

        def __init__(self, **settings: Unpack[ModelSettings]) -> None: ...

    def stream(
        self, prompt: str, *, callbacks: Sequence[AnyHandler] | None = None, **kwargs: Any
    ) -> ResponseStream:
        """Stream one prompt: ``async for token in llm.stream("...")``."""
        return self._prompt_stream(prompt, callbacks, kwargs, streaming=True)

    @warn_if_never_awaited
    async def generate(
        self,
        prompts: Sequence[str],
        *,
        callbacks: Sequence[AnyHandler] | None = None,
        max_concurrency: int | None = None,
        return_exceptions: bool = False,
        on_progress: Callable[[BatchProgress], object] | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        """Complete every prompt (concurrently, bounded) and return one ``LLMResult``.

        Streams under the hood when ``streaming=True`` (handlers see each
        token); ``token_usage`` is filled in either way. ``return_exceptions``
        and ``on_progress``: see :meth:`StreamingModel._generate_streams`
        (a failed prompt keeps its partial result and its error in
        ``result.errors``; the default raises the first error, with the
        finished results on its ``batch_results``).
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
        return await self._generate_streams(streams, max_concurrency, return_exceptions, on_progress)

    @warn_if_never_awaited
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
        extra_body, extra_headers = self._request_options(kwargs)
        params = self._params(kwargs)
        body = {**self._body(prompt, params, streaming), **extra_body}
        return self._make_stream(
            body,
            path=self._provider.endpoint(params, streaming),
            handlers=self._handler_set(callbacks),
            streaming=streaming,
            start_hook="on_llm_start",
            start_args=(self._serialized(body, params, streaming), [prompt]),
            settings=settings,
            extra_headers=extra_headers,
        )


#: One conversation: a prompt string, or a list of messages (a bare ``str``
#: in the list is a ``HumanMessage``).
MessagesInput = str | Sequence[BaseMessage | str]


#: The sampling parameters ``on_llm_start`` reports (``serialized["invocation_params"]``).
_INVOCATION_KEYS = (
    "model",
    "temperature",
    "max_tokens",
    "top_p",
    "top_k",
    "stop",
    "stop_sequences",
    "seed",
    "n",
)


def _merged(body: dict[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` with ``fields`` merged in key by key, nested objects too."""
    out = dict(body)
    for key, value in fields.items():
        old = out.get(key)
        out[key] = _merged(old, value) if isinstance(old, dict) and isinstance(value, Mapping) else value
    return out


def _check_tool_json(specs: list[ToolSpec]) -> None:
    """Raise InvalidArgumentError naming the first tool whose schema JSON cannot carry."""
    for i, spec in enumerate(specs):
        problem = _json_problem([spec.name, spec.description, spec.parameters])
        if problem:
            raise InvalidArgumentError(f"invalid argument: tools[{i}] ({spec.name!r}): {problem}")


class ChatModel(StreamingModel, BlockingMixin[MessagesInput, AIMessage]):
    """Message lists in, ``AIMessage`` out; tools can be bound or given per call."""

    if TYPE_CHECKING:

        def __init__(self, **settings: Unpack[ChatModelSettings]) -> None: ...

    _chat_results = True
    _call_options = StreamingModel._call_options | {"tools", "tool_choice"}

    tools: list[Any] | None = None
    tool_choice: str | None = None

    def _check(self) -> None:
        super()._check()
        try:
            specs = to_tool_specs(self.tools)
            check_tool_choice(self.tool_choice, specs)
            _check_tool_json(specs)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"{type(self).__name__}: {exc}") from None

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None) -> Self:
        """A copy of this model that offers ``tools`` on every call (checked now)."""
        specs = to_tool_specs(tools)
        check_tool_choice(tool_choice, specs)
        # Through model_copy: every setting carried over, and the copy gets
        # its own HTTP sessions (never this model's pool).
        return self.model_copy(update={"tools": list(tools), "tool_choice": tool_choice})

    def _params(self, overrides: dict[str, Any]) -> dict[str, Any]:
        tools = overrides.pop("tools", self.tools)
        choice = overrides.pop("tool_choice", self.tool_choice)
        params = super()._params(overrides)
        specs = to_tool_specs(tools)
        try:
            _check_tool_json(specs)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"{type(self).__name__}: {exc}") from None
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

    @warn_if_never_awaited
    async def generate(
        self,
        messages: Sequence[MessagesInput],
        *,
        callbacks: Sequence[AnyHandler] | None = None,
        max_concurrency: int | None = None,
        return_exceptions: bool = False,
        on_progress: Callable[[BatchProgress], object] | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        """Answer every conversation (one message list each), concurrently, bounded.

        ``return_exceptions`` and ``on_progress`` as for ``PromptModel.generate``.
        """
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
        return await self._generate_streams(streams, max_concurrency, return_exceptions, on_progress)

    @warn_if_never_awaited
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

    @overload
    def with_structured_output(
        self,
        schema: type[_S],
        *,
        method: str | None = None,
        strict: bool | None = None,
        include_raw: Literal[False] = False,
    ) -> StructuredChat[_S, _S]: ...
    @overload
    def with_structured_output(
        self,
        schema: type[_S],
        *,
        method: str | None = None,
        strict: bool | None = None,
        include_raw: Literal[True],
    ) -> StructuredChat[_S, RawResult[_S]]: ...
    @overload
    def with_structured_output(
        self,
        schema: Mapping[str, Any],
        *,
        method: str | None = None,
        strict: bool | None = None,
        include_raw: Literal[False] = False,
    ) -> StructuredChat[dict[str, Any], dict[str, Any]]: ...
    @overload
    def with_structured_output(
        self,
        schema: Mapping[str, Any],
        *,
        method: str | None = None,
        strict: bool | None = None,
        include_raw: Literal[True],
    ) -> StructuredChat[dict[str, Any], RawResult[dict[str, Any]]]: ...
    def with_structured_output(
        self, schema: Any, *, method: str | None = None, strict: bool | None = None, include_raw: bool = False
    ) -> StructuredChat[Any, Any]:
        """This model, answering with objects of ``schema`` (a pydantic model, a TypedDict or a JSON schema).

        ``await s(messages)`` returns the validated object, ``s.stream(messages)``
        yields it as it grows, ``s.generate([...])`` puts it in each
        generation. ``method``: ``"json_schema"`` (OpenAI's default:
        ``response_format``) or ``"tool"`` (Anthropic's default: a forced
        tool); ``strict``: None for each method's safe choice;
        ``include_raw``: return ``{"raw", "parsed", "parsing_error"}``.
        Raises InvalidArgumentError for a schema it cannot use. Details:
        :mod:`streamkit.structured`.
        """
        from .structured import StructuredChat

        return StructuredChat(self, schema, method=method, strict=strict, include_raw=include_raw)

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
        extra_body, extra_headers = self._request_options(kwargs)
        output_format = kwargs.pop("output_format", None)  # with_structured_output()'s body fields
        params = self._params(kwargs)
        body = {**self._body(checked, params, streaming), **extra_body}
        if output_format:
            body = _merged(body, output_format)
        return self._make_stream(
            body,
            path=self._provider.endpoint(params, streaming),
            handlers=self._handler_set(callbacks),
            streaming=streaming,
            start_hook="on_chat_model_start",
            start_args=(self._serialized(body, params, streaming), [checked]),
            settings=settings,
            extra_headers=extra_headers,
        )
