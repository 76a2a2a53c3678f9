"""Callback handlers: base classes and ready-made handlers."""

from ._background import BackgroundHandler
from ._base import AsyncCallbackHandler, BaseCallbackHandler, CallbackHandler, Callbacks
from ._stdout import LabelInfo, StreamingStdOutCallbackHandler

__all__ = [
    "AsyncCallbackHandler",
    "BackgroundHandler",
    "BaseCallbackHandler",
    "CallbackHandler",
    "Callbacks",
    "LabelInfo",
    "StreamingStdOutCallbackHandler",
]
