"""Chat messages: what goes into a chat model and what comes out.

They print and serialise as LangChain users know them
(``AIMessage(content='...', tool_calls=[...])``).
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AIMessage",
    "BaseMessage",
    "HumanMessage",
    "Message",
    "SystemMessage",
    "ToolCall",
    "ToolMessage",
]


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
    type: Literal["tool_call"] = "tool_call"


class BaseMessage(BaseModel):
    """Common shape of every message."""

    model_config = ConfigDict(extra="forbid")

    content: str
    additional_kwargs: dict[str, Any] = Field(default_factory=dict)
    response_metadata: dict[str, Any] = Field(default_factory=dict)
    name: str | None = None
    id: str | None = None

    def __init__(self, content: str | None = None, /, **data: Any) -> None:
        # Positional content, as in LangChain: HumanMessage("hi").
        if content is not None:
            data["content"] = content
        super().__init__(**data)


class HumanMessage(BaseMessage):
    """A message from the user."""

    type: Literal["human"] = "human"


class SystemMessage(BaseMessage):
    """Instructions for the model."""

    type: Literal["system"] = "system"


class AIMessage(BaseMessage):
    """The model's answer. ``tool_calls`` are complete and in order."""

    content: str = ""
    type: Literal["ai"] = "ai"
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage_metadata: dict[str, int] | None = None


class ToolMessage(BaseMessage):
    """The result of a tool call, sent back to the model."""

    type: Literal["tool"] = "tool"
    tool_call_id: str


Message: TypeAlias = HumanMessage | SystemMessage | AIMessage | ToolMessage
