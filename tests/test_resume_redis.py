"""Resume across worker processes with a real redis-server (issue #13, point 3).

Two aiohttp worker processes (tests/resume_worker.py) share a
RedisResumeStore; the model is the loopback mock server in this process.
A client reads part of an answer from worker A, drops, and reconnects to
worker B with its Last-Event-ID.

Needs Debian's ``redis-server`` and the ``redis`` package (the ``test``
extra). In CI (CI=true) their absence fails these tests; locally they skip
with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sse_client import decode, read_events, read_rest, seq_of, text_of

from streamkit.testing import MockResponse, MockServer

ROOT = Path(__file__).resolve().parent.parent
ANSWER = " ".join(f"w{i}" for i in range(80))
PREFIX = b"streamkit:resume:"


def require(what: str, available: bool) -> None:
    """Fail in CI, skip (saying why) elsewhere."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what}; .ci/run installs it, and in CI this test must run")
    pytest.skip(f"{what} (CI=true makes this a failure)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A throwaway redis-server on a free loopback port: no persistence, stopped after the module."""
    binary = shutil.which("redis-server")
    require("redis-server is not installed (Debian: apt-get install redis-server)", binary is not None)
    try:
        import redis  # noqa: F401
    except ImportError:
        require("the redis package is not installed (pip install -e '.[test]')", False)
    assert binary is not None
    for _attempt in range(3):
        port = free_port()
        server = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while server.poll() is None and not ping(port) and time.monotonic() < deadline:
            time.sleep(0.02)
        if server.poll() is None and ping(port):
            break
        server.kill()
        server.wait()
    else:
        pytest.fail("redis-server did not start")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


class Worker:
    """One worker process of the app: its URL, and how to stop it."""

    def __init__(self, process: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}/chat"
        self.log = log

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.returncode is None:
            self.process.send_signal(sig)
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


StartWorker = Callable[..., Awaitable[Worker]]


@pytest.fixture
async def start_worker(redis_url: str, mock_server: MockServer, tmp_path: Path) -> AsyncIterator[StartWorker]:
    workers: list[Worker] = []

    async def start(*, grace: float, ttl: float = 60.0) -> Worker:
        log = tmp_path / f"worker{len(workers)}.log"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        with log.open("wb") as stderr:  # the child keeps its own descriptor
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(ROOT / "tests" / "resume_worker.py"),
                "--redis",
                redis_url,
                "--provider",
                mock_server.openai_base_url,
                "--grace",
                str(grace),
                "--ttl",
                str(ttl),
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env=env,
            )
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), 30)
        except TimeoutError:
            line = b""
        if not line.startswith(b"READY "):
            process.kill()
            await process.wait()
            pytest.fail(f"worker did not start: {line!r}\n{log.read_text()}")
        worker = Worker(process, int(line.split()[1]), log)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        await worker.stop()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Any]:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def stream_keys(stream_id: str) -> dict[str, bytes]:
    base = PREFIX + b"{" + stream_id.encode() + b"}:"
    return {name: base + name.encode() for name in ("frames", "owner", "end", "live", "reader")}


