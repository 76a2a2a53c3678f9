"""Reliability: the fault matrix, honest retries, deadlines, handler isolation, secrets.

Every fault is injected by the public chaos kit of ``streamkit.testing``
over real sockets on 127.0.0.1, for both wire formats.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import traceback
from collections.abc import AsyncIterator
from typing import Any

import pytest
from lifecycle_kit import unaccepting_listener
from loopback import client_tasks_left

from streamkit import (
    APIConnectionError,
    APITimeoutError,
    ChatAnthropic,
    ChatOpenAI,
    IncompleteStreamError,
    InternalServerError,
    OverloadedError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    StreamkitError,
)
from streamkit._transport import retry_delay
from streamkit.callbacks import AsyncCallbackHandler, BackgroundHandler, BaseCallbackHandler
from streamkit.deadlines import Timeouts
from streamkit.models import ChatModel
from streamkit.testing import MockResponse, MockServer

TEXT = "one two three four five six seven eight"
PROVIDERS = ["openai", "anthropic"]


def make(provider: str, server: MockServer, **kwargs: Any) -> ChatModel:
    kwargs.setdefault("api_key", "k")
    if provider == "openai":
        return ChatOpenAI(base_url=server.openai_base_url, **kwargs)
    return ChatAnthropic(base_url=server.anthropic_base_url, **kwargs)


def first_text_event(provider: str) -> int:
    """Index of the first event carrying text (faults are placed by event count)."""
    # OpenAI: role chunk, then text. Anthropic: message_start, ping, content_block_start, then text.
    return 1 if provider == "openai" else 3


class Recorder(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.errors: list[BaseException] = []
        self.retries: list[dict[str, Any]] = []
        self.ends = 0

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)

    async def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.errors.append(error)

    async def on_retry(self, error: BaseException, **kwargs: Any) -> None:
        self.retries.append({"error": error, **kwargs})

    async def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self.ends += 1


async def consume(model: ChatModel, **kwargs: Any) -> tuple[list[str], BaseException | None]:
    tokens: list[str] = []
    try:
        async with model.stream("hi", **kwargs) as stream:
            async for token in stream:
                tokens.append(token)
    except StreamkitError as exc:
        return tokens, exc
    return tokens, None


# -- the fault matrix: a fault after the first tokens is raised, typed, with the partial text


MID_STREAM = {
    "drop": ({"drop_after": 3}, APIConnectionError),
    "in-stream overloaded error": ({"error_after": 3}, OverloadedError),
    "in-stream rate limit error": ({"error_after": 3, "error_type": "rate_limit_error"}, RateLimitError),
    "malformed JSON": ({"malformed_after": 3}, ProtocolError),
    "no terminal marker": ({"truncate_after": 3}, IncompleteStreamError),
}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault", list(MID_STREAM))
async def test_mid_stream_fault_raises_typed_error_with_partial_text(
    mock_server: MockServer, provider: str, fault: str
) -> None:
    options, expected = MID_STREAM[fault]
    shift = first_text_event(provider) - 1
    placed = {
        k: (v + shift if isinstance(v, int) and k.endswith("_after") else v) for k, v in options.items()
    }
    mock_server.enqueue(MockResponse(text=TEXT, **placed))
    recorder = Recorder()
    async with make(provider, mock_server, callbacks=[recorder]) as model:
        tokens, error = await consume(model)
    assert isinstance(error, expected), error
    assert tokens == ["one", " two"]  # every token before the fault reached the consumer...
    assert recorder.tokens == tokens  # ...and the handlers
    assert error.partial_result is not None
    assert error.partial_result.generations[0][0].text == "one two"
    assert recorder.errors == [error]
    assert len(mock_server.requests) == 1  # never retried after a token was shown
    assert recorder.retries == []


RETRIED = {
    "drop before any token": {"drop_after": 1},
    "in-stream overloaded before any token": {"error_after": 1},
    "cut before any token": {"truncate_after": 1},
}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault", list(RETRIED))
async def test_fault_before_any_token_is_retried_silently(
    mock_server: MockServer, provider: str, fault: str
) -> None:
    mock_server.enqueue(MockResponse(text=TEXT, **RETRIED[fault]), MockResponse(text=TEXT))
    recorder = Recorder()
    async with make(provider, mock_server, callbacks=[recorder]) as model:
        tokens, error = await consume(model)
    assert error is None
    assert "".join(tokens) == TEXT == "".join(recorder.tokens)  # no duplicated tokens
    assert len(mock_server.requests) == 2
    assert [r["attempt"] for r in recorder.retries] == [1]
    assert recorder.ends == 1 and recorder.errors == []


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_status_failures_then_success(mock_server: MockServer, provider: str) -> None:
    mock_server.enqueue_failures(2, 503, retry_after=0.01, then=MockResponse(text=TEXT))
    recorder = Recorder()
    async with make(provider, mock_server, callbacks=[recorder]) as model:
        tokens, error = await consume(model)
    assert error is None and "".join(tokens) == TEXT
    assert len(mock_server.requests) == 3
    assert [(r["attempt"], r["delay"]) for r in recorder.retries] == [(1, 0.01), (2, 0.01)]
    assert all(isinstance(r["error"], InternalServerError) for r in recorder.retries)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_retries_exhausted_raise_the_last_error(mock_server: MockServer, provider: str) -> None:
    mock_server.enqueue_failures(3, 429, retry_after=0)
    async with make(provider, mock_server, max_retries=2) as model:
        tokens, error = await consume(model)
    assert isinstance(error, RateLimitError) and error.retry_after == 0.0
    assert len(mock_server.requests) == 3 and tokens == []


async def test_never_retried_statuses(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(status=403), MockResponse(text="unused"))
    async with make("openai", mock_server, max_retries=5) as model:
        _, error = await consume(model)
    assert isinstance(error, PermissionDeniedError) and error.status_code == 403
    assert len(mock_server.requests) == 1


async def test_per_call_max_retries(mock_server: MockServer) -> None:
    mock_server.enqueue_failures(1, 500, then=MockResponse(text="unused"))
    async with make("openai", mock_server) as model:
        _, error = await consume(model, max_retries=0)
    assert isinstance(error, InternalServerError) and len(mock_server.requests) == 1


def test_backoff_is_exponential_with_jitter_and_honours_retry_after() -> None:
    plain = InternalServerError("x", status_code=500)
    for attempt, base in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (9, 8.0)):
        delays = [retry_delay(plain, attempt) for _ in range(200)]
        assert all(0.75 * base <= d <= base for d in delays), (attempt, min(delays), max(delays))
        assert len(set(delays)) > 1  # jittered
    hinted = RateLimitError("x", status_code=429, retry_after=3.5)
    assert retry_delay(hinted, 1) == 3.5
    assert retry_delay(RateLimitError("x", status_code=429, retry_after=1e6), 1) == 60.0


# -- deadlines


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_idle_deadline_ignores_keepalives_by_default(mock_server: MockServer, provider: str) -> None:
    stall = {"stall_after": first_text_event(provider) + 2, "stall_for": 2.0, "keepalive_every": 0.05}
    mock_server.enqueue(MockResponse(text=TEXT, **stall))
    async with make(provider, mock_server, timeout=Timeouts(idle=0.3)) as model:
        tokens, error = await consume(model)
    assert isinstance(error, APITimeoutError) and isinstance(error, TimeoutError)
    assert error.phase == "idle" and error.timeout == 0.3
    assert "".join(tokens) == "one two"
    assert error.partial_result is not None and error.partial_result.generations[0][0].text == "one two"
    assert await mock_server.wait_for_disconnect(1.0)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_keepalives_count_as_progress_when_asked(mock_server: MockServer, provider: str) -> None:
    stall = {"stall_after": first_text_event(provider) + 2, "stall_for": 0.6, "keepalive_every": 0.05}
    mock_server.enqueue(MockResponse(text=TEXT, **stall))
    async with make(provider, mock_server, timeout=Timeouts(idle=0.3, keepalive_is_progress=True)) as model:
        tokens, error = await consume(model)
    assert error is None and "".join(tokens) == TEXT


async def test_first_token_deadline_is_per_attempt_and_retried(mock_server: MockServer) -> None:
    slow = MockResponse(text=TEXT, stall_after=0, stall_for=2.0)
    mock_server.enqueue(slow, MockResponse(text=TEXT))
    recorder = Recorder()
    async with make("openai", mock_server, callbacks=[recorder], timeout=Timeouts(first_token=0.3)) as model:
        tokens, error = await consume(model)
    assert error is None and "".join(tokens) == TEXT
    assert [r["error"].phase for r in recorder.retries] == ["first_token"]


async def test_first_token_deadline_exhausted(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text=TEXT, delay=1.0))
    async with make("anthropic", mock_server) as model:
        tokens, error = await consume(model, timeout=Timeouts(first_token=0.2), max_retries=0)
    assert isinstance(error, APITimeoutError) and error.phase == "first_token"
    assert tokens == [] and error.partial_result is not None


async def test_total_deadline_spans_retries_and_is_not_retried(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text=TEXT, delay=0.1))
    recorder = Recorder()
    async with make("openai", mock_server, callbacks=[recorder], timeout={"total": 0.35}) as model:
        tokens, error = await consume(model)
    assert isinstance(error, APITimeoutError) and error.phase == "total"
    assert 1 <= len(tokens) < len(TEXT.split())
    assert recorder.retries == [] and len(mock_server.requests) == 1


async def test_backoff_that_would_overrun_the_total_deadline_is_not_slept(mock_server: MockServer) -> None:
    mock_server.enqueue_failures(1, 503, retry_after=30, then=MockResponse(text="unused"))
    async with make("openai", mock_server, timeout=Timeouts(total=2.0)) as model:
        _, error = await consume(model)
    assert isinstance(error, InternalServerError)
    assert len(mock_server.requests) == 1


async def test_connect_deadline() -> None:
    with unaccepting_listener() as port:
        async with ChatOpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", timeout=Timeouts(connect=0.3), max_retries=0
        ) as model:
            _, error = await consume(model)
    assert isinstance(error, APITimeoutError) and error.phase == "connect"


async def test_connection_refused_is_a_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        async with ChatOpenAI(base_url=f"http://127.0.0.1:{port}/v1", max_retries=1) as model:
            _, error = await consume(model)
    assert isinstance(error, APIConnectionError) and not isinstance(error, APITimeoutError)


# -- handlers


class Exploding(BaseCallbackHandler):
    def __init__(self, raise_error: bool = True) -> None:
        self.raise_error = raise_error
        self.calls = 0

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.calls += 1
        if self.calls == 2:
            raise ValueError("handler bug")


async def test_raising_handler_propagates_without_corrupting_the_result(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text=TEXT))
    other = Recorder()
    async with make("openai", mock_server, callbacks=[Exploding(), other]) as model:
        stream = model.stream("hi")
        with pytest.raises(ValueError, match="handler bug"):
            async for _ in stream:
                pass
    # The collector is fed before any handler runs: the token the handler choked on
    # (and anything after it in the same read) is in the result, nothing half-built.
    partial = stream.partial_result.generations[0][0].text
    assert partial.startswith("one two") and TEXT.startswith(partial)
    assert [type(e) for e in other.errors] == [ValueError]
    assert await mock_server.wait_for_disconnect(1.0) or mock_server.completed == 1


async def test_handler_with_raise_error_false_is_logged_and_the_stream_goes_on(
    mock_server: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    mock_server.enqueue(MockResponse(text=TEXT))
    handler = Exploding(raise_error=False)
    async with make("anthropic", mock_server, callbacks=[handler]) as model:
        tokens, error = await consume(model)
    assert error is None and "".join(tokens) == TEXT
    assert handler.calls == len(TEXT.split())
    assert "Exploding.on_llm_new_token failed" in caplog.text


class Gated(AsyncCallbackHandler):
    """A slow handler: it cannot take a token until the gate opens."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.seen: list[str] = []
        self.ended = False

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        await self.gate.wait()
        self.seen.append(token)

    async def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self.ended = True


