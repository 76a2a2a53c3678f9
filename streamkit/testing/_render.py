"""Render scripted answers in each provider's wire format (the mock's side).

Each ``*_events`` function yields ``(bytes, is_token)`` pairs: one SSE
event each, flagged when it carries a token (the mock's per-token delay
applies before those). ``*_full`` functions build the non-streaming JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Answer",
    "anthropic_events",
    "anthropic_full",
    "openai_events",
    "openai_full",
    "split_tokens",
    "sse",
]


@dataclass
class Answer:
    """What to say, already split: per-choice tokens, tool calls, thinking."""

    model: str
    token_lists: list[list[str]]
    finish_reason: str
    usage: dict[str, int]
    tool_calls: list[dict[str, Any]]
    thinking: list[str]
    #: OpenAI ``refusal`` pieces (structured outputs), streamed instead of content.
    refusal: list[str] = field(default_factory=list)
    #: Anthropic content blocks in full form (see ``MockResponse.blocks``).
    blocks: list[dict[str, Any]] | None = None
    #: OpenAI chat: content (and thinking) as lists of typed parts (Mistral).
    content_parts: bool = False
    #: OpenAI chat: url_citation annotations sent after the text.
    annotations: list[dict[str, Any]] = field(default_factory=list)


def split_tokens(text: str) -> list[str]:
    """Split text into word-sized tokens the way models stream them (" word")."""
    tokens: list[str] = []
    current = ""
    for ch in text:
        if ch in " \n" and current.strip():
            tokens.append(current)
            current = ""
        current += ch
    if current:
        tokens.append(current)
    return tokens


def sse(obj: Any, event: str | None = None) -> bytes:
    """One SSE event with a JSON payload."""
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _split_args(arguments: str, pieces: int = 3) -> list[str]:
    step = max(1, len(arguments) // pieces)
    return [arguments[i : i + step] for i in range(0, len(arguments), step)] or [""]


def _fragments(call: dict[str, Any]) -> list[str]:
    """A call's argument fragments: ``call["fragments"]`` as given, else its ``args`` in three pieces."""
    fragments = call.get("fragments")
    if fragments is not None:
        return list(fragments)
    return _split_args(json.dumps(call.get("args", {})))


def _arguments(call: dict[str, Any]) -> str:
    return "".join(_fragments(call))


def _input(call: dict[str, Any]) -> Any:
    """A call's arguments as an object, for a whole (non-streamed) response."""
    if "args" in call or "fragments" not in call:
        return call.get("args", {})
    try:
        return json.loads(_arguments(call))
    except ValueError:
        return {}


