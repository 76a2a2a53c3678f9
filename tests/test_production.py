"""Issue #14: running streamkit in production (usage of cancelled streams, batches,
fallbacks, slow sync handlers)."""

from __future__ import annotations

from typing import Any

import pytest

from streamkit import ChatAnthropic, ChatOpenAI, StreamAbandoned
from streamkit.callbacks import AsyncCallbackHandler
from streamkit.testing import MockResponse, MockServer


class ErrorRecorder(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    async def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.errors.append(error)


def _model(provider: str, server: MockServer, **kwargs: Any) -> Any:
    if provider == "openai":
        return ChatOpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0, **kwargs)
    return ChatAnthropic(base_url=server.anthropic_base_url, api_key="k", max_retries=0, **kwargs)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_an_abandoned_stream_reports_the_completion_tokens_delivered(
    mock_server: MockServer, provider: str
) -> None:
    """Today OpenAI gave {} and Anthropic only the prompt: now the tokens delivered, marked estimated."""
    words = [f"w{i} " for i in range(10)]
    mock_server.enqueue(
        MockResponse(tokens=words, usage={"prompt_tokens": 12, "completion_tokens": 10}, delay=0.01)
    )
    recorder = ErrorRecorder()
    async with _model(provider, mock_server) as model:
        got: list[str] = []
        async with model.stream("hi", callbacks=[recorder]) as stream:
            async for token in stream:
                got.append(token)
                if len(got) == 4:
                    break
    [error] = recorder.errors
    assert isinstance(error, StreamAbandoned)
    assert error.partial_result is not None
    usage = error.partial_result.token_usage
    assert usage["completion_tokens"] >= 4
    assert usage["usage_estimated"] is True
    if provider == "anthropic":  # message_start reported the input before any text
        assert usage["prompt_tokens"] == 12
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_a_failed_stream_keeps_the_reported_usage_when_it_is_ahead(mock_server: MockServer) -> None:
    """Usage reported with each chunk (vLLM continuous usage) is not replaced by a smaller count."""
    body = (
        b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"a"}}],'
        b'"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}\n\n'
    )
    mock_server.enqueue(MockResponse(raw=body))
    async with _model("openai", mock_server) as model:
        with pytest.raises(Exception) as info:
            await model.stream("hi").collect()
    usage = info.value.partial_result.token_usage  # type: ignore[attr-defined]
    assert (usage["completion_tokens"], usage.get("usage_estimated")) == (7, None)
