"""The typed events every provider yields.

A provider turns wire frames into these, and nothing downstream (collector,
handlers, the web relay, users of ``stream.events()``) ever sees a wire
format. ``Event`` is a closed union: dispatch sites end in ``assert_never``
so adding a type is a type error at every site that forgot it.

They are slotted dataclasses rather than pydantic models on purpose: one is
built per token, and pydantic validation per token measured several times
slower than the rest of the per-token path (see ``benchmarks/``). Treat them
as immutable; the collector validates the *result*, once, at the end.

``index`` is the choice index (OpenAI ``n>1``); providers with one answer per
request always use 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = [
    "Citation",
    "ContentBlock",
    "Event",
    "Finish",
    "MessageStart",
    "RefusalDelta",
    "TextDelta",
    "ThinkingDelta",
    "ToolCallDelta",
    "ToolCallStart",
    "Usage",
]


@dataclass(slots=True)
class MessageStart:
    """The response's metadata, as the server reported it (once per stream)."""

    model: str | None
    id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    type: Literal["message_start"] = "message_start"


@dataclass(slots=True)
class TextDelta:
    """A piece of answer text: what ``on_llm_new_token`` and ``stream()`` see.

    ``logprobs`` holds the provider's per-token log-probability entries for
    this delta, when they were requested.
    """

    text: str
    index: int = 0
    logprobs: Any = None
    type: Literal["text"] = "text"


@dataclass(slots=True)
class RefusalDelta:
    """A piece of a refusal (OpenAI structured outputs); never answer text."""

    text: str
    index: int = 0
    type: Literal["refusal"] = "refusal"


@dataclass(slots=True)
class ThinkingDelta:
    """A piece of reasoning/thinking text; never mixed into the answer.

    ``signature`` is set (and ``text`` empty) when the provider sends the
    block's signature.
    """

    text: str
    index: int = 0
    signature: str | None = None
    type: Literal["thinking"] = "thinking"


@dataclass(slots=True)
class ToolCallStart:
    """A tool call begins: ``call_index`` orders calls within one choice."""

    call_index: int
    id: str | None
    name: str
    index: int = 0
    type: Literal["tool_call_start"] = "tool_call_start"


@dataclass(slots=True)
class ToolCallDelta:
    """A fragment of a tool call's JSON arguments."""

    call_index: int
    arguments: str
    index: int = 0
    type: Literal["tool_call_delta"] = "tool_call_delta"


@dataclass(slots=True)
class Citation:
    """A citation attached to the answer text (Anthropic ``citations_delta``)."""

    citation: dict[str, Any]
    index: int = 0
    type: Literal["citation"] = "citation"


@dataclass(slots=True)
class ContentBlock:
    """A content block boundary, in wire order (Anthropic Messages).

    ``block`` is ``None`` when a block whose content streams as other
    events begins (``kind`` ``text``, ``thinking`` or ``tool_use``: the
    deltas that follow belong to it). For a block streamkit does not
    interpret (``redacted_thinking``, ``server_tool_use``,
    ``web_search_tool_result`` and other server-tool results, types added
    later) ``block`` is the whole block exactly as the server sent it
    (``server_tool_use`` with its ``input`` assembled), emitted when the
    block is complete. The collector keeps them in order so that the
    ``AIMessage`` can be sent back unchanged; none of them is a client tool
    call or answer text.
    """

    kind: str
    block: dict[str, Any] | None = None
    index: int = 0
    type: Literal["content_block"] = "content_block"


@dataclass(slots=True)
class Usage:
    """Token usage so far. Each report replaces the last one; never add them.

    ``prompt_tokens`` means every input token, cached ones included
    (OpenAI's meaning), for every provider; ``details`` keeps the provider's
    raw counters and extras (``cache_read_input_tokens``,
    ``completion_tokens_details``, a gateway's ``cost``...).
    ``input_token_details`` / ``output_token_details`` are LangChain's
    ``usage_metadata`` breakdowns (``cache_read``, ``cache_creation``;
    ``reasoning``), when the provider reported them.
    """

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    input_token_details: dict[str, int] | None = None
    output_token_details: dict[str, int] | None = None
    type: Literal["usage"] = "usage"


@dataclass(slots=True)
class Finish:
    """A choice ended, with the provider's reason (``stop``, ``length``, ...)."""

    reason: str | None
    index: int = 0
    type: Literal["finish"] = "finish"


Event: TypeAlias = (
    MessageStart
    | TextDelta
    | RefusalDelta
    | ThinkingDelta
    | ToolCallStart
    | ToolCallDelta
    | Citation
    | ContentBlock
    | Usage
    | Finish
)
