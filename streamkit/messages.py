"""Chat messages: what goes into a chat model and what comes out.

They print and serialise as LangChain users know them
(``AIMessage(content='...', tool_calls=[...])``).

``HumanMessage``, ``SystemMessage`` and ``ToolMessage`` content is a
``str`` or a list of content parts (:data:`MessageContent`): text, images
and documents in the shapes LangChain users write; see
:mod:`streamkit.content` for the accepted shapes and how each provider
receives them. ``AIMessage.content`` is always the answer text.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AIMessage",
    "BaseMessage",
    "ContentPart",
    "HumanMessage",
    "Message",
    "MessageContent",
    "SystemMessage",
    "ToolCall",
    "ToolMessage",
]

#: One content part: a dict with a ``type`` (``{"type": "text", "text": ...}``,
#: ``{"type": "image_url", ...}``, ...) or a bare ``str`` (a text part).
ContentPart: TypeAlias = str | dict[str, Any]
#: What a message's ``content`` may be: text, or a list of content parts.
MessageContent: TypeAlias = str | list[ContentPart]


class ToolCall(BaseModel):
    """A fully assembled tool call: ``args`` is the parsed JSON object.

    If the stream stopped before the arguments were complete (for example
    at ``max_tokens``), ``args`` is ``{}``, ``complete`` is ``False`` and the
    raw text received is kept in ``raw_args``.
    """

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    complete: bool = True
    raw_args: str | None = None
    #: Fields the provider attached to the call beyond the documented ones
    #: (e.g. ``extra_content`` with a Gemini thought signature through the
    #: OpenAI-compatible endpoint); sent back verbatim with the call.
    extras: dict[str, Any] | None = None
    type: Literal["tool_call"] = "tool_call"


class BaseMessage(BaseModel):
    """Common shape of every message.

    ``content`` is a ``str`` or a list of content parts (``AIMessage``: a
    ``str`` only). It may be given positionally: ``HumanMessage("hi")``,
    ``HumanMessage([{"type": "text", "text": "hi"}])``.
    """

    model_config = ConfigDict(extra="forbid")

    content: MessageContent
    additional_kwargs: dict[str, Any] = Field(default_factory=dict)
    response_metadata: dict[str, Any] = Field(default_factory=dict)
    name: str | None = None
    id: str | None = None

    def __init__(self, content: MessageContent | None = None, /, **data: Any) -> None:
        # Positional content, as in LangChain: HumanMessage("hi").
        if content is not None:
            data["content"] = content
        super().__init__(**data)

    @property
    def text(self) -> str:
        """The message's text: ``content``, or its text parts joined (images, documents left out)."""
        content = self.content
        if isinstance(content, str):
            return content
        return "".join(
            part if isinstance(part, str) else str(part.get("text") or "")
            for part in content
            if isinstance(part, str) or (part.get("type") == "text")
        )


class HumanMessage(BaseMessage):
    """A message from the user."""

    type: Literal["human"] = "human"

    def __init__(self, content: MessageContent | None = None, /, **data: Any) -> None:
        # Declared on each class: type checkers give a pydantic model without
        # its own __init__ a keyword-only one, and HumanMessage("hi") must check.
        super().__init__(content, **data)


class SystemMessage(BaseMessage):
    """Instructions for the model."""

    type: Literal["system"] = "system"

    def __init__(self, content: MessageContent | None = None, /, **data: Any) -> None:
        super().__init__(content, **data)


class AIMessage(BaseMessage):
    """The model's answer.

    * ``content``: the answer text (never thinking, refusals or tool input);
    * ``tool_calls``: the calls the client must execute, complete and in
      order (a server tool the provider already ran is not one);
    * ``content_blocks``: the provider's content blocks in wire order, in
      the wire form of ``response_metadata["model_provider"]`` (today:
      Anthropic), so that sending this message back reproduces them
      exactly (signed and redacted thinking, server tool use and results);
      ``None`` for providers that send no blocks;
    * ``usage_metadata``: LangChain's shape: ``input_tokens`` (all input,
      cached included), ``output_tokens``, ``total_tokens``, and where known
      ``input_token_details`` (``cache_read``, ``cache_creation``) and
      ``output_token_details`` (``reasoning``).
    """

    content: str = ""
    type: Literal["ai"] = "ai"
    tool_calls: list[ToolCall] = Field(default_factory=list)
    content_blocks: list[dict[str, Any]] | None = None
    usage_metadata: dict[str, Any] | None = None

    def __init__(self, content: str | None = None, /, **data: Any) -> None:
        # The answer is text: AIMessage("..."), never a list of parts.
        super().__init__(content, **data)


class ToolMessage(BaseMessage):
    """The result of a tool call, sent back to the model."""

    type: Literal["tool"] = "tool"
    tool_call_id: str

    def __init__(self, content: MessageContent | None = None, /, **data: Any) -> None:
        super().__init__(content, **data)


Message: TypeAlias = HumanMessage | SystemMessage | AIMessage | ToolMessage
