"""Bad arguments fail at construction (or at the call), naming the argument, before any request."""

from __future__ import annotations

from typing import Any

import pytest

from streamkit import Anthropic, ChatAnthropic, ChatOpenAI, InvalidArgumentError, OpenAI
from streamkit.deadlines import Timeouts

URL = "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(
    ("cls", "kwargs", "named"),
    [
        (OpenAI, {"max_tokens": -1}, "max_tokens"),
        (OpenAI, {"max_tokens": "lots"}, "max_tokens"),
        (ChatOpenAI, {"temperature": "warm"}, "temperature"),
        (ChatOpenAI, {"temperature": 2.5}, "temperature"),
        (ChatOpenAI, {"top_p": 1.5}, "top_p"),
        (ChatOpenAI, {"n": 0}, "n"),
        (ChatOpenAI, {"max_retries": -1}, "max_retries"),
        (ChatOpenAI, {"max_concurrency": 0}, "max_concurrency"),
        (ChatOpenAI, {"timeout": -3}, "timeout"),
        (ChatOpenAI, {"timeout": "soon"}, "timeout"),
        (ChatOpenAI, {"timeout": {"idle": -1}}, "timeout"),
        (ChatOpenAI, {"streaming": "yes"}, "streaming"),
        (ChatOpenAI, {"model": ""}, "model"),
        (ChatOpenAI, {"frequency_penalty": 0.5}, "frequency_penalty"),  # unknown: goes in model_kwargs
        (ChatOpenAI, {"base_url": "localhost:8000/v1"}, "base_url"),
        (ChatOpenAI, {"base_url": "ftp://127.0.0.1/v1"}, "base_url"),
        (ChatOpenAI, {"base_url": "http://127.0.0.1:8000/v1?x=1"}, "base_url"),
        (ChatOpenAI, {"api_key": 1234}, "api_key"),
        (ChatOpenAI, {"model_kwargs": ["seed", 1]}, "model_kwargs"),
        (ChatAnthropic, {"top_k": 0}, "top_k"),
        (Anthropic, {"stop": [1, 2]}, "stop"),
    ],
)
def test_bad_constructor_argument_is_named(cls: type, kwargs: dict[str, Any], named: str) -> None:
    base = {"base_url": URL if cls in (OpenAI, ChatOpenAI) else "http://127.0.0.1:9", "api_key": "k"}
    with pytest.raises(InvalidArgumentError) as info:
        cls(**{**base, **kwargs})
    assert f"{named}" in str(info.value)
    assert cls.__name__ in str(info.value)
    assert isinstance(info.value, ValueError)  # also the builtin it means


def test_messages_never_echo_a_secret_value() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        ChatOpenAI(base_url=URL, api_key=["sk-SENTINEL-in-a-list"])
    assert "SENTINEL" not in str(info.value)


def test_model_name_alias_and_env_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:7/v1")
    chat = ChatOpenAI(model_name="gpt-x")
    assert chat.model == chat.model_name == "gpt-x"
    assert chat.base_url == "http://127.0.0.1:7/v1"
    assert isinstance(chat.timeout, Timeouts) and chat.timeout.idle == 600.0
    assert ChatOpenAI(base_url=URL, timeout=30).timeout == Timeouts(connect=30.0, idle=30.0)
    assert ChatOpenAI(base_url=URL, timeout=None).timeout == Timeouts.none()


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"timeout": -1}, "timeout"),
        ({"max_retries": -2}, "max_retries"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"tool_choice": "nope"}, "tool_choice"),
        ({"seed": float("nan")}, "seed"),  # a body field accepted per call, but not NaN
        ({"sead": 3}, "sead"),  # unknown: named, with the fix
    ],
)
def test_bad_call_argument_is_named(kwargs: dict[str, Any], named: str) -> None:
    chat = ChatOpenAI(base_url=URL)
    with pytest.raises(InvalidArgumentError, match=named):
        chat.stream("hi", **kwargs)
