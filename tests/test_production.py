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


# -- 3. batches that keep what succeeded --------------------------------------------


def _batch_server(server: MockServer) -> None:
    def respond(request: Any) -> MockResponse:
        prompt = request.json["messages"][-1]["content"]
        if prompt == "bad":
            return MockResponse(status=400, error={"error": {"message": "no such thing", "type": "invalid"}})
        if prompt == "cut":
            return MockResponse(text="half an answer here", drop_after=3)
        return MockResponse(text=f"answer to {prompt}", delay=0.02)

    server.responder = respond


async def test_return_exceptions_keeps_every_finished_answer_and_each_typed_error(
    mock_server: MockServer,
) -> None:
    from streamkit import APIConnectionError, BadRequestError

    _batch_server(mock_server)
    prompts = [["p0"], ["bad"], ["p2"], ["cut"], ["p4"]]
    seen: list[tuple[int, int, bool]] = []

    async def progress(p: Any) -> None:
        seen.append((p.index, p.total, p.error is None))

    async with _model("openai", mock_server, streaming=True) as chat:
        result = await chat.generate(prompts, return_exceptions=True, on_progress=progress, max_concurrency=2)
    assert result.errors is not None
    assert [type(e).__name__ if e else None for e in result.errors] == [
        None,
        "BadRequestError",
        None,
        "APIConnectionError",
        None,
    ]
    assert isinstance(result.errors[1], BadRequestError) and isinstance(result.errors[3], APIConnectionError)
    texts = [g[0].text if g else None for g in result.generations]
    assert texts[0] == "answer to p0" and texts[2] == "answer to p2" and texts[4] == "answer to p4"
    assert texts[3] == "half an"  # the partial answer is kept (the connection dropped after it)
    assert sorted(seen) == [(i, 5, i not in (1, 3)) for i in range(5)]
    assert "errors" not in result.model_dump()


async def test_the_default_raises_the_first_error_with_the_finished_results(mock_server: MockServer) -> None:
    from streamkit import BadRequestError

    def respond(request: Any) -> MockResponse:
        prompt = request.json["messages"][-1]["content"]
        if prompt == "bad":
            return MockResponse(status=400)
        return MockResponse(text=f"answer to {prompt}")

    mock_server.responder = respond
    async with _model("openai", mock_server, streaming=True) as chat:
        # p0 finishes before "bad" is sent (one at a time), so it is on the error.
        with pytest.raises(BadRequestError) as info:
            await chat.generate([["p0"], ["bad"], ["p2"]], max_concurrency=1)
    finished = info.value.batch_results
    assert finished is not None and len(finished) == 3
    assert finished[0] is not None and finished[0].text == "answer to p0"
    assert finished[1] is None and finished[2] is None


# -- 6. slow sync handlers off the loop ----------------------------------------------


async def test_a_blocking_sync_handler_in_the_background_never_blocks_the_loop(
    mock_server: MockServer,
) -> None:
    import threading

    from streamkit.callbacks import BackgroundHandler, BaseCallbackHandler

    release = threading.Event()
    returned = threading.Event()

    class BlockingWriter(BaseCallbackHandler):
        """A plain handler that blocks (think: a synchronous database write)."""

        def __init__(self) -> None:
            self.tokens: list[str] = []
            self.threads: set[str] = set()

        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            self.threads.add(threading.current_thread().name)
            if not self.tokens:
                release.wait(5.0)  # blocks its caller until the test lets go
                returned.set()
            self.tokens.append(token)

    writer = BlockingWriter()
    # By prompt, not by queue order: which request reaches the server first is the loop's business.
    mock_server.responder = lambda request: MockResponse(
        text="slow one two three" if request.json["messages"][-1]["content"] == "a" else "fast answer"
    )
    async with _model("openai", mock_server, streaming=True) as chat:
        import asyncio

        first = asyncio.create_task(chat.generate([["a"]], callbacks=[BackgroundHandler(writer)]))
        # While the handler blocks, the loop keeps serving another stream end to end.
        other = await asyncio.wait_for(chat("b"), 3.0)
        assert other.content == "fast answer"
        assert not returned.is_set(), "the loop waited for the blocking handler"
        release.set()
        result = await asyncio.wait_for(first, 5.0)
    assert result.text == "slow one two three"
    assert "".join(writer.tokens) == "slow one two three"  # every token, in order
    assert threading.main_thread().name not in writer.threads


# -- 4. fallbacks -------------------------------------------------------------------


