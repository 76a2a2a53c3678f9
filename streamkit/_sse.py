"""Incremental, sans-IO decoders for Server-Sent Events and NDJSON.

Feed them raw bytes as they come off the socket (``resp.content.iter_any()``),
in any chunking; they return the complete events/lines found so far and
keep the incomplete tail. No ``await``, no I/O: they are tested with lists of
byte chunks.

Why it is written this way:

* Lines end at CR, LF or CRLF (the SSE spec), and nowhere else: not at
  U+2028 or the other separators ``str.splitlines`` honours, which are legal
  inside JSON strings. CRs are normalised to LF on the bytes, with one bit of
  state for a CR that ends a read (its LF may start the next one).
* Linear time in every dimension: each read is scanned once for its last LF.
  A line longer than any read just accumulates in a ``bytearray`` (amortised
  O(1) appends) and is never rescanned, so a 16 MiB line costs the same per
  byte as a small one. An event of many ``data:`` lines keeps its values in
  a list joined once at dispatch, never re-copying what came before; the
  one-line event (every token of every stream) keeps its value as a plain
  ``str`` and never allocates that list.
* Bounded memory: ``max_event_size`` (default :data:`DEFAULT_MAX_EVENT_SIZE`,
  16 MiB) caps one line, in bytes without its line ending, and one event's
  data, in characters of decoded text (bytes, for ASCII) with its joining
  LFs. Past it the decoder returns the complete events that came before the
  overflow, sets ``error`` to a :class:`~streamkit.errors.ProtocolError`,
  frees its buffers and decodes nothing more. Both measures depend only on
  the bytes, never on how they were split into reads, so the same body fails
  (or not) at the same event in any chunking. The checks cost a comparison
  per read, plus one per line of a many-line event: none per one-line event.
* UTF-8 is decoded after framing, over the complete lines of a read at once:
  a character split across reads is always whole, and there is one decode
  call per read rather than per line.
* A final event without its terminating blank line is flushed by
  ``finish()``: real servers and recorded streams end that way.

Deliberate deviations from the WHATWG parsing rules (HTML Living Standard,
"Server-sent events", "Interpreting an event stream"):

* An event whose data is empty (a lone ``data:`` line) is dropped instead of
  dispatched: no provider sends one, and no consumer here could parse it.
* A line whose field name is ``error`` is read as ``event: error`` plus
  ``data: <value>`` for the event it belongs to (WHATWG ignores unknown
  fields). llama.cpp's server (``tools/server``, formerly
  ``examples/server``) sends an error in a streaming response as
  ``error: {"code":500,"message":"...","type":"server_error"}`` and a blank
  line (its newer builds send ``data: {"error": {...}}`` instead); ignoring
  it would turn the server's message into a bare "stream ended early". The
  provider mapper then sees ``sse.event == "error"``. Source: see the
  comment in ``SSEDecoder._process``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidArgumentError, ProtocolError

__all__ = ["DEFAULT_MAX_EVENT_SIZE", "NDJSONDecoder", "SSEDecoder", "ServerSentEvent"]

#: The default ``max_event_size``: 16 MiB, in bytes. Far above a streamed
#: chunk (a few hundred bytes), low enough that a server that never ends a
#: line, or an event, cannot exhaust memory.
DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024


@dataclass(slots=True)
class ServerSentEvent:
    """One dispatched SSE event. ``event`` is ``"message"`` when unnamed."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


def _check_limit(max_event_size: int) -> int:
    if isinstance(max_event_size, bool) or not isinstance(max_event_size, int) or max_event_size < 1:
        raise InvalidArgumentError(
            f"max_event_size must be a positive number of bytes, not {max_event_size!r}"
        )
    return max_event_size


def _too_large(what: str, limit: int) -> ProtocolError:
    return ProtocolError(
        f"{what} is larger than max_event_size ({limit} bytes), so the stream was stopped there; "
        "if the server legitimately sends events this large, raise the model's max_event_size setting"
    )


