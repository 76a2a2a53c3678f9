"""Structured output (#11 point 6): ``chat.with_structured_output(Schema)`` over the loopback mock.

Both providers, each native mechanism (OpenAI ``response_format`` /
forced tool; Anthropic forced tool / ``output_config.format``), streamed at
1-byte chunking with one character per text or argument delta, so every
partial object the parser can see is seen.
"""

from __future__ import annotations

import itertools
import json
from typing import Any, Literal

import aiohttp
import pytest
from aiohttp import web
from loopback import serve
from pydantic import BaseModel, Field, field_validator
from typing_extensions import TypedDict

from streamkit import (
    AIMessage,
    ChatAnthropic,
    ChatOpenAI,
    HumanMessage,
    InvalidArgumentError,
    OutputParserError,
    RefusalError,
    StreamkitError,
    StreamStateError,
)
from streamkit._sse import SSEDecoder
from streamkit.callbacks import BaseCallbackHandler
from streamkit.events import ToolCallDelta
from streamkit.structured import (
    PartialObject,
    StructuredChat,
    anthropic_schema,
    jsonable,
    openai_strict_schema,
)
from streamkit.testing import MockResponse, MockServer
from streamkit.testing._server import example_value
from streamkit.web import sse_events, sse_response


class Item(BaseModel):
    name: str
    qty: int


class Order(BaseModel):
    """A customer's order."""

    customer: str
    items: list[Item]
    rush: bool
    note: str | None = None


ORDER = {
    "customer": "Ada Lovelace",
    "items": [{"name": "tea", "qty": 12}, {"name": "cake", "qty": 3}],
    "rush": True,
    "note": None,
}
ORDER_JSON = json.dumps(ORDER)


class OrderDict(TypedDict):
    customer: str
    items: list[Item]
    rush: bool


ORDER_SCHEMA: dict[str, Any] = {
    "title": "order",
    "description": "A customer's order.",
    "type": "object",
    "properties": {
        "customer": {"type": "string"},
        "items": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "rush": {"type": "boolean"},
    },
    "required": ["customer", "items"],
}


def extends(old: Any, new: Any) -> bool:
    """``new`` is ``old`` grown: keys kept, strings and lists extended, other values equal."""
    if isinstance(old, dict):
        return isinstance(new, dict) and all(k in new and extends(v, new[k]) for k, v in old.items())
    if isinstance(old, list):
        return (
            isinstance(new, list)
            and len(new) >= len(old)
            and all(extends(a, b) for a, b in zip(old, new, strict=False))
        )
    if isinstance(old, str):
        return isinstance(new, str) and new.startswith(old)
    return bool(old == new)


def one_char_text(text: str, chunk_size: int | None = None) -> MockResponse:
    """An answer whose text arrives one character per delta (``chunk_size=1``: one byte per write)."""
    return MockResponse(tokens=list(text), chunk_size=chunk_size)


def one_char_tool(name: str, arguments: str, chunk_size: int | None = None) -> MockResponse:
    """A tool call whose arguments arrive one character per delta (``chunk_size=1``: one byte per write)."""
    return MockResponse(tool_calls=[{"name": name, "fragments": list(arguments)}], chunk_size=chunk_size)


def check_growth(partials: list[Any], final: Any, at_least: int = 20) -> None:
    """Every partial is new, grows the previous one, and the final object grows the last one."""
    data = [jsonable(p, partial=True) for p in partials]
    assert len(data) >= at_least, "at 1-byte chunking most characters should show"
    for old, new in itertools.pairwise(data):
        assert old != new, "a partial equal to the previous one was yielded"
        assert extends(old, new), (old, new)
    assert extends(data[-1], jsonable(final))


