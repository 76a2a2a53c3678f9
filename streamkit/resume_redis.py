"""A resume store in Redis, shared by every worker process (``pip install 'streamkit[redis]'``).

::

    from streamkit.resume_redis import RedisResumeStore

    store = RedisResumeStore("redis://127.0.0.1:6379/0", grace=30.0)
    async with store:                     # for the app's lifetime (aiohttp cleanup_ctx, ASGI lifespan)
        ...  sse_response(request, stream, resume=store, owner=session_id)

Any worker can then serve the continuation of a stream another worker is
generating: the worker that runs the upstream appends each frame to a Redis
stream; the worker a client reconnects to reads the missed frames and then
blocks for the live rest. Same guarantees as :class:`~streamkit.web.ResumeBuffer`
(owner-bound, unguessable ids, explicit refusal) — see :mod:`streamkit._resume`.

Redis layout, per relayed stream ``S`` (every key under ``prefix``, with
``{S}`` as a Redis Cluster hash tag so a stream's keys share a slot):

- ``<prefix>{S}:frames``: a Redis Stream, one entry per SSE frame, entry id
  ``0-<n>`` (``n`` = the frame's number, so ``Last-Event-ID`` ``S:n`` maps
  to the entry id ``0-n``), field ``f`` = the frame's bytes, and ``e`` on
  the terminal frame. Written with ``XADD ... MAXLEN ~ max_frames`` (the
  ``~`` lets Redis trim whole nodes, so a few more may be kept), read with
  ``XREAD`` (``BLOCK`` while waiting for the live rest). Redis documents
  explicit ids ``<ms>-<seq>`` and the ``MAXLEN ~`` trimming under XADD:
  https://redis.io/docs/latest/commands/xadd/ ; XREAD BLOCK:
  https://redis.io/docs/latest/commands/xread/
- ``<prefix>{S}:owner``: SHA-256 of the owner (never the owner itself).
- ``<prefix>{S}:end``: the terminal frame's number, once written.
- ``<prefix>{S}:live``: present while the upstream reader runs (refreshed
  every second or so, expires 5 s after a worker dies).
- ``<prefix>{S}:reader``: present while a client reads the stream (each
  read refreshes it, its value the client's position); the upstream
  reader is cancelled once it has been missing for ``grace`` seconds.

Each of them expires ``ttl`` seconds after the stream's last frame
(``PEXPIRE`` with every write); after that a reconnect is refused.

Timing: a reader proves it is there by reading, at least every
``min(1, grace / 2)`` seconds, so the upstream of a client that left is
cancelled between ``grace`` and ``grace + min(1, grace / 2)`` seconds after
it left, plus the up-to-1 s check interval of the worker running it. A
client that reads nothing for ``grace`` seconds (not even the SSE
keep-alives) counts as gone.
"""

from __future__ import annotations

import hmac
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import anyio
from redis.asyncio import Redis

from ._resume import _BATCH, ResumeStore, _Batch
from .errors import InvalidArgumentError, StreamStateError

__all__ = ["RedisResumeStore"]

logger = logging.getLogger("streamkit")

#: How long (ms) a stream counts as being generated after its reader last said so.
_LIVE_MS = 5000


@dataclass(slots=True)
class _Stream:
    """The keys of one relayed stream, and what its upstream reader knows."""

    frames: str
    owner: str
    end: str
    live: str
    reader: str
    appended: int = field(default=0)


def _seq(entry_id: Any) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return int(text.rpartition("-")[2])


def _entries(reply: Any) -> list[tuple[int, bytes, bool]]:
    """``(n, frame, terminal)`` from an XREAD or XRANGE reply, as redis-py parses them (RESP2)."""
    if not reply:
        return []
    if isinstance(reply[0], list | tuple) and len(reply[0]) == 2 and isinstance(reply[0][1], list):
        reply = reply[0][1]  # XREAD: [[key, [entries]]]
    out = []
    for entry_id, fields in reply:
        frame = fields.get(b"f", b"")
        out.append((_seq(entry_id), frame, b"e" in fields))
    return out