class _Overflow(Exception):
    """Internal: a line passed the limit. ``lines`` are the complete lines before it."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines


class _LineSplitter:
    """Bytes in, complete decoded lines out (CR/LF/CRLF), linear time.

    Raises :class:`_Overflow` when a line (without its ending) passes
    ``limit`` bytes, whether it is still buffered or complete in this read.
    """

    __slots__ = ("_bom_checked", "_buf", "_pending_cr", "limit")

    def __init__(self, limit: int) -> None:
        self._buf = bytearray()
        self._pending_cr = False
        self._bom_checked = False
        self.limit = limit

    def feed(self, chunk: bytes) -> list[str]:
        if not chunk:
            return []
        if self._pending_cr:
            # The previous read ended in CR, already turned into LF: an LF
            # starting this read is the second half of that CRLF.
            self._pending_cr = False
            if chunk[0] == 0x0A:
                chunk = chunk[1:]
                if not chunk:
                    return []
        if b"\r" in chunk:
            self._pending_cr = chunk[-1] == 0x0D
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        cut = chunk.rfind(b"\n")
        if cut < 0:
            self._buf += chunk
            if len(self._buf) > self.limit:
                self._overflow([])
            return []
        buf = self._buf
        if buf:
            buf += chunk[: cut + 1]
            complete = bytes(buf)
            buf.clear()
        else:
            complete = chunk[: cut + 1] if cut + 1 < len(chunk) else chunk
        if cut + 1 < len(chunk):
            buf += chunk[cut + 1 :]
        text = complete.decode("utf-8", "replace")
        if not self._bom_checked:
            self._bom_checked = True
            if text.startswith("\ufeff"):
                text = text[1:]
        lines = text.split("\n")
        lines.pop()  # the empty string after the final LF
        if len(complete) > self.limit:
            # Rare: this read completes more than `limit` bytes of lines, so
            # one of them may be too long. Measured on the bytes (a decoded
            # LF is always a byte LF, so the indices match).
            limit = self.limit
            for i, raw in enumerate(complete.split(b"\n")):
                if len(raw) > limit:
                    self._overflow(lines[:i])
        if len(buf) > self.limit:
            self._overflow(lines)
        return lines

    def _overflow(self, lines: list[str]) -> None:
        self._buf = bytearray()  # a new one: clear() may keep the allocation
        raise _Overflow(lines)

    def finish(self) -> list[str]:
        """The unterminated last line, if any (end of stream)."""
        if not self._buf:
            return []
        text = self._buf.decode("utf-8", "replace")
        self._buf.clear()
        if not self._bom_checked:
            self._bom_checked = True
            if text.startswith("\ufeff"):
                text = text[1:]
        return [text]

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the end of their line."""
        return len(self._buf)


class _Closed(_LineSplitter):
    """What a decoder reads from after an overflow: nothing, ever."""

    __slots__ = ()

    def feed(self, chunk: bytes) -> list[str]:
        return []

    def finish(self) -> list[str]:
        return []