@pytest.mark.parametrize(
    ("provider", "method"),
    [("openai", "json_schema"), ("openai", "tool"), ("anthropic", "tool"), ("anthropic", "json_schema")],
)
async def test_pydantic_model_streams_growing_partials_then_the_validated_object(
    mock_server: MockServer, provider: str, method: str
) -> None:
    if provider == "openai":
        chat: ChatOpenAI | ChatAnthropic = ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k")
    else:
        chat = ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k")
    tool = method == "tool"
    mock_server.enqueue(one_char_tool("Order", ORDER_JSON, 1) if tool else one_char_text(ORDER_JSON, 1))
    async with chat:
        structured = chat.with_structured_output(Order, method=method)
        received: list[Any] = []
        async with structured.stream("Ada wants 12 teas and 3 cakes, quickly.") as stream:
            async for obj in stream:
                received.append(obj)
    *partials, final = received
    assert type(final) is Order
    assert final == Order.model_validate(ORDER)
    assert stream.parsed == final
    for partial in partials:
        assert isinstance(partial, Order) and type(partial) is not Order  # PartialOrder
        assert type(partial).__name__ == "PartialOrder"
    check_growth(partials, final)
    # A number is shown only once complete: 12 never appears as 1.
    assert all(item.get("qty") != 1 for p in partials for item in jsonable(p, partial=True).get("items", []))
    # The result carries the object, on the generation and on the message.
    generation = stream.result.generations[0][0]
    assert generation.generation_info is not None
    assert generation.generation_info["parsed"] == final
    assert generation.message.additional_kwargs["parsed"] == final  # type: ignore[attr-defined]
    assert stream.text == ORDER_JSON

    body = mock_server.requests[-1].json
    if provider == "openai" and method == "json_schema":
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema"
        assert fmt["json_schema"]["name"] == "Order"
        assert fmt["json_schema"]["strict"] is True
        assert fmt["json_schema"]["description"] == "A customer's order."
        schema = fmt["json_schema"]["schema"]
        # OpenAI's strict mode: every object closed and every property required.
        assert schema["additionalProperties"] is False
        assert schema["required"] == ["customer", "items", "rush", "note"]
        assert schema["$defs"]["Item"]["additionalProperties"] is False
        assert "tools" not in body and "tool_choice" not in body
    elif provider == "openai":
        assert body["tool_choice"] == {"type": "function", "function": {"name": "Order"}}
        (wire_tool,) = body["tools"]
        assert wire_tool["function"]["name"] == "Order"
        assert wire_tool["function"]["strict"] is True
        assert wire_tool["function"]["parameters"]["additionalProperties"] is False
        assert "response_format" not in body
    elif method == "tool":
        assert body["tool_choice"] == {"type": "tool", "name": "Order"}
        (wire_tool,) = body["tools"]
        assert wire_tool["name"] == "Order"
        assert wire_tool["description"] == "A customer's order."
        assert wire_tool["input_schema"]["required"] == ["customer", "items", "rush"]
        assert "strict" not in wire_tool  # Anthropic strict tool use only when asked for
        assert "output_config" not in body
    else:
        fmt = body["output_config"]["format"]
        assert fmt["type"] == "json_schema"
        assert fmt["schema"]["additionalProperties"] is False
        assert fmt["schema"]["$defs"]["Item"]["additionalProperties"] is False
        assert "tools" not in body and "tool_choice" not in body


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_await_returns_the_validated_instance(mock_server: MockServer, provider: str) -> None:
    if provider == "openai":
        mock_server.enqueue(MockResponse(text=ORDER_JSON))
        chat: ChatOpenAI | ChatAnthropic = ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k")
    else:
        mock_server.enqueue(MockResponse(tool_calls=[{"name": "Order", "args": ORDER}]))
        chat = ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k")
    async with chat:
        order = await chat.with_structured_output(Order).ainvoke([HumanMessage("Ada's order?")])
    assert order == Order.model_validate(ORDER)
    assert mock_server.requests[-1].json.get("stream") is None  # not streaming: one JSON answer


