"""Chat messages: what goes into a chat model and what comes out.

They print and serialise as LangChain users know them
(``AIMessage(content='...', tool_calls=[...])``).

``HumanMessage``, ``SystemMessage`` and ``ToolMessage`` content is a
``str`` or a list of content parts (:data:`MessageContent`): text, images
and documents in the shapes LangChain users write; see
:mod:`streamkit._content` for the accepted shapes and how each provider
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

ContentPart: TypeAlias = str | dict[str, Any]
"""One content part: a dict with a ``type`` (``{"type": "text", "text": ...}``,
``{"type": "image_url", ...}``, ...) or a bare ``str`` (a text part).

The accepted shapes and what each provider receives are listed in
``streamkit/_content.py``'s docstring; a part a provider cannot take raises
:class:`~streamkit.errors.InvalidArgumentError` when the request is built.
"""
MessageContent: TypeAlias = str | list[ContentPart]
"""What a message's ``content`` may be: text, or a list of content parts."""


class ToolCall(BaseModel):
    """A fully assembled tool call: ``args`` is the parsed JSON object.

    ``id`` is the provider's call id (``call_...``, ``toolu_...``; answer
    with a :class:`ToolMessage` whose ``tool_call_id`` is it), ``name`` the
    tool's name. If the stream stopped before the arguments were complete
    (for example at ``max_tokens``), or they are not a JSON object,
    ``args`` is ``{}``, ``complete`` is ``False`` and the raw text received
    is kept in ``raw_args``. Built by pydantic: a wrong field raises
    pydantic's ``ValidationError``.
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

    ``content`` is a ``str`` or a list of content parts
    (:data:`MessageContent`; ``AIMessage``: a ``str`` only). It may be given
    positionally: ``HumanMessage("hi")``, ``HumanMessage([{"type": "text",
    "text": "hi"}])``. ``additional_kwargs`` and ``response_metadata`` are
    dicts (LangChain's names); ``name`` and ``id`` are optional strings.

    A message is a pydantic model: a field of the wrong type or an unknown
    field raises pydantic's ``ValidationError`` at construction. The
    content parts themselves are checked when a request is built, raising
    :class:`~streamkit.errors.InvalidArgumentError` naming the part
    (``messages[1].content[2]``), before anything is sent.
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
    """A message from the user: text, or text with images and documents.

    Sent as a ``user`` message (OpenAI Chat Completions, Anthropic
    Messages). ``type`` is ``"human"``.
    """

    type: Literal["human"] = "human"

    def __init__(self, content: MessageContent | None = None, /, **data: Any) -> None:
        # Declared on each class: type checkers give a pydantic model without
        # its own __init__ a keyword-only one, and HumanMessage("hi") must check.
        super().__init__(content, **data)


class SystemMessage(BaseMessage):
    """Instructions for the model. ``type`` is ``"system"``.

    OpenAI receives it as a ``system`` message where it stands; Anthropic
    has no system role, so every ``SystemMessage`` goes, in order, into the
    request's top-level ``system`` field (strings joined by a blank line;
    https://docs.anthropic.com/en/api/messages).
    """

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
    """The result of a tool call, sent back to the model. ``type`` is ``"tool"``.

    ``tool_call_id`` (required) is the ``id`` of the :class:`ToolCall` it
    answers; ``content`` is the result as text or content parts. OpenAI
    receives a ``tool`` message, Anthropic a ``tool_result`` block in a
    ``user`` message (consecutive results are merged into one message).
    """

    type: Literal["tool"] = "tool"
    tool_call_id: str

    def __init__(self, content: MessageContent | None = None, /, **data: Any) -> None:
        super().__init__(content, **data)


Message: TypeAlias = HumanMessage | SystemMessage | AIMessage | ToolMessage
"""Any concrete message: what a conversation (a chat model's input) is a list of."""