class SSEDecoder:
    """Server-Sent Events, per the WHATWG parsing rules, incrementally.

    ``feed(chunk)`` returns the events completed by this chunk;
    ``finish()`` returns the last event if the stream ended without its
    blank line. ``comments`` counts comment lines (keep-alives), which are
    otherwise ignored.

    ``max_event_size`` (bytes, default 16 MiB) bounds one line and one
    event's data (see the module docstring). Past it, ``feed()`` returns the
    complete events before the overflow and sets ``error`` to a
    :class:`~streamkit.errors.ProtocolError`; every later ``feed()`` and
    ``finish()`` returns ``[]``. ``error`` is ``None`` otherwise. Raises
    :class:`~streamkit.errors.InvalidArgumentError` if ``max_event_size`` is
    not a positive int.
    """

    __slots__ = (
        "_data",
        "_event",
        "_id",
        "_lines",
        "_parts",
        "_retry",
        "_size",
        "comments",
        "error",
        "last_event_id",
        "max_event_size",
    )

    def __init__(self, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        self.max_event_size = _check_limit(max_event_size)
        self._lines = _LineSplitter(max_event_size)
        # The pending event's data: the first data line's value in `_data`;
        # from the second line on, every value in `_parts` (and `_data` is
        # ""), with their joined length in `_size`.
        self._data: str | None = None
        self._parts: list[str] | None = None
        self._size = 0
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self.comments = 0
        self.last_event_id: str | None = None
        #: Set (once) when an event or a line passed ``max_event_size``.
        self.error: ProtocolError | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        try:
            lines = self._lines.feed(chunk)
        except _Overflow as exc:
            out = self._process(exc.lines)
            self._fail("a line of the event stream")
            return out
        if not lines:
            return []
        return self._process(lines)

    def finish(self) -> list[ServerSentEvent]:
        out = self._process(self._lines.finish())
        event = self._dispatch()
        if event is not None:
            out.append(event)
        return out

    def _fail(self, what: str) -> None:
        """Stop for good: keep the first error, free every buffer."""
        if self.error is None:
            self.error = _too_large(what, self.max_event_size)
        self._lines = _Closed(self.max_event_size)
        self._data = None
        self._parts = None
        self._size = 0
        self._event = None
        self._retry = None

    def _dispatch(self) -> ServerSentEvent | None:
        data = self._data
        if self._parts is not None:
            data = "\n".join(self._parts)
            self._parts = None
        name = self._event
        self._data = None
        self._event = None
        retry = self._retry
        self._retry = None
        if not data:
            # Deliberate deviation: WHATWG dispatches an event with empty data
            # for a lone "data:" line. No provider sends one, and every
            # consumer here would fail to parse it, so it is dropped.
            return None
        return ServerSentEvent(data, name or "message", self.last_event_id, retry)

    def _process(self, lines: list[str]) -> list[ServerSentEvent]:
        # The pending event lives in locals for the loop (this runs once per
        # line of every stream) and is written back at the end.
        out: list[ServerSentEvent] = []
        append = out.append
        data = self._data
        parts = self._parts
        size = self._size
        event = self._event
        for line in lines:
            if not line:
                if data:
                    # The one-line event: no list was ever made.
                    retry = self._retry
                    if retry is not None:
                        self._retry = None
                    append(ServerSentEvent(data, event or "message", self.last_event_id, retry))
                elif parts is not None:
                    # A many-line event, joined once. At least two values, so
                    # never empty.
                    retry = self._retry
                    if retry is not None:
                        self._retry = None
                    append(ServerSentEvent("\n".join(parts), event or "message", self.last_event_id, retry))
                    parts = None
                else:
                    # No data (or a lone empty "data:", deliberately dropped:
                    # WHATWG would dispatch it, no provider sends it, and no
                    # consumer here could parse it).
                    self._retry = None
                data = None
                event = None
                continue
            # The common case first: "data: {...}".
            if line.startswith("data:"):
                value = line[6:] if line.startswith(" ", 5) else line[5:]
            elif line[0] == ":":
                self.comments += 1
                continue
            else:
                name, colon, value = line.partition(":")
                if colon and value.startswith(" "):
                    value = value[1:]
                if name == "event":
                    event = value
                    continue
                if name == "error":
                    # Deliberate deviation (see the module docstring): llama.cpp's
                    # server writes a mid-stream error as "error: {json}" + a blank
                    # line. ggml-org/llama.cpp, handle_completions_impl in
                    # tools/server/server.cpp (earlier examples/server/server.cpp)
                    # calls server_sent_event(sink, "error", error_data), and
                    # server_sent_event in utils.hpp writes event + ": " +
                    # json + "\n\n". (Later builds send data: {"error": {...}}.)
                    event = "error"
                elif name != "data":  # "data" with no colon is an empty value
                    if name == "id" and "\x00" not in value:
                        self.last_event_id = value
                    elif name == "retry" and value.isascii() and value.isdigit():
                        self._retry = int(value)
                    # Other unknown fields are ignored, as the spec says.
                    continue
            # A data value (or an error one) for the pending event.
            if data is None:
                data = value
                continue
            # A second or later line: collect, join once at dispatch. Each
            # value costs len + 1 (its joining LF) toward the limit.
            if parts is None:
                parts = [data, value]
                data = ""
                size = len(parts[0]) + len(value) + 1
            else:
                parts.append(value)
                size += len(value) + 1
            if size > self.max_event_size:
                self._fail("an event's data")
                return out
        self._data = data
        self._parts = parts
        self._size = size
        self._event = event
        return out

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the end of their line."""
        return self._lines.buffered


class NDJSONDecoder:
    """Newline-delimited JSON (Ollama's native API): one text line per value.

    Blank lines are skipped; the JSON itself is parsed by the caller.
    ``max_event_size`` (bytes, default 16 MiB) bounds one line, as for
    :class:`SSEDecoder`: past it ``feed()`` returns the lines before it, sets
    ``error`` to a :class:`~streamkit.errors.ProtocolError`, and every later
    call returns ``[]``.
    """

    __slots__ = ("_lines", "error", "max_event_size")

    def __init__(self, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        self.max_event_size = _check_limit(max_event_size)
        self._lines = _LineSplitter(max_event_size)
        #: Set (once) when a line passed ``max_event_size``.
        self.error: ProtocolError | None = None

    def feed(self, chunk: bytes) -> list[str]:
        try:
            lines = self._lines.feed(chunk)
        except _Overflow as exc:
            lines = exc.lines
            self.error = _too_large("a line of the NDJSON stream", self.max_event_size)
            self._lines = _Closed(self.max_event_size)
        return [line for line in lines if line.strip()]

    def finish(self) -> list[str]:
        return [line for line in self._lines.finish() if line.strip()]

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the end of their line."""
        return self._lines.buffered
