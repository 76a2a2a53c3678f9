"""streamkit's one exception tree.

Every error streamkit raises derives from :class:`StreamkitError`::

    StreamkitError
    ├── InvalidArgumentError (ValueError)   bad constructor/call arguments, before any request
    ├── HandlerError                        a registered handler of the wrong kind
    ├── StreamStateError (RuntimeError)     lifecycle misuse: iterating twice, from two tasks, after close
    │   └── StreamClosedError               closed before its end (``model.aclose()``; under ``collect()``)
    ├── StreamAbandoned                     given to ``on_llm_error`` when the consumer left early
    ├── OutputParserError                   structured output: the answer is not a valid object
    │   └── RefusalError                    ... because the model refused (``.refusal``)
    ├── APIError                            anything that went wrong talking to the provider
    │   ├── APIConnectionError              could not connect, or the connection dropped
    │   │   ├── APITimeoutError (TimeoutError)   a deadline passed; ``.phase`` names which
    │   │   └── CertificateError            the server's TLS certificate failed verification
    │   ├── APIStatusError                  the server answered with an HTTP error status
    │   │   ├── RedirectError               3xx: API calls never follow redirects
    │   │   ├── BadRequestError             400, 422
    │   │   ├── AuthenticationError         401
    │   │   ├── PermissionDeniedError       403
    │   │   ├── NotFoundError               404
    │   │   ├── ConflictError               409
    │   │   ├── RateLimitError              429   (``.retry_after``)
    │   │   ├── InternalServerError         5xx
    │   │   └── OverloadedError             529, or Anthropic's ``overloaded_error``
    │   ├── ProviderStreamError             an error event inside a stream that had begun
    │   └── ProtocolError                   the response broke the wire format
    │       └── IncompleteStreamError       the stream ended before its terminal marker

Every error raised from a stream carries ``.partial_result``: an
:class:`~streamkit.LLMResult` of what arrived before the failure (empty
generations' text if nothing had; ``None`` only on errors raised before a
stream existed, such as bad arguments). An in-stream
error of a kind that also exists as an HTTP status (overloaded, rate limit)
raises the same class either way, so one ``except`` handles both.

Messages never contain an API key: they are built from the provider's
error message and the status line, never from request headers, and the
transport passes every message, body and cause it raises through
:func:`redact` with the client's own secrets (its key and every
``default_headers`` value). :func:`error_message` is the one place an
error body's message is read from, whatever shape the server used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .results import LLMResult

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CertificateError",
    "ConflictError",
    "HandlerError",
    "IncompleteStreamError",
    "InternalServerError",
    "InvalidArgumentError",
    "NotFoundError",
    "OutputParserError",
    "OverloadedError",
    "PermissionDeniedError",
    "ProtocolError",
    "ProviderStreamError",
    "RateLimitError",
    "RedirectError",
    "RefusalError",
    "StreamAbandoned",
    "StreamClosedError",
    "StreamStateError",
    "StreamkitError",
]


class StreamkitError(Exception):
    """Base of every error streamkit raises; ``except StreamkitError`` catches them all.

    ``message`` is the text (``str(error)``), never holding an API key.
    ``partial_result`` is an :class:`~streamkit.results.LLMResult` of what
    arrived before the failure on every error raised from a stream (empty
    generations' text if nothing had), ``None`` on errors raised before a
    stream existed (bad arguments). ``batch_results`` is set only on the
    error ``generate()`` raises for a batch: one entry per prompt, in order,
    its ``LLMResult`` if it had finished, else ``None``.
    """

    partial_result: LLMResult | None = None
    #: Set on the error ``generate()`` raises for a batch: the results of
    #: the prompts that had finished, in prompt order (``None`` for the others).
    batch_results: list[LLMResult | None] | None = None

    def __init__(self, message: str, *, partial_result: LLMResult | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.partial_result = partial_result

    def __str__(self) -> str:
        return self.message


class InvalidArgumentError(StreamkitError, ValueError):
    """An argument was wrong; raised before any request is sent.

    Also a ``ValueError``. The message names the argument (``temperature``,
    ``messages[1].content[2]``, ``owner``) and what is wrong with it.
    Never retried.
    """


class HandlerError(StreamkitError, TypeError):
    """A callback handler was rejected when it was registered (on the model or on a call).

    Also a ``TypeError``: an object that is not a handler, a class instead of
    an instance, or a hook of the wrong kind (``async def`` on a
    ``BaseCallbackHandler``, ``def`` on an ``AsyncCallbackHandler``). Raised
    before any request; the message names the handler and the hook.
    """


class StreamStateError(StreamkitError, RuntimeError):
    """A stream was used in a way its lifecycle does not allow.

    Also a ``RuntimeError``: iterating a stream twice or from two tasks at
    once, reading ``result`` before the end, using a closed model's blocking
    API, a resume store with a grace period that was not entered. A bug in
    the calling code, so never retried.
    """


class StreamClosedError(StreamStateError):
    """The stream was closed before its end, by the client itself, not the provider.

    Raised, with ``.partial_result``, in the task reading a stream when its
    model is closed (``await model.aclose()``) while the stream is open,
    and by ``collect()`` when another task calls ``stream.aclose()`` (an
    ``async for`` loop just ends then). Handlers get it in ``on_llm_error``
    for a closed model. Never retried: it is not an :class:`APIError`.
    """


class StreamAbandoned(StreamkitError):
    """The consumer stopped before the end (break, exception, cancellation, ``aclose()``).

    Never raised at the user (their own exit, or the ``CancelledError``,
    propagates unchanged); handlers receive it in ``on_llm_error``, with the
    partial result, so they can tell an abandoned stream from a failed one.
    """


class OutputParserError(StreamkitError):
    """Structured output (``with_structured_output``): the answer is not a valid object.

    Raised once the answer is complete (the API call itself succeeded):
    the JSON does not parse, does not validate against the schema, was cut
    off (``finish_reason`` ``length``), or the model answered without the
    forced tool call. ``raw_text`` is the answer's JSON text as received
    (the tool call's arguments for the tool method); ``errors`` is
    pydantic's list of validation errors (``[]`` when the text is not JSON
    at all); ``partial_result`` is the whole ``LLMResult``.
    """

    def __init__(
        self,
        message: str,
        *,
        raw_text: str = "",
        errors: list[Any] | None = None,
        partial_result: LLMResult | None = None,
    ) -> None:
        super().__init__(message, partial_result=partial_result)
        self.raw_text = raw_text
        self.errors = errors or []


class RefusalError(OutputParserError):
    """The model refused to answer in the schema.

    OpenAI sends a ``refusal`` instead of content under structured outputs
    (https://platform.openai.com/docs/guides/structured-outputs, "Refusals");
    Anthropic ends with ``stop_reason: "refusal"``. ``refusal`` is the
    model's explanation (``""`` if it gave none); ``raw_text`` whatever
    answer text came with it.
    """

    def __init__(
        self,
        message: str,
        *,
        refusal: str = "",
        raw_text: str = "",
        partial_result: LLMResult | None = None,
    ) -> None:
        super().__init__(message, raw_text=raw_text, partial_result=partial_result)
        self.refusal = refusal


class APIError(StreamkitError):
    """Something went wrong talking to the provider.

    ``retryable`` says whether streamkit retries it (up to the model's
    ``max_retries``, with back-off): only while nothing of the answer was
    delivered to the reader, and never past the ``total`` deadline.
    """

    retryable: bool = False


class APIConnectionError(APIError):
    """The connection could not be made, or broke (DNS, refused, reset, a proxy's refusal); retried."""

    retryable = True


class APITimeoutError(APIConnectionError, TimeoutError):
    """A deadline passed (also a ``TimeoutError``).

    ``phase`` names it: ``connect``, ``first_token``, ``idle`` or ``total``
    (see :class:`~streamkit.deadlines.Timeouts`); ``timeout`` is that
    deadline in seconds. Retried like a connection error, except ``total``,
    which covers the retries too.
    """

    def __init__(
        self,
        message: str,
        *,
        phase: str = "total",
        timeout: float | None = None,
        partial_result: LLMResult | None = None,
    ) -> None:
        super().__init__(message, partial_result=partial_result)
        self.phase = phase
        self.timeout = timeout


class CertificateError(APIConnectionError):
    """The server's TLS certificate failed verification; never retried.

    An unknown issuer (a self-signed or private-CA certificate), an expired
    certificate or a host name that does not match: retrying cannot change
    the answer. For a self-hosted server pass ``verify="/path/to/ca.pem"``
    (its CA bundle) or an ``ssl.SSLContext``; ``verify=False`` turns the
    check off. ``host`` and ``port`` name the server (or the proxy).
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        host: str | None = None,
        port: int | None = None,
        partial_result: LLMResult | None = None,
    ) -> None:
        super().__init__(message, partial_result=partial_result)
        self.host = host
        self.port = port


class APIStatusError(APIError):
    """The server answered with an HTTP error status; its subclasses name the common ones.

    Kept: ``status_code`` (an ``int``), the provider's message as the
    error's ``message`` (``"HTTP 429: ..."``), ``request_id`` (the ``x-request-id``,
    ``request-id`` or ``anthropic-request-id`` response header; ``None`` if
    absent), ``body`` (the error body parsed as JSON, else its text; at
    most the first 64 KiB are read; secrets redacted), ``error_type`` (the body's
    ``type``/``code``, e.g. ``invalid_request_error``) and ``retry_after``
    (seconds, from ``retry-after-ms`` or ``Retry-After``: seconds or an
    HTTP date, RFC 9110 section 10.2.3; ``None`` if absent). A status with
    no subclass of its own (402, 413, ...) is raised as this class, not
    retried. Retrying waits ``retry_after`` when given (at most 60 s).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        request_id: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
        error_type: str | None = None,
        partial_result: LLMResult | None = None,
    ) -> None:
        super().__init__(message, partial_result=partial_result)
        self.status_code = status_code
        self.request_id = request_id
        self.body = body
        self.retry_after = retry_after
        self.error_type = error_type


class RedirectError(APIStatusError):
    """3xx: the server redirected the call; ``location`` is where to (``None`` if not given).

    streamkit never follows a redirect on an API call: the request carries
    the key, every ``default_headers`` entry and the prompt, and a 307/308
    would send them all to whatever origin the ``Location`` names. Never
    retried; point ``base_url`` at the final URL instead.
    """

    def __init__(self, message: str, *, location: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.location = location


class BadRequestError(APIStatusError):
    """400 or 422: the request itself is wrong; never retried."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or wrong; never retried."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this model or endpoint; never retried."""


class NotFoundError(APIStatusError):
    """404: usually a wrong model name or base URL; never retried."""


class ConflictError(APIStatusError):
    """409: the request conflicted with another in progress; retried."""

    retryable = True


class RateLimitError(APIStatusError):
    """429, or an in-stream ``rate_limit_error``; retried.

    ``retry_after`` holds the server's hint in seconds, if it gave one
    (the retry waits that long, at most 60 s).
    """

    retryable = True


class InternalServerError(APIStatusError):
    """5xx (other than 529), or 408 Request Timeout; retried."""

    retryable = True


class OverloadedError(APIStatusError):
    """529, or an ``overloaded_error`` event; retried while nothing was shown.

    529 and ``overloaded_error`` are Anthropic's "API is temporarily
    overloaded" (https://docs.anthropic.com/en/api/errors).
    """

    retryable = True


class ProviderStreamError(APIError):
    """The provider sent an error event inside a stream that had begun (HTTP 200).

    ``error_type`` is the event's ``type``/``code`` (``api_error``,
    ``server_error``...; ``None`` if it gave none) and ``body`` the error
    object as sent. Retried (while nothing was shown) when the type is a
    server-side fault (``api_error``, ``server_error``, ``internal_error``,
    ``timeout_error``, ``timeout``). An in-stream error of a kind that has
    an HTTP status (``overloaded_error``, ``rate_limit_error``, a numeric
    ``code`` 400-599...) raises that status's class instead.
    """

    def __init__(
        self,
        message: str,
        *,
        error_type: str | None = None,
        body: Any = None,
        partial_result: LLMResult | None = None,
    ) -> None:
        super().__init__(message, partial_result=partial_result)
        self.error_type = error_type
        self.body = body


class ProtocolError(APIError):
    """The response broke the wire format; never retried.

    Bad JSON in an event, a value of the wrong type or shape (the message
    names the field as the provider's docs do, ``choices[].delta.content``),
    a body that is not an event stream, an event larger than
    ``max_event_size`` bytes.
    """


class IncompleteStreamError(ProtocolError):
    """The stream ended without its terminal marker: the answer may be cut; retried.

    Complete means, for OpenAI's formats, a ``finish_reason`` on every
    choice (``data: [DONE]`` alone is not enough: a proxy whose upstream
    failed sends it after partial text); for Anthropic's, a ``stop_reason``
    and the ``message_stop`` event. Retried while nothing was shown;
    ``partial_result`` holds what arrived.
    """

    retryable = True


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: InternalServerError,
    409: ConflictError,
    422: BadRequestError,
    429: RateLimitError,
    529: OverloadedError,
}


def status_error(
    status: int,
    message: str,
    *,
    request_id: str | None = None,
    body: Any = None,
    retry_after: float | None = None,
    error_type: str | None = None,
) -> APIStatusError:
    """The typed error for an HTTP status (or an in-stream error of that kind)."""
    if error_type == "overloaded_error":
        cls: type[APIStatusError] = OverloadedError
    elif error_type == "rate_limit_error":
        cls = RateLimitError
    elif 300 <= status < 400:
        cls = RedirectError
    else:
        cls = _BY_STATUS.get(status) or (InternalServerError if status >= 500 else APIStatusError)
    err = cls(
        message,
        status_code=status,
        request_id=request_id,
        body=body,
        retry_after=retry_after,
        error_type=error_type,
    )
    if status == 408:
        err.retryable = True
    return err


# -- reading and cleaning error bodies ----------------------------------------

#: Replaces a secret wherever it appears in a message, body or cause.
REDACTED = "***"

#: How many entries of a FastAPI validation list (``{"detail": [...]}``) the message names.
_MAX_DETAIL_ITEMS = 10


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _detail_message(detail: Any) -> str | None:
    """FastAPI's ``detail``: a string, or a list of pydantic errors ``{"loc", "msg", "type"}``.

    Wire facts: FastAPI renders ``HTTPException(status, detail=...)`` as
    ``{"detail": ...}`` and a request validation failure as ``{"detail":
    [{"loc": [...], "msg": "...", "type": "..."}, ...]}`` (FastAPI docs,
    "Handling Errors"). ``transformers serve`` raises ``HTTPException(422,
    detail=e.errors())`` or ``detail="Unexpected keys in the request: ..."``
    (huggingface/transformers, src/transformers/commands/serving.py), and
    FastAPI-based servers such as vLLM answer in this shape wherever their
    own handler does not step in. Only ``loc`` and ``msg`` are used:
    pydantic's ``input`` echoes the request.
    """
    if isinstance(detail, str):
        return detail or None
    if isinstance(detail, dict):
        return _text(detail.get("msg")) or _text(detail.get("message")) or _text(detail.get("error"))
    if not isinstance(detail, list):
        return None
    parts = []
    for item in detail[:_MAX_DETAIL_ITEMS]:
        if isinstance(item, str):
            parts.append(item)
        elif isinstance(item, dict) and _text(item.get("msg")):
            loc = item.get("loc")
            where = ".".join(str(p) for p in loc) if isinstance(loc, list) and loc else ""
            parts.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
    if len(detail) > _MAX_DETAIL_ITEMS and parts:
        parts.append(f"... ({len(detail) - _MAX_DETAIL_ITEMS} more)")
    return "; ".join(parts) or None


def _kind(obj: dict[str, Any]) -> str | None:
    kind = obj.get("type")
    if not isinstance(kind, str) or not kind:
        kind = obj.get("code")
    if kind is None or isinstance(kind, bool) or kind == "":
        return None
    return str(kind)


def error_message(body: Any) -> tuple[str | None, str | None]:
    """``(message, error type)`` from an error body, whatever its shape; ``(None, None)`` if none.

    The one reader of error bodies (both providers' ``parse_error`` use it).
    Shapes, first match wins:

    * ``{"error": {"message", "type" | "code"}}``: OpenAI's documented error
      object (and vLLM's current ``ErrorResponse``); Anthropic's
      ``{"type": "error", "error": {"type", "message"}}`` is the same shape
      and keeps its error type (``overloaded_error``...);
    * ``{"error": "..."}``: Ollama, vLLM's API-key middleware, llama.cpp's
      older server;
    * ``{"message": "...", "type" | "code"}``: vLLM's older top-level
      ``ErrorResponse`` (``object: "error"``), Mistral, many gateways;
    * ``{"detail": "..."}`` / ``{"detail": [{"loc", "msg"}, ...]}``: FastAPI
      (see :func:`_detail_message`).

    A plain-text body is the caller's business (it keeps the first 500
    characters). Never raises.
    """
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]  # Google's APIs wrap the error object in a list
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    if isinstance(error, dict):
        message = error.get("message")
        text = str(message) if message not in (None, "") else _text(error.get("detail"))
        return text, _kind(error)
    kind = _kind(body)
    kind = kind if kind != "error" else None  # ``"type": "error"`` marks the envelope, not the kind
    if isinstance(error, str) and error:
        return error, kind
    message = body.get("message")
    if message not in (None, "") and not isinstance(message, (dict, list)):
        return str(message), kind
    if "detail" in body:
        return _detail_message(body["detail"]), None
    return None, None


