"""What the benchmark server sends, and what every client must read back.

Shared by the server process, the client processes and the harness, so that
all three agree on the bytes and on the expected text without talking to
each other.

A stream is described by a :class:`Spec`; its compact form travels as the
request's ``model`` name (every client can set that per call, and a real
API reads it too), so one client object serves every spec and nothing in
the URL changes: streamkit's ``base_url`` for OpenAI is ``{root}/v1`` and
for Anthropic ``{root}`` (path ``/v1/messages``), as with the real APIs.

The bodies imitate what the real APIs send today: OpenAI chunks carry
``id``, ``created``, ``model``, ``service_tier``, ``system_fingerprint``,
``usage: null`` and an ``obfuscation`` pad, and the stream ends with a
finish chunk, a usage chunk (``choices: []``) and ``[DONE]``. Anthropic's
carry the event names, a ``ping``, one ``content_block_delta`` per token,
``message_delta`` with the stop reason and cumulative usage, and
``message_stop``. The text mixes ASCII words, punctuation, JSON escapes and
multi-byte UTF-8.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Literal

__all__ = [
    "PROVIDERS",
    "Provider",
    "Rendered",
    "LINES_TOKEN",
    "Spec",
    "expected",
    "huge_text",
    "make_tokens",
    "render",
    "stream_tag",
    "tagged_prompt",
    "text_digest",
    "token_ends",
]

Provider = Literal["openai", "anthropic"]
PROVIDERS: tuple[Provider, ...] = ("openai", "anthropic")

OPENAI_MODEL = "gpt-4o-mini-2024-07-18"
#: The text of a many-line event (``Spec.lines``): its bulk is padding.
LINES_TOKEN = " one event of many short data: lines"
ANTHROPIC_MODEL = "claude-sonnet-4-5-20250929"
_CREATED = 1769025707

# Roughly what a BPE tokenizer emits: leading-space words, word pieces,
# punctuation, newlines, characters JSON must escape, and multi-byte UTF-8.
_VOCAB: tuple[str, ...] = (
    " the",
    " stream",
    "ing",
    " of",
    " tokens",
    ",",
    " and",
    " a",
    " model",
    " that",
    " answers",
    ".",
    "\n\n",
    " café",
    " naïve",
    " 東京",
    " 🚀",
    ' "quoted"',
    " back\\slash",
    "\t",
    " to",
    " is",
    " per",
    " second",
    "ed",
    " it",
    " \u2013",
    " data",
    ":",
    " 42",
    " über",
    " résumé",
    " in",
)


def make_tokens(n: int) -> list[str]:
    """``n`` deterministic tokens (the same list in every process)."""
    vocab = _VOCAB
    size = len(vocab)
    return [vocab[(i * 7 + i // size) % size] for i in range(n)]


def huge_text(nbytes: int) -> str:
    """One token of about ``nbytes`` UTF-8 bytes (exactly, for ASCII filler)."""
    unit = "lorem ipsum dolor sit amet, consectetur adipiscing elit; sed do eiusmod tempor. "
    reps, rest = divmod(nbytes, len(unit))
    return unit * reps + unit[:rest]


@dataclass(frozen=True, slots=True)
class Spec:
    """One stream: what to send and how fast.

    ``tokens`` tokens from :func:`make_tokens`, or, when ``huge`` > 0, a
    single token of ``huge`` bytes, or, when ``lines`` > 0, a single short
    token (:data:`LINES_TOKEN`) whose event is about ``lines`` bytes of short
    ``data:`` lines (see :func:`_many_lines_event`). ``first_delay_ms`` is a pause after the
    headers and preamble, before the first token; ``token_delay_ms`` a pause
    before every token. ``barrier`` > 0 holds every stream after its first
    token until the client, once it holds a first token from each of its
    ``barrier`` streams, posts ``/_release`` for their ``nonce`` (so that
    they are all open at once), or ``barrier_timeout_s`` passes.
    Without delays the server writes the pre-rendered body in
    ``write_size`` slices: a fast upstream, so that the client is what
    is measured.
    """

    tokens: int = 0
    huge: int = 0
    lines: int = 0
    first_delay_ms: float = 0.0
    token_delay_ms: float = 0.0
    barrier: int = 0
    barrier_timeout_s: float = 60.0
    nonce: str = ""
    write_size: int = 16384

    def model(self) -> str:
        """The spec as a model name: ``bench:tokens=20000,huge=0,...``."""
        fields = (
            f"tokens={self.tokens}",
            f"huge={self.huge}",
            f"lines={self.lines}",
            f"first={self.first_delay_ms:g}",
            f"delay={self.token_delay_ms:g}",
            f"barrier={self.barrier}",
            f"btimeout={self.barrier_timeout_s:g}",
            f"nonce={self.nonce}",
            f"write={self.write_size}",
        )
        return "bench:" + ",".join(fields)

    @classmethod
    def from_model(cls, model: str) -> Spec:
        if not model.startswith("bench:"):
            raise ValueError(f"not a benchmark model name: {model!r}")
        values = dict(part.split("=", 1) for part in model[len("bench:") :].split(","))
        return cls(
            tokens=int(values["tokens"]),
            huge=int(values["huge"]),
            lines=int(values["lines"]),
            first_delay_ms=float(values["first"]),
            token_delay_ms=float(values["delay"]),
            barrier=int(values["barrier"]),
            barrier_timeout_s=float(values["btimeout"]),
            nonce=values["nonce"],
            write_size=int(values["write"]),
        )

    @property
    def content_key(self) -> tuple[int, int, int]:
        """What determines the bytes (delays and barriers only change the pacing)."""
        return (self.tokens, self.huge, self.lines)

    @property
    def token_count(self) -> int:
        return 1 if self.huge or self.lines else self.tokens

    def with_nonce(self, nonce: str) -> Spec:
        return replace(self, nonce=nonce)

    def token_list(self) -> list[str]:
        if self.huge:
            return [huge_text(self.huge)]
        if self.lines:
            return [LINES_TOKEN]
        return make_tokens(self.tokens)


_TAG_OPEN = " [bench-stream "


def tagged_prompt(prompt: str, tag: str) -> str:
    """``prompt`` with a stream tag the server can read back (see :func:`stream_tag`).

    The tag travels in the user message's text, the one part of the
    request that every relay forwards unchanged (a gateway may rewrite the
    model name, drop unknown fields and headers, but not the prompt).
    ``tag`` must not contain ``]``.
    """
    return f"{prompt}{_TAG_OPEN}{tag}]"


def stream_tag(payload: object) -> str | None:
    """The tag of an OpenAI Chat Completions request body made with :func:`tagged_prompt`, or None."""
    try:
        content = payload["messages"][-1]["content"]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        return None
    if not isinstance(content, str) or not content.endswith("]"):
        return None
    start = content.rfind(_TAG_OPEN)
    return content[start + len(_TAG_OPEN) : -1] if start >= 0 else None


def token_ends(spec: Spec) -> list[int]:
    """Where each token of ``spec``'s text ends, in characters from the start of the text."""
    ends: list[int] = []
    pos = 0
    for token in spec.token_list():
        pos += len(token)
        ends.append(pos)
    return ends


