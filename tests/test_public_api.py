"""The front door: sorted, every name exists, errors derive from StreamkitError, the import is light.

The exact list of names is pinned once, in tests/test_public_surface.py.
"""

from __future__ import annotations

import subprocess
import sys

import streamkit
import streamkit.callbacks
from streamkit import ChatOpenAI, OpenAI


def test_all_is_sorted_and_exists() -> None:
    # The exact list is pinned once, in tests/test_public_surface.py (PUBLIC["streamkit"]).
    assert streamkit.__all__ == sorted(streamkit.__all__)
    for name in streamkit.__all__:
        assert hasattr(streamkit, name), name


def test_callbacks_module_names() -> None:
    assert {"AsyncCallbackHandler", "BaseCallbackHandler", "StreamingStdOutCallbackHandler"} <= set(
        streamkit.callbacks.__all__
    )


def test_every_error_derives_from_streamkit_error() -> None:
    for name in streamkit.__all__:
        obj = getattr(streamkit, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, streamkit.StreamkitError), name
    assert issubclass(streamkit.APITimeoutError, TimeoutError)


def test_import_is_light() -> None:
    """Importing streamkit pulls in no provider SDK and nothing heavy."""
    code = (
        "import sys, streamkit; "
        "bad = [m for m in ('openai', 'anthropic', 'langchain', 'numpy', 'aioresponses', 'pytest') "
        "if m in sys.modules]; print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_api_key_never_shown() -> None:
    key = "sk-SENTINEL-never-print-me"
    for model in (OpenAI(api_key=key), ChatOpenAI(api_key=key, model_name="gpt-x")):
        assert key not in repr(model) and key not in str(model)
        assert key not in repr(model.transport)
        assert key not in model.model_dump_json()
        assert model.model_name in repr(model)