T = TypeVar("T")
E = TypeVar("E", bound=BaseException)


def redact(value: T, secrets: Sequence[str]) -> T:
    """A copy of ``value`` with every secret replaced by ``***``.

    Walks strings, dict keys and values, lists and tuples (any depth);
    other values are returned as they are. ``secrets`` should be sorted
    longest first, so a secret that contains another is replaced whole.
    """
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)  # type: ignore[assignment]
            value = _redact_cut(value, secret)  # type: ignore[assignment]
        return value
    if isinstance(value, dict):
        return {redact(k, secrets): redact(v, secrets) for k, v in value.items()}  # type: ignore[return-value]
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]  # type: ignore[return-value]
    if isinstance(value, tuple):
        return tuple(redact(v, secrets) for v in value)  # type: ignore[return-value]
    return value


#: The shortest piece of a secret that is hidden where a message was cut through it.
_CUT_PIECE = 8


def _redact_cut(text: str, secret: str) -> str:
    """Hide the pieces of ``secret`` left where a message or excerpt was cut through it.

    An error message keeps the first 500 characters of a body, an excerpt
    the first 200: a key the server echoed right there survives only in
    part, which ``str.replace`` cannot see. Any run of at least
    :data:`_CUT_PIECE` characters that starts a secret (a cut after it) or
    ends it (a cut before it) is replaced.
    """
    if len(secret) <= _CUT_PIECE:
        return text
    head, tail = secret[:_CUT_PIECE], secret[-_CUT_PIECE:]
    if head in text:
        out, pos = [], 0
        while (at := text.find(head, pos)) >= 0:
            end = at + _CUT_PIECE
            while end < len(text) and end - at < len(secret) and text[end] == secret[end - at]:
                end += 1
            out.append(text[pos:at] + REDACTED)
            pos = end
        text = "".join(out) + text[pos:]
    if tail in text:
        out, pos = [], 0
        while (at := text.find(tail, pos)) >= 0:
            start = at
            offset = len(secret) - _CUT_PIECE
            while start > pos and offset > 0 and text[start - 1] == secret[offset - 1]:
                start -= 1
                offset -= 1
            out.append(text[pos:start] + REDACTED)
            pos = at + _CUT_PIECE
        text = "".join(out) + text[pos:]
    return text


