"""The pipeline over real sockets: handlers, generate(), n>1, events, lifecycle."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streamkit import (
    AIMessage,
    ChatGeneration,
    ChatOpenAI,
    HandlerError,
    HumanMessage,
    IncompleteStreamError,
    InvalidArgumentError,
    LLMResult,
    OpenAI,
    StreamAbandoned,
    StreamStateError,
)
from streamkit.callbacks import AsyncCallbackHandler, BaseCallbackHandler, StreamingStdOutCallbackHandler
from streamkit.events import Finish, MessageStart, TextDelta, Usage
from streamkit.testing import MockResponse, MockServer


class Recorder(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], **kwargs: Any) -> None:
        self.calls.append(("start", (serialized["name"], prompts, kwargs["run_id"])))

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        await asyncio.sleep(0)  # a real await on the token path
        self.calls.append(("token", token))

    async def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        self.calls.append(("end", response))

    async def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.calls.append(("error", error))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]

    def tokens(self) -> list[str]:
        return [value for kind, value in self.calls if kind == "token"]


class SyncRecorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.ends = 0

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        self.ends += 1


TEXT = "The quick brown fox jumps over the lazy dog, twice: quick brown fox!"


async def test_handlers_see_every_token_in_order(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text=TEXT, chunk_size=7))
    a, s = Recorder(), SyncRecorder()
    async with OpenAI(base_url=mock_server.openai_base_url, streaming=True, callbacks=[a, s]) as llm:
        text = await llm("prompt one")
    assert text == TEXT
    assert a.kinds()[0] == "start" and a.kinds()[-1] == "end"
    assert a.kinds().count("start") == 1 and a.kinds().count("end") == 1
    assert "".join(a.tokens()) == TEXT and a.tokens() == s.tokens
    assert len(a.tokens()) == len(TEXT.split(" "))
    assert s.ends == 1
    start = a.calls[0][1]
    assert start[0] == "OpenAI" and start[1] == ["prompt one"]
    end: LLMResult = a.calls[-1][1]
    assert end.generations[0][0].text == TEXT
    assert end.run is not None and end.run[0].run_id == start[2]


async def test_per_call_handlers_join_the_models(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text="a b c"), MockResponse(text="d e"))
    model_level, call_level = SyncRecorder(), SyncRecorder()
    async with ChatOpenAI(
        base_url=mock_server.openai_base_url, streaming=True, callbacks=[model_level]
    ) as chat:
        await chat("one", callbacks=[call_level])
        await chat("two")
    assert "".join(model_level.tokens) == "a b cd e"
    assert "".join(call_level.tokens) == "a b c"


async def test_stdout_handler_prints_tokens(
    mock_server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    mock_server.enqueue(MockResponse(text="Bubbles rising, crisp and clear"))
    async with ChatOpenAI(
        base_url=mock_server.openai_base_url, streaming=True, callbacks=[StreamingStdOutCallbackHandler()]
    ) as chat:
        message = await chat([HumanMessage(content="Write me a song about sparkling water.")])
    assert isinstance(message, AIMessage)
    assert capsys.readouterr().out == "Bubbles rising, crisp and clear" == message.content


def test_wrong_kind_of_handler_rejected_at_registration() -> None:
    class AsyncOnSync(BaseCallbackHandler):
        async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:  # type: ignore[override]
            pass

    class SyncOnAsync(AsyncCallbackHandler):
        def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:  # type: ignore[override]
            pass

    with pytest.raises(HandlerError, match=r"AsyncOnSync\.on_llm_new_token must be def"):
        ChatOpenAI(base_url="http://127.0.0.1:9/v1", callbacks=[AsyncOnSync()])
    with pytest.raises(HandlerError, match=r"SyncOnAsync\.on_llm_end must be async def"):
        ChatOpenAI(base_url="http://127.0.0.1:9/v1", callbacks=[SyncOnAsync()])
    with pytest.raises(HandlerError, match="not an instance"):
        ChatOpenAI(base_url="http://127.0.0.1:9/v1", callbacks=[StreamingStdOutCallbackHandler])
    chat = ChatOpenAI(base_url="http://127.0.0.1:9/v1")
    with pytest.raises(HandlerError, match="dict is not a callback handler"):
        chat.stream("hi", callbacks=[{}])  # type: ignore[list-item]


async def test_usage_model_and_finish_reason_when_streaming(mock_server: MockServer) -> None:
    mock_server.enqueue(
        MockResponse(
            text="one two three",
            model="served-model-7",
            finish_reason="length",
            usage={"prompt_tokens": 11, "completion_tokens": 3},
        )
    )
    async with ChatOpenAI(base_url=mock_server.openai_base_url, streaming=True) as chat:
        result = await chat.generate([[HumanMessage(content="count")]])
    assert result.llm_output is not None
    assert result.llm_output["token_usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": 3,
        "total_tokens": 14,
    }
    assert result.llm_output["model_name"] == "served-model-7"
    generation = result.generations[0][0]
    assert isinstance(generation, ChatGeneration)
    assert generation.generation_info is not None
    assert generation.generation_info["finish_reason"] == "length"
    assert generation.text == generation.message.content == "one two three"
    assert generation.message.usage_metadata == {"input_tokens": 11, "output_tokens": 3, "total_tokens": 14}
    assert mock_server.requests[-1].json["stream_options"] == {"include_usage": True}


async def test_streaming_false_gives_the_same_result_shape(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text="same answer", usage={"prompt_tokens": 2, "completion_tokens": 2}))
    mock_server.enqueue(MockResponse(text="same answer", usage={"prompt_tokens": 2, "completion_tokens": 2}))
    async with (
        OpenAI(base_url=mock_server.openai_base_url) as plain,
        OpenAI(base_url=mock_server.openai_base_url, streaming=True) as streamed,
    ):
        a = await plain.generate(["x"])
        b = await streamed.generate(["x"])
    assert "stream" not in mock_server.requests[0].json
    assert mock_server.requests[1].json["stream"] is True
    assert a.generations == b.generations
    assert a.llm_output is not None and b.llm_output is not None
    a.llm_output.pop("metrics"), b.llm_output.pop("metrics")  # timings differ run to run
    assert a.llm_output == b.llm_output


async def test_n_choices_demultiplexed(mock_server: MockServer) -> None:
    mock_server.enqueue(
        MockResponse(choices=["first answer here", "second one", "third answer is longest of all"])
    )
    async with ChatOpenAI(base_url=mock_server.openai_base_url, streaming=True, n=3) as chat:
        result = await chat.generate([[HumanMessage(content="x")]])
    assert mock_server.requests[-1].json["n"] == 3
    assert [g.text for g in result.generations[0]] == [
        "first answer here",
        "second one",
        "third answer is longest of all",
    ]
    assert all(
        g.generation_info and g.generation_info["finish_reason"] == "stop" for g in result.generations[0]
    )


async def test_generate_runs_prompts_concurrently_bounded_and_in_order(mock_server: MockServer) -> None:
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, mock_server.active)
            await asyncio.sleep(0.001)

    prompts = [f"prompt {i}" for i in range(6)]
    for i in range(6):
        # Later prompts answer faster, so completion order is reversed.
        mock_server.enqueue(MockResponse(text=f"answer {i} " + "x " * 3, delay=0.004 * (6 - i)))
    watcher = asyncio.create_task(watch())
    try:
        async with OpenAI(base_url=mock_server.openai_base_url, streaming=True) as llm:
            result = await llm.generate(prompts, max_concurrency=3)
    finally:
        watcher.cancel()
    # Scripts are served in request order, which is prompt order within a limit of 3.
    texts = [g[0].text for g in result.generations]
    assert sorted(texts) == sorted(f"answer {i} " + "x " * 3 for i in range(6))
    sent_prompts = [r.json["prompt"] for r in mock_server.requests]
    for prompt, generations in zip(prompts, result.generations, strict=True):
        served = sent_prompts.index(prompt)
        assert generations[0].text.startswith(f"answer {served} ")
    assert 2 <= peak <= 3


async def test_generate_merges_usage_across_prompts(mock_server: MockServer) -> None:
    for n in (1, 2, 3):
        mock_server.enqueue(MockResponse(text="t", usage={"prompt_tokens": n, "completion_tokens": 10 * n}))
    async with OpenAI(base_url=mock_server.openai_base_url, streaming=True) as llm:
        result = await llm.generate(["a", "b", "c"])
    assert result.llm_output is not None
    assert result.llm_output["token_usage"] == {
        "prompt_tokens": 6,
        "completion_tokens": 60,
        "total_tokens": 66,
    }
    assert result.run is not None and len({r.run_id for r in result.run}) == 3


async def test_events_iterator(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text="alpha beta", model="m-events"))
    async with ChatOpenAI(base_url=mock_server.openai_base_url) as chat:
        stream = chat.stream("hi")
        events = [e async for e in stream.events()]
    assert isinstance(events[0], MessageStart) and events[0].model == "m-events"
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["alpha", " beta"]
    assert isinstance(events[-1], Usage)
    assert any(isinstance(e, Finish) and e.reason == "stop" for e in events)
    assert stream.result.generations[0][0].text == "alpha beta"


async def test_lifecycle_misuse_raises_named_errors(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text="a b"))
    async with ChatOpenAI(base_url=mock_server.openai_base_url) as chat:
        stream = chat.stream("hi")
        with pytest.raises(StreamStateError, match="not finished"):
            _ = stream.result
        assert [t async for t in stream] == ["a", " b"]
        with pytest.raises(StreamStateError, match="already finished"):
            async for _ in stream:
                pass
        # Tokens in separate reads, so the stream is still open after the first
        # (a whole answer in one read is finished at its [DONE] right away).
        mock_server.enqueue(MockResponse(text="c d", delay=0.05))
        other = chat.stream("hi")
        aiter = other.__aiter__()
        with pytest.raises(StreamStateError, match="another way"):
            other.events()
        assert await aiter.__anext__() == "c"
        await other.aclose()
        with pytest.raises(StopAsyncIteration):  # as an async generator does after aclose()
            await aiter.__anext__()
        with pytest.raises(StreamStateError, match="already closed"):
            other.__aiter__()


async def test_reading_one_stream_from_two_tasks_is_an_error(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text="a b c d", delay=0.05))
    async with ChatOpenAI(base_url=mock_server.openai_base_url) as chat:
        async with chat.stream("hi") as stream:
            it = stream.__aiter__()
            first = asyncio.create_task(it.__anext__())
            await asyncio.sleep(0.01)
            with pytest.raises(StreamStateError, match="another task"):
                await it.__anext__()
            assert await first == "a"


async def test_stream_without_terminal_marker_is_an_error_with_partial_text(mock_server: MockServer) -> None:
    body = (
        b'data: {"choices":[{"index":0,"delta":{"content":"Hello"}}],"model":"m"}\n\n'
        b'data: {"choices":[{"index":0,"delta":{"content":" wor"}}],"model":"m"}\n\n'
    )
    mock_server.enqueue(MockResponse(raw=body))
    recorder = Recorder()
    async with ChatOpenAI(base_url=mock_server.openai_base_url, callbacks=[recorder]) as chat:
        tokens: list[str] = []
        with pytest.raises(IncompleteStreamError) as info:
            async for token in chat.stream("hi"):
                tokens.append(token)
    assert tokens == ["Hello", " wor"]
    partial = info.value.partial_result
    assert partial is not None and partial.generations[0][0].text == "Hello wor"
    assert recorder.kinds()[-1] == "error" and recorder.calls[-1][1] is info.value


async def test_bad_inputs_are_named(mock_server: MockServer) -> None:
    async with (
        ChatOpenAI(base_url=mock_server.openai_base_url) as chat,
        OpenAI(base_url=mock_server.openai_base_url) as llm,
    ):
        with pytest.raises(InvalidArgumentError, match="one message list per conversation"):
            await chat.generate([HumanMessage(content="hi")])  # type: ignore[list-item]
        with pytest.raises(InvalidArgumentError, match=r"messages\[0\]\[1\] must be a message"):
            await chat.generate([[HumanMessage(content="hi"), {"role": "user"}]])  # type: ignore[list-item]
        with pytest.raises(InvalidArgumentError, match="list of prompts"):
            await llm.generate("just one string")
        with pytest.raises(InvalidArgumentError, match=r"prompts\[1\] must be a str"):
            await llm.generate(["ok", 3])  # type: ignore[list-item]
    assert mock_server.requests == []


async def test_abandoned_stream_tells_handlers_with_partial_result(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text="one two three four five six", delay=0.01))
    recorder = Recorder()
    async with ChatOpenAI(base_url=mock_server.openai_base_url, callbacks=[recorder]) as chat:
        async with chat.stream("hi") as stream:
            async for token in stream:
                if token == " two":
                    break
    error = recorder.calls[-1][1]
    assert isinstance(error, StreamAbandoned)
    assert error.partial_result is not None
    assert error.partial_result.generations[0][0].text.startswith("one two")
