"""HTTP for every provider: an aiohttp session per event loop, the response body, error mapping.

This module is the network boundary. Foreign errors (aiohttp's, and
aiohttp's own timeouts) are mapped to streamkit's tree by
:func:`map_exception` here and nowhere else: when the request is sent
(:meth:`Transport.post`) and when the body is read (:class:`Body`). Nothing
above this module catches an aiohttp error or a ``TimeoutError`` it did not
raise itself, so an exception from a user's handler is never renamed nor
retried. Whether to retry is decided above (:mod:`streamkit._retry`), where
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
* **Proxies and TLS.** A proxy's ``user:password`` are secrets like the
  key (redacted from every error, sent only as ``Proxy-Authorization``);
  an environment proxy is only used with ``trust_env`` (see
  :func:`resolve_proxy`), and ``~/.netrc`` is never read. A server
  certificate that fails verification raises
  :class:`~streamkit.errors.CertificateError`, which is not retryable.
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
import ssl as ssl_module
import sys
import time
import urllib.request
import weakref
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from .errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    CertificateError,
    InvalidArgumentError,
    RedirectError,
    StreamStateError,
    error_message,
    redact,
    redact_error,
    status_error,
)

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "CLOSED_POLL_INTERVAL",
    "MAX_ERROR_BODY",
    "MIN_SECRET_LENGTH",
    "Body",
    "ErrorParser",
    "Transport",
    "encode_body",
    "map_exception",
    "parse_retry_after",
    "resolve_proxy",
]

#: Turns an error response's parsed JSON body into (message, error type).
ErrorParser = Callable[[Any], tuple[str | None, str | None]]

#: Connections a model keeps open at once per event loop, by default (as the
#: official OpenAI and Anthropic SDKs); more requests wait for a free one.
DEFAULT_MAX_CONNECTIONS = 1000
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
    """HTTP for one model: a connection pool per event loop, retries left to the caller.

    **One owner per session, per event loop.** The model's ``Transport``
    owns its sessions; copies of a model (``model_copy()``,
    ``bind_tools()``, ``copy.copy``) get their own ``Transport``, so
    closing or dropping one never touches another's connections. An
    aiohttp session is bound to the loop it was made in, so each event loop
    (each ``asyncio.run``, each pytest-asyncio test, each thread) gets its
    own session, created on first use there; using the model from another
    loop never closes this one. Each session is closed on its own loop:

    * by ``aclose()`` (the model's ``aclose()``/``async with``) awaited on
      that loop; ``aclose()`` on one loop leaves other loops' sessions alone
      (they may be streaming right now, on another thread);
    * when its loop shuts down (``asyncio.run``, ``asyncio.Runner``,
      pytest-asyncio's per-test loops): the session registers an async
      generator with the loop, and ``loop.shutdown_asyncgens()`` closes it
      there, so a model created at import time leaves no socket open
      behind a test;
    * when the ``Transport`` is garbage-collected (the model and every
      stream using it are gone): the same generator's finalizer schedules
      the close on the session's own loop, thread-safely.

    A session whose loop was closed without shutting down (``loop.close()``
    without ``shutdown_asyncgens()``) is dropped, never closed from another
    loop or thread. No aiohttp private attribute is used.

    **Connections.** ``max_connections`` bounds the connections open at once
    per loop (``None``: no bound); a request waiting for a free one counts
    against its ``connect`` deadline. ``ssl`` is what aiohttp takes
    (``True``: verify with the default CA store; ``False``: no checks; or an
    ``ssl.SSLContext``); a certificate that fails verification raises
    :class:`~streamkit.errors.CertificateError`, never retried. ``proxy`` is
    the HTTP proxy URL every request goes through (resolved by the model,
    see :func:`resolve_proxy`); its credentials are sent as
    ``Proxy-Authorization`` and are secrets like the key.

    **The user's own session** (``http_client``) is used as it is, on the
    loop it belongs to, and never closed or replaced: its connector, TLS,
    proxy and ``trust_env`` settings apply, and ``max_connections``,
    ``ssl``, ``proxy`` are not used. Headers, deadlines, no redirects and
    redaction are per request and apply to it too.

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
        proxy: str | None = None,
        ssl: ssl_module.SSLContext | bool = True,
        max_connections: int | None = DEFAULT_MAX_CONNECTIONS,
        http_client: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = headers  # holds the key: never logged or shown
        self._error_parser = error_parser
        self._proxy: str | None = None
        self._proxy_auth: aiohttp.BasicAuth | None = None
        proxy_secrets: list[str] = []
        if proxy is not None:
            self._proxy, self._proxy_auth = _split_proxy_credentials(proxy)
            if self._proxy_auth is not None:
                auth = self._proxy_auth
                proxy_secrets += [auth.password, f"{auth.login}:{auth.password}", auth.encode()[6:]]
                proxy_secrets += [urlsplit(proxy).netloc.rpartition("@")[0]]
        # The proxy's credentials go as a Proxy-Authorization header (aiohttp
        # 3.14 deprecates proxy_auth): on the CONNECT for an https target
        # (proxy_headers, never seen by the origin), on the request itself for
        # an http one (sent to the proxy in absolute form).
        self._proxy_headers: dict[str, str] | None = None
        if self._proxy_auth is not None:
            credentials = {"Proxy-Authorization": self._proxy_auth.encode()}
            if self.base_url.startswith("https:"):
                self._proxy_headers = credentials
            else:
                self._headers = {**headers, **credentials}
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = tuple(
            sorted(
                {s for s in (*secrets, *proxy_secrets) if s and len(s) >= MIN_SECRET_LENGTH},
                key=len,
                reverse=True,
            )
        )
        self._ssl = ssl
        self._limit = max_connections or 0  # aiohttp: 0 is "no limit"
        self._http_client = http_client
        #: loop -> (its session, the generator that closes it at the loop's shutdown)
        self._pools: dict[asyncio.AbstractEventLoop, _Pool] = {}

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r})"

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session for the running event loop (created on first use there).

        With ``http_client``, that session; raises
        :class:`~streamkit.errors.StreamStateError` if it was closed.
        """
        if self._http_client is not None:
            if self._http_client.closed:
                raise StreamStateError(
                    "the http_client given to this model is closed (streamkit never closes or replaces it)"
                )
            return self._http_client
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None or pool.session.closed:
            pool = self._new_pool(loop)
        return pool.session

    def _new_pool(self, loop: asyncio.AbstractEventLoop) -> _Pool:
        # Pools whose loop is closed are dropped here, from whatever thread:
        # their sockets went with their loop's shutdown (or are the
        # garbage collector's business), never closed from a foreign loop.
        for other in [other for other in list(self._pools) if other.is_closed()]:
            self._pools.pop(other, None)
        connector = aiohttp.TCPConnector(limit=self._limit, ssl=self._ssl, enable_cleanup_closed=False)
        session = aiohttp.ClientSession(
            connector=connector,
            # Deadlines are enforced by the adapter (per phase); aiohttp's
            # own read timeout would count keep-alives as progress.
            timeout=aiohttp.ClientTimeout(total=None),
            # Proxies come from resolve_proxy() (which reads the environment
            # once, at the model's construction), never from aiohttp's
            # per-request environment and ~/.netrc lookups.
            trust_env=False,
            # Tells post()'s on_sent when the request is written: the end
            # of the connect phase.
            trace_configs=[_request_sent_trace()],
        )
        pool = _Pool(session, _closer(session))
        self._pools[loop] = pool
        return pool

    async def aclose(self) -> None:
        """Close this loop's session and its connections (awaited, on this loop).

        Other loops' sessions are left to their own loop: their own
        ``aclose()``, their loop's shutdown, or garbage collection. A
        user-given ``http_client`` is never closed.
        """
        loop = asyncio.get_running_loop()
        pool = self._pools.pop(loop, None)
        if pool is not None:
            await pool.aclose()

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
        ``connect``) when the server cannot be reached,
        :class:`CertificateError` (not retryable) when its TLS certificate
        fails verification, and :class:`InvalidArgumentError` for a body
        JSON cannot carry. Every error is redacted and chains nothing.
        Retrying is the caller's decision: only it knows whether anything
        was shown yet.
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
                raise_for_status=False,  # a user's http_client may say otherwise
                proxy=self._proxy,
                proxy_headers=self._proxy_headers,
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
        mapped = _certificate_error(exc) or map_exception(exc, phase, timeout, name_cause=True)
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


class _Pool:
    """One loop's session and the generator that closes it when that loop shuts down."""

    __slots__ = ("closer", "session")

    def __init__(self, session: aiohttp.ClientSession, closer: AsyncGenerator[None, None] | None) -> None:
        self.session = session
        self.closer = closer

    async def aclose(self) -> None:
        await self.session.close()
        if self.closer is not None:
            # Finished now, so neither the loop's shutdown nor the garbage
            # collector has anything left to do for it.
            with contextlib.suppress(RuntimeError):  # being closed by the loop's shutdown
                await self.closer.aclose()


