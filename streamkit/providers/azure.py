"""Azure OpenAI: Chat Completions on a deployment (``AzureChatOpenAI``).

Azure speaks OpenAI's Chat Completions wire format; this module owns only
what differs, the endpoint, the authentication and the environment, and
maps every answer with the OpenAI chat mapper
(:class:`streamkit.providers._openai.ChatMapper`, which already handles
Azure's stream quirks: a first chunk with ``choices: []`` and empty
``id``/``model`` carrying ``prompt_filter_results``, ``content_filter_results``
and ``content_filter_offsets`` on chunks, annotation chunks with no
``delta``, and ``finish_reason: "content_filter"``).

Wire facts (public sources):

* Endpoints. The deployment API, ``POST {endpoint}/openai/deployments/
  {deployment}/chat/completions?api-version={version}``: the deployment is in
  the path and ``api-version`` is required (without it Azure answers 404
  ``{"error":{"code":"404","message": "Resource not found"}}``:
  https://github.com/MicrosoftDocs/azure-docs/issues/114602,
  https://github.com/openai/openai-python/issues/362). The v1 API,
  ``POST {endpoint}/openai/v1/chat/completions``: no ``api-version`` needed
  (``?api-version=preview`` opts into preview features), the deployment's
  name goes in the body's ``model``
  (https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle,
  MicrosoftDocs/azure-ai-docs:articles/ai-foundry/openai/api-version-lifecycle.md).
* Authentication: an API key in the ``api-key`` header, or a Microsoft
  Entra ID token as ``Authorization: Bearer`` (scope
  ``https://cognitiveservices.azure.com/.default``); both work on both APIs
  (same page; https://learn.microsoft.com/azure/ai-services/openai/how-to/managed-identity).
* The environment, as the official SDK reads it (openai/openai-python
  ``src/openai/lib/azure.py`` @ e43b4224, ``AzureOpenAI.__init__``):
  ``AZURE_OPENAI_API_KEY``, ``AZURE_OPENAI_AD_TOKEN`` (which wins over the
  key when no credential is given), ``OPENAI_API_VERSION``,
  ``AZURE_OPENAI_ENDPOINT``; ``azure_ad_token_provider`` "will be invoked on
  every request". LangChain's ``AzureChatOpenAI`` uses the same names plus
  ``azure_deployment`` (alias ``deployment_name``) and ``model`` as a label
  (langchain-ai/langchain ``libs/partners/openai/langchain_openai/chat_models/azure.py``).
  ``AZURE_OPENAI_API_VERSION`` (Microsoft's own samples) is read after
  ``OPENAI_API_VERSION``.
* Errors: ``{"error": {"code", "message"}}``, ``code`` a status as a string
  (``"401"``, ``"429"``) or a name (``"DeploymentNotFound"``,
  ``"content_filter"``); a prompt refused by the content filter is HTTP 400
  with ``code: "content_filter"`` and ``innererror.content_filter_result``
  (MicrosoftDocs/azure-docs:articles/ai-services/openai/concepts/content-filter.md);
  429s carry ``retry-after`` and ``retry-after-ms`` (read by the shared
  transport, as openai-python's ``_calculate_retry_timeout`` does).
* Content streaming: the sample streams of
  MicrosoftDocs/azure-ai-docs:articles/ai-foundry/openai/concepts/content-streaming.md
  are this module's conformance fixtures (``tests/fixtures/wire/azure``).
"""

from __future__ import annotations

import inspect
import json
import os
import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Unpack
from urllib.parse import quote, urlsplit

import anyio.to_thread
from pydantic import Field, SecretStr, field_serializer, field_validator

from .._adapter import Opener
from .._openai import _OpenAICommonSettings, _OpenAISettings
from .._transport import MIN_SECRET_LENGTH
from ..errors import APIError, InvalidArgumentError, redact_error
from ..messages import BaseMessage
from ..models import ChatModel, ChatModelSettings
from ..testing._render import Answer, openai_events, openai_full, sse
from ..testing._validate import check_openai_chat
from ..testing.wire import MockWire
from ._openai import OpenAIChatProvider
from .base import Provider

__all__ = ["MOCK", "AzureADTokenProvider", "AzureChatOpenAI", "AzureChatOpenAISettings", "AzureChatProvider"]

#: ``azure_ad_token_provider``: a callable returning a token, or an awaitable of one.
AzureADTokenProvider = Callable[[], "str | Awaitable[str]"]

#: ``api_version`` values that select the v1 API (``/openai/v1/...``) instead of a deployment's.
#: ``"v1"`` sends no ``api-version``; ``"preview"`` sends ``?api-version=preview``.
V1_VERSIONS = frozenset({"v1", "preview"})