async def test_streaming_model_setting_streams_under_await(mock_server: MockServer) -> None:
    mock_server.enqueue(one_char_text(ORDER_JSON))
    tokens: list[str] = []

    class Collect(BaseCallbackHandler):
        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            tokens.append(token)

    async with ChatOpenAI(
        base_url=mock_server.openai_base_url, api_key="k", streaming=True, callbacks=[Collect()]
    ) as chat:
        order = await chat.with_structured_output(Order)("hi")
    assert order.customer == "Ada Lovelace"
    assert "".join(tokens) == ORDER_JSON  # handlers see the JSON as it streams
    assert mock_server.requests[-1].json["stream"] is True


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_typeddict_gives_validated_dicts(mock_server: MockServer, provider: str) -> None:
    answer = json.dumps({k: v for k, v in ORDER.items() if k != "note"})
    if provider == "openai":
        mock_server.enqueue(one_char_text(answer))
        chat: ChatOpenAI | ChatAnthropic = ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k")
    else:
        mock_server.enqueue(one_char_tool("OrderDict", answer))
        chat = ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k")
    async with chat:
        structured = chat.with_structured_output(OrderDict)
        received = [obj async for obj in structured.stream("hi")]
    *partials, final = received
    assert final == {
        "customer": "Ada Lovelace",
        "items": [Item(name="tea", qty=12), Item(name="cake", qty=3)],
        "rush": True,
    }
    assert all(isinstance(p, dict) for p in partials)
    check_growth(partials, final)
    body = mock_server.requests[-1].json
    schema = (
        body["response_format"]["json_schema"]["schema"]
        if provider == "openai"
        else body["tools"][0]["input_schema"]
    )
    assert set(schema["properties"]) == {"customer", "items", "rush"}


async def test_typeddict_final_is_validated(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text='{"customer": "Ada", "items": [{"name": "tea"}], "rush": true}'))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        with pytest.raises(OutputParserError) as caught:
            await chat.with_structured_output(OrderDict)("hi")
    assert caught.value.errors[0]["loc"] == ("items", 0, "qty")


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_json_schema_dict_gives_the_parsed_dict(mock_server: MockServer, provider: str) -> None:
    answer = '{"customer": "Ada", "items": [{"name": "tea"}], "rush": false}'
    if provider == "openai":
        mock_server.enqueue(one_char_text(answer))
        chat: ChatOpenAI | ChatAnthropic = ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k")
    else:
        mock_server.enqueue(one_char_tool("order", answer))
        chat = ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k")
    async with chat:
        structured = chat.with_structured_output(ORDER_SCHEMA)
        assert structured.name == "order"
        received = [obj async for obj in structured.stream("hi")]
    *partials, final = received
    assert final == json.loads(answer)
    check_growth(partials, final, at_least=12)
    assert partials[0] == {} and partials[-1] == final
    body = mock_server.requests[-1].json
    if provider == "openai":
        fmt = body["response_format"]["json_schema"]
        assert fmt["name"] == "order" and fmt["description"] == "A customer's order."
        # Made strict: closed objects, every property required, nested too.
        assert fmt["schema"]["required"] == ["customer", "items", "rush"]
        assert fmt["schema"]["properties"]["items"]["items"]["additionalProperties"] is False
        assert "title" not in fmt["schema"]
    else:
        assert body["tools"][0]["input_schema"]["required"] == ["customer", "items"]  # sent as given


async def test_json_schema_dict_minimal_check(mock_server: MockServer) -> None:
    """A JSON-schema answer must be an object with the top-level required keys; nothing more is checked."""
    mock_server.enqueue(MockResponse(text='{"customer": "Ada"}'), MockResponse(text="[1, 2]"))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        structured = chat.with_structured_output(ORDER_SCHEMA)
        with pytest.raises(OutputParserError, match="'items'") as caught:
            await structured("hi")
        assert caught.value.raw_text == '{"customer": "Ada"}'
        with pytest.raises(OutputParserError, match="not an object"):
            await structured("hi")


async def test_tool_form_schema_is_accepted(mock_server: MockServer) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_order",
            "description": "d",
            "parameters": {"type": "object", "properties": {}},
        },
    }
    mock_server.enqueue(MockResponse(text="{}"))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        assert await chat.with_structured_output(tool)("hi") == {}
    assert mock_server.requests[-1].json["response_format"]["json_schema"]["name"] == "get_order"


