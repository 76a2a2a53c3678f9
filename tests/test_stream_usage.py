"""``stream_usage``: ``stream_options`` can be turned off, and ``model_kwargs`` overrides it (issue #9, class 8).

Checked by the body the loopback MockServer records.
"""

from __future__ import annotations

from typing import Any

import pytest

from streamkit import ChatAnthropic, ChatOpenAI, InvalidArgumentError, OpenAI
from streamkit.models import StreamingModel
from streamkit.testing import MockServer


def openai_model(cls: type[StreamingModel], server: MockServer, **kwargs: Any) -> StreamingModel:
    return cls(base_url=server.openai_base_url, api_key="k", **kwargs)


async def streamed_body(model: StreamingModel, **kwargs: Any) -> None:
    """Stream one answer to the end (the server records the request body)."""
    async with model:
        async with model.stream("hi", **kwargs) as stream:  # type: ignore[attr-defined]
            async for _ in stream:
                pass


@pytest.mark.parametrize("cls", [ChatOpenAI, OpenAI])
async def test_stream_usage_false_sends_no_stream_options(
    cls: type[StreamingModel], mock_server: MockServer
) -> None:
    model = openai_model(cls, mock_server, stream_usage=False)
    await streamed_body(model)
    body = mock_server.requests[-1].json
    assert body["stream"] is True
    assert "stream_options" not in body and "stream_usage" not in body


@pytest.mark.parametrize("cls", [ChatOpenAI, OpenAI])
async def test_stream_usage_default_and_per_call(cls: type[StreamingModel], mock_server: MockServer) -> None:
    model = openai_model(cls, mock_server)
    await streamed_body(model)
    assert mock_server.requests[-1].json["stream_options"] == {"include_usage": True}
    await streamed_body(model, stream_usage=False)
    assert "stream_options" not in mock_server.requests[-1].json
    off = openai_model(cls, mock_server, stream_usage=False)
    await streamed_body(off, stream_usage=True)
    assert off.stream_usage is False  # type: ignore[attr-defined]
    assert mock_server.requests[-1].json["stream_options"] == {"include_usage": True}
    for body in (r.json for r in mock_server.requests):
        assert "stream_usage" not in body


@pytest.mark.parametrize("stream_usage", [True, False])
async def test_model_kwargs_stream_options_override_the_setting(
    stream_usage: bool, mock_server: MockServer
) -> None:
    options = {"include_usage": True, "continuous_usage_stats": True}
    model = openai_model(
        ChatOpenAI, mock_server, stream_usage=stream_usage, model_kwargs={"stream_options": options}
    )
    await streamed_body(model)
    assert mock_server.requests[-1].json["stream_options"] == options


async def test_a_non_streaming_body_never_carries_stream_options(mock_server: MockServer) -> None:
    model = openai_model(ChatOpenAI, mock_server, model_kwargs={"stream_options": {"include_usage": True}})
    async with model:
        await model("hi")  # type: ignore[operator]
    body = mock_server.requests[-1].json
    assert "stream" not in body and "stream_options" not in body and "stream_usage" not in body


async def test_stream_usage_per_call_is_checked() -> None:
    model = ChatOpenAI(base_url="http://127.0.0.1:9/v1", api_key="k")
    with pytest.raises(InvalidArgumentError, match="stream_usage"):
        model.stream("hi", stream_usage="no")
    with pytest.raises(InvalidArgumentError, match="stream_usage"):
        ChatAnthropic(base_url="http://127.0.0.1:9", stream_usage=False)
