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

from pydantic_core import from_json

__all__ = [
    "Citation",
    "ContentBlock",
    "Event",
    "Finish",
    "FinishReason",
    "MessageStart",
    "RefusalDelta",
    "ServerToolResult",
    "ServerToolUse",
    "TextDelta",
    "ThinkingDelta",
    "ToolCallDelta",
    "ToolCallStart",
    "Usage",
]


@dataclass(slots=True)
class MessageStart:
    """The response's metadata, as the server reported it (once per stream).

    ``model`` is the model that answered (``gpt-4o-mini-2024-07-18``; may
    differ from the one requested), ``id`` the response's id
    (``chatcmpl-...``, ``msg_...``); ``None`` when not sent. ``extra`` holds
    OpenAI's ``system_fingerprint`` and ``created`` (Unix seconds) when
    present (https://platform.openai.com/docs/api-reference/chat-streaming).
    Anthropic's come from its ``message_start`` event
    (https://docs.anthropic.com/en/docs/build-with-claude/streaming).
    """

    model: str | None
    id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    type: Literal["message_start"] = "message_start"


@dataclass(slots=True)
class TextDelta:
    """A piece of answer text: what ``on_llm_new_token`` and ``stream()`` see.

    ``text`` is a non-empty ``str`` of any length (a byte's worth to a
    sentence: providers chunk as they like); ``index`` the choice. From
    OpenAI's ``choices[].delta.content`` (``choices[].text`` for
    Completions), Anthropic's ``text_delta``. ``logprobs`` holds the
    provider's per-token log-probability entries for this delta (OpenAI's
    ``choices[].logprobs.content`` list), when they were requested.
    """

    text: str
    index: int = 0
    logprobs: Any = None
    type: Literal["text"] = "text"


@dataclass(slots=True)
class RefusalDelta:
    """A piece of a refusal; never answer text.

    OpenAI's ``choices[].delta.refusal`` under structured outputs
    (https://platform.openai.com/docs/guides/structured-outputs, "Refusals");
    the whole refusal ends up in ``generation_info["refusal"]``.
    """

    text: str
    index: int = 0
    type: Literal["refusal"] = "refusal"


@dataclass(slots=True)
class ThinkingDelta:
    """A piece of reasoning/thinking text; never mixed into the answer.

    From Anthropic's ``thinking_delta``
    (https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking)
    and the ``reasoning_content`` / ``reasoning`` deltas of OpenAI-compatible
    servers (vLLM, DeepSeek, Ollama). ``signature`` is set (and ``text``
    empty) when the provider sends the block's signature (Anthropic's
    ``signature_delta``), which must go back with the block unchanged.
    """

    text: str
    index: int = 0
    signature: str | None = None
    type: Literal["thinking"] = "thinking"


@dataclass(slots=True)
class ToolCallStart:
    """A tool call begins (or a field of it arrives later: the same ``call_index`` again).

    ``call_index`` orders calls within one choice; ``id`` is the provider's
    call id and ``name`` the tool's. From OpenAI's
    ``choices[].delta.tool_calls[]`` (``index``, ``id``, ``function.name``)
    and Anthropic's ``content_block_start`` of a ``tool_use`` block
    (https://docs.anthropic.com/en/docs/build-with-claude/streaming).
    ``extras`` holds fields the server attached to the call beyond the
    documented ones (e.g. ``extra_content`` with a Gemini thought
    signature), sent back verbatim.
    """

    call_index: int
    id: str | None
    name: str
    index: int = 0
    extras: dict[str, Any] | None = None
    type: Literal["tool_call_start"] = "tool_call_start"


@dataclass(slots=True)
class ToolCallDelta:
    """A fragment of a tool call's JSON arguments (``arguments``: a ``str``, not valid JSON alone).

    OpenAI's ``function.arguments`` pieces, Anthropic's ``input_json_delta``
    ``partial_json``; ``call_index`` matches the :class:`ToolCallStart`.

    ``arguments_so_far`` is every fragment of this call up to and including
    this one, and ``parsed_arguments`` that text parsed as partial JSON
    (``{"city": "Par"}`` while ``{"city": "Par`` has arrived), so a UI can
    show a call as it grows. Both are computed only when read: the event
    keeps a reference to the call's fragments, not a copy.
    """

    call_index: int
    arguments: str
    index: int = 0
    type: Literal["tool_call_delta"] = "tool_call_delta"
    #: The call's fragments (shared, growing) and how many of them this event covers.
    _fragments: list[str] | None = field(default=None, repr=False, compare=False)
    _count: int = field(default=0, repr=False, compare=False)

    @property
    def arguments_so_far(self) -> str:
        """The call's JSON arguments received up to this fragment."""
        if self._fragments is None:
            return self.arguments
        return "".join(self._fragments[: self._count])

    @property
    def parsed_arguments(self) -> Any:
        """``arguments_so_far`` parsed as partial JSON (pydantic-core, ``allow_partial``).

        Incomplete strings are kept as far as they go. ``None`` when nothing
        parseable has arrived yet (or the text is not JSON at all).
        """
        return parse_partial_json(self.arguments_so_far)


