"""HTTP for every provider: one lazy aiohttp session, retries, error mapping.

Foreign errors (aiohttp, asyncio timeouts, bad JSON in an error body) are
mapped to streamkit's tree by :func:`map_exception`, here and in the
adapter's read loop.

Retries happen only here, before the response body has been handed to
anyone: a retried request can never duplicate a token the user saw.

Security policy (what leaves the machine, and what an error may show):

* **Redirects are never followed.** Every API call is sent with
  ``allow_redirects=False``. A 3xx answer raises
  :class:`~streamkit.errors.RedirectError` (an ``APIStatusError``; never
  retried) naming the ``Location``; its body is not read. A followed
  307/308 would resend the prompt, ``x-api-key`` and every
  ``default_headers`` entry to whatever origin the server names (aiohttp
  only drops ``Authorization`` on an origin change), so streamkit leaves
  that decision to the user: set ``base_url`` to the final URL.
* **Secrets never appear in what streamkit raises.** The client's own key
  and every ``default_headers`` value (values of at least
  :data:`MIN_SECRET_LENGTH` characters) are replaced by ``***`` in the
  message, ``args``, ``body`` (recursively), ``request_id`` and
  ``location`` of every error raised here, however the server echoed them.
  Errors raised here chain nothing (``__cause__`` and ``__context__`` are
  ``None``): aiohttp's ``ClientResponseError`` holds the request headers,
  key included, in its ``request_info``; the message keeps a summary
  (the aiohttp error's class and text, redacted).
* **Bodies are strict JSON** (:func:`encode_body`): NaN and infinities are
  refused with :class:`~streamkit.errors.InvalidArgumentError`, never sent
  as the invalid tokens ``NaN``/``Infinity``.
* **Error bodies are read to the end**, up to :data:`MAX_ERROR_BODY`
  bytes (a longer body is cut there, not an error), and their message is
  taken by :func:`~streamkit.errors.error_message`.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import aiohttp

from .errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    InvalidArgumentError,
    RedirectError,
    error_message,
    redact,
    redact_error,
    status_error,
)

__all__ = [
    "MAX_ERROR_BODY",
    "MIN_SECRET_LENGTH",
    "ErrorParser",
    "Transport",
    "encode_body",
    "map_exception",
    "mapped_errors",
    "parse_retry_after",
]

#: Turns an error response's parsed JSON body into (message, error type).
ErrorParser = Callable[[Any], tuple[str | None, str | None]]

#: Bytes of an error body read at most (64 KiB); the rest is not read.
MAX_ERROR_BODY = 64 * 1024
#: Header values shorter than this are not searched for in errors: they
#: cannot be secrets worth the name ("1", "true", "EMPTY") and replacing
#: them would garble every message.
MIN_SECRET_LENGTH = 8
_MAX_PLAIN_MESSAGE = 500
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "anthropic-request-id")


def encode_body(body: Mapping[str, Any] | Any) -> bytes:
    """The request body as strict, compact JSON bytes.

    Raises :class:`InvalidArgumentError` naming the top-level fields that
    cannot be sent: a value JSON has no form for (an object, a set), NaN or
    an infinity (which ``json.dumps`` would otherwise write as the invalid
    tokens ``NaN``/``Infinity``), a circular reference.
    """
    try:
        return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        reason = str(exc)
    bad = []
    if isinstance(body, Mapping):
        for key, value in body.items():
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError, RecursionError):
                bad.append(str(key))
    where = f"field{'s' if len(bad) > 1 else ''} {', '.join(bad)}" if bad else "the request body"
    raise InvalidArgumentError(f"{where} cannot be sent as JSON: {reason}")


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``Retry-After`` (seconds or a date)."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def map_exception(
    exc: BaseException, phase: str, timeout: float | None = None, *, name_cause: bool = False
) -> APIError | None:
    """The streamkit error for an aiohttp/asyncio failure, or None if it is not one.

    ``name_cause`` adds the aiohttp error's class to the message, for
    errors raised without their cause.
    """
    if isinstance(exc, APIError):
        return exc
    kind = f" ({type(exc).__name__})" if name_cause else ""
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        # Both are TimeoutError; aiohttp raises them for sock_read/connect limits.
        after = f" after {timeout:g}s" if timeout else ""
        return APITimeoutError(f"timed out ({phase}{after})", phase=phase, timeout=timeout)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return APIConnectionError(f"the connection broke mid-response{kind}: {exc}")
    if isinstance(exc, aiohttp.ClientConnectionError):
        return APIConnectionError(f"connection error{kind}: {exc}")
    if isinstance(exc, aiohttp.ClientError):
        return APIConnectionError(f"HTTP client error{kind}: {exc}")
    return None


@contextmanager
def mapped_errors(phase: str = "read", timeout: float | None = None) -> Iterator[None]:
    """Map aiohttp/asyncio failures raised inside the block to streamkit errors.

    Chains the original: not for calls whose errors may hold the request
    (``session.post``); :class:`Transport` maps those itself, unchained.
    """
    try:
        yield
    except (TimeoutError, aiohttp.ClientError) as exc:
        mapped = map_exception(exc, phase, timeout)
        if mapped is None:  # pragma: no cover - both types map
            raise
        raise mapped from exc


class Transport:
    """One aiohttp ``ClientSession`` per model object, created on first use.

    The session is bound to the event loop it was created in; used from a
    new loop (a second ``asyncio.run``), it is replaced. ``aclose()``
    releases it; the model's ``async with`` calls that.

    ``secrets`` are the strings no error raised here may contain (the key,
    the ``default_headers`` values); see the module docstring for the
    redirect and redaction policy.
    """

    def __init__(
        self,
        *,
        base_url: str,
        headers: dict[str, str],
        error_parser: ErrorParser,
        secrets: Iterable[str] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = headers  # holds the key: never logged or shown
        self._error_parser = error_parser
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = tuple(
            sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        )
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r})"

    @property
    def session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._session
        if session is None or session.closed or self._loop is not loop:
            if session is not None and not session.closed:
                self.close_nowait()
            connector = aiohttp.TCPConnector(limit=0, enable_cleanup_closed=False)
            session = aiohttp.ClientSession(
                connector=connector,
                # Deadlines are enforced by the adapter (per phase); aiohttp's
                # own read timeout would count keep-alives as progress.
                timeout=aiohttp.ClientTimeout(total=None),
            )
            self._session = session
            self._loop = loop
        return session

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            if self._loop is asyncio.get_running_loop():
                await session.close()
            else:
                _close_connector(session)

    def close_nowait(self) -> None:
        """Close the pool without awaiting (garbage collection, loop gone)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            _close_connector(session)

    def redact(self, error: APIError) -> APIError:
        """``error`` with this client's secrets removed (in place)."""
        return redact_error(error, self._secrets)

    async def post(
        self,
        path: str,
        body: dict[str, Any] | bytes,
        *,
        connect_timeout: float | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        """POST JSON once and return a response with a 2xx status.

        ``body`` is a dict (encoded by :func:`encode_body`) or bytes already
        encoded that way. Raises a typed :class:`APIStatusError` for an
        error status, :class:`RedirectError` for a 3xx (never followed),
        :class:`APIConnectionError` / :class:`APITimeoutError` (phase
        ``connect``) when the server cannot be reached, and
        :class:`InvalidArgumentError` for a body JSON cannot carry. Every
        error is redacted and chains nothing. Retrying is the caller's
        decision: only it knows whether anything was shown yet.
        """
        url = self.base_url + path
        data = body if isinstance(body, bytes) else encode_body(body)
        headers = {**self._headers, "Content-Type": "application/json"}
        if extra_headers:
            headers.update(extra_headers)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, connect=connect_timeout)
        error: APIError | None = None
        resp: aiohttp.ClientResponse | None = None
        try:
            resp = await self.session.post(
                url, data=data, headers=headers, timeout=timeout, allow_redirects=False
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            error = self._unchained(exc, "connect", connect_timeout)
        # Raised here, outside the ``except``: the error's __context__ stays
        # empty, so aiohttp's exception (and the request headers in it) is
        # not reachable from what the user catches.
        if error is not None:
            raise error
        assert resp is not None
        if resp.status >= 400:
            raise await self._status_error(resp)
        if resp.status >= 300:
            raise self._redirect_error(resp)
        return resp

    def _unchained(self, exc: BaseException, phase: str, timeout: float | None) -> APIError:
        mapped = map_exception(exc, phase, timeout, name_cause=True)
        assert mapped is not None  # both caught types map
        mapped.__cause__ = None
        mapped.__suppress_context__ = True
        return redact_error(mapped, self._secrets)

    def _redirect_error(self, resp: aiohttp.ClientResponse) -> RedirectError:
        location = resp.headers.get("Location")
        resp.close()  # the body is not read: nothing in it is shown
        where = f"to {location}" if location else "with no Location"
        error = status_error(
            resp.status,
            f"HTTP {resp.status}: the server redirected the call {where}; streamkit does not follow "
            "redirects on API calls (the key, headers and prompt would go along): set base_url to the "
            "final URL",
            request_id=self._request_id(resp),
        )
        assert isinstance(error, RedirectError)
        error.location = location
        return redact_error(error, self._secrets)

    @staticmethod
    def _request_id(resp: aiohttp.ClientResponse) -> str | None:
        return next((resp.headers[h] for h in _REQUEST_ID_HEADERS if h in resp.headers), None)

    async def _read_error_body(self, resp: aiohttp.ClientResponse) -> bytes:
        """The body to its end, or its first :data:`MAX_ERROR_BODY` bytes.

        A body that arrives in many small pieces is read whole (one
        ``read(n)`` returns only what is buffered). A connection that breaks
        midway keeps what had arrived.
        """
        parts: list[bytes] = []
        left = MAX_ERROR_BODY
        try:
            while left > 0:
                part = await resp.content.read(left)
                if not part:
                    break
                parts.append(part)
                left -= len(part)
        except (TimeoutError, aiohttp.ClientError):
            pass
        finally:
            resp.close()  # past the cap the rest is dropped with the connection
        return b"".join(parts)

    async def _status_error(self, resp: aiohttp.ClientResponse) -> APIStatusError:
        raw = await self._read_error_body(resp)
        body: Any = None
        message: str | None = None
        error_type: str | None = None
        text = raw.decode("utf-8", "replace").strip()
        if text:
            try:
                body = json.loads(text)
            except ValueError:
                body = text
            else:
                try:
                    message, error_type = self._error_parser(body)
                except Exception:  # a provider's parser must not hide the status
                    message, error_type = None, None
                if not message:
                    message, error_type = error_message(body)
        if not message:
            message = text[:_MAX_PLAIN_MESSAGE] if isinstance(body, str) else (resp.reason or "error")
        secrets = self._secrets
        return status_error(
            resp.status,
            redact(f"HTTP {resp.status}: {message}", secrets),
            request_id=redact(self._request_id(resp), secrets),
            body=redact(body, secrets),
            retry_after=parse_retry_after(resp.headers),
            error_type=redact(error_type, secrets),
        )


def retry_delay(error: APIError, attempt: int) -> float:
    """The server's ``Retry-After`` if it gave one (capped at 60 s), else
    exponential backoff with jitter: 0.5 s, 1 s, 2 s, ... up to 8 s."""
    hint = getattr(error, "retry_after", None)
    if isinstance(hint, (int, float)) and hint >= 0:
        return float(min(hint, 60.0))
    base: float = min(8.0, 0.5 * 2 ** (attempt - 1))
    return base * (0.75 + random.random() * 0.25)


def _close_connector(session: aiohttp.ClientSession) -> None:
    connector = session.connector
    if connector is None or connector.closed:
        return
    # The synchronous half of ``connector.close()``: it closes every pooled
    # transport at once. The public method wraps it in an awaitable that
    # warns when not awaited, which we cannot do from ``__del__``. A closed
    # loop (RuntimeError) took the sockets with it already.
    with contextlib.suppress(RuntimeError):
        connector._close()