async def test_background_handler_does_not_stall_the_stream(mock_server: MockServer) -> None:
    words = [f"w{i} " for i in range(50)]
    mock_server.enqueue(MockResponse(tokens=words))
    slow = Gated()
    async with make("openai", mock_server, streaming=True, callbacks=[BackgroundHandler(slow)]) as model:
        got: list[str] = []

        async def read() -> None:
            async for token in model.stream("hi"):
                got.append(token)

        reader = asyncio.create_task(read())
        for _ in range(200):
            if len(got) == len(words):
                break
            await asyncio.sleep(0.01)
        # The consumer has every token while the slow handler has none yet.
        assert got == words and slow.seen == [] and not reader.done()
        slow.gate.set()
        await asyncio.wait_for(reader, 5)
    # Drained, in order, before the stream finished.
    assert slow.seen == words and slow.ended


async def test_background_queue_is_bounded(mock_server: MockServer) -> None:
    words = [f"w{i} " for i in range(40)]
    mock_server.enqueue(MockResponse(tokens=words))
    slow = Gated()
    async with make("openai", mock_server, callbacks=[BackgroundHandler(slow, maxsize=5)]) as model:
        got: list[str] = []

        async def read() -> None:
            async for token in model.stream("hi"):
                got.append(token)

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.3)
        assert len(got) <= 5 + 2  # back-pressure: at most maxsize tokens ahead of the handler
        slow.gate.set()
        await asyncio.wait_for(reader, 5)
    assert slow.seen == words == got


