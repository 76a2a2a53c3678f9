"""Review of issue #14 (production: metrics, OpenTelemetry, batches, fallbacks, background handlers).

Each test is a defect found in review and is expected to FAIL until fixed.
"""

from __future__ import annotations

import asyncio
import gc
import re
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from streamkit import ChatAnthropic, ChatOpenAI, StreamkitError
from streamkit.callbacks import BackgroundHandler, BaseCallbackHandler
from streamkit.events import MessageStart
from streamkit.testing import MockResponse, MockServer


def _openai(server: MockServer, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(api_key="k", base_url=server.openai_base_url, **kwargs)


def _anthropic(server: MockServer, **kwargs: Any) -> ChatAnthropic:
    return ChatAnthropic(api_key="k", base_url=server.anthropic_base_url, max_retries=0, **kwargs)


# -- metrics -----------------------------------------------------------------------


async def test_retry_time_counts_every_back_off_not_only_the_last(mock_server: MockServer) -> None:
    """Two 503s with retry-after 0.2 s each: 0.4 s were spent retrying, metrics said ~0.2 s.

    StreamMetrics.retry() overwrites retry_started; response() is only reached by the
    answering attempt, so every back-off but the last is lost.
    """
    mock_server.enqueue_failures(2, 503, retry_after=0.2, then=MockResponse(text="hello"))
    async with _openai(mock_server, max_retries=3) as model:
        result = await model.stream("hi").collect()
    metrics = result.llm_output["metrics"]  # type: ignore[index]
    assert metrics["retries"] == 2
    assert metrics["retry_time_s"] >= 0.4  # each back-off waited at least its retry-after


async def test_non_streaming_call_reports_the_bytes_received(mock_server: MockServer) -> None:
    """streaming=False: the whole JSON body was received, yet bytes_received is 0."""
    mock_server.enqueue(MockResponse(text="a b c"))
    async with _openai(mock_server, streaming=False) as model:
        result = await model.generate(["hi"])
    assert result.llm_output["metrics"]["bytes_received"] > 0  # type: ignore[index]


# -- OpenTelemetry -----------------------------------------------------------------


async def test_otel_span_ends_for_a_bare_break(mock_server: MockServer) -> None:
    """`async for t in chat.stream(...): break` (no async with): the span is never ended
    and OpenTelemetryHandler._calls keeps it forever (a leak in a long-running server)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from streamkit.otel import OpenTelemetryHandler

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    handler = OpenTelemetryHandler(tracer_provider=provider)
    mock_server.enqueue(MockResponse(text="a b c d e f g", delay=0.01))
    async with _openai(mock_server, callbacks=[handler]) as model:
        async for _ in model.stream("hi"):
            break
        gc.collect()
        await asyncio.sleep(0.2)
    assert len(exporter.get_finished_spans()) == 1
    assert not handler._calls


def test_otel_extra_floor_has_the_constants_streamkit_otel_uses() -> None:
    """pyproject says opentelemetry-semantic-conventions>=0.51b0, but 0.51b0..0.62b0 lack
    GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK and
    GEN_AI_USAGE_REASONING_OUTPUT_TOKENS (checked against the published wheels); 0.51b0 lacks
    GEN_AI_PROVIDER_NAME too. A resolver picking the floor gives AttributeError. 0.63b0 has them
    all (and itself pins opentelemetry-api==1.42.0)."""
    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    extra = pyproject["project"]["optional-dependencies"]["otel"]
    [spec] = [s for s in extra if s.startswith("opentelemetry-semantic-conventions")]
    match = re.search(r">=\s*0\.(\d+)b", spec)
    assert match is not None
    assert int(match.group(1)) >= 63


# -- batches -----------------------------------------------------------------------


async def test_a_raising_progress_callback_is_not_an_exception_group(mock_server: MockServer) -> None:
    """on_progress raising ValueError: generate() raises an ExceptionGroup (a non-streamkit type,
    against the docstring's "raised as itself, not wrapped in an exception group"), and with
    return_exceptions=True every finished answer is lost."""

    def progress(_: Any) -> None:
        raise ValueError("progress bar broke")

    mock_server.responder = lambda request: MockResponse(text="fine")
    async with _openai(mock_server, max_retries=0) as model:
        try:
            await model.generate(["a", "b", "c"], on_progress=progress, return_exceptions=True)
        except BaseException as exc:  # the type is what is checked
            assert not isinstance(exc, BaseExceptionGroup), exc


# -- fallbacks ---------------------------------------------------------------------


async def test_fallback_stream_closed_from_another_task_just_ends(mock_server: MockServer) -> None:
    """A Stop button: aclose() from another task ends a plain stream's `async for`;
    through with_fallbacks the reader gets StreamStateError("the stream has not finished")."""
    mock_server.enqueue(MockResponse(text="a b c d e f", delay=0.2))
    async with _openai(mock_server, max_retries=0) as first, _anthropic(mock_server) as second:
        stream = first.with_fallbacks([second]).stream("hi")

        async def stop() -> None:
            await asyncio.sleep(0.3)
            await stream.aclose()

        task = asyncio.create_task(stop())
        got = [token async for token in stream]
        await task
    assert got and got[0] == "a"


async def test_fallback_events_do_not_repeat_message_start(mock_server: MockServer) -> None:
    """events() through a fallback: the failed model's MessageStart (its model, its id) is
    yielded, then the answering model's: two MessageStart, documented "once per stream"."""
    mock_server.enqueue(MockResponse(text="a b", error_after=1), MockResponse(text="from anthropic"))
    async with _openai(mock_server, max_retries=0) as first, _anthropic(mock_server) as second:
        stream = first.with_fallbacks([second]).stream("hi")
        events = [event async for event in stream.events()]
    starts = [e for e in events if isinstance(e, MessageStart)]
    assert len(starts) == 1
    assert starts[0].model == "claude-sonnet-4-5"


async def test_fallback_rejects_arguments_a_fallback_model_cannot_take_before_any_request(
    mock_server: MockServer,
) -> None:
    """stream(..., logprobs=True) is fine for OpenAI, unknown to Anthropic: the bad argument
    is only found after the first model failed (a 503 turns into InvalidArgumentError)."""
    async with _openai(mock_server, max_retries=0) as first, _anthropic(mock_server) as second:
        fallback = first.with_fallbacks([second])
        with pytest.raises(StreamkitError):
            fallback.stream("hi", logprobs=True)
    assert not mock_server.requests


# -- BackgroundHandler -------------------------------------------------------------


class _SlowSync(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.lock = threading.Lock()

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        time.sleep(0.1)  # a blocking write
        with self.lock:
            self.tokens.append(token)


async def test_a_cancelled_sync_background_handler_gets_no_more_hooks(mock_server: MockServer) -> None:
    """The stream fails, the lane's drain_timeout passes, "cancelled" is logged, the call
    returns: yet the worker thread goes on calling on_llm_new_token for the queued tokens."""
    handler = _SlowSync()
    words = " ".join(f"w{i}" for i in range(30))
    mock_server.enqueue(MockResponse(text=words, drop_after=20))
    async with _openai(mock_server, max_retries=0) as model:
        with pytest.raises(StreamkitError):
            await model.stream("hi", callbacks=[BackgroundHandler(handler, drain_timeout=0.2)]).collect()
        with handler.lock:
            seen = len(handler.tokens)
        await asyncio.sleep(1.0)
    with handler.lock:
        assert len(handler.tokens) <= seen + 1  # at most the hook already running
