"""Named presets for OpenAI-compatible servers: ``ChatOpenAI(provider="groq", model=...)``.

A preset is data, not code: the base URL (``/v1`` included, as
``ChatOpenAI.base_url`` takes it), the environment variable holding the
key (``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` are never read for a
preset: the key of one service is not sent to another), whether the server
accepts ``stream_options`` (when it refuses the field, ``stream_usage``
defaults to False so no request carries it), where usage arrives and which
delta fields carry reasoning. Everything on the wire is the OpenAI chat
mapper's (:class:`streamkit.providers._openai.ChatMapper`), which already
reads every field listed here: usage on a ``choices: []`` chunk, on the last
content chunk or under ``x_groq.usage``; reasoning in ``reasoning_content``
or ``reasoning``, or as Mistral's ``thinking`` content parts.

Each entry cites the public source of each fact. A preset has no default
model (model names change faster than code): ``model=`` is required, and
its absence is an :class:`~streamkit.errors.InvalidArgumentError` naming an
example. Servers you run yourself (``local``) need no key: they have no
"official" host, so a missing key is not an error, and their base URL is
the server's default address (override it with ``base_url=``).

This module imports nothing heavy: the registry
(:mod:`streamkit.providers`) reads the table at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgumentError

if TYPE_CHECKING:
    from ._openai import OpenAIChatProvider

__all__ = ["PRESETS", "Preset", "apply_preset", "get", "names", "provider_class"]


@dataclass(frozen=True)
class Preset:
    """One OpenAI-compatible service or server."""

    #: ``ChatOpenAI(provider=NAME)`` and the registry name.
    name: str
    #: One line for pickers and help texts.
    title: str
    #: The default base URL, ``/v1`` (or the service's equivalent) included.
    base_url: str
    #: The environment variable holding the API key, or None (no key needed).
    api_key_env: str | None
    #: A model name from the service's documentation, shown when ``model=`` is missing.
    example_model: str
    #: Whether the server accepts ``stream_options: {"include_usage": true}``.
    stream_options: bool = True
    #: Where a streamed answer's usage arrives (documentation only).
    usage: str = "a final choices: [] chunk, with stream_options.include_usage"
    #: The delta fields carrying reasoning text (all mapped to ThinkingDelta).
    reasoning: tuple[str, ...] = ()
    #: A server you run yourself: no key required, the base URL is its default address.
    local: bool = False
    #: The environment variable holding the base URL (the same meaning: ``/v1`` included), or None.
    base_url_env: str | None = None


#: The presets, by name.
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        # vLLM's OpenAI-compatible server: default port 8000 under /v1; `vllm serve --api-key`
        # (or VLLM_API_KEY on the server) guards it; stream_options.include_usage is supported;
        # reasoning parsers fill `reasoning` ("reasoning used to be called reasoning_content").
        # https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html
        # https://docs.vllm.ai/en/v0.11.2/features/reasoning_outputs/
        Preset(
            "vllm",
            "vLLM (OpenAI-compatible server)",
            "http://localhost:8000/v1",
            "VLLM_API_KEY",
            "Qwen/Qwen3-8B",
            reasoning=("reasoning", "reasoning_content"),
            local=True,
        ),
        # Ollama's /v1: "api_key='ollama' # required but ignored"; stream_options.include_usage
        # supported; thinking models stream `reasoning` (Delta.Reasoning, json:"reasoning").
        # ollama/ollama@fb307609:docs/api/openai-compatibility.mdx, openai/openai.go
        # https://docs.ollama.com/api/openai-compatibility
        Preset(
            "ollama",
            "Ollama (OpenAI-compatible /v1)",
            "http://localhost:11434/v1",
            None,
            "llama3.2",
            reasoning=("reasoning",),
            local=True,
        ),
        # LM Studio: http://localhost:1234/v1, api_key="lm-studio" (ignored); stream_options
        # .include_usage since 0.3.18; `reasoning_content` (0.3.9, a setting) and, for gpt-oss,
        # `delta.reasoning` (0.3.23). lmstudio-ai/docs@c6854fba:1_developer/api-changelog.md
        # https://lmstudio.ai/docs/developer/openai-compat
        Preset(
            "lmstudio",
            "LM Studio (OpenAI-compatible server)",
            "http://localhost:1234/v1",
            None,
            "openai/gpt-oss-20b",
            reasoning=("reasoning_content", "reasoning"),
            local=True,
        ),
        # llama.cpp's llama-server: default port 8080; `--api-key` (env LLAMA_API_KEY on the
        # server); takes OpenAI's options and sends usage (and `timings`) on the last chunk;
        # --reasoning-format deepseek puts thoughts in `reasoning_content`.
        # ggml-org/llama.cpp:tools/server/README.md
        # https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md
        Preset(
            "llamacpp",
            "llama.cpp server (llama-server)",
            "http://localhost:8080/v1",
            "LLAMA_API_KEY",
            "local-model",  # llama-server serves the model it was started with, whatever the name
            usage="the last chunk (with `timings`)",
            reasoning=("reasoning_content",),
            local=True,
        ),
        # Groq: https://api.groq.com/openai/v1, GROQ_API_KEY; stream_options.include_usage
        # accepted; usage also under `x_groq.usage` on the final chunk; reasoning_format="parsed"
        # streams `delta.reasoning`. groq/groq-python@9620fde0:src/groq/types/chat/chat_completion_chunk.py
        # https://console.groq.com/docs/api-reference#chat-create https://console.groq.com/docs/reasoning
        Preset(
            "groq",
            "Groq",
            "https://api.groq.com/openai/v1",
            "GROQ_API_KEY",
            "llama-3.3-70b-versatile",
            usage="x_groq.usage on the final chunk (and a choices: [] chunk with stream_options)",
            reasoning=("reasoning",),
        ),
        # DeepSeek: https://api.deepseek.com/v1, DEEPSEEK_API_KEY (DEEPSEEK_API_BASE in
        # langchain-deepseek); stream_options.include_usage documented; the reasoner streams
        # `reasoning_content`. https://api-docs.deepseek.com/api/create-chat-completion
        # https://api-docs.deepseek.com/guides/reasoning_model
        # langchain-ai/langchain:libs/partners/deepseek/langchain_deepseek/chat_models.py
        Preset(
            "deepseek",
            "DeepSeek",
            "https://api.deepseek.com/v1",
            "DEEPSEEK_API_KEY",
            "deepseek-chat",
            reasoning=("reasoning_content",),
            base_url_env="DEEPSEEK_API_BASE",
        ),
        # OpenRouter: https://openrouter.ai/api/v1, OPENROUTER_API_KEY; usage is always
        # included (stream_options.include_usage is accepted and has no effect); reasoning in
        # `delta.reasoning` (and structured `reasoning_details`).
        # https://openrouter.ai/docs/use-cases/reasoning-tokens
        # https://openrouter.ai/docs/client-sdks/typescript/models/chatstreamoptions
        Preset(
            "openrouter",
            "OpenRouter",
            "https://openrouter.ai/api/v1",
            "OPENROUTER_API_KEY",
            "openai/gpt-4o-mini",
            usage="always on the final chunk",
            reasoning=("reasoning",),
        ),
        # Together AI: https://api.together.xyz/v1, TOGETHER_API_KEY; usage on the final chunk
        # (some models only with stream_options.include_usage: vercel/ai#17986); reasoning
        # models stream `delta.reasoning`.
        # togethercomputer/together-py@916ef5bf:src/together/types/chat/chat_completion_chunk.py
        # https://docs.together.ai/reference/chat-completions-1
        Preset(
            "together",
            "Together AI",
            "https://api.together.xyz/v1",
            "TOGETHER_API_KEY",
            "meta-llama/Llama-3.3-70B-Instruct-Turbo",
            usage="the final chunk",
            reasoning=("reasoning",),
        ),
        # Mistral: https://api.mistral.ai/v1, MISTRAL_API_KEY; REFUSES stream_options (422
        # extra_forbidden, loc body.stream_options.include_usage: avante-corp/avante.nvim#2347,
        # BerriAI/litellm#8978) and sends usage on the last chunk anyway
        # (mistralai/client-python:src/mistralai/models/completionchunk.py); reasoning models
        # stream `thinking` content parts. https://docs.mistral.ai/api/#tag/chat
        # https://docs.mistral.ai/capabilities/reasoning/
        Preset(
            "mistral",
            "Mistral AI",
            "https://api.mistral.ai/v1",
            "MISTRAL_API_KEY",
            "mistral-small-latest",
            stream_options=False,
            usage="the last chunk, unasked",
            reasoning=("content[].thinking",),
        ),
        # xAI: https://api.x.ai/v1, XAI_API_KEY; stream_options.include_usage accepted; reasoning
        # models (grok-3-mini) stream `reasoning_content`. https://docs.x.ai/docs/guides/reasoning
        # https://docs.x.ai/docs/api-reference#chat-completions
        Preset(
            "xai",
            "xAI (Grok)",
            "https://api.x.ai/v1",
            "XAI_API_KEY",
            "grok-3-mini",
            reasoning=("reasoning_content",),
        ),
    )
}


def names() -> list[str]:
    """Every preset's name, in table order."""
    return list(PRESETS)