#: The credentials, of which exactly one is given.
_CREDENTIALS = ("api_key", "azure_ad_token", "azure_ad_token_provider")

#: The request parameter carrying the route (deployment, API version) from the model to the provider.
_ROUTE = "_azure_route"


@dataclass(frozen=True)
class _Route:
    deployment: str | None
    api_version: str

    @property
    def v1(self) -> bool:
        return self.api_version in V1_VERSIONS


class AzureChatProvider(OpenAIChatProvider):
    """Azure OpenAI Chat Completions: OpenAI's wire format at Azure's endpoints, with Azure's auth.

    ``endpoint()`` builds the path from the request's route (see the module
    docstring); the body, the mapping and the errors are OpenAI's.
    """

    name = "azure-openai-chat"
    api_key_env = "AZURE_OPENAI_API_KEY"
    base_url_env = "AZURE_OPENAI_ENDPOINT"
    #: No default: every resource has its own endpoint (``https://NAME.openai.azure.com``).
    default_base_url = ""

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        """The key in Azure's ``api-key`` header (an Entra ID token is added per request)."""
        return {"api-key": api_key} if api_key else {}

    def endpoint(self, params: dict[str, Any], stream: bool) -> str:
        """The path: ``/openai/deployments/{deployment}/chat/completions?api-version=...`` or the v1 one.

        The deployment is ``azure_deployment`` or, without one, the
        request's ``model`` (as in the official SDK); path and query values
        are percent-encoded.
        """
        route = _route(params)
        if route.v1:
            query = "" if route.api_version == "v1" else "?api-version=" + quote(route.api_version, safe="")
            return "/openai/v1/chat/completions" + query
        deployment = route.deployment or str(params.get("model") or "")
        return (
            f"/openai/deployments/{quote(deployment, safe='')}/chat/completions"
            f"?api-version={quote(route.api_version, safe='')}"
        )

    def build(self, messages: Sequence[BaseMessage], params: dict[str, Any], stream: bool) -> dict[str, Any]:
        """OpenAI's body; on the v1 API the deployment (when set) is the body's ``model``."""
        route = params.get(_ROUTE)
        clean = {k: v for k, v in params.items() if k != _ROUTE}
        if isinstance(route, _Route) and route.v1 and route.deployment:
            clean["model"] = route.deployment
        return super().build(messages, clean, stream)


class _EntraChatProvider(AzureChatProvider):
    """Entra ID authentication: ``AZURE_OPENAI_API_KEY`` is not read (a token is sent instead)."""

    # Provider declares ClassVar[str | None]; _OpenAIProvider's "OPENAI_API_KEY" narrowed it to str.
    api_key_env = None  # type: ignore[assignment]