def redact_error(error: E, secrets: Sequence[str]) -> E:
    """Remove ``secrets`` from a streamkit error in place (message, args, body, ids); returns it.

    Its ``__cause__``/``__context__`` are not touched: whoever raises it
    decides what it chains (the transport chains nothing that holds the
    request, see :mod:`streamkit._transport`).
    """
    if not secrets:
        return error
    error.args = redact(error.args, secrets)
    if isinstance(error, StreamkitError):
        error.message = redact(error.message, secrets)
    for name in ("body", "request_id", "location", "error_type"):
        if getattr(error, name, None) is not None:
            setattr(error, name, redact(getattr(error, name), secrets))
    return error


#: Error ``type``/``code`` strings servers put in error objects, and the
#: HTTP status each stands for. Anthropic's are documented at
#: https://docs.anthropic.com/en/api/errors ; ``rate_limit_exceeded`` is
#: OpenAI's code for the same thing, and ``insufficient_quota`` OpenAI's type
#: and code for "429 - You exceeded your current quota, please check your plan
#: and billing details" (credits or the monthly budget used up;
#: https://platform.openai.com/docs/guides/error-codes/api-errors), sent as an
#: HTTP 429 body or inside a stream (a Responses API ``error`` event).
#: ``api_error`` (Anthropic's "unexpected internal error") is left out on
#: purpose: sent inside a stream that began with HTTP 200 it is a
#: :class:`ProviderStreamError`, never "HTTP 500".
ERROR_TYPE_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "timeout_error": 504,
    "overloaded_error": 529,
}

