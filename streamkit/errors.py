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