async def test_background_handler_error_surfaces_at_the_end(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text=TEXT))

    class Bad(AsyncCallbackHandler):
        async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            raise RuntimeError("slow handler failed")

    async with make("openai", mock_server, streaming=True, callbacks=[BackgroundHandler(Bad())]) as model:
        with pytest.raises(RuntimeError, match="slow handler failed"):
            await model("hi")


async def test_abandoned_stream_cancels_background_worker(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text=TEXT, delay=0.05))
    slow = Gated()
    before = set(asyncio.all_tasks())
    async with make("openai", mock_server, callbacks=[BackgroundHandler(slow)]) as model:
        async with model.stream("hi") as stream:
            async for _ in stream:
                break
    assert not client_tasks_left(before)


# -- secrets

SENTINEL = "sk-SENTINEL-must-never-appear-42"


def everything_about(error: BaseException) -> str:
    return "".join(traceback.format_exception(error)) + repr(error) + str(error)


async def _scenarios(server: MockServer) -> AsyncIterator[BaseException]:
    server.enqueue(
        MockResponse(status=401, error={"error": {"message": "Incorrect API key provided: sk-SEN***42"}})
    )
    server.enqueue(MockResponse(text=TEXT, drop_after=3))
    server.enqueue(MockResponse(text=TEXT, malformed_after=2))
    for provider in PROVIDERS:
        for _ in range(3 if provider == "openai" else 0):
            async with make(provider, server, api_key=SENTINEL, max_retries=0) as model:
                _, error = await consume(model)
                assert error is not None
                yield error
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        async with ChatAnthropic(
            base_url=f"http://127.0.0.1:{s.getsockname()[1]}", api_key=SENTINEL, max_retries=0
        ) as model:
            _, error = await consume(model)
            assert error is not None
            yield error


async def test_api_key_never_appears(mock_server: MockServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen = []
    async for error in _scenarios(mock_server):
        seen.append(type(error).__name__)
        assert SENTINEL not in everything_about(error)
        if error.partial_result is not None:
            assert SENTINEL not in error.partial_result.model_dump_json()
    assert len(seen) == 4
    for model in (ChatOpenAI(api_key=SENTINEL), ChatAnthropic(api_key=SENTINEL)):
        assert SENTINEL not in repr(model) + str(model) + model.model_dump_json() + repr(model.transport)
        stream = model.stream("hi")
        assert SENTINEL not in repr(stream)
    assert SENTINEL not in caplog.text
    assert mock_server.requests[0].headers["Authorization"] == f"Bearer {SENTINEL}"  # it was really used
