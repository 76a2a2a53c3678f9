"""streamkit: asyncio-native streaming for LLM and chat-model APIs.

The public names, and nothing else; see the README for a tour.
"""

from ._adapter import ResponseStream
from ._anthropic import Anthropic, AnthropicSettings, ChatAnthropic, ChatAnthropicSettings
from ._openai import ChatOpenAI, ChatOpenAISettings, OpenAI, OpenAISettings
from .errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CertificateError,
    ConflictError,
    HandlerError,
    IncompleteStreamError,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    OutputParserError,
    OverloadedError,
    PermissionDeniedError,
    ProtocolError,
    ProviderStreamError,
    RateLimitError,
    RedirectError,
    RefusalError,
    StreamAbandoned,
    StreamClosedError,
    StreamkitError,
    StreamStateError,
)
from .messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolCall, ToolMessage
from .results import ChatGeneration, Generation, LLMResult, RunInfo
from .smoothing import smooth

__version__ = "0.2.0"

__all__ = [
    "AIMessage",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "Anthropic",
    "AnthropicSettings",
    "AuthenticationError",
    "BadRequestError",
    "BaseMessage",
    "CertificateError",
    "ChatAnthropic",
    "ChatAnthropicSettings",
    "ChatGeneration",
    "ChatOpenAI",
    "ChatOpenAISettings",
    "ConflictError",
    "Generation",
    "HandlerError",
    "HumanMessage",
    "IncompleteStreamError",
    "InternalServerError",
    "InvalidArgumentError",
    "LLMResult",
    "NotFoundError",
    "OpenAI",
    "OpenAISettings",
    "OutputParserError",
    "OverloadedError",
    "PermissionDeniedError",
    "ProtocolError",
    "ProviderStreamError",
    "RateLimitError",
    "RedirectError",
    "RefusalError",
    "ResponseStream",
    "RunInfo",
    "StreamAbandoned",
    "StreamClosedError",
    "StreamStateError",
    "StreamkitError",
    "SystemMessage",
    "ToolCall",
    "ToolMessage",
    "__version__",
    "smooth",
]
