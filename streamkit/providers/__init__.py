"""The providers streamkit speaks, registered by name, and user-defined ones.

Each provider is one module (the contract: :mod:`streamkit.providers.base`,
the walk-through: ``streamkit/providers/README.md``) plus one
:func:`register` line below. The registry is what the CLI's ``--provider``,
the web example's model picker and the :class:`~streamkit.testing.MockServer`'s
routes are built from; modules are imported only when used.

A provider of your own that is not HTTP (a local model, a test double) is
an async generator: :class:`FunctionModel` / :func:`function_model`
(:mod:`streamkit.providers.function`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgumentError

if TYPE_CHECKING:
    from ..models import ChatModel, PromptModel
    from ..testing.wire import MockWire
    from .base import Provider
    from .function import FunctionModel, FunctionProvider, StreamFunction, function_model

__all__ = [
    "FunctionModel",
    "FunctionProvider",
    "ProviderEntry",
    "StreamFunction",
    "entries",
    "function_model",
    "get",
    "names",
    "register",
]


@dataclass(frozen=True)
class ProviderEntry:
    """One registered provider: where its classes live, by name (imported on use)."""

    #: The name users pick it by (``streamkit chat --provider NAME``).
    name: str
    #: The module defining its model classes (``streamkit.providers.gemini``).
    module: str
    #: The chat model class's name in ``module``.
    chat: str
    #: The prompt (string in, text out) model class's name, if it has one.
    llm: str | None = None
    #: Its :class:`~streamkit.testing.wire.MockWire` instances, as
    #: ``"module:name"`` (the mock server answers their routes).
    mocks: tuple[str, ...] = ()
    #: One line for pickers and help texts.
    title: str = ""
    #: Keyword arguments the chat class is made with (a preset: ``{"provider": "groq"}``).
    preset: tuple[tuple[str, Any], ...] = ()

    def chat_class(self) -> type[ChatModel]:
        """The chat model class (imports its module)."""
        cls: type[ChatModel] = getattr(importlib.import_module(self.module), self.chat)
        return cls

    def llm_class(self) -> type[PromptModel] | None:
        """The prompt model class, or None (imports its module)."""
        if self.llm is None:
            return None
        cls: type[PromptModel] = getattr(importlib.import_module(self.module), self.llm)
        return cls

    def chat_model(self, **settings: Any) -> ChatModel:
        """A chat model of this provider (with its preset), made with ``settings``."""
        return self.chat_class()(**{**dict(self.preset), **settings})

    def provider(self) -> Provider:
        """The provider its chat class would use with just its preset: where it sends requests,
        which environment variables it reads (for banners and help texts).

        A class whose provider needs more settings than the preset (Azure's
        deployment) gives its provider class's defaults instead.
        """
        preset = dict(self.preset)
        if isinstance(preset.get("provider"), str):
            # A ChatOpenAI preset: its own key variable, URL and URL variable (GROQ_API_KEY, not
            # OpenAI's); made directly, since applying a preset needs a model it has no default for.
            from .presets import provider_class

            return provider_class(preset["provider"])()
        cls = self.chat_class()
        try:
            return cls._new_provider(preset)
        except InvalidArgumentError:
            return cls._provider_class()

    def mock_wires(self) -> list[MockWire]:
        """Its mock-server wires (imports its module)."""
        wires: list[MockWire] = []
        for ref in self.mocks:
            module, _, name = ref.partition(":")
            wires.append(getattr(importlib.import_module(module), name))
        return wires


_REGISTRY: dict[str, ProviderEntry] = {}


def register(entry: ProviderEntry) -> ProviderEntry:
    """Add a provider (a later entry of the same name replaces the earlier)."""
    _REGISTRY[entry.name] = entry
    return entry


def get(name: str) -> ProviderEntry:
    """The provider registered as ``name``.

    Raises :class:`~streamkit.errors.InvalidArgumentError` naming the known
    providers when there is none.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InvalidArgumentError(f"unknown provider {name!r}; known: {', '.join(names())}") from None


def names() -> list[str]:
    """Every registered provider's name, in registration order."""
    return list(_REGISTRY)


def entries() -> list[ProviderEntry]:
    """Every registered provider, in registration order."""
    return list(_REGISTRY.values())


def __getattr__(name: str) -> Any:
    if name in ("FunctionModel", "FunctionProvider", "StreamFunction", "function_model"):
        from . import function

        return getattr(function, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- the registrations: one line per provider ---------------------------------
# fmt: off
register(ProviderEntry("openai", "streamkit._openai", "ChatOpenAI", "OpenAI", ("streamkit.providers._openai:CHAT_MOCK", "streamkit.providers._openai:COMPLETIONS_MOCK"), "OpenAI"))  # noqa: E501
register(ProviderEntry("anthropic", "streamkit._anthropic", "ChatAnthropic", "Anthropic", ("streamkit.providers._anthropic:MOCK",), "Anthropic"))  # noqa: E501
register(ProviderEntry("ollama", "streamkit.providers.ollama", "ChatOllama", None, ("streamkit.providers.ollama:MOCK",), "Ollama (native /api/chat)"))  # noqa: E501
register(ProviderEntry("azure", "streamkit.providers.azure", "AzureChatOpenAI", None, ("streamkit.providers.azure:MOCK",), "Azure OpenAI"))  # noqa: E501
register(ProviderEntry("gemini", "streamkit.providers.gemini", "ChatGoogleGenerativeAI", None, ("streamkit.providers.gemini:MOCK",), "Google Gemini"))  # noqa: E501
register(ProviderEntry("openai-responses", "streamkit.providers.openai_responses", "ChatOpenAIResponses", None, ("streamkit.providers.openai_responses:MOCK",), "OpenAI Responses API"))  # noqa: E501
# OpenAI-compatible presets (ChatOpenAI(provider=NAME)), last: a name a provider module took stays its.
for _p in importlib.import_module("streamkit.providers.presets").PRESETS.values(): _REGISTRY.setdefault(_p.name, ProviderEntry(_p.name, "streamkit._openai", "ChatOpenAI", None, (), _p.title, (("provider", _p.name),)))  # noqa: E501, E701
# fmt: on