def text_digest(text: str) -> str:
    """How a client reports the text it read: SHA-256 of its UTF-8 bytes and its length."""
    return f"{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()}:{len(text)}"


def expected(spec: Spec) -> str:
    """The digest every client must report for ``spec``."""
    return text_digest("".join(spec.token_list()))


@dataclass(frozen=True, slots=True)
class Rendered:
    """A pre-rendered body. ``ends[i]`` is where token event ``i`` ends;
    ``head_end`` where the preamble (before the first token) ends."""

    body: bytes
    head_end: int
    ends: list[int]
    content_type: str = "text/event-stream; charset=utf-8"


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _pad(i: int) -> str:
    # OpenAI's "obfuscation" field: a few random characters that vary the
    # chunk size. Deterministic here.
    return "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[i % 53 : i % 53 + 2 + i % 9]


def render(provider: Provider, spec: Spec) -> Rendered:
    """The whole body for ``spec``, with the offsets the pacing needs."""
    tokens = spec.token_list()
    if provider == "openai":
        return _render_openai(tokens, spec.lines)
    if spec.lines:
        raise ValueError("many-line events are rendered for the OpenAI format only")
    return _render_anthropic(tokens)


def _assemble(head: str, token_events: list[str], tail: str) -> Rendered:
    head_b = head.encode()
    parts = [head_b]
    ends: list[int] = []
    pos = len(head_b)
    for event in token_events:
        b = event.encode("utf-8", "surrogatepass")
        parts.append(b)
        pos += len(b)
        ends.append(pos)
    parts.append(tail.encode())
    return Rendered(body=b"".join(parts), head_end=len(head_b), ends=ends)