#: Error types of a server-side fault: worth a retry while nothing was shown.
_TRANSIENT_TYPES = frozenset({"api_error", "server_error", "internal_error", "timeout_error", "timeout"})


def payload_is_error(obj: dict[str, Any]) -> bool:
    """True if a JSON object a server sent is an error report rather than data.

    The shapes seen on the wire: ``{"error": ...}`` (OpenAI, most gateways),
    ``{"object": "error", ...}`` (vLLM), ``{"type": "error", ...}``
    (Anthropic, some proxies), and a bare ``{"code": ..., "message": ...}``
    or ``{"detail": ...}`` (FastAPI-based servers) with no data fields.
    """
    if obj.get("error"):
        return True
    if obj.get("object") == "error" or obj.get("type") == "error":
        return True
    if "choices" in obj or "content" in obj or "delta" in obj:
        return False
    return ("message" in obj and ("code" in obj or "type" in obj)) or "detail" in obj


def error_fields(payload: Any) -> tuple[str | None, str | None, int | None]:
    """``(message, error type, numeric code)`` from an error object or text.

    The message and type come from :func:`error_message` (every known
    shape); ``code`` is an HTTP-like status (400-599) when the server gave
    one as ``code`` (``429`` or ``"429"``). Plain text is its own message
    (the first 500 characters). Never raises.
    """
    if isinstance(payload, str):
        return (payload.strip()[:500] or None), None, None
    if isinstance(payload, list) and payload and isinstance(payload[0], dict):
        payload = payload[0]
    if not isinstance(payload, dict):
        return None, None, None
    message, kind = error_message(payload)
    inner = payload.get("error")
    raw = (inner if isinstance(inner, dict) else payload).get("code")
    code: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        code = raw
    elif isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) == 3:
        code = int(raw)
    if code is not None:
        if kind == str(raw):
            kind = None  # the code is a status, not an error type
        if not 400 <= code <= 599:
            code = None
    return message, kind, code


def error_from_payload(payload: Any, *, default_message: str = "the provider reported an error") -> APIError:
    """The typed error for an error object a server sent inside a 200 response.

    Classified in this order: a numeric HTTP-like ``code`` (400-599) gives
    that status's class (400 :class:`BadRequestError`, never retried; 429
    :class:`RateLimitError`, ...); a known error type (``overloaded_error``,
    ``rate_limit_error``, ``invalid_request_error``, ...) gives its class;
    anything else is a :class:`ProviderStreamError` carrying the server's
    message and type (retryable for server-side types such as
    ``api_error``/``server_error``). ``body`` keeps the payload.
    """
    message, kind, code = error_fields(payload)
    text = message or default_message
    status = code if code is not None else ERROR_TYPE_STATUS.get(kind or "")
    if status is not None:
        return status_error(status, text, body=payload, error_type=kind)
    err = ProviderStreamError(text, error_type=kind, body=payload)
    if kind in _TRANSIENT_TYPES:
        err.retryable = True
    return err