@pytest.mark.parametrize(
    ("provider", "method"),
    [("openai", "json_schema"), ("openai", "tool"), ("anthropic", "tool"), ("anthropic", "json_schema")],
)
async def test_a_final_object_that_does_not_validate_raises_with_the_raw_text(
    mock_server: MockServer, provider: str, method: str
) -> None:
    bad = '{"customer": "Ada", "items": [{"name": "tea", "qty": "lots"}], "rush": true}'
    if provider == "openai":
        chat: ChatOpenAI | ChatAnthropic = ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k")
    else:
        chat = ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k")
    response = one_char_tool("Order", bad) if method == "tool" else one_char_text(bad)
    mock_server.enqueue(response, response)
    async with chat:
        structured = chat.with_structured_output(Order, method=method)
        partials: list[Any] = []
        with pytest.raises(OutputParserError) as caught:
            async with structured.stream("hi") as stream:
                async for obj in stream:
                    partials.append(obj)
        error = caught.value
        assert not isinstance(error, RefusalError)
        assert isinstance(error, StreamkitError)
        assert error.raw_text == bad
        assert error.errors[0]["loc"] == ("items", 0, "qty")
        assert "items.0.qty" in str(error)
        assert error.partial_result is not None  # the whole answer, as received
        assert partials and all(type(p) is not Order for p in partials)  # no final object
        with pytest.raises(StreamStateError):
            stream.result  # noqa: B018
        assert stream.partial_result.generations[0][0] is not None
        # The same through await.
        with pytest.raises(OutputParserError) as again:
            await structured("hi")
        assert again.value.raw_text == bad


async def test_answer_that_is_not_json_raises(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text="Sure! Here is the order: Ada, tea."))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        with pytest.raises(OutputParserError) as caught:
            await chat.with_structured_output(Order)("hi")
    assert caught.value.raw_text == "Sure! Here is the order: Ada, tea."
    assert "json" in str(caught.value).lower()


async def test_answer_cut_off_at_max_tokens_says_so(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text=ORDER_JSON[:30], finish_reason="length"))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        with pytest.raises(OutputParserError, match="cut off") as caught:
            await chat.with_structured_output(Order)("hi")
    assert caught.value.raw_text == ORDER_JSON[:30]


async def test_tool_method_without_the_call_raises(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text="I would rather chat."))
    async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k") as chat:
        with pytest.raises(OutputParserError, match="did not call the Order tool") as caught:
            await chat.with_structured_output(Order)("hi")
    assert caught.value.raw_text == "I would rather chat."


async def test_openai_refusal_raises_a_refusal_error(mock_server: MockServer) -> None:
    refusal = "I'm sorry, I can't help with that request."
    mock_server.enqueue(MockResponse(refusal=refusal), MockResponse(refusal=refusal))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        structured = chat.with_structured_output(Order)
        received: list[Any] = []
        with pytest.raises(RefusalError) as caught:
            async for obj in structured.stream("hi"):
                received.append(obj)
        assert received == []
        assert caught.value.refusal == refusal
        assert refusal in str(caught.value)
        assert isinstance(caught.value, OutputParserError)
        with pytest.raises(RefusalError):
            await structured("hi")  # the whole-JSON answer's message.refusal too


async def test_anthropic_refusal_stop_reason_raises_a_refusal_error(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text="", finish_reason="refusal"))
    async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k") as chat:
        with pytest.raises(RefusalError):
            await chat.with_structured_output(Order, method="json_schema")("hi")


async def test_generate_over_two_conversations(mock_server: MockServer) -> None:
    def answer(request: Any) -> MockResponse:
        content = request.json["messages"][-1]["content"]
        customer = "Ada" if "Ada" in content else "Grace"
        return MockResponse(tool_calls=[{"name": "Order", "args": {**ORDER, "customer": customer}}])

    mock_server.responder = answer
    async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k") as chat:
        result = await chat.with_structured_output(Order).generate([["Grace's order"], ["Ada's order"]])
    assert len(result.generations) == 2
    parsed = [row[0].generation_info["parsed"] for row in result.generations]  # type: ignore[index]
    assert [p.customer for p in parsed] == ["Grace", "Ada"]
    assert all(type(p) is Order for p in parsed)
    for row in result.generations:
        message = row[0].message  # type: ignore[attr-defined]
        assert isinstance(message, AIMessage)
        assert message.additional_kwargs["parsed"] == row[0].generation_info["parsed"]  # type: ignore[index]
        assert message.tool_calls[0].name == "Order"  # the raw answer is kept
    assert result.llm_output is not None and result.llm_output["token_usage"]["total_tokens"] > 0


