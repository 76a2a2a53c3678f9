"""Resume stores: where a relayed stream's frames wait for a client that reconnects.

:mod:`streamkit.web` relays a model stream to a browser as SSE frames, each
with an ``id: <stream id>:<n>``. Given a store, the relay appends every
frame to the store and the response reads them back from it (it *tails*
the stream), so a client that reconnects with ``Last-Event-ID`` gets the
frames it missed and then the live rest, ending with ``done`` or ``error``.

Two stores, one contract:

- :class:`ResumeBuffer`: in this process's memory. One worker process.
- :class:`streamkit.resume_redis.RedisResumeStore`: Redis Streams, shared
  by every worker, so a reconnect may land on any of them
  (``pip install 'streamkit[redis]'``).

Grace period (``grace``, seconds, default 0): with ``grace > 0`` the
upstream keeps running after the client leaves, writing into the store,
for as long as nobody has read the stream for ``grace`` seconds; then it is
cancelled (which closes the provider connection) and a final ``error``
frame of type ``StreamAbandoned`` is stored, so a later reconnect still
ends explicitly. **Cost**: the model keeps generating, and billing, for up
to ``grace`` seconds (plus the store's check interval) after a client
leaves for good; ``grace=0`` cancels at once, as the relay does without
a store. A reconnect that comes back in time costs nothing extra: the
answer is generated once.

Who owns the upstream readers: with ``grace > 0`` each one is a child of an
anyio task group that the store opens when it is entered
(``async with store:``, in the app's lifespan: aiohttp ``cleanup_ctx``,
Starlette/FastAPI ``lifespan``) and cancels and joins when it is left,
which closes every upstream still running. The task group runs in a host
task the store starts on entry and awaits on exit, so entering and leaving
may happen in different tasks (aiohttp runs startup and cleanup in
whatever task drives them). Relaying with ``grace > 0`` through a store
that was not entered raises :class:`~streamkit.errors.StreamStateError`
before anything is sent. With ``grace == 0`` the relay (the request) owns
its reader, as without a store, and the store needs no entering.

Bounds: a store keeps at most ``max_frames`` frames per stream (the oldest
go first); a reconnect whose missed frames are gone is refused rather than
given a gap. While a client is attached, the upstream reader waits when it
is ``max_frames // 2`` frames ahead of the client (back-pressure), so a
slow client does not lose frames; while nobody is attached it reads on.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import re
import secrets
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, NamedTuple, Self

import anyio
import anyio.abc

from .errors import InvalidArgumentError, StreamStateError

__all__ = ["ResumeBuffer", "ResumeStore"]

# ``<stream id>:<n>``; the id part as ``secrets.token_urlsafe`` spells it (or a
# caller's own ``record`` ids), ``n`` in ASCII digits only: ``int()`` would take
# Arabic-Indic or fullwidth digits, and raise on a superscript or on 5,000 digits.
_EVENT_ID = re.compile(r"([A-Za-z0-9_-]{1,128}):([0-9]{1,18})")
_MAX_EVENT_ID = 160
#: Frames a reader takes from a store at once.
_BATCH = 256


def _new_stream_id() -> str:
    """A fresh, unguessable stream id: 128 random bits, 22 URL-safe characters."""
    return secrets.token_urlsafe(16)


def _owner_digest(owner: object, where: str) -> bytes:
    """SHA-256 of a checked owner; raises InvalidArgumentError naming ``owner``."""
    if not isinstance(owner, str) or not owner:
        raise InvalidArgumentError(
            f"{where}: a resume buffer needs owner=<a non-empty str from your session or auth> "
            "(whoever started the stream; only they may replay it); "
            f"got owner={owner!r}"
        )
    return hashlib.sha256(owner.encode("utf-8", "surrogatepass")).digest()


def _parse_event_id(last_event_id: object) -> tuple[str, int] | None:
    """``(stream id, n)`` from a ``Last-Event-ID``, or None if it is not one of ours. Never raises."""
    if not isinstance(last_event_id, str) or len(last_event_id) > _MAX_EVENT_ID:
        return None
    match = _EVENT_ID.fullmatch(last_event_id)
    if match is None:
        return None
    return match.group(1), int(match.group(2))


class _Batch(NamedTuple):
    """What a reader got from a store: frames after its position, in order.

    ``end``: the stream's terminal frame is among ``frames`` or before them
    (the reader has, or now gets, everything). ``live``: an upstream reader
    is still writing this stream (a stream neither ended nor live was cut
    off, e.g. its worker process died).
    """

    frames: list[tuple[int, bytes]]
    end: bool
    live: bool


def _pulse(event: asyncio.Event) -> None:
    """Wake whoever waits on ``event`` now; later waiters wait for the next pulse."""
    event.set()
    event.clear()


class ResumeStore:
    """Where relayed frames are kept for ``Last-Event-ID`` reconnects: :class:`ResumeBuffer`, or
    :class:`streamkit.resume_redis.RedisResumeStore`.

    ``grace`` (seconds, finite, >= 0): how long the upstream of a stream
    keeps running with nobody reading it (see the module docstring for the
    cost). ``max_frames`` (>= 2): frames kept per stream. With ``grace > 0``
    the store must be entered (``async with store:``) for as long as it
    relays: it hosts the upstream readers. Raises InvalidArgumentError for
    a bad ``grace`` or ``max_frames``.

    The hooks below (``_create``, ``_append``, ``_read``...) are streamkit's
    own; they are not an extension API.
    """

    #: The longest a reader may wait in one :meth:`_read` (a store whose
    #: readers prove they are still there by reading sets it lower).
    _max_wait: float = math.inf

    def __init__(self, *, grace: float, max_frames: int) -> None:
        if (
            isinstance(grace, bool)
            or not isinstance(grace, int | float)
            or not math.isfinite(grace)
            or grace < 0
        ):
            raise InvalidArgumentError(f"grace must be a finite number of seconds >= 0; got {grace!r}")
        if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 2:
            raise InvalidArgumentError(f"max_frames must be an int >= 2; got {max_frames!r}")
        self.grace = float(grace)
        self.max_frames = max_frames
        #: How far (in frames) the upstream reader may run ahead of an attached client.
        self._window = max_frames // 2
        self._group: anyio.abc.TaskGroup | None = None
        self._host: asyncio.Task[None] | None = None
        self._entered = False
        self._closed = False
        # Compared against when a stream is unknown, so an unknown id and
        # another owner's id take the same path.
        self._nobody = secrets.token_bytes(32)

    # -- lifetime: the host of the upstream readers ---------------------------

    async def __aenter__(self) -> Self:
        if self._entered:
            raise StreamStateError(f"{type(self).__name__} can be entered once")
        self._entered = True
        ready = asyncio.Event()
        self._host = asyncio.get_running_loop().create_task(
            self._run_host(ready), name="streamkit-resume-host"
        )
        ready_wait = asyncio.ensure_future(ready.wait())
        await asyncio.wait({self._host, ready_wait}, return_when=asyncio.FIRST_COMPLETED)
        ready_wait.cancel()
        if self._host.done():
            self._host.result()  # raises what stopped it
        return self

    async def _run_host(self, ready: asyncio.Event) -> None:
        async with anyio.create_task_group() as group:
            self._group = group
            ready.set()
            await anyio.sleep_forever()

    async def aclose(self) -> None:
        """Cancel every upstream the store hosts and wait for them to close. Idempotent."""
        self._closed = True
        group, host = self._group, self._host
        self._group = None
        if group is not None:
            group.cancel_scope.cancel()
        if host is not None:
            # Shielded: this often runs while the app is being cancelled, and
            # the readers need a moment to close upstream and store their end.
            await asyncio.shield(asyncio.wait({host}, timeout=10.0))

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _check_open(self, where: str) -> None:
        """Raise StreamStateError if this store cannot host a reader for a relay now."""
        if self.grace <= 0:
            return
        if self._closed:
            raise StreamStateError(f"{where}: the {type(self).__name__} is closed")
        if self._group is None:
            raise StreamStateError(
                f"{where}: {type(self).__name__}(grace={self.grace:g}) keeps the upstream running while "
                "its client is away, so it hosts the upstream readers: enter it for your app's lifetime "
                "(`async with store:` in aiohttp's cleanup_ctx or a Starlette/FastAPI lifespan) first"
            )

    def _start(self, reader: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        """Run ``reader`` (which must not raise) as a child of the store's task group."""
        self._check_open("relay")
        assert self._group is not None
        self._group.start_soon(reader, name=name)

    # -- the hooks a store implements -----------------------------------------

    async def _create(self, stream_id: str, digest: bytes) -> Any:
        """A new stream, owned by ``digest``; returns its handle (a live upstream is about to write it)."""
        raise NotImplementedError

    async def _append(self, handle: Any, seq: int, frame: bytes, end: bool) -> None:
        """Store frame ``seq`` (``end``: the terminal one); may wait for a client (back-pressure)."""
        raise NotImplementedError

    async def _finished(self, handle: Any) -> None:
        """The upstream reader of ``handle`` is gone (after its terminal frame, if it could write one)."""
        raise NotImplementedError

    async def _unattended(self, handle: Any) -> None:
        """Return once nobody has read ``handle`` for ``grace`` seconds; with ``grace == 0``, never."""
        raise NotImplementedError

    async def _open_reader(self, stream_id: str, after: int, digest: bytes) -> Any:
        """The handle to read ``stream_id`` after frame ``after``, or None.

        None — the same None whatever the reason — if the stream is unknown
        or expired, is another owner's, or its frames after ``after`` are
        gone, or ``after`` is past its last frame.
        """
        raise NotImplementedError

    async def _read(self, handle: Any, after: int, wait: float) -> _Batch | None:
        """Frames after ``after`` (waiting up to ``wait`` seconds for some); None if they are gone."""
        raise NotImplementedError

    def _attach(self, handle: Any) -> None:
        """A client starts reading ``handle``."""

    def _detach(self, handle: Any) -> None:
        """A client stopped reading ``handle`` (left, or read the end)."""


