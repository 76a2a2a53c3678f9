"""Defects found reviewing #12 (providers), each with the test that showed it.

Every test here failed before its fix (see the commit that added it).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from streamkit import APITimeoutError, ProviderStreamError
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
