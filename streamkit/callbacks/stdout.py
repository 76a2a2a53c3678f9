"""Ready-made handlers."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from .base import BaseCallbackHandler

__all__ = ["StreamingStdOutCallbackHandler"]


class StreamingStdOutCallbackHandler(BaseCallbackHandler):
    """Print each token to standard output as it arrives (flushed at once).

    ``stream`` picks another text stream; it is looked up at each token, so
    redirecting ``sys.stdout`` (as pytest's ``capsys`` does) works.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        """Write ``token`` (answer text, every choice) and flush; the stream's errors propagate."""
        out = self._stream or sys.stdout
        out.write(token)
        out.flush()
