"""Small hand-written servers on 127.0.0.1 for tests the MockServer cannot script.

``serve(handler)`` runs one aiohttp.web handler for every path and method
and records what it received; ``raw_server(reply)`` answers each connection
with bytes the test chooses (for replies that are not valid HTTP).
``client_tasks_left(before)`` is the leak check for tasks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp.web_protocol
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _is_server_side(task: asyncio.Task[Any]) -> bool:
    """A task of aiohttp.web's request handling (a test server's, not the client's)."""
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and code.co_filename == aiohttp.web_protocol.__file__


def client_tasks_left(before: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    """Tasks started since ``before`` that are still running, the test servers' own left out.

    A loopback server learns that the client closed a connection a loop turn
    or more after the client did (connection_lost, then its request task is
    cancelled and unwinds), and ``runner.cleanup()`` does not wait for the
    tasks of connections already lost. How many turns that takes depends on
    the Python (3.12's ``asyncio.wait_for`` wakes its waiter one turn sooner
    than 3.11's) and the aiohttp release, so those tasks are not counted:
    every task of the client (streamkit's, or aiohttp's client) still is.
    """
    current = asyncio.current_task()
    return {
        t
        for t in asyncio.all_tasks()
        if t not in before and t is not current and not t.done() and not _is_server_side(t)
    }


@dataclass
class Served:
    """A running loopback app: its URL and the requests it saw (method, path, headers, body)."""

    url: str
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[Served]:
    """Run ``handler`` for every request on a random loopback port."""
    served = Served(url="")

    async def record(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        served.requests.append((request.method, request.path, dict(request.headers), body))
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert runner.addresses, "the site did not bind"
    host, port = runner.addresses[0][:2]
    served.url = f"http://{host}:{port}"
    try:
        yield served
    finally:
        await runner.cleanup()


@asynccontextmanager
async def raw_server(reply: Callable[[bytes], bytes]) -> AsyncIterator[str]:
    """A TCP server on loopback: reads one request head, writes ``reply(head)``, closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            writer.write(reply(head))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def drip(
    request: web.Request, status: int, body: bytes, *, size: int, pause: float, ctype: str
) -> web.StreamResponse:
    """Send ``body`` with ``status`` in ``size``-byte writes, ``pause`` seconds apart (chunked encoding)."""
    resp = web.StreamResponse(status=status, headers={"Content-Type": ctype})
    await resp.prepare(request)
    try:
        for pos in range(0, len(body), size):
            await resp.write(body[pos : pos + size])
            await asyncio.sleep(pause)
        await resp.write_eof()
    except ConnectionError:
        pass  # the client may stop reading (past its cap) and close
    return resp