#: Characters a JSON number or literal (true, false, null) can end with.
_SCALAR_CHARS = "0123456789.eE+-truefalsn"


def ends_in_scalar(text: str) -> bool:
    """Whether JSON text may end inside a number or a literal, rather than a string.

    A letter appended to text that ends inside a string lengthens that
    string; after a number (or ``tru``) pydantic-core's partial parser stops
    at it and the value stays the same. The parser decides: no JSON is
    parsed by hand. True when in doubt.
    """
    try:
        before = from_json(text, allow_partial="trailing-strings")
        after = from_json(text + "x", allow_partial="trailing-strings")
    except ValueError:
        return True
    return bool(before == after)


def parse_partial_json(text: str) -> Any:
    """The value JSON text so far stands for, growing only (pydantic-core's partial parser).

    Incomplete strings are kept as far as they go; a number or literal
    still arriving is left out until complete (``12`` may become ``123``,
    ``1.`` becomes ``1.25``), so each value extends the one before. ``None``
    when nothing parseable has arrived yet, or the text is not JSON.
    """
    if not text.strip():
        return None
    if text[-1] in _SCALAR_CHARS and ends_in_scalar(text):
        text = text.rstrip(_SCALAR_CHARS)
        if not text.strip():
            return None
    try:
        return from_json(text, allow_partial="trailing-strings")
    except ValueError:
        return None


@dataclass(slots=True)
class Citation:
    """A citation attached to the answer text, ``citation`` as the provider sent it.

    Anthropic's ``citations_delta`` (a ``char_location``, ``page_location``,
    ``content_block_location``, ``web_search_result_location`` or
    ``search_result_location`` object:
    https://docs.anthropic.com/en/docs/build-with-claude/citations), and
    OpenAI's ``url_citation`` annotations.
    """

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
    """Token usage so far, in tokens. Each report replaces the last one; never add them.

    From OpenAI's last chunk when ``stream_options: {"include_usage":
    true}`` is sent (https://platform.openai.com/docs/api-reference/chat/create),
    and Anthropic's ``message_start`` and ``message_delta`` ``usage``
    (cumulative: https://docs.anthropic.com/en/docs/build-with-claude/streaming).
    A count the provider did not report is ``None``.

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


#: The normalised finish reasons, the same for every provider.
FinishReason = Literal[
    "stop", "length", "tool_calls", "content_filter", "refusal", "pause_turn", "error", "other"
]
"""Why a choice ended, in one vocabulary for every provider (``Finish.normalized``).

``stop``: the model finished or hit a stop sequence (OpenAI ``stop``;
Anthropic ``end_turn``, ``stop_sequence``); ``length``: the token limit or
the context window (``length``; ``max_tokens``,
``model_context_window_exceeded``); ``tool_calls``: it wants tools run
(``tool_calls``; ``tool_use``); ``content_filter``; ``refusal`` (Anthropic's
``refusal``, or an OpenAI refusal); ``pause_turn`` (Anthropic: a server tool
paused a long turn; send the message back to continue); ``error``; ``other``:
anything else the provider sent.
"""


@dataclass(slots=True)
class Finish:
    """A choice ended.

    ``reason`` is the provider's own value (OpenAI's ``finish_reason``:
    ``stop``, ``length``, ``tool_calls``, ``content_filter``; Anthropic's
    ``stop_reason``: ``end_turn``, ``max_tokens``, ``stop_sequence``,
    ``tool_use``, ``pause_turn``, ``refusal``); ``normalized`` is one of
    :data:`FinishReason`, the same for every provider; ``stop_sequence`` is
    the stop sequence that matched, when the provider reports it
    (Anthropic's ``stop_sequence``, vLLM's ``stop_reason``).
    """

    reason: str | None
    index: int = 0
    normalized: FinishReason | None = None
    stop_sequence: str | None = None
    type: Literal["finish"] = "finish"


@dataclass(slots=True)
class ServerToolUse:
    """The provider ran a tool itself (Anthropic ``server_tool_use``: web search, code execution...).

    Not a call for the client to execute: it never appears in
    ``AIMessage.tool_calls``. ``block`` is the wire block, kept for the round trip.
    """

    id: str | None
    name: str
    input: Any
    block: dict[str, Any]
    index: int = 0
    type: Literal["server_tool_use"] = "server_tool_use"


@dataclass(slots=True)
class ServerToolResult:
    """The result of a server tool (``web_search_tool_result``, ``code_execution_tool_result``...).

    ``kind`` is the block type; ``content`` its content as sent (search
    results, possibly encrypted); ``block`` the wire block, kept for the round trip.
    """

    tool_use_id: str | None
    kind: str
    content: Any
    block: dict[str, Any]
    index: int = 0
    type: Literal["server_tool_result"] = "server_tool_result"


Event: TypeAlias = (
    MessageStart
    | TextDelta
    | RefusalDelta
    | ThinkingDelta
    | ToolCallStart
    | ToolCallDelta
    | Citation
    | ContentBlock
    | ServerToolUse
    | ServerToolResult
    | Usage
    | Finish
)
"""Every event ``stream.events()`` yields: a closed union (match on the class or on ``type``)."""