async def test_reconnect_to_the_other_worker_mid_answer(
    start_worker: StartWorker, mock_server: MockServer, client: aiohttp.ClientSession, redis_client: Any
) -> None:
    mock_server.enqueue(MockResponse(text=ANSWER, delay=0.02))  # ~1.6 s of answer
    a, b = await asyncio.gather(start_worker(grace=10.0), start_worker(grace=10.0))
    for worker in (a, b):  # warm: each has served a request (and opened its Redis connections) before
        async with client.post(
            worker.url, json={"prompt": "hi"}, headers={"X-Owner": "x", "Last-Event-ID": "warm:1"}
        ) as warm:
            await warm.read()
    headers = {"X-Owner": "alice"}
    resp = await client.post(a.url, json={"prompt": "hi"}, headers=headers)
    first = await read_events(resp, 5)
    resp.close()  # dropped mid-answer; the load balancer sends the reconnect to B
    stream_id = (first[0].id or "").rsplit(":", 1)[0]
    keys = stream_keys(stream_id)
    deadline = time.monotonic() + 10
    while await redis_client.xlen(keys["frames"]) < 25:  # A generates on for nobody meanwhile
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    missed = await redis_client.xlen(keys["frames"]) - len(first)
    assert not await redis_client.exists(keys["end"])  # still mid-answer

    reconnect = {**headers, "Last-Event-ID": first[-1].id or ""}
    sent = time.perf_counter()
    async with client.post(b.url, json={"prompt": "hi"}, headers=reconnect) as resp2:
        assert resp2.status == 200
        rest = await read_events(resp2, 1)
        first_frame = time.perf_counter()
        rest += await read_events(resp2, missed - 1)
        caught_up = time.perf_counter()
        rest += await read_rest(resp2)
    done_at = time.perf_counter()

    events = first + rest
    assert [seq_of(e) for e in events] == list(range(1, len(events) + 1))  # each frame once, in order
    assert [e.event for e in events] == ["token"] * (len(events) - 1) + ["done"]
    assert text_of(events) == ANSWER and json.loads(events[-1].data)["text"] == ANSWER
    assert len(mock_server.requests) == 1  # generated once, by A
    assert mock_server.disconnects == 0 and mock_server.completed == 1
    # The owner is kept as a digest in Redis, never as itself.
    assert await redis_client.get(keys["owner"]) == hashlib.sha256(b"alice").digest()
    print(
        f"\nreconnect to the other worker (warm): first frame {1000 * (first_frame - sent):.1f} ms after the "
        f"request, the {missed} missed frames {1000 * (caught_up - sent):.1f} ms, then live to done "
        f"{1000 * (done_at - sent):.0f} ms; {len(first)} frames from A, {len(rest)} from B"
    )


