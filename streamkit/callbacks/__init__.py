"""Callback handlers: base classes and ready-made handlers."""

from .background import BackgroundHandler
from .base import AsyncCallbackHandler, BaseCallbackHandler, CallbackHandler, Callbacks
from .stdout import StreamingStdOutCallbackHandler

__all__ = [
    "AsyncCallbackHandler",
    "BackgroundHandler",
    "BaseCallbackHandler",
    "CallbackHandler",
    "Callbacks",
    "StreamingStdOutCallbackHandler",
]
