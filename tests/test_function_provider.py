"""User-defined providers from async generators (#12): FunctionModel / function_model.

Everything an HTTP provider gets must work for one: tokens, handlers, the
collector's LLMResult (usage, tool calls, finish), events(), retries,
typed errors that keep the partial text, deadlines, closing, the relay.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from streamkit import (
    AIMessage,
    APITimeoutError,
    HumanMessage,
    ProtocolError,
    ProviderStreamError,
    RateLimitError,
)
from streamkit.callbacks._base import AsyncCallbackHandler
from streamkit.deadlines import Timeouts
from streamkit.events import Finish, MessageStart, TextDelta, ToolCallDelta, ToolCallStart, Usage
from streamkit.providers import FunctionModel, function_model
from streamkit.web import sse_events


class Recorder(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.ends = 0
        self.errors: list[BaseException] = []

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)

    async def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self.ends += 1

    async def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.errors.append(error)


async def words(messages: list[Any], params: dict[str, Any]) -> Any:
    text = messages[-1].text
    for word in text.split():
        yield word + " "
    yield Usage(prompt_tokens=len(text.split()), completion_tokens=len(text.split()))


async def test_stream_handlers_and_result() -> None:
    recorder = Recorder()
    chat = FunctionModel(words, callbacks=[recorder])
    stream = chat.stream("one two three")
    tokens = [t async for t in stream]
    assert tokens == ["one ", "two ", "three "]
    assert recorder.tokens == tokens and recorder.ends == 1
    result = stream.result
    assert result.generations[0][0].text == "one two three "
    assert result.llm_output is not None
    assert result.llm_output["model_name"] == "words"
    assert result.llm_output["token_usage"]["completion_tokens"] == 3
    assert (
        result.generations[0][0].generation_info == {"finish_reason": "stop"}
        or (result.generations[0][0].generation_info or {}).get("finish_reason") == "stop"
    )


async def test_params_reach_the_function_and_generate_is_not_streamed() -> None:
    seen: list[dict[str, Any]] = []

    @function_model(temperature=0.5)
    async def spy(messages: list[Any], params: dict[str, Any]) -> Any:
        seen.append(params)
        assert isinstance(messages[0], HumanMessage)
        yield "ok"

    recorder = Recorder()
    result = await spy.generate([["hi"], [HumanMessage("there")]], callbacks=[recorder], stop="END")
    assert [g[0].text for g in result.generations] == ["ok", "ok"]
    assert seen[0]["temperature"] == 0.5 and seen[0]["stop"] == ["END"] and seen[0]["stream"] is False
    assert recorder.tokens == []  # not streaming: no token hooks, as for HTTP
    message = await spy("hi")
    assert isinstance(message, AIMessage) and message.content == "ok"


async def test_events_and_tool_calls() -> None:
    async def tools(messages: list[Any], params: dict[str, Any]) -> Any:
        assert [t.name for t in params["tools"]] == ["get_weather"]
        yield MessageStart(model="tool-model", id="run-1")
        yield ToolCallStart(call_index=0, id="call_1", name="get_weather")
        yield ToolCallDelta(call_index=0, arguments='{"city": ')
        yield ToolCallDelta(call_index=0, arguments='"Paris"}')
        yield Finish("tool_calls", normalized="tool_calls")

    class get_weather(BaseModel):
        """The weather in a city."""

        city: str

    chat = FunctionModel(tools).bind_tools([get_weather])
    stream = chat.stream("weather?")
    kinds = [type(e).__name__ async for e in stream.events()]
    assert kinds[0] == "MessageStart" and kinds[-1] == "Finish"
    message = stream.result.generations[0][0].message  # type: ignore[attr-defined]
    assert message.tool_calls[0].name == "get_weather"
    assert message.tool_calls[0].args == {"city": "Paris"}
    assert stream.result.llm_output["model_name"] == "tool-model"  # type: ignore[index]


async def test_a_retryable_error_calls_the_function_again() -> None:
    calls = 0

    async def flaky(messages: list[Any], params: dict[str, Any]) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RateLimitError("slow down", status_code=429, retry_after=0.0)
        yield "fine"

    chat = FunctionModel(flaky, max_retries=1)
    assert (await chat("x")).content == "fine"
    assert calls == 2


async def test_an_exception_mid_stream_keeps_the_partial_text() -> None:
    async def broken(messages: list[Any], params: dict[str, Any]) -> Any:
        yield "partial "
        raise ValueError("boom")

    recorder = Recorder()
    stream = FunctionModel(broken, callbacks=[recorder]).stream("x")
    received: list[str] = []
    with pytest.raises(ProviderStreamError) as info:
        async for token in stream:
            received.append(token)
    assert received == ["partial "]
    assert isinstance(info.value.__cause__, ValueError)
    assert info.value.partial_result is not None
    assert info.value.partial_result.generations[0][0].text == "partial "
    assert recorder.errors == [info.value]


async def test_break_closes_the_generator() -> None:
    closed = asyncio.Event()

    async def endless(messages: list[Any], params: dict[str, Any]) -> Any:
        try:
            while True:
                yield "x"
                await asyncio.sleep(0)
        finally:
            closed.set()

    async with FunctionModel(endless).stream("go") as stream:
        async for _ in stream:
            break
    await asyncio.wait_for(closed.wait(), 2)


async def test_the_first_token_deadline_applies() -> None:
    async def slow(messages: list[Any], params: dict[str, Any]) -> Any:
        await asyncio.sleep(5)
        yield "late"

    chat = FunctionModel(slow, timeout=Timeouts(first_token=0.05), max_retries=0)
    with pytest.raises(APITimeoutError):
        await chat("x")


async def test_aclose_from_another_task_wakes_the_reader() -> None:
    async def slow(messages: list[Any], params: dict[str, Any]) -> Any:
        yield "first "
        await asyncio.sleep(5)
        yield "never"

    stream = FunctionModel(slow).stream("x")
    got: list[str] = []

    async def read() -> None:
        async for token in stream:
            got.append(token)
            asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(stream.aclose()))

    await asyncio.wait_for(read(), 2)  # the loop just ends, as for HTTP
    assert got == ["first "]
    assert stream.partial_result.generations[0][0].text == "first "
    assert not stream.finished


@pytest.mark.parametrize("value", [42, b"bytes", {"text": "dict"}])
async def test_a_wrong_yield_is_a_protocol_error(value: Any) -> None:
    async def odd(messages: list[Any], params: dict[str, Any]) -> Any:
        yield "ok "
        yield value

    with pytest.raises(ProtocolError, match=type(value).__name__):
        await FunctionModel(odd)("x")


async def test_not_an_async_generator_is_a_protocol_error() -> None:
    async def returns(messages: list[Any], params: dict[str, Any]) -> str:
        return "text"

    with pytest.raises(ProtocolError, match="async generator"):
        await FunctionModel(returns)("x")  # type: ignore[arg-type]


def test_a_non_callable_is_refused_at_construction() -> None:
    from streamkit import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="function"):
        FunctionModel("not a function")  # type: ignore[arg-type]


async def test_the_relay_carries_a_function_stream() -> None:
    relay = sse_events(FunctionModel(words).stream("hello relay"), heartbeat=60)
    frames = b"".join([chunk async for chunk in relay])
    assert b"hello" in frames and b"relay" in frames and b"event: done" in frames


async def test_text_deltas_of_other_choices() -> None:
    async def two(messages: list[Any], params: dict[str, Any]) -> Any:
        yield TextDelta("a", index=0)
        yield TextDelta("b", index=1)
        yield Finish("stop", index=1, normalized="stop")

    result = await FunctionModel(two).generate([["x"]])
    assert [g.text for g in result.generations[0]] == ["a", "b"]


async def test_a_finish_without_normalized_reason_gets_one() -> None:
    async def cut(messages: list[Any], params: dict[str, Any]) -> Any:
        yield "partial"
        yield Finish("length")

    result = await FunctionModel(cut).generate([["x"]])
    info = result.generations[0][0].generation_info or {}
    assert info["finish_reason"] == "length" and info["normalized_finish_reason"] == "length"


async def test_a_provider_specific_reason_normalizes_to_other() -> None:
    async def odd(messages: list[Any], params: dict[str, Any]) -> Any:
        yield "x"
        yield Finish("eos_token")

    result = await FunctionModel(odd).generate([["x"]])
    assert (result.generations[0][0].generation_info or {})["normalized_finish_reason"] == "other"


async def test_tool_calls_without_a_finish_end_as_tool_calls() -> None:
    async def calls(messages: list[Any], params: dict[str, Any]) -> Any:
        yield ToolCallStart(call_index=0, id="c1", name="lookup")
        yield ToolCallDelta(call_index=0, arguments="{}")

    result = await FunctionModel(calls).generate([["x"]])
    info = result.generations[0][0].generation_info or {}
    assert info["finish_reason"] == "tool_calls" and info["normalized_finish_reason"] == "tool_calls"


async def test_a_cancelled_error_from_inside_the_provider_is_its_error_not_a_cancellation() -> None:
    async def inner_cancelled(messages: list[Any], params: dict[str, Any]) -> Any:
        yield "before "
        task = asyncio.ensure_future(asyncio.sleep(10))
        task.cancel()
        await task  # raises CancelledError inside the provider: this task is not being cancelled

    with pytest.raises(ProviderStreamError) as info:
        await FunctionModel(inner_cancelled)("x")
    assert info.value.partial_result is not None
    assert info.value.partial_result.generations[0][0].text == "before "


async def test_cancelling_the_reader_is_never_swallowed() -> None:
    started = asyncio.Event()

    async def slow(messages: list[Any], params: dict[str, Any]) -> Any:
        yield "a"
        started.set()
        await asyncio.sleep(10)
        yield "b"

    task = asyncio.ensure_future(FunctionModel(slow)("x"))
    await asyncio.wait_for(started.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