class _Entry:
    """One stream in a :class:`ResumeBuffer`: its owner digest, its last frames, who reads it."""

    __slots__ = ("appended", "attended", "digest", "end", "frames", "live", "position", "progress", "readers")

    def __init__(self, digest: bytes) -> None:
        self.digest = digest
        self.frames: list[tuple[int, bytes]] = []
        self.end: int | None = None  # the terminal frame's number, once stored
        self.live = False  # an upstream reader writes this stream
        self.readers = 0  # clients attached now
        self.position = 0  # the furthest frame an attached client has taken
        self.appended = asyncio.Event()  # pulsed: frames, end or live changed
        self.attended = asyncio.Event()  # pulsed: readers changed
        self.progress = asyncio.Event()  # pulsed: position or readers changed


class ResumeBuffer(ResumeStore):
    """Recent frames of recent streams, each with its owner, in this process's memory.

    Bounded both ways: at most ``max_streams`` streams (the oldest is
    evicted: a reconnect to it is refused, while a client still attached
    to it reads on) of at most ``max_frames`` frames each (the oldest
    frames go). A stream's owner is fixed when it is created (or by its
    first :meth:`record`); only that owner can read it back. One buffer per
    process serves every visitor. ``max_streams`` and ``max_frames`` are
    counts (``max_frames`` >= 2); a frame is one SSE event's bytes.
    ``grace``: seconds, see :class:`ResumeStore` (with ``grace > 0``,
    ``async with ResumeBuffer(grace=...) as buffer:`` for the app's
    lifetime). Raises :class:`~streamkit.errors.InvalidArgumentError` for
    a bad ``max_streams``, ``max_frames`` or ``grace``.
    """

    def __init__(self, *, max_streams: int = 256, max_frames: int = 4096, grace: float = 0.0) -> None:
        super().__init__(grace=grace, max_frames=max_frames)
        if isinstance(max_streams, bool) or not isinstance(max_streams, int) or max_streams < 1:
            raise InvalidArgumentError(f"max_streams must be an int >= 1; got {max_streams!r}")
        self.max_streams = max_streams
        self._streams: OrderedDict[str, _Entry] = OrderedDict()

    # -- the synchronous API (frames recorded by hand) ------------------------

    def record(self, stream_id: str, seq: int, frame: bytes, *, owner: str) -> None:
        """Keep ``frame`` (event ``seq`` of ``stream_id``) for ``owner``.

        Raises InvalidArgumentError if ``owner`` is empty or not a str, or
        differs from the owner the stream was first recorded for.
        """
        self._record(stream_id, seq, frame, _owner_digest(owner, "ResumeBuffer.record()"))

    def _record(self, stream_id: str, seq: int, frame: bytes, digest: bytes) -> None:
        entry = self._streams.get(stream_id)
        if entry is None:
            entry = self._insert(stream_id, digest)
        elif not hmac.compare_digest(entry.digest, digest):
            raise InvalidArgumentError(
                f"ResumeBuffer.record(): stream {stream_id!r} belongs to another owner"
            )
        self._put(entry, seq, frame, end=False)

    def replay(self, last_event_id: str, *, owner: str) -> list[bytes] | None:
        """The frames after ``last_event_id`` (``"<stream id>:<n>"``), if ``owner`` may have them.

        None — the same None whatever the reason — if the id is malformed,
        the stream is unknown or evicted, frames after ``n`` are gone
        (refuse rather than skip), ``n`` is past the last frame, or the
        stream belongs to another owner. ``[]`` if the owner already has
        every frame. Never raises for a bad ``last_event_id``; raises
        InvalidArgumentError for a bad ``owner``. Frames only: a relay
        reconnecting with ``Last-Event-ID`` also gets the live rest.
        """
        digest = _owner_digest(owner, "ResumeBuffer.replay()")
        parsed = _parse_event_id(last_event_id)
        entry = self._lookup(parsed, digest)
        if parsed is None or entry is None:
            return None
        return [frame for n, frame in entry.frames if n > parsed[1]]

    # -- store hooks ----------------------------------------------------------

    def _insert(self, stream_id: str, digest: bytes) -> _Entry:
        entry = self._streams[stream_id] = _Entry(digest)
        while len(self._streams) > self.max_streams:
            # The oldest stream that is no longer live goes first, then the
            # newcomer's owner's own oldest: a visitor starting streams cannot
            # push out another's answer still being generated.
            others = [(key, old) for key, old in self._streams.items() if old is not entry]
            victim = next((key for key, old in others if not old.live), None)
            if victim is None:
                victim = next((key for key, old in others if old.digest == digest), None)
            if victim is None:
                self._streams.popitem(last=False)
            else:
                del self._streams[victim]
        return entry

    def _lookup(self, parsed: tuple[str, int] | None, digest: bytes) -> _Entry | None:
        entry = self._streams.get(parsed[0]) if parsed is not None else None
        owned = hmac.compare_digest(entry.digest if entry is not None else self._nobody, digest)
        if parsed is None or entry is None or not owned:
            return None
        frames, after = entry.frames, parsed[1]
        if frames and frames[0][0] > after + 1:
            return None  # the frames it missed are gone: say so rather than skip them
        if after > (frames[-1][0] if frames else 0):
            return None  # past the last frame: no such event was ever sent
        return entry

    def _put(self, entry: _Entry, seq: int, frame: bytes, end: bool) -> None:
        frames = entry.frames
        frames.append((seq, frame))
        while len(frames) > self.max_frames:
            del frames[0]
        if end:
            entry.end = seq
        _pulse(entry.appended)

    async def _create(self, stream_id: str, digest: bytes) -> _Entry:
        if stream_id in self._streams:
            raise StreamStateError(f"stream {stream_id!r} exists already")
        entry = self._insert(stream_id, digest)
        entry.live = True
        return entry

    async def _append(self, handle: Any, seq: int, frame: bytes, end: bool) -> None:
        entry: _Entry = handle
        while entry.readers > 0 and seq - entry.position > self._window:
            await entry.progress.wait()
        self._put(entry, seq, frame, end)

    async def _finished(self, handle: Any) -> None:
        entry: _Entry = handle
        entry.live = False
        _pulse(entry.appended)

    async def _unattended(self, handle: Any) -> None:
        entry: _Entry = handle
        if self.grace <= 0:
            await anyio.sleep_forever()
        while True:
            if entry.readers > 0:
                await entry.attended.wait()
                continue
            with anyio.move_on_after(self.grace):
                await entry.attended.wait()
                continue
            if entry.readers == 0:
                return

    async def _open_reader(self, stream_id: str, after: int, digest: bytes) -> _Entry | None:
        return self._lookup((stream_id, after), digest)

    async def _read(self, handle: Any, after: int, wait: float) -> _Batch | None:
        entry: _Entry = handle
        batch = self._collect(entry, after)
        if batch is None or batch.frames or batch.end or not batch.live or wait <= 0:
            return batch
        with anyio.move_on_after(wait):
            await entry.appended.wait()
        return self._collect(entry, after)

    def _collect(self, entry: _Entry, after: int) -> _Batch | None:
        frames = entry.frames
        if frames and frames[0][0] > after + 1:
            return None
        start = bisect_right(frames, after, key=lambda item: item[0])
        out = frames[start : start + _BATCH]
        last = out[-1][0] if out else after
        if last > entry.position:
            entry.position = last
            _pulse(entry.progress)
        return _Batch(out, entry.end is not None and last >= entry.end, entry.live)

    def _attach(self, handle: Any) -> None:
        entry: _Entry = handle
        entry.readers += 1
        _pulse(entry.attended)
        _pulse(entry.progress)

    def _detach(self, handle: Any) -> None:
        entry: _Entry = handle
        entry.readers -= 1
        _pulse(entry.attended)
        _pulse(entry.progress)