class RetryRecorder(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.retries: list[dict[str, Any]] = []
        self.tokens: list[str] = []

    async def on_retry(self, error: BaseException, **kwargs: Any) -> None:
        self.retries.append({"error": type(error).__name__, **kwargs})

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


async def test_fallback_across_providers_before_the_first_token(mock_server: MockServer) -> None:
    from streamkit import HumanMessage

    mock_server.enqueue(MockResponse(status=529), MockResponse(text="Claude answers."))
    recorder = RetryRecorder()
    primary = _model("openai", mock_server)
    backup = _model("anthropic", mock_server)
    async with primary.with_fallbacks([backup]) as model:
        message = await model([HumanMessage("hi")], callbacks=[recorder])
        assert message.content == "Claude answers."
        mock_server.enqueue(MockResponse(status=503), MockResponse(text="streamed by claude"))
        async with model.stream([HumanMessage("again")], callbacks=[recorder]) as stream:
            tokens = [t async for t in stream]
    assert "".join(tokens) == "streamed by claude"
    assert stream.result.llm_output is not None
    assert stream.result.llm_output["answered_by"] == {"index": 1, "model": f"ChatAnthropic({backup.model})"}
    assert [p for p in (r.path for r in mock_server.requests)] == [
        "/v1/chat/completions",
        "/v1/messages",
        "/v1/chat/completions",
        "/v1/messages",
    ]
    assert [(r["error"], r["fallback"]) for r in recorder.retries] == [
        ("OverloadedError", f"ChatAnthropic({backup.model})"),
        ("InternalServerError", f"ChatAnthropic({backup.model})"),
    ]


async def test_no_fallback_after_content_or_for_a_bad_request(mock_server: MockServer) -> None:
    from streamkit import APIConnectionError, BadRequestError

    primary = _model("openai", mock_server)
    backup = _model("anthropic", mock_server)
    async with primary.with_fallbacks([backup]) as model:
        mock_server.enqueue(MockResponse(text="one two three four five", drop_after=3))
        with pytest.raises(APIConnectionError) as info:
            async for _ in model.stream("hi"):
                pass
        assert info.value.partial_result is not None and info.value.partial_result.text
        mock_server.enqueue(MockResponse(status=400))
        with pytest.raises(BadRequestError):
            await model("hi")
    assert all(r.path == "/v1/chat/completions" for r in mock_server.requests)  # never switched


async def test_fallback_generate_says_who_answered_each(mock_server: MockServer) -> None:
    mock_server.enqueue(
        MockResponse(text="first by openai"), MockResponse(status=529), MockResponse(text="second")
    )
    primary = _model("openai", mock_server, streaming=True)
    backup = _model("anthropic", mock_server, streaming=True)
    async with primary.with_fallbacks([backup]) as model:
        result = await model.generate([["a"], ["b"]])
    assert [g[0].text for g in result.generations] == ["first by openai", "second"]
    assert result.llm_output is not None
    assert [a["index"] for a in result.llm_output["answered_by"]] == [0, 1]


# -- 1. metrics on every result -------------------------------------------------------


async def test_metrics_on_the_stream_the_result_the_handler_and_the_relay(mock_server: MockServer) -> None:
    from streamkit.web import done_payload

    seen: list[dict[str, Any]] = []

    class EndRecorder(AsyncCallbackHandler):
        async def on_llm_end(self, response: Any, **kwargs: Any) -> None:
            seen.append(response.llm_output["metrics"])

    body = (
        b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"a"}}]}\n\n'
        b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":" b"}}]}\n\n'
        b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":" c"},"finish_reason":"stop"}]}\n\n'
        b"data: [DONE]\n\n"
    )
    mock_server.enqueue_failures(1, 503, retry_after=0.0, then=MockResponse(raw=body, chunk_size=20))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k", max_retries=1) as chat:
        stream = chat.stream("hi", callbacks=[EndRecorder()])
        async for _ in stream:
            pass
    metrics = stream.result.llm_output["metrics"]  # type: ignore[index]
    assert seen == [metrics] and done_payload(stream.result)["metrics"] == metrics
    assert stream.metrics["output_deltas"] == metrics["output_deltas"] == 3
    assert metrics["bytes_received"] == len(body)
    assert metrics["retries"] == 1 and metrics["retry_time_s"] >= 0.0
    # The phases are in order (no speed is asserted: that is benchmarks/' job).
    assert 0 <= metrics["time_to_headers_s"] <= metrics["time_to_first_token_s"] <= metrics["duration_s"]
    assert (
        metrics["inter_event_gap_max_s"]
        >= metrics["inter_event_gap_p95_s"]
        >= metrics["inter_event_gap_p50_s"]
    )
    assert metrics["tokens_per_s"] > 0
    assert set(metrics) == {
        "time_to_headers_s",
        "time_to_first_token_s",
        "duration_s",
        "tokens_per_s",
        "output_deltas",
        "inter_event_gap_p50_s",
        "inter_event_gap_p95_s",
        "inter_event_gap_max_s",
        "retries",
        "retry_time_s",
        "bytes_received",
    }


async def test_a_failed_stream_carries_its_metrics_and_a_batch_keeps_each(mock_server: MockServer) -> None:
    # Anthropic's preamble is three events (message_start, ping, the block's start): two tokens follow.
    mock_server.enqueue(MockResponse(text="one two three four", drop_after=5))
    async with _model("anthropic", mock_server) as chat:
        with pytest.raises(Exception) as info:
            await chat.stream("hi").collect()
        partial = info.value.partial_result  # type: ignore[attr-defined]
        assert partial.llm_output["metrics"]["output_deltas"] >= 1
        assert partial.llm_output["metrics"]["time_to_first_token_s"] is not None
        result = await chat.generate([["a"], ["b"]])
    per_prompt = result.llm_output["metrics_per_prompt"]  # type: ignore[index]
    assert len(per_prompt) == 2 and all(m["output_deltas"] > 0 for m in per_prompt)