def openai_events(chat: bool, answer: Answer, include_usage: bool) -> Iterator[tuple[bytes, bool]]:
    """A Chat Completions or legacy Completions stream."""
    created = int(time.time())
    base: dict[str, Any]
    if chat:
        base = {
            "id": "chatcmpl-mock",
            "object": "chat.completion.chunk",
            "created": created,
            "model": answer.model,
        }
        for index in range(len(answer.token_lists)):
            first = {"index": index, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            yield sse({**base, "choices": [first]}), False
        for piece in answer.thinking:
            if answer.content_parts:  # Mistral: a thinking part holding text parts
                part = {"type": "thinking", "thinking": [{"type": "text", "text": piece}]}
                delta: dict[str, Any] = {"content": [part]}
            else:
                delta = {"reasoning_content": piece}
            yield sse({**base, "choices": [{"index": 0, "delta": delta}]}), True
        for piece in answer.refusal:
            yield sse({**base, "choices": [{"index": 0, "delta": {"refusal": piece}}]}), True
    else:
        base = {"id": "cmpl-mock", "object": "text_completion", "created": created, "model": answer.model}
    longest = max((len(t) for t in answer.token_lists), default=0)
    for position in range(longest):
        for index, tokens in enumerate(answer.token_lists):
            if position >= len(tokens):
                continue
            token = tokens[position]
            if chat:
                content: Any = [{"type": "text", "text": token}] if answer.content_parts else token
                choice: dict[str, Any] = {
                    "index": index,
                    "delta": {"content": content},
                    "logprobs": None,
                    "finish_reason": None,
                }
            else:
                choice = {"text": token, "index": index, "logprobs": None, "finish_reason": None}
            yield sse({**base, "choices": [choice]}), True
    if chat and answer.annotations:
        yield sse({**base, "choices": [{"index": 0, "delta": {"annotations": answer.annotations}}]}), False
    if chat:
        for call_index, call in enumerate(answer.tool_calls):
            head = {
                "index": call_index,
                "id": call.get("id") or f"call_mock_{call_index}",
                "type": "function",
                "function": {"name": call["name"], "arguments": ""},
            }
            yield sse({**base, "choices": [{"index": 0, "delta": {"tool_calls": [head]}}]}), True
            for fragment in _fragments(call):
                delta = {"tool_calls": [{"index": call_index, "function": {"arguments": fragment}}]}
                yield sse({**base, "choices": [{"index": 0, "delta": delta}]}), True
    for index in range(len(answer.token_lists)):
        if chat:
            choice = {"index": index, "delta": {}, "logprobs": None, "finish_reason": answer.finish_reason}
        else:
            choice = {"text": "", "index": index, "logprobs": None, "finish_reason": answer.finish_reason}
        yield sse({**base, "choices": [choice]}), False
    if include_usage:
        yield sse({**base, "choices": [], "usage": answer.usage}), False
    yield b"data: [DONE]\n\n", False


def openai_full(chat: bool, answer: Answer) -> dict[str, Any]:
    """A non-streaming Chat Completions or Completions response."""
    choices: list[dict[str, Any]] = []
    for index, tokens in enumerate(answer.token_lists):
        text = "".join(tokens)
        if chat:
            message: dict[str, Any] = {"role": "assistant", "content": text or None}
            if answer.thinking and index == 0:
                message["reasoning_content"] = "".join(answer.thinking)
            if answer.refusal and index == 0:
                message["refusal"] = "".join(answer.refusal)
            if answer.annotations and index == 0:
                message["annotations"] = answer.annotations
            if answer.tool_calls and index == 0:
                message["tool_calls"] = [
                    {
                        "id": call.get("id") or f"call_mock_{i}",
                        "type": "function",
                        "function": {"name": call["name"], "arguments": _arguments(call)},
                    }
                    for i, call in enumerate(answer.tool_calls)
                ]
            choices.append(
                {"index": index, "message": message, "logprobs": None, "finish_reason": answer.finish_reason}
            )
        else:
            choices.append(
                {"text": text, "index": index, "logprobs": None, "finish_reason": answer.finish_reason}
            )
    return {
        "id": "chatcmpl-mock" if chat else "cmpl-mock",
        "object": "chat.completion" if chat else "text_completion",
        "created": int(time.time()),
        "model": answer.model,
        "choices": choices,
        "usage": answer.usage,
    }


def _anthropic_usage(answer: Answer) -> tuple[dict[str, int], int]:
    return {"input_tokens": answer.usage["prompt_tokens"], "output_tokens": 1}, answer.usage[
        "completion_tokens"
    ]


def _anthropic_block(
    index: int, block: dict[str, Any], deltas: list[tuple[dict[str, Any], bool]]
) -> Iterator[tuple[bytes, bool]]:
    """One content block: its start, its deltas (flagged when they carry a token), its stop."""
    yield (
        sse({"type": "content_block_start", "index": index, "content_block": block}, "content_block_start"),
        False,
    )
    for delta, is_token in deltas:
        yield (
            sse({"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta"),
            is_token,
        )
    yield sse({"type": "content_block_stop", "index": index}, "content_block_stop"), False


def anthropic_events(answer: Answer) -> Iterator[tuple[bytes, bool]]:
    """A Messages API stream, with the event names and a ping as the real API sends."""
    start_usage, output_tokens = _anthropic_usage(answer)
    message: dict[str, Any] = {
        "id": "msg_mock",
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    yield sse({"type": "message_start", "message": message}, "message_start"), False
    yield sse({"type": "ping"}, "ping"), False
    blocks: list[tuple[dict[str, Any], list[tuple[dict[str, Any], bool]]]] = []
    if answer.blocks is not None:
        blocks = [_streamed_block(block) for block in answer.blocks]
    elif answer.thinking:
        deltas = [({"type": "thinking_delta", "thinking": piece}, True) for piece in answer.thinking]
        deltas.append(({"type": "signature_delta", "signature": "mock-signature"}, False))
        blocks.append(({"type": "thinking", "thinking": ""}, deltas))
    tokens = answer.token_lists[0] if answer.token_lists and answer.blocks is None else []
    if tokens:
        blocks.append(
            ({"type": "text", "text": ""}, [({"type": "text_delta", "text": t}, True) for t in tokens])
        )
    for i, call in enumerate(answer.tool_calls if answer.blocks is None else []):
        block = {
            "type": "tool_use",
            "id": call.get("id") or f"toolu_mock_{i}",
            "name": call["name"],
            "input": {},
        }
        # As the real API does: the first fragment is empty, the JSON follows in pieces.
        fragments = ["", *_fragments(call)]
        blocks.append((block, [({"type": "input_json_delta", "partial_json": f}, True) for f in fragments]))
    for index, (block, deltas) in enumerate(blocks):
        yield from _anthropic_block(index, block, deltas)
    stop: dict[str, Any] = {"stop_reason": answer.finish_reason, "stop_sequence": None}
    usage = {"output_tokens": output_tokens}
    yield sse({"type": "message_delta", "delta": stop, "usage": usage}, "message_delta"), False
    yield sse({"type": "message_stop"}, "message_stop"), False


def _streamed_block(block: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bool]]]:
    """A full content block as the API streams it: (the start block, its deltas)."""
    kind = block.get("type")
    if kind == "text":
        deltas = [({"type": "citations_delta", "citation": c}, False) for c in block.get("citations") or ()]
        deltas += [({"type": "text_delta", "text": t}, True) for t in split_tokens(block.get("text", ""))]
        start: dict[str, Any] = {"type": "text", "text": ""}
        if "citations" in block:
            start["citations"] = []
        return start, deltas
    if kind == "thinking":
        deltas = [
            ({"type": "thinking_delta", "thinking": t}, True) for t in split_tokens(block.get("thinking", ""))
        ]
        if block.get("signature"):
            deltas.append(({"type": "signature_delta", "signature": block["signature"]}, False))
        return {"type": "thinking", "thinking": ""}, deltas
    if kind in ("tool_use", "server_tool_use"):
        pieces = ["", *_split_args(json.dumps(block.get("input", {})))]
        return {**block, "input": {}}, [
            ({"type": "input_json_delta", "partial_json": p}, True) for p in pieces
        ]
    return dict(block), []  # redacted_thinking, server-tool results: whole at the start


def anthropic_full(answer: Answer) -> dict[str, Any]:
    """A non-streaming Messages API response."""
    content: list[dict[str, Any]] = []
    if answer.blocks is not None:
        content = [dict(block) for block in answer.blocks]
    elif answer.thinking:
        content.append(
            {"type": "thinking", "thinking": "".join(answer.thinking), "signature": "mock-signature"}
        )
    text = "".join(answer.token_lists[0]) if answer.token_lists and answer.blocks is None else ""
    if text:
        content.append({"type": "text", "text": text})
    for i, call in enumerate(answer.tool_calls if answer.blocks is None else []):
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_mock_{i}",
                "name": call["name"],
                "input": _input(call),
            }
        )
    return {
        "id": "msg_mock",
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": content,
        "stop_reason": answer.finish_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": answer.usage["prompt_tokens"],
            "output_tokens": answer.usage["completion_tokens"],
        },
    }
