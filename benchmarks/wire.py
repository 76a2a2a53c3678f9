"""What the benchmark server sends, and what every client must read back.

Shared by the server process, the client processes and the harness, so that
all three agree on the bytes and on the expected text without talking to
each other.

A stream is described by a :class:`Spec`; its compact form travels as the
request's ``model`` name (every client can set that per call, and a real
API reads it too), so one client object serves every spec and nothing else
in the URL changes: streamkit's ``base_url`` for OpenAI (chat and
Responses) is ``{root}/v1``, for Anthropic ``{root}`` (path
``/v1/messages``), for Gemini ``{root}`` (the model is in the path:
``/v1beta/models/{model}:streamGenerateContent?alt=sse``) and for Ollama
``{root}`` (path ``/api/chat``), as with the real APIs.

The bodies imitate what the real APIs send today: OpenAI chunks carry
``id``, ``created``, ``model``, ``service_tier``, ``system_fingerprint``,
``usage: null`` and an ``obfuscation`` pad, and the stream ends with a
finish chunk, a usage chunk (``choices: []``) and ``[DONE]``. Anthropic's
carry the event names, a ``ping``, one ``content_block_delta`` per token,
``message_delta`` with the stop reason and cumulative usage, and
``message_stop``. The OpenAI Responses API's, Gemini's and Ollama's are
described at :func:`_render_openai_responses`, :func:`_render_gemini` and
:func:`_render_ollama`. Every format carries the same tokens, one token per
event (or NDJSON line), so :func:`expected` is one digest for all of them.
The text mixes ASCII words, punctuation, JSON escapes and multi-byte UTF-8.
"""

from __future__ import annotations

import datetime
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

Provider = Literal["openai", "anthropic", "openai-responses", "gemini", "ollama"]
PROVIDERS: tuple[Provider, ...] = ("openai", "anthropic", "openai-responses", "gemini", "ollama")

OPENAI_MODEL = "gpt-4o-mini-2024-07-18"
#: The text of a many-line event (``Spec.lines``): its bulk is padding.
LINES_TOKEN = " one event of many short data: lines"
ANTHROPIC_MODEL = "claude-sonnet-4-5-20250929"
GEMINI_MODEL = "gemini-2.5-flash"
OLLAMA_MODEL = "llama3.2"
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
    """The whole body for ``spec``, with the offsets the pacing needs.

    Raises ValueError for a many-line event (``spec.lines``) in any format
    but OpenAI's, and for an unknown provider.
    """
    tokens = spec.token_list()
    if provider == "openai":
        return _render_openai(tokens, spec.lines)
    if spec.lines:
        raise ValueError("many-line events are rendered for the OpenAI format only")
    renderers = {
        "anthropic": _render_anthropic,
        "openai-responses": _render_openai_responses,
        "gemini": _render_gemini,
        "ollama": _render_ollama,
    }
    if provider not in renderers:
        raise ValueError(f"unknown provider {provider!r}")
    return renderers[provider](tokens)


def _assemble(
    head: str, token_events: list[str], tail: str, content_type: str = "text/event-stream; charset=utf-8"
) -> Rendered:
    head_b = head.encode()
    parts = [head_b]
    ends: list[int] = []
    pos = len(head_b)
    for event in token_events:
        b = event.encode("utf-8", "surrogatepass")
        parts.append(b)
        pos += len(b)
        ends.append(pos)
    parts.append(tail.encode("utf-8", "surrogatepass"))
    return Rendered(body=b"".join(parts), head_end=len(head_b), ends=ends, content_type=content_type)


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


# -- OpenAI Responses API -------------------------------------------------------------

_RESPONSE_ID = "resp_0b3nch5e1f0c6b2a0169164ffd2f5c81909512154db167b08c"
_RESPONSE_ITEM_ID = "msg_0b3nch5e1f0c6b2a0169164ffde5c88190b69d413c44e0749b"


