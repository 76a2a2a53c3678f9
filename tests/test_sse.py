"""Unit tests for the sans-IO SSE and NDJSON decoders (no network).

The decoders take raw bytes in any chunking, so most tests here compare a
chunked decode against a hand-written expectation *and* against a decode of
the whole body in one feed.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterable
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamkit._sse import DEFAULT_MAX_EVENT_SIZE, NDJSONDecoder, ServerSentEvent, SSEDecoder
from streamkit.errors import IncompleteStreamError, InvalidArgumentError, ProtocolError
from streamkit.events import TextDelta
from streamkit.providers._openai import OpenAIChatProvider

# --------------------------------------------------------------------------- helpers


def decode(chunks: Iterable[bytes], decoder: SSEDecoder | None = None) -> list[ServerSentEvent]:
    """Feed every chunk, then finish(); all events in order."""
    dec = decoder if decoder is not None else SSEDecoder()
    out: list[ServerSentEvent] = []
    for chunk in chunks:
        out.extend(dec.feed(chunk))
    out.extend(dec.finish())
    return out


def ndjson(chunks: Iterable[bytes]) -> list[str]:
    dec = NDJSONDecoder()
    out: list[str] = []
    for chunk in chunks:
        out.extend(dec.feed(chunk))
    out.extend(dec.finish())
    return out


def split_at(body: bytes, points: Iterable[int]) -> list[bytes]:
    """``body`` cut at the given offsets (duplicates give empty chunks)."""
    cuts = sorted(points)
    edges = [0, *cuts, len(body)]
    return [body[a:b] for a, b in pairwise(edges)]


def one_byte_chunks(body: bytes) -> list[bytes]:
    return [body[i : i + 1] for i in range(len(body))]


def ev(data: str, event: str = "message", id: str | None = None, retry: int | None = None) -> ServerSentEvent:
    return ServerSentEvent(data=data, event=event, id=id, retry=retry)


# A representative body mixing everything the decoder has to get right: a BOM,
# comments, CRLF / CR / LF endings, multi-byte UTF-8 (2, 3 and 4 bytes), a
# U+2028 inside data, multi-line data, "data" without a colon, retry and id.
REPRESENTATIVE = (
    "\ufeff"
    ": keep-alive\r\n"
    "retry: 1500\n"
    'data: {"choices":[{"delta":{"content":"25 °C"}}]}\r\n'
    "\r\n"
    "event: content_block_delta\r"
    "id: 7\r"
    'data: {"text":"€ 😀"}\r'
    "\r"
    "data: line one\n"
    "data:line two\u2028still two\n"
    "data\n"
    "\n"
    ":\n"
    "data: [DONE]\n"
    "\n"
).encode()

REPRESENTATIVE_EVENTS = [
    ev('{"choices":[{"delta":{"content":"25 °C"}}]}', retry=1500),
    ev('{"text":"€ 😀"}', event="content_block_delta", id="7"),
    ev("line one\nline two\u2028still two\n", id="7"),
    ev("[DONE]", id="7"),
]


# --------------------------------------------------------------------------- frames


def test_representative_body_whole() -> None:
    dec = SSEDecoder()
    assert decode([REPRESENTATIVE], dec) == REPRESENTATIVE_EVENTS
    assert dec.comments == 2
    assert dec.last_event_id == "7"
    assert dec.buffered == 0


def test_openai_style_sequence() -> None:
    chunks = [
        {"id": "c1", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {"id": "c1", "choices": [{"index": 0, "delta": {"content": "Hel"}}]},
        {"id": "c1", "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]},
    ]
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    events = decode([body.encode()])
    assert [e.event for e in events] == ["message"] * 4
    assert [json.loads(e.data) for e in events[:3]] == chunks
    assert events[3].data == "[DONE]"
    assert all(e.id is None and e.retry is None for e in events)


def test_anthropic_style_named_events() -> None:
    frames = [
        ("message_start", {"type": "message_start", "message": {"id": "msg_1", "model": "claude"}}),
        ("content_block_delta", {"type": "content_block_delta", "delta": {"text": "Hi"}}),
        ("ping", {"type": "ping"}),
        ("message_stop", {"type": "message_stop"}),
    ]
    body = "".join(f"event: {name}\ndata: {json.dumps(payload)}\n\n" for name, payload in frames)
    events = decode([body.encode()])
    assert [(e.event, json.loads(e.data)) for e in events] == frames


def test_event_name_resets_after_dispatch() -> None:
    events = decode([b"event: a\ndata: 1\n\ndata: 2\n\n"])
    assert [(e.event, e.data) for e in events] == [("a", "1"), ("message", "2")]


def test_event_name_without_data_is_dropped_at_blank_line() -> None:
    # An "event:" block with no data dispatches nothing and does not leak
    # its name into the next event.
    dec = SSEDecoder()
    assert dec.feed(b"event: ping\n\n") == []
    assert decode([b"data: x\n\n"], dec) == [ev("x")]


def test_empty_event_name_means_message() -> None:
    assert decode([b"event:\ndata: x\n\n"]) == [ev("x")]
    assert decode([b"event\ndata: x\n\n"]) == [ev("x")]


def test_multiline_data_joined_with_lf() -> None:
    assert decode([b"data: a\ndata: b\ndata: c\n\n"]) == [ev("a\nb\nc")]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"data: x", "x"),
        (b"data:x", "x"),
        (b"data:  x", " x"),  # only ONE leading space is removed
        (b"data: x ", "x "),  # trailing space kept
        (b"data:: x", ": x"),
        (b"data: a: b", "a: b"),
    ],
)
def test_data_leading_space(line: bytes, expected: str) -> None:
    assert decode([line + b"\n\n"]) == [ev(expected)]


def test_data_without_colon_is_an_empty_line() -> None:
    assert decode([b"data: a\ndata\ndata: b\n\n"]) == [ev("a\n\nb")]
    assert decode([b"data\ndata: b\n\n"]) == [ev("\nb")]
    # An empty value on either form, followed by text on a later line.
    assert decode([b"data:\ndata: b\n\n"]) == [ev("\nb")]


def test_empty_data_is_not_dispatched() -> None:
    # The decoder deliberately drops events whose data is empty (see
    # SSEDecoder._dispatch): nothing a client could parse.
    assert decode([b"data\n\n"]) == []
    assert decode([b"data:\n\n"]) == []
    assert decode([b"data: \n\n"]) == []
    assert decode([b"data:\n\ndata: x\n\n"]) == [ev("x")]


def test_comments_and_keepalives_are_counted_not_dispatched() -> None:
    dec = SSEDecoder()
    body = b": keep-alive\n\n:\n: ping\ndata: x\n: inside an event\n\n:\n\n"
    assert decode([body], dec) == [ev("x")]
    assert dec.comments == 5


def test_comment_split_across_feeds_counted_once() -> None:
    dec = SSEDecoder()
    assert dec.feed(b": keep") == []
    assert dec.comments == 0
    assert dec.feed(b"-alive\n") == []
    assert dec.comments == 1


def test_comment_does_not_end_an_event() -> None:
    assert decode([b"data: a\n: comment\ndata: b\n\n"]) == [ev("a\nb")]


def test_id_sets_last_event_id_and_persists() -> None:
    dec = SSEDecoder()
    events = decode([b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n"], dec)
    assert events == [ev("a", id="1"), ev("b", id="1"), ev("c", id="2")]
    assert dec.last_event_id == "2"


def test_id_without_data_still_updates_last_event_id() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"id: 9\n\n") == []
    assert dec.last_event_id == "9"
    assert dec.feed(b"data: x\n\n") == [ev("x", id="9")]


def test_empty_id_resets_last_event_id() -> None:
    dec = SSEDecoder()
    events = decode([b"id: 3\ndata: a\n\nid\ndata: b\n\n"], dec)
    assert events == [ev("a", id="3"), ev("b", id="")]
    assert dec.last_event_id == ""


def test_id_containing_nul_is_ignored() -> None:
    dec = SSEDecoder()
    events = decode([b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"], dec)
    assert events == [ev("a", id="1"), ev("b", id="1")]
    assert dec.last_event_id == "1"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"3000", 3000),
        (b"0", 0),
        (b"007", 7),
        (b"", None),
        (b"-1", None),
        (b"1.5", None),
        (b"10a", None),
        (b" 10", None),  # after the one stripped space, " 10" is not all digits
        ("\u0661\u0662".encode(), None),  # Arabic-Indic digits: str.isdigit() but not ASCII
        ("\u00b2".encode(), None),  # superscript two
    ],
)
def test_retry_digits_only(value: bytes, expected: int | None) -> None:
    assert decode([b"retry: " + value + b"\ndata: x\n\n"]) == [ev("x", retry=expected)]


def test_retry_is_not_carried_past_its_event() -> None:
    assert decode([b"retry: 10\ndata: a\n\ndata: b\n\n"]) == [ev("a", retry=10), ev("b")]


def test_unknown_fields_ignored() -> None:
    body = b"foo: bar\nData: upper\ndata : spaced\nevents: x\nid : 5\ndata: ok\nbaz\n\n"
    dec = SSEDecoder()
    assert decode([body], dec) == [ev("ok")]
    assert dec.last_event_id is None
    assert dec.comments == 0


def test_event_without_data_not_dispatched() -> None:
    assert decode([b"event: x\nid: 1\nretry: 5\n\n"]) == []
    assert decode([b"event: x\n"]) == []  # also at end of stream


def test_bom_stripped_once() -> None:
    bom = "\ufeff".encode()
    assert decode([bom + b"data: x\n\n"]) == [ev("x")]
    # A second BOM is part of the first line, which then is no "data" field.
    assert decode([bom + bom + b"data: x\n\ndata: y\n\n"]) == [ev("y")]
    # A BOM later in the stream is not stripped either.
    assert decode([b"data: x\n\n" + bom + b"data: y\n\n"]) == [ev("x")]
    # Inside data it is kept.
    assert decode([b"data: " + bom + b"x\n\n"]) == [ev("\ufeffx")]


def test_bom_split_across_feeds() -> None:
    body = "\ufeffdata: x\n\n".encode()
    assert decode(one_byte_chunks(body)) == [ev("x")]
    for i in range(len(body) + 1):
        assert decode([body[:i], body[i:]]) == [ev("x")], i


def test_bom_only_at_end_of_stream() -> None:
    # The first (and only) line arrives through finish().
    assert decode(["\ufeffdata: x".encode()]) == [ev("x")]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert decode([b"data: a\xffb\n\n"]) == [ev("a\ufffdb")]


def test_feed_returns_events_as_soon_as_complete() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\n") == []
    assert dec.buffered == 0
    assert dec.feed(b"\n") == [ev("a")]
    assert dec.feed(b"data: b") == []
    assert dec.buffered == len(b"data: b")
    assert dec.feed(b"\n\ndata: c\n\ndata: d") == [ev("b"), ev("c")]
    assert dec.finish() == [ev("d")]
    assert dec.buffered == 0


def test_empty_feed_is_a_no_op() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"") == []
    assert dec.feed(b"data: x\r") == []
    assert dec.feed(b"") == []  # must not forget the pending CR
    assert dec.feed(b"\n") == []  # ... so this LF is the CRLF's second half
    assert dec.feed(b"\n") == [ev("x")]


def test_finish_on_fresh_decoder() -> None:
    dec = SSEDecoder()
    assert dec.finish() == []
    assert dec.comments == 0
    assert dec.last_event_id is None


# --------------------------------------------------------------------------- end of stream


@pytest.mark.parametrize(
    "body",
    [
        b"data: a\n\ndata: b",  # no final newline at all
        b"data: a\n\ndata: b\n",  # final newline, no blank line
        b"data: a\r\n\r\ndata: b\r\n",
        b"data: a\r\rdata: b\r",
        b"data: a\n\nevent: e\ndata: b",
    ],
)
def test_finish_flushes_last_event(body: bytes) -> None:
    dec = SSEDecoder()
    events = dec.feed(body)
    assert [e.data for e in events] == ["a"]
    last = dec.finish()
    assert [e.data for e in last] == ["b"]
    assert dec.finish() == []  # idempotent: nothing left


def test_finish_flushes_multiline_tail_and_comment() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\ndata: b\n: trailing comment") == []
    assert dec.finish() == [ev("a\nb")]
    assert dec.comments == 1


# --------------------------------------------------------------------------- line endings


@pytest.mark.parametrize("eol", ["\n", "\r", "\r\n"], ids=["LF", "CR", "CRLF"])
def test_line_endings(eol: str) -> None:
    body = eol.join(["event: e", "id: 1", "data: a", "data: b", "", "data: c", "", ""]).encode()
    expected = [ev("a\nb", event="e", id="1"), ev("c", id="1")]
    assert decode([body]) == expected
    assert decode(one_byte_chunks(body)) == expected


def test_mixed_line_endings() -> None:
    body = b"data: a\rdata: b\ndata: c\r\n\ndata: d\n\r\ndata: e\r\r\n"
    expected = [ev("a\nb\nc"), ev("d"), ev("e")]
    assert decode([body]) == expected
    assert decode(one_byte_chunks(body)) == expected


def test_cr_cr_lf_is_two_line_ends() -> None:
    # CR, then CRLF: a line end followed by an empty line (dispatch).
    assert decode([b"data: a\r\r\ndata: b\r\n\r\n"]) == [ev("a"), ev("b")]


def test_lf_cr_is_two_line_ends() -> None:
    assert decode([b"data: a\n\rdata: b\n\n"]) == [ev("a"), ev("b")]


def test_crlf_split_between_feeds() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\r") == []
    # This LF completes the CRLF above; it is NOT a blank line.
    assert dec.feed(b"\ndata: b\r") == []
    assert dec.feed(b"\n") == []
    # The blank line's CR dispatches at once; its LF is then swallowed.
    assert dec.feed(b"\r") == [ev("a\nb")]
    assert dec.feed(b"\n") == []
    assert dec.feed(b"data: c\n\n") == [ev("c")]
    assert dec.finish() == []


def test_crlf_blank_line_split_between_feeds() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\r\n\r") == [ev("a")]  # the lone CR already ends the blank line
    assert dec.feed(b"\ndata: b\r\n\r\n") == [ev("b")]


def test_lone_cr_at_end_of_feed_followed_by_non_lf() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\r") == []
    assert dec.feed(b"data: b\r") == []
    assert dec.feed(b"\r") == [ev("a\nb")]
    # A CR at the end of a feed followed by another CR: an empty line.
    assert dec.feed(b"data: c\r") == []
    assert dec.feed(b"\rdata: d\r\r") == [ev("c"), ev("d")]


def test_lone_cr_at_end_of_stream() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\r") == []
    assert dec.finish() == [ev("a")]


# --------------------------------------------------------------------------- UTF-8


@pytest.mark.parametrize("char", ["é", "°", "€", "😀", "\U0010ffff"])
def test_multibyte_char_split_at_every_byte(char: str) -> None:
    encoded = char.encode()
    assert len(encoded) >= 2
    prefix = b"data: x"
    suffix = b"y\n\n"
    body = prefix + encoded + suffix
    for offset in range(1, len(encoded)):
        cut = len(prefix) + offset
        assert decode([body[:cut], body[cut:]]) == [ev(f"x{char}y")], offset
    # Every byte in its own feed.
    assert decode(one_byte_chunks(body)) == [ev(f"x{char}y")]


def test_multibyte_char_split_across_completed_line() -> None:
    # The first feed completes a line and leaves half a character behind.
    body = "data: a\ndata: €b\n\n".encode()
    cut = body.index("€".encode()) + 1
    dec = SSEDecoder()
    assert dec.feed(body[:cut]) == []
    assert dec.buffered == len(b"data: ") + 1
    assert dec.feed(body[cut:]) == [ev("a\n€b")]


@pytest.mark.parametrize(
    "sep",
    ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"],
    ids=["U+2028", "U+2029", "NEL", "VT", "FF", "FS", "GS", "RS"],
)
def test_unicode_line_separators_do_not_split(sep: str) -> None:
    payload = json.dumps({"text": f"a{sep}b"}, ensure_ascii=False)
    body = f"data: {payload}\n\n".encode()
    expected = [ev(payload)]
    assert decode([body]) == expected
    assert decode(one_byte_chunks(body)) == expected
    assert json.loads(decode([body])[0].data) == {"text": f"a{sep}b"}


# --------------------------------------------------------------------------- chunking


def test_every_two_way_split() -> None:
    whole = decode([REPRESENTATIVE])
    assert whole == REPRESENTATIVE_EVENTS
    for i in range(len(REPRESENTATIVE) + 1):
        assert decode([REPRESENTATIVE[:i], REPRESENTATIVE[i:]]) == whole, i


def test_every_three_way_split() -> None:
    whole = decode([REPRESENTATIVE])
    n = len(REPRESENTATIVE)
    for i in range(n + 1):
        for j in range(i, n + 1):
            chunks = [REPRESENTATIVE[:i], REPRESENTATIVE[i:j], REPRESENTATIVE[j:]]
            assert decode(chunks) == whole, (i, j)


def test_every_split_keeps_comment_count_and_last_id() -> None:
    for i in range(len(REPRESENTATIVE) + 1):
        dec = SSEDecoder()
        decode([REPRESENTATIVE[:i], REPRESENTATIVE[i:]], dec)
        assert (dec.comments, dec.last_event_id) == (2, "7"), i


def test_one_byte_feeds() -> None:
    assert decode(one_byte_chunks(REPRESENTATIVE)) == REPRESENTATIVE_EVENTS


def test_events_arrive_no_later_than_their_blank_line() -> None:
    # Fed one byte at a time, each event must come out of the very feed
    # that completes its terminating blank line, not later.
    body = b"data: a\n\ndata: b\r\n\r\ndata: c\r\r"
    dec = SSEDecoder()
    seen: list[tuple[int, str]] = []
    for i in range(len(body)):
        seen.extend((i, e.data) for e in dec.feed(body[i : i + 1]))
    assert seen == [
        (body.index(b"\n\n") + 1, "a"),
        (body.index(b"\r\n\r\n") + 2, "b"),  # the CR of the blank line dispatches
        (len(body) - 1, "c"),
    ]
    assert dec.finish() == []


# --------------------------------------------------------------------------- property test

_special = st.sampled_from(["\u2028", "\u2029", "\x85", "\x00", "°", "€", "😀", " ", ":", "\ufeff", "\x0b"])
_line_chars = st.one_of(st.characters(codec="utf-8", exclude_characters="\r\n"), _special)
_line_text = st.text(alphabet=_line_chars, max_size=12)
_eol = st.sampled_from(["\n", "\r", "\r\n"])
# Values that start with spaces (only one is stripped) and ids with a NUL
# (ignored) deserve more than their chance share of examples.
_data_value = _line_text | _line_text.map(lambda s: " " + s)
_id_value = _line_text | _line_text.map(lambda s: s + "\x00")


@st.composite
def sse_streams(draw: st.DrawFn) -> tuple[bytes, list[ServerSentEvent]]:
    """An SSE body rendered from random events, and the events it encodes."""
    parts: list[str] = []
    expected: list[ServerSentEvent] = []
    last_id: str | None = None

    def line(text: str) -> None:
        parts.append(text + draw(_eol))

    if draw(st.booleans()):
        parts.append("\ufeff")
    n_events = draw(st.integers(0, 5))
    for k in range(n_events):
        for comment in draw(st.lists(_line_text, max_size=2)):
            line(":" + comment)
        name = draw(st.none() | _line_text)
        if name is not None:
            line("event: " + name)
        new_id = draw(st.none() | _id_value)
        if new_id is not None:
            line("id: " + new_id)
            if "\x00" not in new_id:
                last_id = new_id
        values: list[str] = []
        for value in draw(st.lists(_data_value, min_size=1, max_size=3)):
            form = draw(st.sampled_from(["data: ", "data:", "bare"]))
            if form == "bare" and not value:
                line("data")
            elif form == "data:" or form == "bare":
                line("data:" + value)
                value = value[1:] if value.startswith(" ") else value
            else:
                line("data: " + value)
            values.append(value)
        data = "\n".join(values)
        is_last = k == n_events - 1
        # The last event may lose its blank line: finish() must flush it.
        if not (is_last and draw(st.booleans())):
            blank = draw(_eol)
            if blank == "\n" and parts[-1].endswith("\r"):
                blank = "\r\n"  # a lone LF here would merge with the CR into one CRLF
            parts.append(blank)
        if data:
            expected.append(ServerSentEvent(data, name or "message", last_id, None))
    body = "".join(parts).encode()
    # Optionally drop the final line ending altogether.
    if expected and draw(st.booleans()):
        body = body.rstrip(b"\r\n")
    return body, expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), stream=sse_streams())
def test_property_any_chunking_matches_single_feed(
    data: st.DataObject, stream: tuple[bytes, list[ServerSentEvent]]
) -> None:
    body, expected = stream
    points = data.draw(st.lists(st.integers(0, len(body)), max_size=12), label="split points")
    whole = decode([body])
    assert whole == expected
    assert decode(split_at(body, points)) == whole


@settings(max_examples=50, deadline=None)
@given(stream=sse_streams())
def test_property_one_byte_feeds(stream: tuple[bytes, list[ServerSentEvent]]) -> None:
    body, expected = stream
    assert decode(one_byte_chunks(body)) == expected


# --------------------------------------------------------------------------- large events


def _chunks_of(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def test_one_mib_single_event() -> None:
    payload = "x" * (1 << 20)
    body = f"data: {payload}\n\n".encode()
    events = decode([body])
    assert len(events) == 1
    assert events[0].data == payload


def test_large_event_in_4k_chunks() -> None:
    # ~300 KiB of multi-line, multi-byte data (so chunk boundaries fall inside
    # characters and inside CRLFs), surrounded by small events.
    lines = [f"{i:06d} °€😀 " + "abc" * 40 for i in range(2500)]
    big = "\n".join(lines)
    body = (
        "data: first\r\n\r\n" + "".join(f"data: {line}\r\n" for line in lines) + "\r\ndata: last\r\n\r\n"
    ).encode()
    assert len(big.encode()) > 4 * 65536
    dec = SSEDecoder()
    events: list[ServerSentEvent] = []
    max_buffered = 0
    for chunk in _chunks_of(body, 4096):
        events.extend(dec.feed(chunk))
        max_buffered = max(max_buffered, dec.buffered)
    events.extend(dec.finish())
    assert events == [ev("first"), ev(big), ev("last")]
    # Each line is short, so the buffer only ever holds a partial line.
    assert max_buffered < 4096


def test_single_line_larger_than_64k_in_4k_chunks() -> None:
    payload = json.dumps({"text": "°€😀" * 50_000}, ensure_ascii=False)
    body = f"event: big\ndata: {payload}\n\n".encode()
    assert len(body) > 6 * 65536
    dec = SSEDecoder()
    events: list[ServerSentEvent] = []
    fed = 0
    for chunk in _chunks_of(body, 4096):
        events.extend(dec.feed(chunk))
        fed += len(chunk)
        if not events:
            # No line-length cap: the partial line simply accumulates.
            assert dec.buffered == fed - len(b"event: big\n")
    assert dec.finish() == []
    assert events == [ev(payload, event="big")]
    assert dec.buffered == 0


# --------------------------------------------------------------------------- linearity
#
# Not a timing test. The input chunks and the decoder's line buffer are
# replaced by subclasses that count the bytes each operation touches; a
# decoder that rescanned or recopied its buffer on each feed would touch
# O(n^2 / chunk) bytes for one long line.


class _Counter:
    def __init__(self) -> None:
        self.n = 0


class _CountingBytes(bytes):
    counter: _Counter

    def _c(self, n: int) -> None:
        self.counter.n += n

    def __contains__(self, item: object) -> bool:
        self._c(len(self))
        return bytes.__contains__(self, item)  # type: ignore[operator]

    def find(self, *args: object) -> int:  # type: ignore[override]
        self._c(len(self))
        return bytes.find(self, *args)  # type: ignore[arg-type]

    def rfind(self, *args: object) -> int:  # type: ignore[override]
        self._c(len(self))
        return bytes.rfind(self, *args)  # type: ignore[arg-type]

    def replace(self, *args: object) -> bytes:  # type: ignore[override]
        self._c(len(self))
        return bytes.replace(self, *args)  # type: ignore[arg-type]

    def split(self, *args: object) -> list[bytes]:  # type: ignore[override]
        self._c(len(self))
        return bytes.split(self, *args)  # type: ignore[arg-type]

    def decode(self, *args: object) -> str:  # type: ignore[override]
        self._c(len(self))
        return bytes.decode(self, *args)  # type: ignore[arg-type]


class _CountingBuffer(bytearray):
    counter: _Counter
    appends = 0

    def __iadd__(self, other: object) -> _CountingBuffer:  # type: ignore[override]
        self.counter.n += len(other)  # type: ignore[arg-type]
        self.appends += 1
        bytearray.__iadd__(self, other)  # type: ignore[arg-type]
        return self

    def __bytes__(self) -> bytes:
        self.counter.n += len(self)
        return bytes(memoryview(self))

    def __contains__(self, item: object) -> bool:
        self.counter.n += len(self)
        return bytearray.__contains__(self, item)  # type: ignore[operator]

    def find(self, *args: object) -> int:  # type: ignore[override]
        self.counter.n += len(self)
        return bytearray.find(self, *args)  # type: ignore[arg-type]

    def rfind(self, *args: object) -> int:  # type: ignore[override]
        self.counter.n += len(self)
        return bytearray.rfind(self, *args)  # type: ignore[arg-type]

    def split(self, *args: object) -> list[bytearray]:  # type: ignore[override]
        self.counter.n += len(self)
        return bytearray.split(self, *args)  # type: ignore[arg-type]

    def decode(self, *args: object) -> str:  # type: ignore[override]
        self.counter.n += len(self)
        return bytearray.decode(self, *args)  # type: ignore[arg-type]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"], ids=["LF", "CRLF"])
def test_work_is_linear_in_input_size(eol: bytes) -> None:
    size = 1 << 20
    chunk_size = 4096
    body = b"data: " + b"x" * size + eol + eol
    counter = _Counter()
    dec = SSEDecoder()
    buf = _CountingBuffer()
    buf.counter = counter
    dec._lines._buf = buf  # type: ignore[attr-defined]

    events: list[ServerSentEvent] = []
    chunks = _chunks_of(body, chunk_size)
    for raw in chunks:
        chunk = _CountingBytes(raw)
        chunk.counter = counter
        events.extend(dec.feed(chunk))
    events.extend(dec.finish())

    assert len(events) == 1
    assert len(events[0].data) == size
    # The counting buffer must still be the one in use, else this test
    # measured nothing.
    assert dec._lines._buf is buf  # type: ignore[attr-defined]
    assert buf.appends >= len(chunks) - 1
    # Each input byte is scanned / copied a small constant number of times.
    # A quadratic decoder would be around size * len(chunks) / 2 (~128x).
    assert counter.n <= 8 * len(body), counter.n


# A many-line event (one value per short "data:" line) is the other way to
# grow one event. Joining the values as they arrive re-copies the pending
# data on every line: quadratic time, but only twice the event's memory at
# any moment, so a peak over the whole run would not show it. The peak
# *during one read*, above what was held before it, does: re-copying
# allocates the whole pending data (up to the event's size) within the read
# that adds a line, while a linear decoder only needs that read's lines and
# an occasional list growth (an eighth of the list of values).
_SHORT_LINE = b"data: 0123456789\n"  # 17 bytes, a 10-character value


@pytest.mark.parametrize("mib", [1, 2, 4])
def test_many_line_event_work_is_linear(mib: int) -> None:
    size = mib << 20
    n = size // len(_SHORT_LINE)
    chunks = _chunks_of(_SHORT_LINE * n, 4096)
    dec = SSEDecoder()
    worst = 0
    tracemalloc.start()
    try:
        for chunk in chunks:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            events = dec.feed(chunk)
            worst = max(worst, tracemalloc.get_traced_memory()[1] - before)
            assert events == []
    finally:
        tracemalloc.stop()
    # The blank line dispatches the whole event, joined exactly once.
    assert dec.feed(b"\n") == [ev("\n".join(["0123456789"] * n))]
    assert dec.buffered == 0
    # Re-copying would reach about the event's size (11 * n characters);
    # a linear decoder stays near 1/16 of it here, at every size.
    assert worst < size // 4, (worst, size)


def test_many_line_event_in_one_read() -> None:
    # Also linear when every line arrives in one read, and the values are
    # joined with LF, in order.
    n = (4 << 20) // len(_SHORT_LINE)
    values = [f"{i:010d}" for i in range(n)]
    body = "".join(f"data: {v}\n" for v in values).encode() + b"\n"
    assert decode([body]) == [ev("\n".join(values))]


# --------------------------------------------------------------------------- NDJSON


NDJSON_BODY = (
    b'{"message":{"content":"Hel"},"done":false}\n'
    b"\n"
    b'{"message":{"content":"lo \xc2\xb0 \xe2\x80\xa8"},"done":false}\r\n'
    b"   \n"
    b'{"done":true,"eval_count":2}'
)
NDJSON_LINES = [
    '{"message":{"content":"Hel"},"done":false}',
    '{"message":{"content":"lo ° \u2028"},"done":false}',
    '{"done":true,"eval_count":2}',
]


def test_ndjson_whole() -> None:
    assert ndjson([NDJSON_BODY]) == NDJSON_LINES
    assert [json.loads(line) for line in ndjson([NDJSON_BODY])][-1] == {"done": True, "eval_count": 2}


def test_ndjson_every_split_and_one_byte_feeds() -> None:
    for i in range(len(NDJSON_BODY) + 1):
        assert ndjson([NDJSON_BODY[:i], NDJSON_BODY[i:]]) == NDJSON_LINES, i
    assert ndjson(one_byte_chunks(NDJSON_BODY)) == NDJSON_LINES


def test_ndjson_lines_split_across_feeds() -> None:
    dec = NDJSONDecoder()
    assert dec.feed(b'{"a"') == []
    assert dec.feed(b":1}\n{") == ['{"a":1}']
    assert dec.feed(b'"b":2}\n') == ['{"b":2}']
    assert dec.finish() == []


def test_ndjson_blank_lines_skipped() -> None:
    assert ndjson([b"\n\n1\n \t \n\r\n2\r\r3\n\n"]) == ["1", "2", "3"]


def test_ndjson_finish_flushes_unterminated_line() -> None:
    dec = NDJSONDecoder()
    assert dec.feed(b'{"a":1}\n{"b":2}') == ['{"a":1}']
    assert dec.finish() == ['{"b":2}']
    assert dec.finish() == []


def test_ndjson_finish_skips_blank_tail() -> None:
    dec = NDJSONDecoder()
    assert dec.feed(b'{"a":1}\n   ') == ['{"a":1}']
    assert dec.finish() == []


def test_ndjson_crlf_split_between_feeds() -> None:
    dec = NDJSONDecoder()
    assert dec.feed(b"1\r") == ["1"]
    assert dec.feed(b"\n2\r") == ["2"]
    assert dec.feed(b"\n") == []
    assert dec.finish() == []


@pytest.mark.parametrize("sep", ["\u2028", "\u2029", "\x85"])
def test_ndjson_unicode_separators_do_not_split(sep: str) -> None:
    line = json.dumps({"t": f"a{sep}b"}, ensure_ascii=False)
    assert ndjson(one_byte_chunks((line + "\n").encode())) == [line]


def test_ndjson_large_line_in_4k_chunks() -> None:
    line = json.dumps({"t": "°€😀" * 40_000}, ensure_ascii=False)
    body = (line + "\n" + line).encode()
    assert ndjson(_chunks_of(body, 4096)) == [line, line]


# --------------------------------------------------------------------------- maximum event size


def _feed_all(dec: SSEDecoder, chunks: Iterable[bytes]) -> list[ServerSentEvent]:
    """Feed every chunk (no finish()); all events in order."""
    out: list[ServerSentEvent] = []
    for chunk in chunks:
        out.extend(dec.feed(chunk))
    return out


def _assert_stopped(dec: SSEDecoder | NDJSONDecoder, limit: int) -> None:
    """The decoder failed with the size error, holds nothing, and decodes nothing more."""
    assert isinstance(dec.error, ProtocolError)
    assert not isinstance(dec.error, IncompleteStreamError)  # not retried: the same body fails again
    message = str(dec.error)
    assert f"max_event_size ({limit} bytes)" in message
    assert "raise the model's max_event_size setting" in message
    assert dec.buffered == 0
    error = dec.error
    if isinstance(dec, SSEDecoder):
        assert dec.feed(b"data: later\n\ndata: more") == []
    else:
        assert dec.feed(b'{"later":1}\n{"more":2}') == []
    assert dec.finish() == []
    assert dec.error is error  # the first error stays


def test_default_max_event_size() -> None:
    assert DEFAULT_MAX_EVENT_SIZE == 16 * 1024 * 1024
    assert SSEDecoder().max_event_size == DEFAULT_MAX_EVENT_SIZE
    assert NDJSONDecoder().max_event_size == DEFAULT_MAX_EVENT_SIZE
    dec = SSEDecoder()
    assert decode([REPRESENTATIVE], dec) == REPRESENTATIVE_EVENTS
    assert dec.error is None


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "16"])
def test_max_event_size_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="max_event_size"):
        SSEDecoder(max_event_size=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="max_event_size"):
        NDJSONDecoder(max_event_size=bad)  # type: ignore[arg-type]


def test_endless_line_stops_buffering() -> None:
    limit = 1000
    dec = SSEDecoder(max_event_size=limit)
    assert dec.feed(b"data: a\n\n") == [ev("a")]
    fed = 0
    while dec.error is None:
        assert dec.feed(b"x" * 64) == []
        fed += 64
        assert dec.buffered <= limit
        assert fed <= limit + 64
    assert fed > limit
    _assert_stopped(dec, limit)
    # The default limit names its size too.
    big = SSEDecoder()
    big.feed(b"data: " + b"x" * DEFAULT_MAX_EVENT_SIZE)
    _assert_stopped(big, 16777216)


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_line_limit_is_exact_in_any_chunking(eol: bytes) -> None:
    # A line of exactly `limit` bytes (its ending not counted) passes; one
    # more byte fails, whether the line is buffered across reads or arrives
    # complete in one read.
    limit = 64
    ok = b"data: " + b"x" * (limit - 6)
    over = ok + b"x"
    for line, fails in ((ok, False), (over, True)):
        body = b"data: a" + eol + eol + line + eol + eol + b"data: c" + eol + eol
        expected = [ev("a")] if fails else [ev("a"), ev("x" * (len(line) - 6)), ev("c")]
        splits: list[list[bytes]] = [[body], one_byte_chunks(body)]
        splits += [[body[:i], body[i:]] for i in range(len(body) + 1)]
        for chunks in splits:
            dec = SSEDecoder(max_event_size=limit)
            events = _feed_all(dec, chunks)
            if fails:
                assert events == expected, chunks
                _assert_stopped(dec, limit)
            else:
                assert events + dec.finish() == expected, chunks
                assert dec.error is None


def test_many_line_event_past_the_limit() -> None:
    # Data is counted as joined: each value plus the LF before it.
    limit = 1000
    exact = b"data: " + b"y" * 99 + b"\n" + b"data: 123456789\n" * 90  # 99 + 90 * 10 = 999
    dec = SSEDecoder(max_event_size=limit)
    assert decode([exact + b"data:\n\n"], dec) == [ev("y" * 99 + "\n123456789" * 90 + "\n")]  # 1000
    assert dec.error is None
    for chunks in ([exact + b"data: z\n\n"], _chunks_of(exact + b"data: z\n\n", 7)):
        dec = SSEDecoder(max_event_size=limit)
        assert _feed_all(dec, [b"data: before\n\n", *chunks]) == [ev("before")]
        _assert_stopped(dec, limit)


def test_many_line_event_past_the_limit_at_end_of_stream() -> None:
    # The last value arrives through finish() (no final line ending).
    limit = 100
    dec = SSEDecoder(max_event_size=limit)
    # 9 + 8 * 10 = 89 characters so far; the last line adds 12.
    assert dec.feed(b"data: first\n\n" + b"data: 123456789\n" * 9 + b"data: 12345678901") == [ev("first")]
    assert dec.error is None
    assert dec.finish() == []
    assert isinstance(dec.error, ProtocolError)
    assert "max_event_size (100 bytes)" in str(dec.error)


@pytest.mark.parametrize(
    "overflow",
    [
        b"data: " + b"x" * 2000,  # an endless line, still buffered
        b"data: " + b"x" * 2000 + b"\n\ndata: after\n\n",  # a long line complete in this read
        b"data: 123456789\n" * 200 + b"\ndata: after\n\n",  # a many-line event
    ],
    ids=["buffered-line", "complete-line", "many-lines"],
)
def test_events_before_the_overflow_in_the_same_read_are_returned(overflow: bytes) -> None:
    limit = 1000
    dec = SSEDecoder(max_event_size=limit)
    # One read: two complete events, then the overflow (and an event after
    # it, which is not returned: decoding stops at the overflow).
    events = dec.feed(b"event: a\ndata: 1\n\ndata: 2\ndata: 3\n\n" + overflow)
    assert events == [ev("1", event="a"), ev("2\n3")]
    _assert_stopped(dec, limit)


def test_pending_event_at_the_overflow_is_dropped() -> None:
    # An event still open when a later line overflows is not dispatched,
    # not even by finish().
    dec = SSEDecoder(max_event_size=100)
    assert dec.feed(b"data: 1\n\nevent: half\ndata: open\n" + b": " + b"c" * 200 + b"\n") == [ev("1")]
    _assert_stopped(dec, 100)


def test_overflow_sets_the_mapper_error() -> None:
    chunk = {"id": "c1", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}
    mapper = OpenAIChatProvider().new_mapper()
    mapper.decoder = SSEDecoder(max_event_size=1000)
    events = mapper.feed(f"data: {json.dumps(chunk)}\n\n".encode() + b"data: " + b"x" * 2000)
    assert any(isinstance(e, TextDelta) and e.text == "Hi" for e in events)
    assert isinstance(mapper.error, ProtocolError)
    assert "max_event_size (1000 bytes)" in str(mapper.error)
    # Also when the overflow is met by finish().
    mapper = OpenAIChatProvider().new_mapper()
    mapper.decoder = SSEDecoder(max_event_size=100)
    assert mapper.feed(b"data: 123456789\n" * 9 + b"data: 12345678901") == []
    assert mapper.error is None
    assert mapper.finish() == []
    assert isinstance(mapper.error, ProtocolError)
    assert "max_event_size (100 bytes)" in str(mapper.error)


# --------------------------------------------------------------------------- "error:" lines (llama.cpp)

LLAMA_ERROR = '{"code":500,"message":"the request exceeds the available context size","type":"server_error"}'


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_error_line_is_an_error_event(eol: str) -> None:
    body = (f"data: {{}}{eol}{eol}error: {LLAMA_ERROR}{eol}{eol}data: after{eol}{eol}").encode()
    expected = [ev("{}"), ev(LLAMA_ERROR, event="error"), ev("after")]
    assert decode([body]) == expected
    assert decode(one_byte_chunks(body)) == expected
    for i in range(len(body) + 1):
        assert decode([body[:i], body[i:]]) == expected, i


@pytest.mark.parametrize("end", ["", "\n", "\r\n"], ids=["no-eol", "LF", "CRLF"])
def test_error_line_at_end_of_stream_without_blank_line(end: str) -> None:
    body = f"data: a\n\nerror: {LLAMA_ERROR}{end}".encode()
    expected = [ev("a"), ev(LLAMA_ERROR, event="error")]
    dec = SSEDecoder()
    assert dec.feed(body) == [ev("a")]
    assert dec.finish() == [ev(LLAMA_ERROR, event="error")]
    assert decode(one_byte_chunks(body)) == expected


def test_error_field_forms() -> None:
    # Like "data": one leading space stripped, "error" without a colon is an
    # empty value (so nothing to dispatch), and the field name is exact.
    assert decode([b"error:x\n\n"]) == [ev("x", event="error")]
    assert decode([b"error\n\n"]) == []
    assert decode([b"Error: x\n\nerrors: y\n\n"]) == []
    # The event name does not leak into the next event.
    assert decode([b"error: x\n\ndata: y\n\n"]) == [ev("x", event="error"), ev("y")]


# --------------------------------------------------------------------------- NDJSON line limit


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"], ids=["LF", "CRLF"])
def test_ndjson_line_limit(eol: bytes) -> None:
    limit = 100
    ok = b'{"t":"' + b"x" * (limit - 8) + b'"}'
    assert len(ok) == limit
    over = ok[:-2] + b'x"}'
    for line, fails in ((ok, False), (over, True)):
        body = b'{"a":1}' + eol + line + eol + b'{"b":2}' + eol
        splits: list[list[bytes]] = [[body], one_byte_chunks(body), _chunks_of(body, 16)]
        splits += [[body[:i], body[i:]] for i in range(len(body) + 1)]
        for chunks in splits:
            dec = NDJSONDecoder(max_event_size=limit)
            lines: list[str] = []
            for chunk in chunks:
                lines.extend(dec.feed(chunk))
            if fails:
                assert lines == ['{"a":1}'], chunks
                _assert_stopped(dec, limit)
            else:
                assert lines + dec.finish() == ['{"a":1}', line.decode(), '{"b":2}'], chunks
                assert dec.error is None


def test_ndjson_endless_line() -> None:
    dec = NDJSONDecoder(max_event_size=1000)
    assert dec.feed(b'{"a":1}\n{"b":"') == ['{"a":1}']
    while dec.error is None:
        assert dec.feed(b"x" * 100) == []
        assert dec.buffered <= 1000
    assert "a line of the NDJSON stream" in str(dec.error)
    _assert_stopped(dec, 1000)