def _route(params: dict[str, Any]) -> _Route:
    route = params.get(_ROUTE)
    if not isinstance(route, _Route):  # a provider used without AzureChatOpenAI
        raise InvalidArgumentError("AzureChatProvider needs the route AzureChatOpenAI puts in the request")
    return route


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def _control_char(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def _has_header(headers: Mapping[str, Any] | None, name: str) -> bool:
    return any(key.lower() == name for key in headers or ())


#: A path that already holds Azure's API prefix: ``base_url`` is the resource URL only.
_API_PATH = re.compile(r"/openai(/|$)", re.IGNORECASE)


class AzureChatOpenAISettings(_OpenAICommonSettings, ChatModelSettings, total=False):
    """``AzureChatOpenAI(...)``'s keyword arguments (``ChatModelSettings`` and these)."""

    azure_endpoint: str | None
    azure_deployment: str | None
    deployment_name: str | None
    api_version: str | None
    azure_ad_token: SecretStr | str | None
    azure_ad_token_provider: Callable[[], Any] | None
    logprobs: bool | None
    top_logprobs: int | None


class AzureChatOpenAI(_OpenAISettings, ChatModel):
    """Azure OpenAI Chat Completions, streamed (LangChain's ``AzureChatOpenAI``).

    ``azure_endpoint`` (or ``base_url``, or ``AZURE_OPENAI_ENDPOINT``) is the
    resource's URL, ``https://NAME.openai.azure.com``, without ``/openai``.
    ``azure_deployment`` (alias ``deployment_name``) names the deployment;
    ``model`` defaults to it and is otherwise a label (it is sent, and is
    the deployment when ``azure_deployment`` is not given, as in the
    official SDK). ``api_version`` (or ``OPENAI_API_VERSION``, then
    ``AZURE_OPENAI_API_VERSION``) is required: a dated version
    (``"2024-10-21"``) calls ``/openai/deployments/{deployment}/chat/completions``;
    ``"v1"`` calls the v1 API (``/openai/v1/chat/completions``, the
    deployment as the body's ``model``) and ``"preview"`` the same with
    ``?api-version=preview``.

    Credentials, exactly one of (else :class:`InvalidArgumentError`):

    * ``api_key`` (or ``AZURE_OPENAI_API_KEY``): sent as ``api-key``;
    * ``azure_ad_token`` (or ``AZURE_OPENAI_AD_TOKEN``, which wins over the
      key variable when no credential is passed, as in the official SDK):
      a Microsoft Entra ID token, sent as ``Authorization: Bearer``;
    * ``azure_ad_token_provider``: a callable returning such a token
      (``azure.identity.get_bearer_token_provider(credential,
      "https://cognitiveservices.azure.com/.default")``, sync or its
      ``azure.identity.aio`` twin). It is called before every request
      attempt (retries included), as the official SDK does; the provider
      caches and refreshes the token itself. A coroutine function (or a
      callable returning an awaitable) is awaited; a plain callable runs in
      a worker thread (``anyio.to_thread``), so a refresh, which is a
      network call, never blocks the event loop (it may run on several
      threads at once). An exception it raises is raised as itself; a
      value that is not a non-empty ``str`` raises
      :class:`InvalidArgumentError`. Tokens are redacted from errors.

    An ``Authorization`` or ``api-key`` header in ``default_headers`` (or a
    call's ``extra_headers``) counts as a credential and is never
    overridden. ``stream_usage`` (default True) sends
    ``stream_options.include_usage``, which Azure accepts from API version
    2024-09-01-preview on; set it False for older versions. Everything
    else (tools, structured output, ``n``, ``logprobs``, per-call options)
    is ``ChatOpenAI``'s.
    """

    _provider_class = AzureChatProvider
    _call_options = _OpenAISettings._call_options | ChatModel._call_options | {"top_logprobs"}

    #: Defaults to ``azure_deployment``; without a deployment it is the deployment.
    model: str = Field(alias="model_name", min_length=1)
    azure_deployment: str | None = Field(default=None, alias="deployment_name", min_length=1)
    #: A dated API version (``"2024-10-21"``), ``"v1"`` or ``"preview"``.
    api_version: str | None = Field(default=None, min_length=1)
    #: A Microsoft Entra ID token. Accepts a str; always stored as a ``SecretStr``.
    azure_ad_token: SecretStr | str | None = Field(default=None, repr=False)
    #: A callable returning an Entra ID token (or an awaitable of one), called per request attempt.
    azure_ad_token_provider: Callable[[], Any] | None = Field(default=None, repr=False)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    #: Constructor arguments that are not fields: ``azure_endpoint`` is ``base_url``.
    _init_aliases: ClassVar[frozenset[str]] = frozenset({"azure_endpoint"})

    if TYPE_CHECKING:

        def __init__(self, **settings: Unpack[AzureChatOpenAISettings]) -> None: ...

    @classmethod
    def _new_provider(cls, data: dict[str, Any]) -> Provider:
        """Resolve the endpoint alias, the credentials' precedence, the API version and the model.

        Raises :class:`InvalidArgumentError` for two credentials, an
        endpoint given twice, or neither a deployment nor a model.
        """
        name = cls.__name__
        if "azure_endpoint" in data:
            endpoint = data.pop("azure_endpoint")
            if endpoint is not None:
                if data.get("base_url") is not None:
                    raise InvalidArgumentError(f"{name}: pass azure_endpoint or base_url, not both")
                data["base_url"] = endpoint
        given = [k for k in _CREDENTIALS if data.get(k) is not None]
        if len(given) > 1:
            raise InvalidArgumentError(
                f"{name}: pass one credential, not {' and '.join(given)} "
                "(api_key, azure_ad_token or azure_ad_token_provider)"
            )
        entra = bool(given) and given[0] != "api_key"
        if not given and (token := _env("AZURE_OPENAI_AD_TOKEN")):
            data["azure_ad_token"] = token
            entra = True
        if data.get("api_version") is None:
            data["api_version"] = _env("OPENAI_API_VERSION") or _env("AZURE_OPENAI_API_VERSION")
        if data.get("model") is None and data.get("model_name") is None:
            data.pop("model", None)
            data.pop("model_name", None)
            deployment = data.get("azure_deployment", data.get("deployment_name"))
            if deployment is None:
                raise InvalidArgumentError(
                    f"{name}: pass azure_deployment=... (the deployment's name in your Azure resource) "
                    "or model=..."
                )
            data["model"] = deployment
        return _EntraChatProvider() if entra else AzureChatProvider()

    @field_validator("azure_ad_token", mode="before")
    @classmethod
    def _check_token(cls, value: Any) -> Any:
        secret = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(secret, str) and _control_char(secret):
            raise ValueError("must not contain control characters")
        return SecretStr(value) if isinstance(value, str) else value

    @field_validator("api_version", "azure_deployment")
    @classmethod
    def _check_plain(cls, value: str | None) -> str | None:
        if value is not None and (_control_char(value) or value != value.strip()):
            raise ValueError("must not contain control characters or surrounding spaces")
        return value

    @field_serializer("azure_ad_token_provider", when_used="json")
    def _show_token_provider(self, value: Callable[[], Any] | None) -> str | None:
        """JSON has no form for a callable: dumps name it."""
        return None if value is None else getattr(value, "__qualname__", type(value).__name__)

    @property
    def azure_endpoint(self) -> str | None:
        """The resource's URL (``base_url``)."""
        return self.base_url

    def _check(self) -> None:
        super()._check()
        name = type(self).__name__
        if self.base_url is None:
            raise InvalidArgumentError(
                f"{name}: no endpoint: pass azure_endpoint='https://NAME.openai.azure.com' "
                "or set AZURE_OPENAI_ENDPOINT"
            )
        if _API_PATH.search(urlsplit(self.base_url).path):
            raise InvalidArgumentError(
                f"{name}: invalid argument: azure_endpoint: give the resource's URL "
                "(https://NAME.openai.azure.com) without /openai...: streamkit adds "
                "/openai/deployments/{deployment}/chat/completions or /openai/v1/chat/completions"
            )
        if self.api_version is None:
            raise InvalidArgumentError(
                f"{name}: no API version: pass api_version='2024-10-21' (or 'v1' for the v1 API) "
                "or set OPENAI_API_VERSION"
            )
        given = [k for k in _CREDENTIALS if getattr(self, k) is not None]
        if len(given) > 1:
            raise InvalidArgumentError(f"{name}: pass one credential, not {' and '.join(given)}")
        if not given and not (
            _has_header(self.default_headers, "authorization") or _has_header(self.default_headers, "api-key")
        ):
            raise InvalidArgumentError(
                f"{name}: no credentials: pass api_key, azure_ad_token or azure_ad_token_provider, "
                "or set AZURE_OPENAI_API_KEY or AZURE_OPENAI_AD_TOKEN"
            )

    def _extra_params(self) -> dict[str, Any]:
        return {
            **super()._extra_params(),
            "logprobs": self.logprobs,
            "top_logprobs": self.top_logprobs,
            _ROUTE: _Route(self.azure_deployment, self.api_version or ""),
        }

    def _opener(
        self, body: dict[str, Any], path: str, extra_headers: dict[str, str] | None
    ) -> tuple[Opener, Callable[[APIError], APIError] | None]:
        """Each attempt adds ``Authorization: Bearer <token>`` when Entra ID is the credential.

        The token is fetched per attempt (see the class docstring) and
        every token sent is redacted from the errors of this call.
        """
        token, provider = self.azure_ad_token, self.azure_ad_token_provider
        if (token is None and provider is None) or _has_header(self.default_headers, "authorization"):
            return super()._opener(body, path, extra_headers)
        if _has_header(extra_headers, "authorization"):
            return super()._opener(body, path, extra_headers)
        headers = dict(extra_headers or {})
        open_response, redact = super()._opener(body, path, headers)
        sent: list[str] = []
        owner = type(self).__name__

        async def open_with_token(connect_timeout: float | None, on_sent: Callable[[], None]) -> Any:
            if isinstance(token, SecretStr):
                value = token.get_secret_value()
            else:
                value = await _fetch(provider, owner)
            if len(value) >= MIN_SECRET_LENGTH and value not in sent:
                sent.append(value)
                sent.sort(key=len, reverse=True)
            headers["Authorization"] = f"Bearer {value}"  # the dict the transport call reads
            return await open_response(connect_timeout, on_sent)

        def redact_tokens(error: APIError) -> APIError:
            if redact is not None:
                error = redact(error)
            return redact_error(error, sent)

        return open_with_token, redact_tokens


async def _fetch(provider: Callable[[], Any] | None, owner: str) -> str:
    """One token from ``azure_ad_token_provider`` (awaited, or run in a worker thread)."""
    assert provider is not None
    call = getattr(provider, "__call__", None)  # noqa: B004 (an object whose __call__ is async)
    if inspect.iscoroutinefunction(provider) or inspect.iscoroutinefunction(call):
        value = provider()
    else:
        value = await anyio.to_thread.run_sync(provider, abandon_on_cancel=True)
    if inspect.isawaitable(value):
        value = await value
    if not isinstance(value, str) or not value or _control_char(value):
        raise InvalidArgumentError(
            f"{owner}: azure_ad_token_provider must return a non-empty token string without control "
            f"characters, not {type(value).__name__ if not isinstance(value, str) else 'this one'}"
        )
    return str.__str__(value)


# -- the mock server's Azure ---------------------------------------------------------

#: Azure's answer to a missing or wrong key (SciSharp/BotSharp#386, microsoft/semantic-kernel#10337).
UNAUTHORIZED_BODY = {
    "error": {
        "code": "401",
        "message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
        "provide a valid key for an active subscription and use a correct regional API endpoint for your "
        "resource.",
    }
}
#: Azure's answer to a deployment call without ``api-version`` (MicrosoftDocs/azure-docs#114602).
NOT_FOUND_BODY = {"error": {"code": "404", "message": "Resource not found"}}
_SAFE = {"filtered": False, "severity": "safe"}
#: Content filter annotations of a prompt or completion that passed (content-streaming.md samples).
FILTER_RESULTS = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}


