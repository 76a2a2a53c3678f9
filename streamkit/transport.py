"""HTTP for every provider: one lazy aiohttp session, the response body, error mapping.

This module is the network boundary. Foreign errors (aiohttp's, and
aiohttp's own timeouts) are mapped to streamkit's tree by
:func:`map_exception` here and nowhere else: when the request is sent
(:meth:`Transport.post`) and when the body is read (:class:`Body`). Nothing
above this module catches an aiohttp error or a ``TimeoutError`` it did not
raise itself, so an exception from a user's handler is never renamed nor
retried. Whether to retry is decided above (:mod:`streamkit.retry`), where
it is known whether anything was shown yet.

A reader is never left waiting on a dead connection (:class:`Body`): when
the connection closes under a waiting read (a server that closes without
the last chunk, broken chunked framing that aiohttp's C parser answers by
closing the socket without waking the reader), the read is woken here and
fails at once with :class:`~streamkit.errors.APIConnectionError`, after
handing over any bytes that had arrived.

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
import weakref
from collections.abc import Callable, Iterable, Mapping
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
    "CLOSED_POLL_INTERVAL",
    "MAX_ERROR_BODY",
    "MIN_SECRET_LENGTH",
    "Body",
    "ErrorParser",
    "Transport",
    "encode_body",
    "map_exception",
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
    """The streamkit error for an aiohttp failure (or aiohttp's own timeout), or None.

    The one place foreign errors are classified; called only in this module,
    at the network boundary. ``name_cause`` adds the aiohttp error's class
    to the message: the error is raised without its cause, which may hold
    the request headers.
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


def _request_sent_trace() -> aiohttp.TraceConfig:
    """Calls a request's ``on_sent`` (``trace_request_ctx={"on_sent": ...}``) once its headers are written.

    That moment ends the connect phase (:mod:`streamkit.deadlines`).
    """

    async def headers_sent(
        session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestHeadersSentParams
    ) -> None:
        request_context = getattr(context, "trace_request_ctx", None)
        on_sent = request_context.get("on_sent") if isinstance(request_context, Mapping) else None
        if callable(on_sent):
            on_sent()

    config = aiohttp.TraceConfig()
    config.on_request_headers_sent.append(headers_sent)
    return config


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
                # Tells post()'s on_sent when the request is written: the end
                # of the connect phase.
                trace_configs=[_request_sent_trace()],
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
        on_sent: Callable[[], None] | None = None,
    ) -> aiohttp.ClientResponse:
        """POST JSON once and return a response with a 2xx status.

        ``connect_timeout`` bounds the connect phase (a connection made, or a
        pooled one free); ``on_sent`` is called once the request's headers
        are written, which ends that phase.

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
                url,
                data=data,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                trace_request_ctx={"on_sent": on_sent} if on_sent is not None else None,
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


# -- the response body ---------------------------------------------------------

#: Seconds between checks of the connections under waiting readers, where
#: aiohttp cannot report a connection's closing itself (before 3.13); see
#: :class:`Body`.
CLOSED_POLL_INTERVAL = 0.05

_NEVER = float("-inf")
#: Watch a connection through its protocol's ``closed`` future where aiohttp
#: has one; False makes every body use the poll (tests cover both ways).
_USE_CLOSED_FUTURE = True


class Body:
    """The body of one 2xx response, read where the network is.

    :meth:`read` returns the next bytes (``b""`` at the end of the body, or
    ``None`` if the deadline it was given passed first) and raises only
    streamkit errors: an aiohttp failure mapped by :func:`map_exception`
    (unchained), :class:`~streamkit.errors.APIConnectionError` when the
    connection closed before the body ended, or the error given to
    :meth:`interrupt`.

    A reader is never left waiting on a dead connection. aiohttp wakes a
    waiting read when the body ends or when it records an error, but not in
    every case: its C parser answers broken chunked framing by closing the
    socket, and a read already waiting then waits for ever (a read started
    afterwards gets a bare ``RuntimeError``). So the body watches its
    connection itself: through the protocol's ``closed`` future where
    aiohttp has one (3.13+), else by a check every
    :data:`CLOSED_POLL_INTERVAL` seconds of the connections under waiting
    reads, one timer per event loop. Neither costs anything per read. A
    read woken that way (or started after) hands over whatever had arrived
    (even bytes aiohttp buffered before recording its error) and then fails.
    """

    __slots__ = (
        "__weakref__",
        "_blocked",
        "_closed_future",
        "_conn",
        "_content",
        "_dead",
        "_error",
        "_resp",
        "_scope",
        "_stop",
        "content_type",
    )

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp: aiohttp.ClientResponse | None = resp
        self._content = resp.content
        self.content_type = resp.content_type
        self._conn = resp.connection  # None when the whole body had already arrived
        self._scope: asyncio.Timeout | None = None  # the read waiting now, if any
        self._stop: BaseException | None = None  # raised by every read once set (interrupt)
        self._error: APIError | None = None  # raised by the next read (after bytes salvaged)
        self._dead = False  # the connection closed: reads take what is left, never wait
        self._blocked = False  # any of the three above: the slow path
        self._closed_future: asyncio.Future[None] | None = None
        if self._conn is not None:
            self._watch()

    async def read(self, when: float | None) -> bytes | None:
        """The next bytes of the body; ``b""`` at its end; ``None`` once ``when`` (loop time) passed."""
        if self._blocked:
            return self._unblock()
        scope = asyncio.timeout_at(when)
        self._scope = scope
        error: APIError | None = None
        try:
            async with scope:
                return await self._content.readany()
        except aiohttp.ClientError as exc:
            if self._stop is None:
                error = map_exception(exc, "read", name_cause=True)
        except TimeoutError:
            if not scope.expired():
                raise  # pragma: no cover - aiohttp's own timeouts are ClientErrors
            if not self._blocked:
                return None  # the deadline: the caller names its phase
        except RuntimeError:
            # aiohttp refuses to wait on a connection that has closed.
            if not self._connection_closed():
                raise
            self._dead = self._blocked = True
        finally:
            self._scope = None
        if error is not None:
            return self._after(error)
        return self._unblock()

    def interrupt(self, error: BaseException) -> None:
        """Make the waiting read, and every later one, raise ``error``; close the connection now."""
        self._stop = error
        self._blocked = True
        self._wake()
        self.close()

    def done(self) -> None:
        """The answer is complete: the connection goes back to the pool if the body was read to its end."""
        resp = self._detach()
        if resp is not None:
            if self._content.at_eof():
                resp.release()
            else:
                # Done at the terminal marker with the body not over: close rather
                # than wait for (or pool) a connection in an unknown state.
                resp.close()

    def close(self) -> None:
        """Close the connection (not returned to the pool). Idempotent."""
        resp = self._detach()
        if resp is not None:
            resp.close()

    # -- the slow paths --------------------------------------------------

    def _unblock(self) -> bytes:
        if self._stop is not None:
            raise self._stop
        error = self._error
        if error is not None:
            self._error = None
            self._blocked = self._dead
            raise error
        return self._drain()

    def _after(self, error: APIError) -> bytes:
        """A mapped read error: first the bytes that came with it, if any."""
        data = _buffered_after_error(self._content)
        if not data:
            raise error
        self._error = error
        self._blocked = True
        return data

    def _drain(self) -> bytes:
        """A read on a closed connection: what is left, then the end or an error."""
        content = self._content
        exc = content.exception()
        if exc is not None:
            error = map_exception(exc, "read", name_cause=True) or APIConnectionError(
                f"the connection broke mid-response ({type(exc).__name__})"
            )
            return self._after(error)
        data = content.read_nowait()
        if data or content.is_eof():
            return data  # b"" once everything is taken: the end of the body
        raise APIConnectionError("the connection closed before the end of the response")

    # -- watching the connection -------------------------------------------

    def _connection_closed(self) -> bool:
        conn = self._conn
        return conn is None or conn.closed

    def _watch(self) -> None:
        protocol = self._conn.protocol if self._conn is not None else None
        has_future = isinstance(getattr(type(protocol), "closed", None), property)
        if protocol is not None and has_future and _USE_CLOSED_FUTURE:
            closed = protocol.closed  # aiohttp >= 3.13: resolved by connection_lost()
            if closed is None:  # lost before anyone asked
                self._dead = self._blocked = True
            elif isinstance(closed, asyncio.Future):
                self._closed_future = closed
                closed.add_done_callback(self._on_closed)
            return
        _closed_poll().add(self)

    def _on_closed(self, future: asyncio.Future[None] | None = None) -> None:
        if self._resp is None:
            return  # ours no longer
        self._dead = self._blocked = True
        self._wake()

    def _poll(self) -> None:
        if self._scope is not None and self._connection_closed():
            self._on_closed()

    def _wake(self) -> None:
        scope = self._scope
        if scope is not None and not scope.expired():
            scope.reschedule(_NEVER)  # fires at once: the read ends with TimeoutError, seen above

    def _detach(self) -> aiohttp.ClientResponse | None:
        resp, self._resp = self._resp, None
        future, self._closed_future = self._closed_future, None
        if future is not None:
            future.remove_done_callback(self._on_closed)
        elif resp is not None and self._conn is not None:
            poll = _POLLS.get(asyncio.get_running_loop()) if _loop_running() else None
            if poll is not None:
                poll.bodies.discard(self)
        return resp


def _buffered_after_error(content: aiohttp.StreamReader) -> bytes:
    """The bytes ``content`` had buffered when aiohttp recorded an error on it.

    aiohttp's ``StreamReader.readany()`` and ``read_nowait()`` raise a
    recorded exception before returning bytes already buffered
    (aiohttp/streams.py: ``if self._exception is not None: raise``), so the
    tokens that arrived in the same read as a broken connection would be
    lost. No public method returns them: this function, and only this one,
    uses the reader's private ``_read_nowait`` (which also keeps its
    counters right). ``test_aiohttp_raises_a_recorded_error_before_the_bytes_it_buffered``
    pins both facts; if aiohttp changes, nothing is salvaged (never worse).
    """
    read = getattr(content, "_read_nowait", None)
    if read is None:
        return b""
    try:
        data = read(-1)
    except Exception:
        return b""
    return data if isinstance(data, bytes) else b""


class _ClosedPoll:
    """One event loop's watch over connections that cannot report their closing (aiohttp < 3.13)."""

    __slots__ = ("bodies", "handle")

    def __init__(self) -> None:
        self.bodies: weakref.WeakSet[Body] = weakref.WeakSet()
        self.handle: asyncio.TimerHandle | None = None

    def add(self, body: Body) -> None:
        self.bodies.add(body)
        if self.handle is None:
            self.handle = asyncio.get_running_loop().call_later(CLOSED_POLL_INTERVAL, self.tick)

    def tick(self) -> None:
        self.handle = None
        for body in list(self.bodies):
            body._poll()
        if self.bodies:
            self.handle = asyncio.get_running_loop().call_later(CLOSED_POLL_INTERVAL, self.tick)


_POLLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _ClosedPoll] = weakref.WeakKeyDictionary()


def _closed_poll() -> _ClosedPoll:
    loop = asyncio.get_running_loop()
    poll = _POLLS.get(loop)
    if poll is None:
        poll = _POLLS[loop] = _ClosedPoll()
    return poll


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
