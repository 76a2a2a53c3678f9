"""Callback handlers: base classes and ready-made handlers."""

from .base import AsyncCallbackHandler, BaseCallbackHandler, CallbackHandler, Callbacks
from .stdout import StreamingStdOutCallbackHandler

__all__ = [
    "AsyncCallbackHandler",
    "BaseCallbackHandler",
    "CallbackHandler",
    "Callbacks",
    "StreamingStdOutCallbackHandler",
]