async def test_generate_raises_the_first_invalid_answer(mock_server: MockServer) -> None:
    mock_server.responder = lambda request: MockResponse(
        text=ORDER_JSON if "good" in request.json["messages"][-1]["content"] else '{"customer": 1}'
    )
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        structured = chat.with_structured_output(Order)
        with pytest.raises(OutputParserError) as caught:
            await structured.generate([["good"], ["bad"]])
        assert caught.value.raw_text == '{"customer": 1}'
        raw = chat.with_structured_output(Order, include_raw=True)
        result = await raw.generate([["good"], ["bad"]])
    good, bad = (row[0].generation_info for row in result.generations)
    assert good is not None and bad is not None
    assert type(good["parsed"]) is Order and "parsing_error" not in good
    assert bad["parsed"] is None and isinstance(bad["parsing_error"], OutputParserError)


async def test_include_raw(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text=ORDER_JSON), MockResponse(text='{"customer": "Ada"}'))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        structured = chat.with_structured_output(Order, include_raw=True)
        ok = await structured("hi")
        assert set(ok) == {"raw", "parsed", "parsing_error"}
        assert isinstance(ok["raw"], AIMessage) and ok["raw"].content == ORDER_JSON
        assert ok["parsed"] == Order.model_validate(ORDER)
        assert ok["parsing_error"] is None
        failed = await structured("hi")  # no exception
    assert failed["parsed"] is None
    assert isinstance(failed["parsing_error"], OutputParserError)
    assert failed["parsing_error"].raw_text == '{"customer": "Ada"}'
    assert failed["raw"].content == '{"customer": "Ada"}'


class Review(BaseModel):
    summary: str = Field(min_length=3)
    stars: int
    sentiment: Literal["positive", "negative"]

    @field_validator("summary")
    @classmethod
    def _no_shouting(cls, value: str) -> str:
        if value.isupper():
            raise ValueError("no shouting")
        return value


async def test_partials_are_validated_and_never_invalid(mock_server: MockServer) -> None:
    """Constraints, validators and Literal values apply to partials: an invalid one is not yielded."""
    answer = '{"summary": "Great", "stars": 415, "sentiment": "positive"}'
    mock_server.enqueue(one_char_text(answer))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        received = [obj async for obj in chat.with_structured_output(Review).stream("hi")]
    *partials, final = received
    assert final == Review(summary="Great", stars=415, sentiment="positive")
    shown = [jsonable(p, partial=True) for p in partials]
    summaries = [s["summary"] for s in shown if "summary" in s]
    assert summaries[0] == "Gre"  # "", "G" and "Gr" are shorter than min_length=3
    assert {s.get("stars") for s in shown} <= {None, 415}  # 4 and 41 never shown
    assert {s.get("sentiment") for s in shown} <= {None, "positive"}  # "pos" is no Literal value
    check_growth(partials, final, at_least=6)


async def test_events_interleave_partial_objects(mock_server: MockServer) -> None:
    mock_server.enqueue(one_char_tool("Order", ORDER_JSON))
    async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k") as chat:
        stream = chat.with_structured_output(Order).stream("hi")
        events = [event async for event in stream.events()]
        with pytest.raises(StreamStateError):
            aiter(stream)  # already read as events
    objects = [e for e in events if isinstance(e, PartialObject)]
    assert objects[-1].final and type(objects[-1].value) is Order
    assert not any(o.final for o in objects[:-1])
    for i, event in enumerate(events):
        if isinstance(event, PartialObject) and not event.final:
            assert isinstance(events[i - 1], ToolCallDelta)  # right after the delta that grew it
    assert objects[0].data == {}  # the object has begun
    assert stream.result.generations[0][0].generation_info["parsed"] == objects[-1].value  # type: ignore[index]


async def test_collect_and_early_exit(mock_server: MockServer) -> None:
    mock_server.enqueue(one_char_text(ORDER_JSON), MockResponse(text=ORDER_JSON, delay=0.01))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        structured = chat.with_structured_output(Order)
        stream = structured.stream("hi")
        result = await stream.collect()
        assert result.generations[0][0].generation_info["parsed"] == Order.model_validate(ORDER)  # type: ignore[index]
        async with structured.stream("hi") as early:
            async for _ in early:
                break
        assert await mock_server.wait_for_disconnect()