def _response_object(status: str, output: list[object], usage: object) -> dict[str, object]:
    """The ``response`` object of ``response.created`` / ``response.completed``, in the API's key order."""
    return {
        "id": _RESPONSE_ID,
        "object": "response",
        "created_at": _CREATED,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "max_tool_calls": None,
        "model": OPENAI_MODEL,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "prompt_cache_key": None,
        "prompt_cache_retention": None,
        "reasoning": {"effort": None, "summary": None},
        "safety_identifier": None,
        "service_tier": "auto" if status == "in_progress" else "default",
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_logprobs": 0,
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


def _obfuscation(i: int, token: str) -> str:
    # The Responses API pads each delta event with random characters so that
    # delta + obfuscation is about 16 characters. Deterministic here.
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    size = max(2, 16 - len(token))
    start = (i * 11) % (len(alphabet) - 16)
    return alphabet[start : start + size]


def _render_openai_responses(tokens: list[str]) -> Rendered:
    """``POST /v1/responses`` with ``stream: true``: named SSE events, as the API sends them.

    Shapes from the recorded stream ``tests/fixtures/wire/openai_responses/text.sse``
    (and https://platform.openai.com/docs/api-reference/responses-streaming):
    ``response.created``, ``response.in_progress``, ``response.output_item.added``,
    ``response.content_part.added`` (the preamble), one ``response.output_text.delta``
    per token (``sequence_number``, ``item_id``, ``logprobs: []``, an ``obfuscation``
    pad), then ``response.output_text.done``, ``response.content_part.done`` and
    ``response.output_item.done`` (each with the whole text) and ``response.completed``
    (the whole response again, with ``usage``). No ``[DONE]``.
    """
    item_ref = f'"item_id":"{_RESPONSE_ITEM_ID}","output_index":0,"content_index":0'
    in_progress = _response_object("in_progress", [], None)
    head = (
        _sse(
            "response.created",
            _dumps({"type": "response.created", "sequence_number": 0, "response": in_progress}),
        )
        + _sse(
            "response.in_progress",
            _dumps({"type": "response.in_progress", "sequence_number": 1, "response": in_progress}),
        )
        + _sse(
            "response.output_item.added",
            '{"type":"response.output_item.added","sequence_number":2,"output_index":0,'
            f'"item":{{"id":"{_RESPONSE_ITEM_ID}","type":"message","status":"in_progress",'
            '"content":[],"role":"assistant"}}',
        )
        + _sse(
            "response.content_part.added",
            f'{{"type":"response.content_part.added","sequence_number":3,{item_ref},'
            '"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}}',
        )
    )
    events = [
        f'event: response.output_text.delta\ndata: {{"type":"response.output_text.delta",'
        f'"sequence_number":{4 + i},{item_ref},"delta":{_dumps(tok)},"logprobs":[],'
        f'"obfuscation":"{_obfuscation(i, tok)}"}}\n\n'
        for i, tok in enumerate(tokens)
    ]
    seq = 4 + len(tokens)
    text = _dumps("".join(tokens))
    part = f'{{"type":"output_text","annotations":[],"logprobs":[],"text":{text}}}'
    item = (
        f'{{"id":"{_RESPONSE_ITEM_ID}","type":"message","status":"completed","content":[{part}],'
        '"role":"assistant"}'
    )
    usage = {
        "input_tokens": 24,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": len(tokens),
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 24 + len(tokens),
    }
    completed = _dumps(_response_object("completed", ["__ITEM__"], usage)).replace('"__ITEM__"', item)
    tail = (
        _sse(
            "response.output_text.done",
            f'{{"type":"response.output_text.done","sequence_number":{seq},{item_ref},'
            f'"text":{text},"logprobs":[]}}',
        )
        + _sse(
            "response.content_part.done",
            f'{{"type":"response.content_part.done","sequence_number":{seq + 1},{item_ref},"part":{part}}}',
        )
        + _sse(
            "response.output_item.done",
            f'{{"type":"response.output_item.done","sequence_number":{seq + 2},"output_index":0,'
            f'"item":{item}}}',
        )
        + _sse(
            "response.completed",
            f'{{"type":"response.completed","sequence_number":{seq + 3},"response":{completed}}}',
        )
    )
    return _assemble(head, events, tail)


# -- Gemini streamGenerateContent ---------------------------------------------------------

_GEMINI_RESPONSE_ID = "BnchR3nd3r3dStr3amXyZ0Ag"
_GEMINI_THOUGHTS = 45


def _gemini_dumps(obj: object) -> str:
    # Google's serializer: a space after each colon, none after commas, UTF-8 as is
    # (the live recording in tests/fixtures/wire/gemini/thinking_text.sse).
    return json.dumps(obj, ensure_ascii=False, separators=(",", ": "))


def _render_gemini(tokens: list[str]) -> Rendered:
    """``streamGenerateContent?alt=sse``: one ``data:`` event per ``GenerateContentResponse`` chunk.

    As the live API sends them (tests/fixtures/wire/gemini/, https://ai.google.dev/api/generate-content):
    events separated by ``\r\n\r\n``; each chunk carries ``candidates[0].content.parts``
    (one text part, ``role: "model"``, ``index: 0``), the cumulative ``usageMetadata``
    (``promptTokenCount``, ``candidatesTokenCount``, ``totalTokenCount``,
    ``promptTokensDetails``, ``thoughtsTokenCount``: gemini-2.5-flash thinks by default),
    ``modelVersion`` and ``responseId``. No preamble and no end marker: the last
    chunk carries ``finishReason: "STOP"`` with the last token. Here one token per
    chunk (the live API often puts several in one), like the other formats.
    """
    if not tokens:
        raise ValueError("a Gemini stream needs at least one token")
    last = len(tokens) - 1
    prompt_details = [{"modality": "TEXT", "tokenCount": 24}]
    events: list[str] = []
    for i, tok in enumerate(tokens):
        candidate: dict[str, object] = {"content": {"parts": [{"text": tok}], "role": "model"}}
        if i == last:
            candidate["finishReason"] = "STOP"
        candidate["index"] = 0
        chunk = {
            "candidates": [candidate],
            "usageMetadata": {
                "promptTokenCount": 24,
                "candidatesTokenCount": i + 1,
                "totalTokenCount": 24 + i + 1 + _GEMINI_THOUGHTS,
                "promptTokensDetails": prompt_details,
                "thoughtsTokenCount": _GEMINI_THOUGHTS,
            },
            "modelVersion": GEMINI_MODEL,
            "responseId": _GEMINI_RESPONSE_ID,
        }
        events.append(f"data: {_gemini_dumps(chunk)}\r\n\r\n")
    return _assemble("", events, "")


# -- Ollama /api/chat ---------------------------------------------------------------------------

_OLLAMA_START_NS = 1_763_629_267_123_456_789


def _rfc3339nano(ns: int) -> str:
    """Go's ``time.RFC3339Nano`` in UTC (trailing zeros of the fraction dropped), as Ollama writes ``created_at``."""
    seconds, frac = divmod(ns, 1_000_000_000)
    stamp = datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{frac:09d}".rstrip("0")
    return f"{stamp}.{fraction}Z" if fraction else f"{stamp}Z"


def _render_ollama(tokens: list[str]) -> Rendered:
    """``POST /api/chat`` streaming: NDJSON (``application/x-ndjson``), one ``ChatResponse`` per line.

    As Ollama writes them (``json.Marshal`` + ``\n``; ``api/types.go`` ``ChatResponse``;
    https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-chat-completion;
    tests/fixtures/wire/ollama/): ``model``, ``created_at`` (RFC 3339, nanoseconds),
    ``message`` (``role``, ``content``), ``done: false``; the last line has an empty
    ``content``, ``done_reason: "stop"``, ``done: true`` and the metrics
    (``total_duration`` ... ``eval_duration``, nanoseconds; ``eval_count`` the output tokens).
    No preamble.
    """
    step = 9_381_517  # ns between tokens: about 107 tokens/s
    prefix = f'{{"model":"{OLLAMA_MODEL}","created_at":"'
    events = [
        f'{prefix}{_rfc3339nano(_OLLAMA_START_NS + i * step)}","message":{{"role":"assistant",'
        f'"content":{_dumps(tok)}}},"done":false}}\n'
        for i, tok in enumerate(tokens)
    ]
    n = len(tokens)
    eval_duration = n * step
    prompt_eval_duration = 41_652_000
    load_duration = 28_430_417
    tail = (
        f'{prefix}{_rfc3339nano(_OLLAMA_START_NS + n * step)}","message":{{"role":"assistant","content":""}},'
        f'"done_reason":"stop","done":true,"total_duration":{load_duration + prompt_eval_duration + eval_duration},'
        f'"load_duration":{load_duration},"prompt_eval_count":24,"prompt_eval_duration":{prompt_eval_duration},'
        f'"eval_count":{n},"eval_duration":{eval_duration}}}\n'
    )
    return _assemble("", events, tail, "application/x-ndjson")