class RedisResumeStore(ResumeStore):
    """Frames of relayed streams in Redis Streams, for every worker of an app.

    One Redis stream per relayed stream (``XADD`` with ``MAXLEN ~``, read
    back with ``XRANGE`` and blocking ``XREAD``: Redis's "Redis Streams"
    documentation, https://redis.io/docs/latest/develop/data-types/streams/).

    ``redis``: a ``redis.asyncio.Redis`` client (``decode_responses`` off
    and the RESP2 protocol, its defaults; the store does not close it) or a ``redis://`` URL (the
    store makes the client and closes it on exit). ``grace``: seconds the
    upstream keeps running with nobody reading it (see
    :mod:`streamkit._resume` for the cost); ``ttl``: seconds a stream's keys
    live after its last frame (must exceed ``grace``); ``max_frames``: frames
    kept per stream (approximately: ``MAXLEN ~``); ``prefix``: of every key.
    Raises InvalidArgumentError for bad values.

    With ``grace > 0`` enter it for the app's lifetime (``async with
    store:``): it hosts the upstream readers of the streams this worker
    started. Redis errors while relaying end the response with an ``error``
    frame (``InternalError``) and are logged; a reconnect never gets an
    empty 200 for a stream it cannot have.
    """

    def __init__(
        self,
        redis: Redis | str,
        *,
        grace: float = 0.0,
        ttl: float = 600.0,
        max_frames: int = 4096,
        prefix: str = "streamkit:resume:",
    ) -> None:
        super().__init__(grace=grace, max_frames=max_frames)
        if (
            isinstance(ttl, bool)
            or not isinstance(ttl, int | float)
            or not math.isfinite(ttl)
            or ttl <= grace
        ):
            raise InvalidArgumentError(f"ttl must be a number of seconds > grace ({grace!r}); got {ttl!r}")
        if not isinstance(prefix, str):
            raise InvalidArgumentError(f"prefix must be a str; got {prefix!r}")
        if isinstance(redis, str):
            self._redis: Redis = Redis.from_url(redis)
            self._owns_client = True
        elif isinstance(redis, Redis):
            self._redis = redis
            self._owns_client = False
        else:
            raise InvalidArgumentError(
                f"redis must be a redis.asyncio.Redis or a redis:// URL; got {redis!r}"
            )
        self.ttl = float(ttl)
        self.prefix = prefix
        self._ttl_ms = max(1, round(ttl * 1000))
        # A reader refreshes its lease at least this often...
        self._max_wait = min(1.0, grace / 2) if grace > 0 else 1.0
        # ... and the lease outlives one such wait, so a reader that is there never lapses.
        self._lease_ms = max(1, round((grace + self._max_wait) * 1000))
        self._check = min(1.0, max(grace / 4, 0.02)) if grace > 0 else 1.0

    @property
    def redis(self) -> Redis:
        """The client the store uses."""
        return self._redis

    async def aclose(self) -> None:
        """Cancel the upstreams this worker hosts; close the client if the store made it."""
        await super().aclose()
        if self._owns_client:
            self._owns_client = False
            await self._redis.aclose()

    def _keys(self, stream_id: str) -> _Stream:
        base = f"{self.prefix}{{{stream_id}}}:"
        return _Stream(base + "frames", base + "owner", base + "end", base + "live", base + "reader")

    # -- the upstream reader's side -------------------------------------------

    async def _create(self, stream_id: str, digest: bytes) -> _Stream:
        keys = self._keys(stream_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(keys.owner, digest, px=self._ttl_ms, nx=True)
        pipe.set(keys.live, b"1", px=_LIVE_MS)
        pipe.set(keys.reader, b"0", px=self._lease_ms)
        created, _, _ = await pipe.execute()
        if not created:
            raise StreamStateError(f"stream {stream_id!r} exists already")
        return keys

    async def _append(self, handle: Any, seq: int, frame: bytes, end: bool) -> None:
        keys: _Stream = handle
        keys.appended += 1
        if keys.appended % 16 == 0:
            await self._keep_pace(keys, seq)
        fields: dict[str | bytes, bytes] = {b"f": frame}
        if end:
            fields[b"e"] = b"1"
        pipe = self._redis.pipeline(transaction=False)
        pipe.xadd(keys.frames, fields, id=f"0-{seq}", maxlen=self.max_frames, approximate=True)  # type: ignore[arg-type]
        pipe.pexpire(keys.frames, self._ttl_ms)
        pipe.pexpire(keys.owner, self._ttl_ms)
        if end:
            pipe.set(keys.end, str(seq).encode(), px=self._ttl_ms)
        await pipe.execute()

    async def _keep_pace(self, keys: _Stream, seq: int) -> None:
        """Back-pressure: wait while a reader is there and more than the window behind."""
        while True:
            position = await self._redis.get(keys.reader)
            if position is None or seq - int(position) <= self._window:
                return
            await anyio.sleep(0.05)

    async def _finished(self, handle: Any) -> None:
        keys: _Stream = handle
        try:
            await self._redis.delete(keys.live)
        except Exception:  # readers see the stream cut off when the key expires instead
            logger.exception("streamkit.resume_redis: could not mark a stream finished")

    async def _unattended(self, handle: Any) -> None:
        keys: _Stream = handle
        while True:
            pipe = self._redis.pipeline(transaction=False)
            pipe.set(keys.live, b"1", px=_LIVE_MS)
            pipe.exists(keys.reader)
            _, attended = await pipe.execute()
            if self.grace > 0 and not attended:
                return
            await anyio.sleep(self._check)

    # -- a client's side ------------------------------------------------------

    async def _open_reader(self, stream_id: str, after: int, digest: bytes) -> _Stream | None:
        keys = self._keys(stream_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(keys.owner)
        pipe.xrange(keys.frames, "-", "+", count=1)
        pipe.xrevrange(keys.frames, "+", "-", count=1)
        stored, first, last = await pipe.execute()
        owned = hmac.compare_digest(stored if isinstance(stored, bytes) else self._nobody, digest)
        if stored is None or not owned:
            return None
        first_entries, last_entries = _entries(first), _entries(last)
        if after > (last_entries[0][0] if last_entries else 0):
            return None  # past the last frame: no such event was ever sent
        if first_entries and first_entries[0][0] > after + 1:
            return None  # the frames it missed are gone: say so rather than skip them
        return keys

    async def _read(self, handle: Any, after: int, wait: float) -> _Batch | None:
        keys: _Stream = handle
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(keys.reader, str(after).encode(), px=self._lease_ms)
        pipe.xread({keys.frames: f"0-{after}"}, count=_BATCH)
        pipe.get(keys.end)
        pipe.exists(keys.live)
        _, reply, end, live = await pipe.execute()
        end_seq = int(end) if end is not None else None
        entries = _entries(reply)
        if not entries and end_seq is None and live and wait > 0:
            block = max(1, round(min(wait, self._max_wait) * 1000))
            entries = _entries(
                await self._redis.xread({keys.frames: f"0-{after}"}, count=_BATCH, block=block)
            )
        if entries and entries[0][0] != after + 1:
            return None  # trimmed past this reader: refuse rather than skip
        last = entries[-1][0] if entries else after
        ended = any(terminal for _, _, terminal in entries) or (end_seq is not None and last >= end_seq)
        return _Batch([(n, frame) for n, frame, _ in entries], ended, bool(live))