async def test_mock_answers_structured_requests_with_a_fitting_object(mock_server: MockServer) -> None:
    """With nothing scripted, the mock answers a structured-output request with an object of the schema."""
    async with (
        ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as openai_chat,
        ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k") as claude,
    ):
        for structured in (
            openai_chat.with_structured_output(Order),
            openai_chat.with_structured_output(Order, method="tool"),
            claude.with_structured_output(Order),
            claude.with_structured_output(Order, method="json_schema"),
        ):
            order = await structured("hi")
            assert isinstance(order, Order) and order.customer == "mock" and order.items[0].qty == 1
        assert await openai_chat("hi")  # a plain request still gets prose
    assert example_value({"type": "object", "properties": {"k": {"const": 3}, "e": {"enum": ["x"]}}}) == {
        "k": 3,
        "e": "x",
    }


# -- the relay ---------------------------------------------------------------


def decode(frames: list[bytes]) -> list[tuple[str, Any]]:
    decoder = SSEDecoder()
    events = [e for frame in frames for e in decoder.feed(frame)]
    return [(e.event or "message", json.loads(e.data)) for e in events]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_relay_sends_objects_and_done_carries_the_final_object(
    mock_server: MockServer, provider: str
) -> None:
    if provider == "openai":
        mock_server.enqueue(one_char_text(ORDER_JSON))
        chat: ChatOpenAI | ChatAnthropic = ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k")
    else:
        mock_server.enqueue(one_char_tool("Order", ORDER_JSON))
        chat = ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k")
    async with chat:
        frames = [f async for f in sse_events(chat.with_structured_output(Order).stream("hi"))]
    events = decode(frames)
    objects = [data["parsed"] for name, data in events if name == "object"]
    assert len(objects) > 20
    for old, new in itertools.pairwise(objects):
        assert extends(old, new)
    name, done = events[-1]
    assert name == "done"
    assert done["parsed"] == ORDER
    assert extends(objects[-1], done["parsed"])
    raw = "token" if provider == "openai" else "tool_call_delta"
    assert any(n == raw for n, _ in events)  # the plain frames are still there


async def test_relay_of_a_plain_stream_is_unchanged(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text='{"a": 1}'))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        frames = [f async for f in sse_events(chat.stream("hi"))]
    events = decode(frames)
    assert [n for n, _ in events if n not in ("token",)] == ["done"]
    assert "parsed" not in events[-1][1]


async def test_relay_sends_a_safe_error_for_an_invalid_object(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text='{"customer": 1}'), MockResponse(refusal="No."))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        structured = chat.with_structured_output(Order)
        invalid = decode([f async for f in sse_events(structured.stream("hi"))])
        refused = decode([f async for f in sse_events(structured.stream("hi"))])
    assert invalid[-1] == (
        "error",
        {
            "type": "OutputParserError",
            "message": "The model's answer did not match the expected format.",
            "partial_text": '{"customer": 1}',
        },
    )
    assert refused[-1][0] == "error" and refused[-1][1]["type"] == "RefusalError"
    assert not any(name == "done" for name, _ in invalid + refused)


async def test_sse_response_relays_a_structured_stream(mock_server: MockServer) -> None:
    """Through aiohttp.web, as an app would."""
    mock_server.enqueue(one_char_text(ORDER_JSON))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        structured = chat.with_structured_output(Order)

        async def handler(request: web.Request) -> web.StreamResponse:
            return await sse_response(request, structured.stream("hi"))

        async with serve(handler) as app, aiohttp.ClientSession() as session:
            async with session.get(app.url) as resp:
                assert resp.headers["Content-Type"] == "text/event-stream"
                body = await resp.read()
    events = decode([body])
    assert any(name == "object" for name, _ in events)
    assert events[-1][0] == "done" and events[-1][1]["parsed"] == ORDER


# -- arguments -----------------------------------------------------------------


