"""``Anthropic`` (a prompt string) and ``ChatAnthropic`` (message lists).

Both speak the Messages API. ``base_url`` does *not* include ``/v1`` (as in
the official SDK); it defaults to ``ANTHROPIC_BASE_URL`` or
``https://api.anthropic.com``. ``max_tokens`` is always sent (the API
requires it). A ``SystemMessage`` goes to the top-level ``system`` field.
Thinking (``thinking={"type": "enabled", "budget_tokens": N}``) streams as
:class:`~streamkit.events.ThinkingDelta` events and never into the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Unpack

from pydantic import Field

from .messages import BaseMessage, HumanMessage
from .models import ChatModel, ChatModelSettings, ModelSettings, PromptModel, StreamingModel
from .providers._anthropic import AnthropicProvider

__all__ = ["Anthropic", "AnthropicSettings", "ChatAnthropic", "ChatAnthropicSettings"]


class AnthropicSettings(ModelSettings, total=False):
    """``Anthropic(...)``'s keyword arguments (:class:`~streamkit.models.ModelSettings` and these)."""

    top_k: int | None
    thinking: dict[str, Any] | None


class ChatAnthropicSettings(AnthropicSettings, ChatModelSettings, total=False):
    """``ChatAnthropic(...)``'s keyword arguments: :class:`AnthropicSettings` and the tools."""


_DEFAULT_MODEL = "claude-sonnet-4-5"


class _AnthropicSettings(StreamingModel):
    _provider_class = AnthropicProvider
    _call_options = StreamingModel._call_options | {"top_k", "thinking"}
    # Messages API request fields accepted per call as given
    # (https://docs.anthropic.com/en/api/messages).
    _body_fields = frozenset({"metadata", "service_tier", "container", "mcp_servers", "context_management"})
    _json_fields = ("thinking",)

    model: str = Field(default=_DEFAULT_MODEL, alias="model_name", min_length=1)
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    max_tokens: int | None = Field(default=1024, gt=0)
    top_k: int | None = Field(default=None, gt=0)
    thinking: dict[str, Any] | None = None

    def _check(self) -> None:
        super()._check()
        if self.max_tokens is None:
            from .errors import InvalidArgumentError

            raise InvalidArgumentError(f"{type(self).__name__}: max_tokens is required by the Anthropic API")

    def _extra_params(self) -> dict[str, Any]:
        return {"top_k": self.top_k, "thinking": self.thinking}


class Anthropic(_AnthropicSettings, PromptModel):
    """A prompt string in, text out: the prompt becomes one user message."""

    if TYPE_CHECKING:

        def __init__(self, **settings: Unpack[AnthropicSettings]) -> None: ...

    def _body(self, request: Any, params: dict[str, Any], stream: bool) -> dict[str, Any]:
        messages: Sequence[BaseMessage] = [HumanMessage(content=request)]
        return self._provider.build(messages, params, stream)


class ChatAnthropic(_AnthropicSettings, ChatModel):
    """Message lists in, ``AIMessage`` out (tools, thinking, citations)."""

    _call_options = _AnthropicSettings._call_options | ChatModel._call_options

    if TYPE_CHECKING:

        def __init__(self, **settings: Unpack[ChatAnthropicSettings]) -> None: ...