def get(name: Any, owner: str = "ChatOpenAI") -> Preset:
    """The preset called ``name``.

    Raises :class:`InvalidArgumentError` naming the known presets for any
    other value.
    """
    preset = PRESETS.get(name) if isinstance(name, str) else None
    if preset is None:
        raise InvalidArgumentError(
            f"{owner}: invalid argument: provider: unknown preset {name!r}; known: {', '.join(PRESETS)}"
        )
    return preset


@cache
def provider_class(name: str) -> type[OpenAIChatProvider]:
    """The Chat Completions provider of one preset: its key variable, base URL variable and URL.

    A local server's address is its ``default_base_url`` too, with
    ``requires_key = False``: no key is asked for it.
    """
    from ._openai import OpenAIChatProvider

    preset = get(name)
    attrs = {
        "__doc__": f"{preset.title}: OpenAI Chat Completions at {preset.base_url}.",
        "__module__": __name__,
        "name": preset.name,
        "api_key_env": preset.api_key_env,
        "base_url_env": preset.base_url_env,
        "default_base_url": preset.base_url,
        "requires_key": not preset.local,
    }
    cls: type[OpenAIChatProvider] = type(f"_{preset.name.title()}ChatProvider", (OpenAIChatProvider,), attrs)
    return cls


def apply_preset(name: Any, data: dict[str, Any], owner: str) -> OpenAIChatProvider:
    """Apply a preset to a model's constructor arguments (in place) and return its provider.

    Sets ``stream_usage`` to False when the server refuses
    ``stream_options`` (unless given), and requires ``model``; the base URL
    comes from the provider (its variable, else its address). Raises
    :class:`InvalidArgumentError` for an unknown preset or no model.
    """
    preset = get(name, owner)
    if data.get("model") is None and data.get("model_name") is None:
        raise InvalidArgumentError(
            f"{owner}(provider={preset.name!r}): pass model=... (presets have no default model; "
            f"for example model={preset.example_model!r})"
        )
    if "stream_usage" not in data and not preset.stream_options:
        data["stream_usage"] = False
    return provider_class(preset.name)()