async def test_bad_arguments_fail_before_any_request(mock_server: MockServer) -> None:
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        with pytest.raises(InvalidArgumentError, match="pydantic model class, a TypedDict class or a JSON"):
            chat.with_structured_output(Order(**ORDER))  # type: ignore[call-overload]
        with pytest.raises(InvalidArgumentError, match="method"):
            chat.with_structured_output(Order, method="json_mode")
        with pytest.raises(InvalidArgumentError, match="must describe an object"):
            chat.with_structured_output({"type": "array", "items": {"type": "string"}})
        with pytest.raises(InvalidArgumentError, match="strict"):
            chat.with_structured_output(Order, strict="yes")  # type: ignore[call-overload]
        structured = chat.with_structured_output(Order)
        for key in ("tools", "tool_choice", "response_format"):
            with pytest.raises(InvalidArgumentError, match=key):
                structured.stream("hi", **{key: None})
    async with ChatAnthropic(
        base_url=mock_server.anthropic_base_url,
        api_key="k",
        thinking={"type": "enabled", "budget_tokens": 1024},
    ) as claude:
        with pytest.raises(InvalidArgumentError, match="json_schema"):
            claude.with_structured_output(Order)  # a forced tool with thinking: rejected by Anthropic
        claude.with_structured_output(Order, method="json_schema")  # fine
    async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k") as claude:
        with pytest.raises(InvalidArgumentError, match="json_schema"):
            claude.with_structured_output(Order).stream(
                "hi", thinking={"type": "enabled", "budget_tokens": 1024}
            )
    assert mock_server.requests == []


async def test_bound_tools_are_not_sent_and_per_call_options_pass(mock_server: MockServer) -> None:
    class Lookup(BaseModel):
        """Look something up."""

        query: str

    mock_server.enqueue(MockResponse(text=ORDER_JSON), MockResponse(text=ORDER_JSON))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k").bind_tools(
        [Lookup], tool_choice="auto"
    ) as chat:
        structured = chat.with_structured_output(Order)
        await structured("hi", temperature=0.1, seed=7, extra_body={"user": "u1"})
        body = mock_server.requests[-1].json
        assert "tools" not in body and "tool_choice" not in body
        assert (body["temperature"], body["seed"], body["user"]) == (0.1, 7, "u1")
        assert body["response_format"]["type"] == "json_schema"
    async with ChatAnthropic(
        base_url=mock_server.anthropic_base_url,
        api_key="k",
        model_kwargs={"output_config": {"effort": "low"}},
    ) as claude:
        await claude.with_structured_output(Order, method="json_schema")(
            "hi", extra_body={"metadata": {"user_id": "u"}}
        )
        body = mock_server.requests[-1].json
        assert body["output_config"]["effort"] == "low"  # kept beside the format
        assert body["output_config"]["format"]["type"] == "json_schema"
        assert body["metadata"] == {"user_id": "u"}


async def test_strict_false_and_anthropic_strict_tool(mock_server: MockServer) -> None:
    async with (
        ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat,
        ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k") as claude,
    ):
        await chat.with_structured_output(Order, strict=False)("hi")
        fmt = mock_server.requests[-1].json["response_format"]["json_schema"]
        assert fmt["strict"] is False
        assert fmt["schema"]["required"] == ["customer", "items", "rush"]  # as pydantic made it
        assert "additionalProperties" not in fmt["schema"]
        await claude.with_structured_output(Order, strict=True)("hi")
        (wire_tool,) = mock_server.requests[-1].json["tools"]
        assert wire_tool["strict"] is True
        assert wire_tool["input_schema"]["additionalProperties"] is False


def test_openai_strict_schema() -> None:
    class Inner(BaseModel):
        x: int = 3

    class Outer(BaseModel):
        inner: Inner = Field(description="the inner one")
        maybe: Inner | None = None
        pick: int | str = Field(union_mode="left_to_right")

    original = Outer.model_json_schema()
    strict = openai_strict_schema(original)
    assert original == Outer.model_json_schema()  # not modified in place
    assert strict["required"] == ["inner", "maybe", "pick"]
    # A $ref with a sibling description is inlined (OpenAI takes no keys beside a $ref).
    inner = strict["properties"]["inner"]
    assert "$ref" not in inner and inner["description"] == "the inner one"
    assert inner["additionalProperties"] is False and inner["required"] == ["x"]
    assert "default" not in strict["properties"]["maybe"]  # default None dropped
    assert strict["$defs"]["Inner"]["additionalProperties"] is False
    # Only narrowing: what a strict answer may be, the original schema allows.
    assert Outer.model_validate_json('{"inner": {"x": 1}, "maybe": null, "pick": 2}')