async def _close_session_at_exit(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    """Suspended for the session's life; closes it when the generator is closed.

    asyncio closes every unfinished async generator of a loop in
    ``loop.shutdown_asyncgens()`` (which ``asyncio.run``, ``asyncio.Runner``
    and pytest-asyncio call before closing the loop), and one that is
    garbage-collected is closed by a task the loop's finalizer hook
    schedules on its own loop (``call_soon_threadsafe``): PEP 525,
    "Finalization", and the ``asyncio`` event loop's
    ``shutdown_asyncgens()`` documentation.
    """
    try:
        yield
    finally:
        await session.close()


def _closer(session: aiohttp.ClientSession) -> AsyncGenerator[None, None] | None:
    """Start :func:`_close_session_at_exit` on the running loop; None if the loop has no hooks."""
    if sys.get_asyncgen_hooks().finalizer is None:
        return None  # a loop that would never close it: aclose() is the only way
    closer = _close_session_at_exit(session)
    # Advance to the ``yield`` without awaiting: the first ``asend`` registers
    # the generator with the running loop (its ``firstiter`` hook), and the
    # body runs to its ``yield`` without suspending.
    step = closer.asend(None).__await__()
    try:
        step.send(None)
    except StopIteration:
        return closer
    raise AssertionError("the closer suspended before its yield")  # pragma: no cover


def _certificate_error(exc: BaseException) -> CertificateError | None:
    """The typed error for a TLS certificate that failed verification, or None."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        reason = exc.certificate_error
        detail = getattr(reason, "verify_message", None) or str(reason)
        return CertificateError(
            f"the TLS certificate of {exc.host}:{exc.port} failed verification ({detail}); "
            "for a self-hosted server pass verify='/path/to/ca.pem' or an ssl.SSLContext",
            host=exc.host,
            port=exc.port,
        )
    if isinstance(exc, aiohttp.ServerFingerprintMismatch):
        return CertificateError(
            f"the TLS certificate of {exc.host}:{exc.port} does not match the expected fingerprint",
            host=exc.host,
            port=exc.port,
        )
    return None


def _split_proxy_credentials(proxy: str) -> tuple[str, aiohttp.BasicAuth | None]:
    """``(proxy URL without user:password, their BasicAuth or None)``."""
    url = URL(proxy)
    auth = aiohttp.BasicAuth.from_url(url)
    return (str(url.with_user(None)) if auth is not None else proxy), auth


def resolve_proxy(base_url: str, *, proxy: str | None, trust_env: bool) -> str | None:
    """The proxy URL requests to ``base_url`` go through, or None.

    ``proxy`` if given; else, with ``trust_env``, the environment's
    ``HTTPS_PROXY``/``HTTP_PROXY`` for the URL's scheme (upper or lower
    case) unless ``NO_PROXY`` covers its host, as ``urllib.request``'s
    ``getproxies()`` and ``proxy_bypass()`` read them (which is what aiohttp's
    own ``trust_env`` does, minus ``~/.netrc``). A proxy given without a
    scheme is ``http://``. Raises ``ValueError`` for an environment proxy
    that is not an http(s) URL with a host, naming the variable.
    """
    if proxy is not None:
        return proxy
    if not trust_env:
        return None
    parts = urlsplit(base_url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    found = urllib.request.getproxies().get(parts.scheme)
    if not found:
        return None
    if "://" not in found:
        found = "http://" + found
    target = urlsplit(found)
    try:
        port_ok = target.port is None or 1 <= target.port <= 65535
    except ValueError:
        port_ok = False
    if target.scheme not in ("http", "https") or not target.hostname or not port_ok:
        raise ValueError(
            f"the {parts.scheme.upper()}_PROXY environment variable is not an http(s) URL with a host "
            "(set trust_env=False to ignore the environment)"
        )
    return found


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

    # Only a flag, not the TimerHandle: a handle refers to its loop, and this
    # object is the loop's value in the weak-keyed _POLLS, so holding it
    # would keep a closed loop alive for ever.
    __slots__ = ("bodies", "scheduled")

    def __init__(self) -> None:
        self.bodies: weakref.WeakSet[Body] = weakref.WeakSet()
        self.scheduled = False

    def add(self, body: Body) -> None:
        self.bodies.add(body)
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_later(CLOSED_POLL_INTERVAL, self.tick)

    def tick(self) -> None:
        self.scheduled = False
        for body in list(self.bodies):
            body._poll()
        if self.bodies:
            self.scheduled = True
            asyncio.get_running_loop().call_later(CLOSED_POLL_INTERVAL, self.tick)


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
