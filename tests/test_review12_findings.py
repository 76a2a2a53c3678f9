"""Defects found reviewing #12 (providers), each with the test that showed it.

Every test here failed before its fix (see the commit that added it).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from streamkit import APITimeoutError, NotFoundError, ProviderStreamError
from streamkit._cli import main
from streamkit.deadlines import Timeouts
from streamkit.providers import FunctionModel

# -- FunctionModel -------------------------------------------------------------


async def test_a_generator_that_never_awaits_still_meets_the_total_deadline() -> None:
    # A local model's tight loop yields tokens without ever suspending: asyncio's
    # timeout cannot fire inside it, so the deadline must be checked as events arrive.
    # (Bounded to 1.5 s of spinning, so the test ends, and fails, without the check.)
    async def spin(messages: list[Any], params: dict[str, Any]) -> Any:
        stop = time.monotonic() + 1.5
        while time.monotonic() < stop:
            yield "x"

    chat = FunctionModel(spin, timeout=Timeouts(total=0.2), max_retries=0)
    with pytest.raises(APITimeoutError) as caught:
        await chat.generate([["go"]])
    assert caught.value.partial_result.generations[0][0].text.startswith("x")


async def test_a_timeout_error_the_generator_raises_keeps_its_message() -> None:
    async def fails(messages: list[Any], params: dict[str, Any]) -> Any:
        yield "a"
        raise TimeoutError("the GPU queue timed out")

    with pytest.raises(ProviderStreamError) as caught:
        await FunctionModel(fails, max_retries=0).generate([["go"]])
    assert "the GPU queue timed out" in str(caught.value)
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert str(caught.value.__cause__) == "the GPU queue timed out"
    assert caught.value.partial_result.generations[0][0].text == "a"


# -- the CLI's 404 hint --------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "base", "fix"),
    [
        # Root-based APIs given a /v1 base URL: drop it, naming this provider's path, not Anthropic's.
        ("ollama", "http://127.0.0.1:9/v1", "http://127.0.0.1:9"),
        ("gemini", "http://127.0.0.1:9/v1", "http://127.0.0.1:9"),
        ("azure", "http://127.0.0.1:9/v1", "http://127.0.0.1:9"),
        ("anthropic", "http://127.0.0.1:9/v1", "http://127.0.0.1:9"),
        # APIs whose base URL includes /v1 (OpenAI's wire), given the root: add it.
        ("openai-responses", "http://127.0.0.1:9", "http://127.0.0.1:9/v1"),
        ("groq", "http://127.0.0.1:9", "http://127.0.0.1:9/v1"),
        ("vllm", "http://127.0.0.1:9", "http://127.0.0.1:9/v1"),
        # The whole endpoint pasted as the base URL.
        ("ollama", "http://127.0.0.1:9/api/chat", "http://127.0.0.1:9"),
        ("openai-responses", "http://127.0.0.1:9/v1/responses", "http://127.0.0.1:9/v1"),
    ],
)
def test_the_404_hint_fits_the_provider(provider: str, base: str, fix: str) -> None:
    from streamkit._cli import _not_found_hint, _provider, _Target

    hint = _not_found_hint(_Target(_provider(provider), base, "--base-url", "m"))
    assert hint.endswith(f"try --base-url {fix}"), hint
    if provider != "anthropic":
        assert "anthropic" not in hint and "/v1/messages" not in hint, hint


def test_a_provider_without_a_default_model_asks_for_one_instead_of_sending_pydantic_undefined() -> None:
    # `streamkit chat --provider azure` sent the deployment "PydanticUndefined".
    from streamkit._cli import _default_model

    assert _default_model("azure") is None
    code = main(["chat", "hi", "--provider", "azure", "--base-url", "http://127.0.0.1:9"])
    assert code == 2


def test_a_404_from_azure_is_explained_not_a_traceback() -> None:
    # The error message built the URL from endpoint({"model": ...}), which Azure's
    # provider cannot do without its route: formatting the 404 raised instead.
    from streamkit._cli import _describe, _provider, _Target

    target = _Target(_provider("azure"), "http://127.0.0.1:9/v1", "--base-url", "dep")
    text = _describe(NotFoundError("HTTP 404: Not Found", status_code=404), target)
    assert "try --base-url http://127.0.0.1:9" in text


# -- the walk-through, as a newcomer reads it -----------------------------------


def test_the_contract_readme_names_files_that_exist() -> None:
    # The shared-parts table pointed at streamkit/transport.py, sse.py... (renamed to _name.py).
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    text = (root / "streamkit/providers/README.md").read_text()
    named = [p for p in re.findall(r"`(streamkit/[\w/]+\.py)`", text) if "acme" not in p]  # acme: the example
    assert named
    assert [p for p in named if not (root / p).exists()] == []


def test_a_mock_wire_is_written_from_public_names() -> None:
    # MockWire.events()/full() take an Answer: it must be importable without a private module.
    from streamkit.testing import wire

    assert "Answer" in wire.__all__
    assert wire.Answer.__name__ == "Answer"
