"""Loopback TCP middlemen for the connection tests (issue #10, items 6 and 7).

* :class:`CountingRelay`: a transparent TCP relay in front of a server that
  counts the connections made through it and how many were open at once
  (TLS passes through untouched, so it counts handshakes too);
* :class:`ForwardProxy`: a small HTTP forward proxy. For an ``http://``
  target it receives the absolute-URI request (RFC 9112 section 3.2.2,
  "absolute-form"), records it and passes it on in origin-form; for an
  ``https://`` target it answers ``CONNECT host:port`` (RFC 9110 section
  9.3.6) with 200 and tunnels the bytes. With ``require_auth`` it answers
  407 to a request without that ``Proxy-Authorization``, echoing what it
  received (a hostile or careless proxy);
* :class:`ThreadedServer`: a :class:`~streamkit.testing.MockServer` on its
  own thread and event loop, so it outlives the loops the tests create.

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from streamkit.testing import MockServer


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _splice(
    a: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    b: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    """Copy both ways until either side closes, then close both."""
    await asyncio.gather(_pipe(a[0], b[1]), _pipe(b[0], a[1]))


class _Listener:
    """A TCP server on 127.0.0.1 whose connection handlers are tracked and ended on close."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def _tracked(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._handle(reader, writer)
        except asyncio.CancelledError:
            # Cancelled by __aexit__ (this task is ours): end quietly, or
            # Python 3.11's stream callback logs the cancelled task.
            pass
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def __aenter__(self) -> _Listener:
        self._server = await asyncio.start_server(self._tracked, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()


class CountingRelay(_Listener):
    """Relays every connection to ``127.0.0.1:target_port``, counting them."""

    def __init__(self, target_port: int) -> None:
        super().__init__()
        self.target_port = target_port
        self.connections = 0
        self.open = 0
        self.max_open = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        try:
            upstream = await asyncio.open_connection("127.0.0.1", self.target_port)
            await _splice((reader, writer), upstream)
        finally:
            self.open -= 1

    async def __aenter__(self) -> CountingRelay:
        await super().__aenter__()
        return self


@dataclass
class ProxiedRequest:
    """What the proxy received: the request line and its headers (names lower-cased)."""

    line: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return self.line.split(" ", 1)[0]

    @property
    def target(self) -> str:
        return self.line.split(" ")[1]


class ForwardProxy(_Listener):
    """An HTTP forward proxy on 127.0.0.1 (absolute-form for http, CONNECT for https)."""

    def __init__(self, require_auth: str | None = None) -> None:
        super().__init__()
        self.require_auth = require_auth
        self.requests: list[ProxiedRequest] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        line, *rest = head.decode("latin-1").split("\r\n")
        headers = {}
        for item in rest:
            if ":" in item:
                name, value = item.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        request = ProxiedRequest(line, headers)
        self.requests.append(request)
        if self.require_auth is not None and headers.get("proxy-authorization") != self.require_auth:
            body = f"proxy authentication required; you sent: {headers.get('proxy-authorization')}".encode()
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Type: text/plain\r\n'
                b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
            await writer.drain()
            return
        if request.method == "CONNECT":
            host, _, port = request.target.rpartition(":")
            upstream = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await _splice((reader, writer), upstream)
            return
        target = urlsplit(request.target)
        assert target.scheme == "http" and target.hostname == "127.0.0.1", request.line
        path = target.path + (f"?{target.query}" if target.query else "")
        method, _, version = line.split(" ")
        kept = [
            item
            for item in rest
            if item and not item.lower().startswith(("proxy-authorization:", "proxy-connection:"))
        ]
        forwarded = "\r\n".join([f"{method} {path} {version}", *kept]) + "\r\n\r\n"
        upstream = await asyncio.open_connection("127.0.0.1", target.port or 80)
        upstream[1].write(forwarded.encode("latin-1"))
        await _splice((reader, writer), upstream)

    async def __aenter__(self) -> ForwardProxy:
        await super().__aenter__()
        return self


class ThreadedServer:
    """A MockServer running on its own thread and loop (outlives the test's loops)."""

    def __init__(self) -> None:
        self.server = MockServer()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mock-server", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with self.server:
                self._ready.set()
                await self._stop.wait()

        asyncio.run(main())

    def __enter__(self) -> MockServer:
        self._thread.start()
        assert self._ready.wait(10), "the server thread did not start"
        return self.server

    def __exit__(self, *exc_info: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