async def test_reconnect_to_the_other_worker_is_owner_bound(
    start_worker: StartWorker, mock_server: MockServer, client: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(MockResponse(text=ANSWER, delay=0.01))
    a, b = await asyncio.gather(start_worker(grace=10.0), start_worker(grace=10.0))
    resp = await client.post(a.url, json={"prompt": "hi"}, headers={"X-Owner": "alice"})
    first = await read_events(resp, 3)
    resp.close()
    last_id = first[-1].id or ""
    stream_id = last_id.rsplit(":", 1)[0]
    refusals = []
    for owner, event_id in [
        ("bob", last_id),
        ("Alice", last_id),
        ("bob", "AAAAAAAAAAAAAAAAAAAAAA:3"),  # unknown
        ("alice", f"{stream_id}:999"),  # past the last frame
        ("alice", f"{stream_id}:\u0663"),  # malformed
    ]:
        async with client.post(
            b.url, json={"prompt": "hi"}, headers={"X-Owner": owner, "Last-Event-ID": event_id}
        ) as refused:
            assert refused.status == 200
            refusals.append(await refused.read())
    assert len(set(refusals)) == 1
    events = decode(refusals[0])
    assert [(e.event, json.loads(e.data)["type"]) for e in events] == [("error", "ResumeUnavailable")]
    assert b"w0" not in refusals[0]
    async with client.post(
        b.url, json={"prompt": "hi"}, headers={"X-Owner": "alice", "Last-Event-ID": last_id}
    ) as resp2:
        rest = await read_rest(resp2)
    assert text_of(first + rest) == ANSWER and rest[-1].event == "done"
    assert len(mock_server.requests) == 1


async def test_no_reconnect_cancels_the_upstream_after_the_grace_period(
    start_worker: StartWorker, mock_server: MockServer, client: aiohttp.ClientSession
) -> None:
    grace = 0.5
    mock_server.enqueue(MockResponse(text=" ".join(f"x{i}" for i in range(3000)), delay=0.01))
    a, b = await asyncio.gather(start_worker(grace=grace), start_worker(grace=grace))
    resp = await client.post(a.url, json={"prompt": "hi"}, headers={"X-Owner": "alice"})
    first = await read_events(resp, 3)
    resp.close()
    left = time.perf_counter()
    assert await mock_server.wait_for_disconnect(15.0)  # A cancelled it: nobody came back
    elapsed = time.perf_counter() - left
    assert mock_server.completed == 0
    async with client.post(
        b.url, json={"prompt": "hi"}, headers={"X-Owner": "alice", "Last-Event-ID": first[-1].id or ""}
    ) as resp2:
        rest = await read_rest(resp2)
    assert [seq_of(e) for e in first + rest] == list(range(1, len(first) + len(rest) + 1))
    assert rest[-1].event == "error" and json.loads(rest[-1].data)["type"] == "StreamAbandoned"
    print(
        f"\nclient left -> upstream closed by the worker: {elapsed * 1000:.0f} ms (grace {grace * 1000:.0f} ms)"
    )


async def test_after_completion_any_worker_replays_until_the_ttl(
    start_worker: StartWorker, mock_server: MockServer, client: aiohttp.ClientSession, redis_client: Any
) -> None:
    mock_server.enqueue(MockResponse(text=ANSWER))
    a, b = await asyncio.gather(start_worker(grace=0.5, ttl=1.0), start_worker(grace=0.5, ttl=1.0))
    headers = {"X-Owner": "alice"}
    async with client.post(a.url, json={"prompt": "hi"}, headers=headers) as resp:
        whole = await read_rest(resp)
    async with client.post(
        b.url, json={"prompt": "hi"}, headers={**headers, "Last-Event-ID": whole[9].id or ""}
    ) as r:
        rest = await read_rest(r)
    assert [e.id for e in rest] == [e.id for e in whole[10:]] and rest[-1].event == "done"
    keys = stream_keys((whole[0].id or "").rsplit(":", 1)[0])
    deadline = time.monotonic() + 15
    while await redis_client.exists(keys["frames"], keys["owner"], keys["end"]):  # the TTL runs out
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    async with client.post(
        b.url, json={"prompt": "hi"}, headers={**headers, "Last-Event-ID": whole[9].id or ""}
    ) as r:
        expired = decode(await r.read())
    assert [(e.event, json.loads(e.data)["type"]) for e in expired] == [("error", "ResumeUnavailable")]
    assert len(mock_server.requests) == 1


async def test_a_worker_dying_mid_answer_ends_the_stream_explicitly(
    start_worker: StartWorker, mock_server: MockServer, client: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(MockResponse(text=" ".join(f"x{i}" for i in range(3000)), delay=0.01))
    a, b = await asyncio.gather(start_worker(grace=10.0), start_worker(grace=10.0))
    resp = await client.post(a.url, json={"prompt": "hi"}, headers={"X-Owner": "alice"})
    first = await read_events(resp, 3)
    resp.close()
    await a.stop(signal.SIGKILL)  # no clean-up at all: its stream just stops
    async with client.post(
        b.url, json={"prompt": "hi"}, headers={"X-Owner": "alice", "Last-Event-ID": first[-1].id or ""}
    ) as resp2:
        rest = await read_rest(resp2)
    assert rest, "never an empty 200"
    assert rest[-1].event == "error" and json.loads(rest[-1].data)["type"] == "StreamInterrupted"
    assert all(e.event == "token" for e in rest[:-1])
    assert [seq_of(e) for e in first + rest[:-1]] == list(range(1, len(first) + len(rest)))


async def test_the_store_in_process_with_sse_events(redis_url: str, mock_server: MockServer) -> None:
    """The ASGI surface on the Redis store, and its settings checks."""
    from streamkit import ChatOpenAI, InvalidArgumentError, StreamStateError
    from streamkit.resume_redis import RedisResumeStore
    from streamkit.web import sse_events

    for kwargs in ({"ttl": 1.0, "grace": 1.0}, {"max_frames": 1}, {"grace": -1.0}):
        with pytest.raises(InvalidArgumentError):
            RedisResumeStore(redis_url, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        RedisResumeStore(42)  # type: ignore[arg-type]
    mock_server.enqueue(MockResponse(text=ANSWER, delay=0.005))
    store = RedisResumeStore(redis_url, grace=5.0)
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        with pytest.raises(StreamStateError, match="async with"):
            sse_events(chat.stream("hi"), resume=store, owner="alice")
        async with store:
            relay = sse_events(chat.stream("hi"), resume=store, owner="alice")
            first = [await relay.__anext__() for _ in range(4)]
            await relay.aclose()
            last_id = decode(first[-1])[0].id
            source = sse_events(chat.stream("hi"), resume=store, owner="alice", last_event_id=last_id)
            rest = [f async for f in source]
    events = decode(b"".join(first + rest))
    assert text_of(events) == ANSWER and events[-1].event == "done"
    assert [seq_of(e) for e in events] == list(range(1, len(events) + 1))
    with contextlib.suppress(Exception):
        await store.aclose()  # idempotent