def _authenticated(headers: Mapping[str, str]) -> bool:
    for key, value in headers.items():
        name = key.lower()
        if name == "api-key" and value:
            return True
        if name == "authorization" and value.startswith("Bearer ") and value[len("Bearer ") :]:
            return True
    return False


def _json_error(exc: type[Any], body: dict[str, Any]) -> Exception:
    error: Exception = exc(text=json.dumps(body), content_type="application/json")
    return error


class _AzureMock(MockWire):
    """The mock server's Azure OpenAI: both APIs, Azure's auth and ``api-version`` checks, its stream shape.

    Like the service: no ``api-key`` header or ``Authorization: Bearer``
    token gets 401 (any non-empty value is accepted), and a deployment call
    without ``api-version`` gets 404 ``Resource not found`` (the v1 route
    needs none). Those two answers are raised as aiohttp HTTP exceptions
    from ``check``/``streaming``, the only hooks the wire has (``check``
    can only answer 400, and only ``streaming`` sees the query): the 404 is
    decided after the request took its scripted response from the queue.
    Streams start with Azure's ``choices: []`` chunk carrying
    ``prompt_filter_results`` and annotate every choice with
    ``content_filter_results``; ``stream_options.include_usage`` is honoured.
    """

    name = "azure-openai-chat"
    routes = ("/openai/deployments/{deployment}/chat/completions", "/openai/v1/chat/completions")

    def check(self, body: Any, headers: Mapping[str, str]) -> dict[str, Any] | None:
        if not _authenticated(headers):
            from aiohttp import web

            raise _json_error(web.HTTPUnauthorized, UNAUTHORIZED_BODY)
        # A deployment call needs no model in the body (the path names the deployment).
        return check_openai_chat({"model": "deployment", **body} if isinstance(body, dict) else body)

    def streaming(self, path: str, query: Mapping[str, str], body: Any) -> bool:
        if path.startswith("/openai/deployments/") and not query.get("api-version"):
            from aiohttp import web

            raise _json_error(web.HTTPNotFound, NOT_FOUND_BODY)
        return super().streaming(path, query, body)

    def events(self, answer: Answer, body: Any) -> Iterable[tuple[bytes, bool]]:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        prompt_filter = [{"prompt_index": 0, "content_filter_results": FILTER_RESULTS}]
        first = {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": prompt_filter,
        }
        yield sse(first), False
        for data, is_token in openai_events(True, answer, include_usage):
            if data.startswith(b"data: {"):
                chunk = json.loads(data[len(b"data: ") :])
                for choice in chunk.get("choices") or ():
                    choice["content_filter_results"] = FILTER_RESULTS if choice.get("delta") else {}
                data = sse(chunk)
            yield data, is_token

    def full(self, answer: Answer, body: Any) -> dict[str, Any]:
        full = openai_full(True, answer)
        full["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": FILTER_RESULTS}]
        for choice in full["choices"]:
            choice["content_filter_results"] = FILTER_RESULTS
        return full

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"code": str(status), "message": message}}

    def error_event(self, error_type: str, message: str) -> bytes:
        return sse({"error": {"code": error_type, "message": message}})


MOCK = _AzureMock()