def test_anthropic_schema() -> None:
    class Tagged(BaseModel):
        kind: Literal["tagged"]
        label: str = Field(max_length=20, pattern="^[a-z]+$", default="x")
        tags: list[str] = Field(min_length=2)
        when: str = Field(json_schema_extra={"format": "date-time"})
        free: dict[str, int]

    original = Tagged.model_json_schema()
    schema = anthropic_schema(original)
    assert original == Tagged.model_json_schema()  # not modified in place
    props = schema["properties"]
    assert props["kind"]["enum"] == ["tagged"] and "const" not in props["kind"]
    # Outside Anthropic's subset: moved into the description, for the model to follow.
    assert props["label"]["description"] == '{maxLength: 20, pattern: "^[a-z]+$"}'
    assert not {"maxLength", "pattern", "default"} & set(props["label"])
    assert props["tags"]["description"] == "{minItems: 2}" and "minItems" not in props["tags"]
    assert props["when"]["format"] == "date-time"  # a supported format stays
    assert props["free"]["additionalProperties"] is False  # every object closed
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["kind", "tags", "when", "free"]  # required as given


def test_structured_chat_is_typed_and_named() -> None:
    chat = ChatOpenAI(base_url="http://127.0.0.1:9/v1", api_key="k")
    structured = chat.with_structured_output(Order)
    assert isinstance(structured, StructuredChat)
    assert structured.name == "Order" and structured.method == "json_schema"
    assert structured.json_schema["properties"]["customer"] == {"title": "Customer", "type": "string"}
    claude = ChatAnthropic(base_url="http://127.0.0.1:9", api_key="k")
    assert claude.with_structured_output(Order).method == "tool"
    assert claude.with_structured_output(Order, method="function_calling").method == "tool"
    assert chat.with_structured_output({"title": "my order!", "type": "object"}).name == "my_order_"


class Node(BaseModel):
    value: int
    children: list[Node] = []


class Cat(BaseModel):
    kind: Literal["cat"]
    meow: str


class Dog(BaseModel):
    kind: Literal["dog"]
    bark: str


class Pet(BaseModel):
    name: str
    pet: Cat | Dog = Field(discriminator="kind")


async def test_recursive_and_discriminated_models(mock_server: MockServer) -> None:
    tree = '{"value": 1, "children": [{"value": 2, "children": []}, {"value": 3, "children": []}]}'
    pet = '{"name": "Rex", "pet": {"kind": "dog", "bark": "woof"}}'
    mock_server.enqueue(one_char_text(tree), one_char_text(pet))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        *partials, final = [n async for n in chat.with_structured_output(Node).stream("hi")]
        assert final == Node.model_validate_json(tree)
        check_growth(partials, final, at_least=5)
        schema = mock_server.requests[-1].json["response_format"]["json_schema"]["schema"]
        assert schema["type"] == "object" and "$ref" not in schema  # the recursive root inlined
        assert schema["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}

        # No partial form for a discriminated union: partials are Pets, once every field has begun.
        *partials, final = [p async for p in chat.with_structured_output(Pet).stream("hi")]
    assert type(final) is Pet and final.pet == Dog(kind="dog", bark="woof")
    assert partials and all(type(p) is Pet for p in partials)
    check_growth(partials, final, at_least=3)


async def test_the_partial_class_is_built_once_per_model(mock_server: MockServer) -> None:
    mock_server.enqueue(one_char_text(ORDER_JSON), one_char_text(ORDER_JSON))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        first = [o async for o in chat.with_structured_output(Order).stream("hi")]
        second = [o async for o in chat.with_structured_output(Order).stream("hi")]
    assert type(first[0]) is type(second[0])
