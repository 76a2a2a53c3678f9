"""Settings: bad values are refused everywhere (issue #10 item 4).

A bad setting raises ``InvalidArgumentError`` naming the argument, at
construction, on assignment and per call, before any request; the JSON
body is strict (never ``NaN``). Requests go to the loopback MockServer,
which records the body it received.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from streamkit import (
    AIMessage,
    ChatAnthropic,
    ChatOpenAI,
    HumanMessage,
    InvalidArgumentError,
    ToolCall,
)
from streamkit._transport import Transport
from streamkit.models import StreamingModel
from streamkit.testing import MockResponse, MockServer

NAN = math.nan
INF = math.inf
KEY = "sk-settings-SENTINEL-0123456789"

# -- E: bad settings at construction ------------------------------------------------

BAD_SETTINGS: list[tuple[str, dict[str, Any]]] = [
    ("api_key", {"api_key": "sk-abc\r\nX-Injected: 1"}),
    ("api_key", {"api_key": "sk-abc\n"}),
    ("api_key", {"api_key": "sk-\x00abc"}),
    ("default_headers", {"default_headers": {"X-Ok": "a\r\nX-Injected: 1"}}),
    ("default_headers", {"default_headers": {"X-Ok": "tab\tinside"}}),
    ("default_headers", {"default_headers": {"X-Bad\r\nName": "v"}}),
    ("default_headers", {"default_headers": {"Bad Name": "v"}}),
    ("default_headers", {"default_headers": {"": "v"}}),
    ("temperature", {"temperature": NAN}),
    ("temperature", {"temperature": INF}),
    ("top_p", {"top_p": NAN}),
    ("timeout", {"timeout": INF}),
    ("timeout", {"timeout": NAN}),
    ("timeout", {"timeout": {"connect": INF}}),
    ("timeout", {"timeout": {"idle": NAN}}),
    ("base_url", {"base_url": "http://127.0.0.1:70000/v1"}),
    ("base_url", {"base_url": "http://127.0.0.1:0/v1"}),
    ("base_url", {"base_url": "http://127.0.0.1:8000/v1\r\nX: y"}),
    ("model_kwargs", {"model_kwargs": {"seed": NAN}}),
    ("model_kwargs", {"model_kwargs": {"logit_bias": {"50256": -INF}}}),
    ("model_kwargs", {"model_kwargs": {"metadata": object()}}),
    ("model_kwargs", {"model_kwargs": {"metadata": {1, 2}}}),
    (
        "tools",
        {"tools": [{"name": "f", "parameters": {"type": "object", "properties": {"x": {"default": NAN}}}}]},
    ),
    ("tools", {"tools": [{"name": "f", "parameters": {"type": "object", "examples": [object()]}}]}),
]


def ids(cases: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [f"{name}-{i}" for i, (name, _) in enumerate(cases)]


@pytest.mark.parametrize("cls", [ChatOpenAI, ChatAnthropic])
@pytest.mark.parametrize(("name", "kwargs"), BAD_SETTINGS, ids=ids(BAD_SETTINGS))
def test_bad_settings_fail_at_construction_naming_the_argument(
    cls: type[StreamingModel], name: str, kwargs: dict[str, Any]
) -> None:
    kwargs = {"base_url": "http://127.0.0.1:9/v1", **kwargs}
    with pytest.raises(InvalidArgumentError) as info:
        cls(**kwargs)
    message = str(info.value)
    assert name in message
    assert "sk-abc" not in message  # a key is never shown, not even a bad one


def test_thinking_that_json_cannot_carry_fails_at_construction() -> None:
    with pytest.raises(InvalidArgumentError, match="thinking"):
        ChatAnthropic(base_url="http://127.0.0.1:9", thinking={"type": "enabled", "budget_tokens": INF})


def test_good_settings_still_pass() -> None:
    model = ChatOpenAI(
        base_url="http://127.0.0.1:65535/v1",
        api_key="sk-fine",
        default_headers={"X-Title": "My App", "OpenAI-Organization": "org-1"},
        timeout=30,
        temperature=0.0,
        model_kwargs={"seed": 1, "logit_bias": {"50256": -100}},
    )
    assert model.default_headers["X-Title"].get_secret_value() == "My App"  # type: ignore[union-attr]


# -- E: per call -------------------------------------------------------------------

BAD_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("temperature", {"temperature": NAN}),
    ("top_p", {"top_p": INF}),
    ("timeout", {"timeout": INF}),
    ("timeout", {"timeout": {"total": NAN}}),
    ("tools", {"tools": [{"name": "f", "parameters": {"type": "object", "minimum": -INF}}]}),
    ("stop", {"stop": ["ok", 3]}),
]


@pytest.mark.parametrize("cls", [ChatOpenAI, ChatAnthropic])
@pytest.mark.parametrize(("name", "kwargs"), BAD_CALLS, ids=ids(BAD_CALLS))
async def test_bad_per_call_arguments_fail_before_any_request(
    cls: type[StreamingModel], name: str, kwargs: dict[str, Any], mock_server: MockServer
) -> None:
    model = cls(base_url=mock_server.url + ("/v1" if cls is ChatOpenAI else ""), api_key="k")
    async with model:
        with pytest.raises(InvalidArgumentError, match=name):
            model.stream("hi", **kwargs)  # type: ignore[attr-defined]
        with pytest.raises(InvalidArgumentError, match=name):
            await model("hi", **kwargs)  # type: ignore[operator]
    assert mock_server.requests == []


async def test_per_call_thinking_is_checked(mock_server: MockServer) -> None:
    async with ChatAnthropic(base_url=mock_server.url, api_key="k") as model:
        with pytest.raises(InvalidArgumentError, match="thinking"):
            await model("hi", thinking={"type": "enabled", "budget_tokens": NAN})
    assert mock_server.requests == []


async def test_nan_anywhere_in_the_body_is_refused_not_sent(mock_server: MockServer) -> None:
    # A value no setting check sees (tool-call arguments in the history) still
    # cannot reach the wire as the invalid token NaN.
    history = [
        HumanMessage(content="hi"),
        AIMessage(content="", tool_calls=[ToolCall(id="t1", name="f", args={"x": NAN})]),
    ]
    async with ChatAnthropic(base_url=mock_server.url, api_key="k") as model:
        with pytest.raises(InvalidArgumentError, match="messages"):
            await model([*history, HumanMessage(content="go on")])
    assert mock_server.requests == []


async def test_the_transport_encodes_strictly(mock_server: MockServer) -> None:
    transport = Transport(
        base_url=mock_server.openai_base_url, headers={}, error_parser=lambda b: (None, None)
    )
    try:
        with pytest.raises(InvalidArgumentError, match="temperature") as info:
            await transport.post("/chat/completions", {"model": "m", "temperature": NAN})
        assert "NaN" not in str(info.value)
    finally:
        await transport.aclose()
    assert mock_server.requests == []
    from streamkit._transport import encode_body

    assert json.loads(encode_body({"a": [1, 2.5, "x"]})) == {"a": [1, 2.5, "x"]}


# -- E: settings changed after construction (policy: validate on assignment) --------------

BAD_ASSIGNMENTS: list[tuple[str, Any]] = [
    ("temperature", NAN),
    ("temperature", 7.0),
    ("api_key", "sk-abc\r\nX: y"),
    ("base_url", "http://127.0.0.1:99999/v1"),
    ("base_url", "ftp://example"),
    ("default_headers", {"X-A": "v\n"}),
    ("model_kwargs", {"seed": INF}),
    ("timeout", INF),
    ("tools", [{"name": "f", "parameters": {"default": NAN}}]),
    ("tool_choice", "not_a_tool"),
    ("max_retries", -1),
]


@pytest.mark.parametrize(
    ("name", "value"), BAD_ASSIGNMENTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD_ASSIGNMENTS)]
)
def test_a_bad_assignment_is_refused_and_changes_nothing(name: str, value: Any) -> None:
    model = ChatOpenAI(base_url="http://127.0.0.1:9/v1", api_key="k", temperature=0.5)
    before = model.model_dump()
    with pytest.raises(InvalidArgumentError, match=name):
        setattr(model, name, value)
    assert model.model_dump() == before


def test_a_good_assignment_is_normalised_like_a_constructor_argument() -> None:
    model = ChatOpenAI(base_url="http://127.0.0.1:9/v1", api_key="k")
    model.timeout = 5  # type: ignore[assignment]
    assert model.timeout.connect == 5 and model.timeout.idle == 5  # type: ignore[union-attr]
    model.api_key = "sk-new"
    assert model.api_key.get_secret_value() == "sk-new"  # type: ignore[union-attr]
    model.stop = "END"  # type: ignore[assignment]
    assert model.stop == ["END"]


async def test_changing_key_url_or_headers_takes_effect_on_the_next_call() -> None:
    async with MockServer() as first, MockServer() as second:
        model = ChatOpenAI(base_url=first.openai_base_url, api_key="sk-one")
        async with model:
            await model("hi")
            model.base_url = second.openai_base_url
            model.api_key = "sk-two"
            model.default_headers = {"X-Tenant": "t-2"}
            await model("hi")
        assert len(first.requests) == 1 and len(second.requests) == 1
        assert first.requests[0].headers["Authorization"] == "Bearer sk-one"
        assert second.requests[0].headers["Authorization"] == "Bearer sk-two"
        assert second.requests[0].headers["X-Tenant"] == "t-2"


async def test_model_copy_update_is_validated_and_gets_its_own_transport(mock_server: MockServer) -> None:
    model = ChatOpenAI(base_url=mock_server.openai_base_url, api_key="sk-one")
    with pytest.raises(InvalidArgumentError, match="temperature"):
        model.model_copy(update={"temperature": NAN})
    async with model:
        await model("hi")
        copy = model.model_copy(update={"api_key": "sk-two"})
        async with copy:
            await copy("hi")
        await model("hi")  # the copy's close did not close the original's session
    assert [r.headers["Authorization"] for r in mock_server.requests] == [
        "Bearer sk-one",
        "Bearer sk-two",
        "Bearer sk-one",
    ]
    assert model.model_copy(update={"model_name": "other"}).model == "other"


async def test_a_stream_open_across_a_change_finishes_on_its_own_transport() -> None:
    async with MockServer() as first, MockServer() as second:
        first.enqueue(MockResponse(text="one two three four", delay=0.01))
        model = ChatOpenAI(base_url=first.openai_base_url, api_key="k")
        async with model:
            tokens = []
            async with model.stream("hi") as stream:
                async for token in stream:
                    tokens.append(token)
                    if len(tokens) == 1:
                        model.base_url = second.openai_base_url
            assert "".join(tokens) == "one two three four"
            await model("hi")
        assert len(first.requests) == 1 and len(second.requests) == 1
