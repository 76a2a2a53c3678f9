"""``OpenAI`` (legacy Completions) and ``ChatOpenAI`` (Chat Completions).

``base_url`` includes ``/v1``, as in the official SDK; it defaults to
``OPENAI_BASE_URL`` or ``https://api.openai.com/v1``. Both work with any
OpenAI-compatible server (vLLM, Ollama's ``/v1``, LM Studio, llama.cpp).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Unpack

from pydantic import Field

from .models import ChatModel, ChatModelSettings, ModelSettings, PromptModel, StreamingModel
from .providers._openai import OpenAIChatProvider, OpenAICompletionsProvider
from .providers.base import Provider

__all__ = ["ChatOpenAI", "ChatOpenAISettings", "OpenAI", "OpenAISettings"]


class _OpenAICommonSettings(ModelSettings, total=False):
    n: int
    stream_usage: bool


class OpenAISettings(_OpenAICommonSettings, total=False):
    """``OpenAI(...)``'s keyword arguments (:class:`~streamkit.models.ModelSettings` and these)."""

    logprobs: int | None


class ChatOpenAISettings(_OpenAICommonSettings, ChatModelSettings, total=False):
    """``ChatOpenAI(...)``'s keyword arguments (:class:`~streamkit.models.ChatModelSettings` and these)."""

    logprobs: bool | None
    top_logprobs: int | None
    provider: str | None


class _OpenAISettings(StreamingModel):
    """What both OpenAI classes share: endpoint, env vars, ``n`` and ``stream_usage``.

    ``stream_usage`` (default True; per call too) asks for token usage
    while streaming, with ``stream_options: {"include_usage": true}``; set it
    False for OpenAI-compatible servers that reject unknown fields (then no
    ``stream_options`` is sent, and a streamed result has no usage).
    ``model_kwargs={"stream_options": {...}}`` is sent as given instead
    (on streaming calls; a non-streaming body never has ``stream_options``).
    """

    _call_options = StreamingModel._call_options | {"n", "logprobs", "stream_usage"}
    # Chat Completions / Completions request fields accepted per call as given
    # (https://platform.openai.com/docs/api-reference/chat/create).
    _body_fields = frozenset(
        {
            "seed",
            "response_format",
            "user",
            "presence_penalty",
            "frequency_penalty",
            "logit_bias",
            "parallel_tool_calls",
            "reasoning_effort",
            "service_tier",
            "metadata",
            "store",
            "max_completion_tokens",
            "prediction",
            "modalities",
            "audio",
            "web_search_options",
            "suffix",
            "echo",
            "best_of",
        }
    )

    n: int = Field(default=1, ge=1)
    stream_usage: bool = True

    def _extra_params(self) -> dict[str, Any]:
        return {"n": self.n if self.n != 1 else None, "stream_usage": self.stream_usage}


class OpenAI(_OpenAISettings, PromptModel):
    """OpenAI's legacy Completions API (``/v1/completions``): prompt in, text out.

    ``base_url`` includes ``/v1`` (as in the official SDK); it defaults to
    ``OPENAI_BASE_URL`` or ``https://api.openai.com/v1``. Works with any
    OpenAI-compatible server. ``stream_usage``: see ``_OpenAISettings``.
    """

    _provider_class = OpenAICompletionsProvider

    model: str = Field(default="gpt-3.5-turbo-instruct", alias="model_name", min_length=1)
    logprobs: int | None = Field(default=None, ge=0, le=5)

    if TYPE_CHECKING:

        def __init__(self, **settings: Unpack[OpenAISettings]) -> None: ...

    def _extra_params(self) -> dict[str, Any]:
        return {**super()._extra_params(), "logprobs": self.logprobs}


class ChatOpenAI(_OpenAISettings, ChatModel):
    """OpenAI's Chat Completions API (``/v1/chat/completions``).

    ``base_url`` includes ``/v1``; defaults to ``OPENAI_BASE_URL`` or
    ``https://api.openai.com/v1``. Works with vLLM, Ollama's ``/v1``,
    LM Studio and other compatible servers; ``provider="groq"`` (a preset,
    :mod:`streamkit.providers.presets`) sets the server's base URL, key
    variable and quirks instead.
    """

    _provider_class = OpenAIChatProvider
    _call_options = _OpenAISettings._call_options | ChatModel._call_options | {"top_logprobs"}

    model: str = Field(default="gpt-4o-mini", alias="model_name", min_length=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    #: An OpenAI-compatible service's preset (``"groq"``, ``"ollama"``...); set at construction only.
    provider: str | None = Field(default=None, frozen=True)

    @classmethod
    def _new_provider(cls, data: dict[str, Any]) -> Provider:
        if data.get("provider") is None:
            return super()._new_provider(data)
        from .providers.presets import apply_preset

        return apply_preset(data["provider"], data, cls.__name__)

    if TYPE_CHECKING:

        def __init__(self, **settings: Unpack[ChatOpenAISettings]) -> None: ...

    def _extra_params(self) -> dict[str, Any]:
        return {**super()._extra_params(), "logprobs": self.logprobs, "top_logprobs": self.top_logprobs}
