"""streamkit's one exception tree.

Every error streamkit raises derives from :class:`StreamkitError`::

    StreamkitError
    ├── InvalidArgumentError (ValueError)   bad constructor/call arguments, before any request
    ├── HandlerError                        a registered handler of the wrong kind
    ├── StreamStateError (RuntimeError)     lifecycle misuse: iterating twice, from two tasks, after close
    ├── StreamAbandoned                     given to ``on_llm_error`` when the consumer left early
    ├── APIError                            anything that went wrong talking to the provider
    │   ├── APIConnectionError              could not connect, or the connection dropped
    │   │   └── APITimeoutError (TimeoutError)   a deadline passed; ``.phase`` names which
    │   ├── APIStatusError                  the server answered with an HTTP error status
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
error message and the status line, never from request headers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .results import LLMResult

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "HandlerError",
    "IncompleteStreamError",
    "InternalServerError",
    "InvalidArgumentError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "ProtocolError",
    "ProviderStreamError",
    "RateLimitError",
    "StreamAbandoned",
    "StreamStateError",
    "StreamkitError",
    "error_from_payload",
    "payload_is_error",
    "status_error",
]


class StreamkitError(Exception):
    """Base of every error streamkit raises."""

    partial_result: LLMResult | None = None

    def __init__(self, message: str, *, partial_result: LLMResult | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.partial_result = partial_result

    def __str__(self) -> str:
        return self.message


class InvalidArgumentError(StreamkitError, ValueError):
    """An argument was wrong; raised before any request is sent."""


class HandlerError(StreamkitError, TypeError):
    """A callback handler was rejected when it was registered."""


class StreamStateError(StreamkitError, RuntimeError):
    """A stream was used in a way its lifecycle does not allow."""


class StreamAbandoned(StreamkitError):
    """The consumer stopped before the end (break, exception, cancellation, ``aclose()``).

    Never raised at the user (their own exit, or the ``CancelledError``,
    propagates unchanged); handlers receive it in ``on_llm_error``, with the
    partial result, so they can tell an abandoned stream from a failed one.
    """


class APIError(StreamkitError):
    """Something went wrong talking to the provider."""

    retryable: bool = False


class APIConnectionError(APIError):
    """The connection could not be made, or broke."""

    retryable = True


class APITimeoutError(APIConnectionError, TimeoutError):
    """A deadline passed. ``phase`` is ``connect``, ``first_token``, ``idle`` or ``total``."""

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


class APIStatusError(APIError):
    """The server answered with an error status.

    ``status_code``, the provider's ``message``, ``request_id`` (from the
    response headers) and the parsed error ``body`` are kept.
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


class BadRequestError(APIStatusError):
    """400 or 422: the request itself is wrong; never retried."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or wrong; never retried."""


class PermissionDeniedError(APIStatusError):
    """403; never retried."""


class NotFoundError(APIStatusError):
    """404: usually a wrong model name or base URL; never retried."""


class ConflictError(APIStatusError):
    """409; retried."""

    retryable = True


class RateLimitError(APIStatusError):
    """429. ``retry_after`` holds the server's hint in seconds, if it gave one."""

    retryable = True


class InternalServerError(APIStatusError):
    """5xx; retried."""

    retryable = True


class OverloadedError(APIStatusError):
    """529, or an ``overloaded_error`` event; retried while nothing was shown."""

    retryable = True


class ProviderStreamError(APIError):
    """The provider sent an error event inside a stream that had begun."""

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
    """The response broke the wire format (bad JSON, wrong content type...)."""


class IncompleteStreamError(ProtocolError):
    """The stream ended without its terminal marker: the answer may be cut."""

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


#: Error ``type``/``code`` strings servers put in error objects, and the
#: HTTP status each stands for. Anthropic's are documented at
#: https://docs.anthropic.com/en/api/errors ; ``rate_limit_exceeded`` is
#: OpenAI's code for the same thing. ``api_error`` (Anthropic's "unexpected
#: internal error") is left out on purpose: sent inside a stream that began
#: with HTTP 200 it is a :class:`ProviderStreamError`, never "HTTP 500".
ERROR_TYPE_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
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
    if obj.get("error") is not None:
        return True
    if obj.get("object") == "error" or obj.get("type") == "error":
        return True
    if "choices" in obj or "content" in obj or "delta" in obj:
        return False
    return ("message" in obj and ("code" in obj or "type" in obj)) or "detail" in obj


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


def error_fields(payload: Any) -> tuple[str | None, str | None, int | None]:
    """``(message, error type, numeric code)`` from an error object of any known shape.

    Accepts ``{"error": {"message", "type", "code"}}``, ``{"error": "..."}``,
    top-level ``message``/``type``/``code``, FastAPI's ``{"detail": "..."}``
    and ``{"detail": [{"msg": ...}, ...]}``, and plain text. Never raises.
    """
    if isinstance(payload, str):
        return (payload.strip()[:500] or None), None, None
    if not isinstance(payload, dict):
        return None, None, None
    inner = payload.get("error")
    if isinstance(inner, str):
        return inner or None, _text(payload.get("type")) if payload.get("type") != "error" else None, None
    source = inner if isinstance(inner, dict) else payload
    message = _text(source.get("message"))
    if message is None:
        detail = source.get("detail", payload.get("detail"))
        if isinstance(detail, list):
            parts = [_text(d.get("msg")) if isinstance(d, dict) else _text(d) for d in detail]
            message = "; ".join(p for p in parts if p) or None
        else:
            message = _text(detail)
    kind = _text(source.get("type"))
    if kind == "error":  # Anthropic's envelope type, not the error's kind
        kind = None
    raw_code = source.get("code")
    code: int | None = None
    if isinstance(raw_code, int) and not isinstance(raw_code, bool):
        code = raw_code
    elif isinstance(raw_code, str) and raw_code.isascii() and raw_code.isdigit() and len(raw_code) == 3:
        code = int(raw_code)
    elif kind is None:
        kind = _text(raw_code)
    if code is not None and not 400 <= code <= 599:
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
