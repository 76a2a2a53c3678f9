"""HTTP for every provider: one lazy aiohttp session, retries, error mapping.

Foreign errors (aiohttp, asyncio timeouts, bad JSON in an error body) are
mapped to streamkit's tree here and in :func:`mapped_errors`, nowhere else.

Retries happen only here, before the response body has been handed to
anyone: a retried request can never duplicate a token the user saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp

from .errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    status_error,
)

__all__ = ["ErrorParser", "Transport", "map_exception", "mapped_errors", "parse_retry_after"]

#: Turns an error response's parsed JSON body into (message, error type).
ErrorParser = Callable[[Any], tuple[str | None, str | None]]

_MAX_ERROR_BODY = 64 * 1024
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "anthropic-request-id")


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


def map_exception(exc: BaseException, phase: str, timeout: float | None = None) -> APIError | None:
    """The streamkit error for an aiohttp/asyncio failure, or None if it is not one."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        # Both are TimeoutError; aiohttp raises them for sock_read/connect limits.
        after = f" after {timeout:g}s" if timeout else ""
        return APITimeoutError(f"timed out ({phase}{after})", phase=phase, timeout=timeout)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return APIConnectionError(f"the connection broke mid-response: {exc}")
    if isinstance(exc, aiohttp.ClientConnectionError):
        return APIConnectionError(f"connection error: {exc}")
    if isinstance(exc, aiohttp.ClientError):
        return APIConnectionError(f"HTTP client error: {exc}")
    return None


@contextmanager
def mapped_errors(phase: str = "read", timeout: float | None = None) -> Iterator[None]:
    """Map aiohttp/asyncio failures raised inside the block to streamkit errors."""
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
    """

    def __init__(self, *, base_url: str, headers: dict[str, str], error_parser: ErrorParser) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = headers  # holds the key: never logged or shown
        self._error_parser = error_parser
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

    async def post(
        self,
        path: str,
        body: dict[str, Any],
        *,
        connect_timeout: float | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        """POST JSON once and return a response with a 2xx status.

        Raises a typed :class:`APIStatusError` for an error status and
        :class:`APIConnectionError` / :class:`APITimeoutError` (phase
        ``connect``) when the server cannot be reached. Retrying is the
        caller's decision: only it knows whether anything was shown yet.
        """
        url = self.base_url + path
        data = json.dumps(body, separators=(",", ":")).encode()
        headers = {**self._headers, "Content-Type": "application/json"}
        if extra_headers:
            headers.update(extra_headers)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, connect=connect_timeout)
        with mapped_errors("connect", connect_timeout):
            resp = await self.session.post(url, data=data, headers=headers, timeout=timeout)
        if resp.status >= 400:
            raise await self._status_error(resp)
        return resp

    async def _status_error(self, resp: aiohttp.ClientResponse) -> APIStatusError:
        try:
            with mapped_errors("read"):
                raw = await resp.content.read(_MAX_ERROR_BODY)
        except APIError:
            raw = b""
        finally:
            resp.close()
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
                message, error_type = self._error_parser(body)
        if not message:
            message = text[:500] if isinstance(body, str) and text else (resp.reason or "error")
        request_id = next((resp.headers[h] for h in _REQUEST_ID_HEADERS if h in resp.headers), None)
        return status_error(
            resp.status,
            f"HTTP {resp.status}: {message}",
            request_id=request_id,
            body=body,
            retry_after=parse_retry_after(resp.headers),
            error_type=error_type,
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