def _many_lines_event(first: str, nbytes: int) -> str:
    """One event of about ``nbytes`` bytes in 22-byte ``data:`` lines.

    ``first`` is the chunk's JSON up to its last ``}``; a ``"pad"`` array of
    12-character strings, one per line, closes it. Joined with LF (as an SSE
    client must), the lines are valid JSON (LF is JSON whitespace), and the
    text is the chunk's ``content`` as usual: only the framing is unusual.
    Servers that write pretty-printed JSON one line per ``data:`` field send
    events of this shape.
    """
    pad = huge_text(max(1, nbytes // 22) * 12)
    pieces = [pad[i : i + 12] for i in range(0, len(pad), 12)]
    lines = [f'{first},"pad":[', *(f'"{p}",' for p in pieces[:-1]), f'"{pieces[-1]}"]}}']
    return "".join(f"data: {line}\n" for line in lines) + "\n"


def _render_openai(tokens: list[str], lines: int = 0) -> Rendered:
    common = (
        f'"id":"chatcmpl-BenchR3nd3r3dStr3amXyZ01","object":"chat.completion.chunk","created":{_CREATED},'
        f'"model":"{OPENAI_MODEL}","service_tier":"default","system_fingerprint":"fp_560af6e559"'
    )
    head = (
        f"data: {{{common},"
        '"choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},'
        '"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"Qx"}\n\n'
    )
    prefix = f'data: {{{common},"choices":[{{"index":0,"delta":{{"content":'
    events = [
        f'{prefix}{_dumps(tok)}}},"logprobs":null,"finish_reason":null}}],"usage":null,"obfuscation":"{_pad(i)}"}}\n\n'
        for i, tok in enumerate(tokens)
    ]
    if lines:
        first = f'{prefix[len("data: ") :]}{_dumps(tokens[0])}}},"logprobs":null,"finish_reason":null}}],"usage":null'
        events = [_many_lines_event(first, lines)]
    usage = {
        "prompt_tokens": 24,
        "completion_tokens": len(tokens),
        "total_tokens": 24 + len(tokens),
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    tail = (
        f'data: {{{common},"choices":[{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":"stop"}}],'
        '"usage":null,"obfuscation":"k9"}\n\n'
        f'data: {{{common},"choices":[],"usage":{_dumps(usage)},"obfuscation":"Zq1"}}\n\n'
        "data: [DONE]\n\n"
    )
    return _assemble(head, events, tail)


def _sse(event: str, payload: str) -> str:
    return f"event: {event}\ndata: {payload}\n\n"


def _render_anthropic(tokens: list[str]) -> Rendered:
    start_usage = {
        "input_tokens": 24,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 1,
        "service_tier": "standard",
    }
    message: dict[str, object] = {
        "model": ANTHROPIC_MODEL,
        "id": "msg_01BenchR3nd3r3dStr3amXyZ",
        "type": "message",
        "role": "assistant",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    head = (
        _sse("message_start", _dumps({"type": "message_start", "message": message}))
        + _sse(
            "content_block_start",
            '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
        )
        + _sse("ping", '{"type": "ping"}')
    )
    events = [
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        f'"delta":{{"type":"text_delta","text":{_dumps(tok)}}}}}\n\n'
        for tok in tokens
    ]
    end_usage = {
        "input_tokens": 24,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": len(tokens),
    }
    tail = (
        _sse("content_block_stop", '{"type":"content_block_stop","index":0}')
        + _sse(
            "message_delta",
            '{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},'
            f'"usage":{_dumps(end_usage)}}}',
        )
        + _sse("message_stop", '{"type":"message_stop"}')
    )
    return _assemble(head, events, tail)
