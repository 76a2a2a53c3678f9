"""Unit tests for the Collector: typed events in, ``LLMResult`` out (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamkit._collector import Collector
from streamkit.events import (
    Event,
    Finish,
    MessageStart,
    RefusalDelta,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from streamkit.messages import AIMessage, ToolCall
from streamkit.results import ChatGeneration, Generation, LLMResult


def collect(events: Iterable[Event], *, chat: bool = True, **kwargs: Any) -> Collector:
    collector = Collector(chat=chat, **kwargs)
    for event in events:
        collector.feed(event)
    return collector


def only_generation(result: LLMResult) -> Generation:
    assert len(result.generations) == 1
    assert len(result.generations[0]) == 1
    return result.generations[0][0]


def chat_generation(result: LLMResult) -> ChatGeneration:
    gen = only_generation(result)
    assert isinstance(gen, ChatGeneration)
    return gen


def info(gen: Generation) -> dict[str, Any]:
    assert gen.generation_info is not None
    return gen.generation_info


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize("chat", [True, False])
def test_text_joined_in_order(chat: bool) -> None:
    parts = ["Hel", "lo", ", ", "", "wörld ", "😀", "\u2028!"]
    events: list[Event] = [TextDelta(p) for p in parts]
    events.append(Finish("stop"))
    collector = collect(events, chat=chat)
    result = collector.result()
    gen = only_generation(result)
    assert gen.text == "".join(parts)
    assert result.text == "".join(parts)
    assert collector.text() == "".join(parts)
    assert collector.text(5) == ""  # an index never seen
    assert info(gen)["finish_reason"] == "stop"


def test_chat_and_completion_generation_types() -> None:
    events: list[Event] = [TextDelta("hi"), Finish("stop")]
    chat = only_generation(collect(events, chat=True).result())
    legacy = only_generation(collect(events, chat=False).result())
    assert type(chat) is ChatGeneration
    assert chat.type == "ChatGeneration"
    assert type(legacy) is Generation
    assert legacy.type == "Generation"


def test_chat_generation_text_equals_message_content() -> None:
    events: list[Event] = [MessageStart("m", "id-1"), TextDelta("a"), TextDelta("b"), Finish("stop")]
    gen = chat_generation(collect(events).result())
    assert isinstance(gen.message, AIMessage)
    assert gen.message.content == "ab"
    assert gen.text == gen.message.content


def test_empty_stream_result() -> None:
    collector = Collector(chat=True)
    assert not collector.finished
    result = collector.result()
    gen = chat_generation(result)
    assert gen.text == ""
    assert gen.message.content == ""
    assert gen.message.tool_calls == []
    assert gen.message.usage_metadata is None
    assert info(gen) == {"finish_reason": None, "logprobs": None}
    assert result.llm_output == {"token_usage": {}, "model_name": None}
    assert result.run is None


def test_run_id_recorded() -> None:
    run_id = uuid4()
    result = collect([TextDelta("x")], run_id=run_id).result()
    assert result.run is not None
    assert [r.run_id for r in result.run] == [run_id]


# --------------------------------------------------------------------------- finish


def test_finish_reason_and_finished_flag() -> None:
    collector = collect([TextDelta("x")])
    assert not collector.finished
    assert info(only_generation(collector.result()))["finish_reason"] is None
    collector.feed(Finish("length"))
    assert collector.finished
    assert info(only_generation(collector.result()))["finish_reason"] == "length"


def test_finish_without_reason_keeps_earlier_reason() -> None:
    collector = collect([TextDelta("x"), Finish("tool_calls"), Finish(None)])
    assert collector.finished
    gen = chat_generation(collector.result())
    assert info(gen)["finish_reason"] == "tool_calls"
    assert gen.message.response_metadata["finish_reason"] == "tool_calls"


def test_finish_none_still_marks_finished() -> None:
    collector = collect([TextDelta("x"), Finish(None)])
    assert collector.finished
    assert info(only_generation(collector.result()))["finish_reason"] is None


# --------------------------------------------------------------------------- logprobs


def _lp(token: str, value: float) -> dict[str, Any]:
    return {"token": token, "logprob": value, "bytes": list(token.encode()), "top_logprobs": []}


def test_chat_logprobs_lists_merged_under_content() -> None:
    a, b, c = _lp("Hel", -0.1), _lp("lo", -0.2), _lp("!", -0.3)
    events: list[Event] = [
        TextDelta("Hel", logprobs=[a]),
        TextDelta("lo", logprobs=[b]),
        TextDelta(" ", logprobs=None),  # a delta without logprobs adds nothing
        TextDelta("!", logprobs=[c]),
        Finish("stop"),
    ]
    gen = only_generation(collect(events, chat=True).result())
    assert info(gen)["logprobs"] == {"content": [a, b, c]}


def test_completion_logprobs_list_kept_as_list() -> None:
    events: list[Event] = [TextDelta("a", logprobs=[1]), TextDelta("b", logprobs=[2, 3])]
    gen = only_generation(collect(events, chat=False).result())
    assert info(gen)["logprobs"] == [1, 2, 3]


def test_legacy_completion_logprobs_dict_merged_per_key() -> None:
    first = {
        "tokens": ["Hel", "lo"],
        "token_logprobs": [-0.1, -0.2],
        "top_logprobs": [{"Hel": -0.1}, {"lo": -0.2}],
        "text_offset": [0, 3],
    }
    second = {
        "tokens": ["!"],
        "token_logprobs": [-0.3],
        "top_logprobs": [{"!": -0.3}],
        "text_offset": [5],
    }
    events: list[Event] = [TextDelta("Hello", logprobs=first), TextDelta("!", logprobs=second)]
    gen = only_generation(collect(events, chat=False).result())
    assert info(gen)["logprobs"] == {
        "tokens": ["Hel", "lo", "!"],
        "token_logprobs": [-0.1, -0.2, -0.3],
        "top_logprobs": [{"Hel": -0.1}, {"lo": -0.2}, {"!": -0.3}],
        "text_offset": [0, 3, 5],
    }
    # The events' own lists are not mutated by the merge.
    assert first["tokens"] == ["Hel", "lo"]


def test_logprobs_dict_keys_appearing_later_and_non_lists_ignored() -> None:
    events: list[Event] = [
        TextDelta("a", logprobs={"tokens": ["a"], "note": "x"}),
        TextDelta("b", logprobs={"tokens": ["b"], "token_logprobs": [-1.0]}),
    ]
    gen = only_generation(collect(events, chat=False).result())
    assert info(gen)["logprobs"] == {"tokens": ["a", "b"], "token_logprobs": [-1.0]}


def test_no_logprobs_is_none() -> None:
    for chat in (True, False):
        gen = only_generation(collect([TextDelta("a"), Finish("stop")], chat=chat).result())
        assert info(gen)["logprobs"] is None


def test_logprobs_per_choice() -> None:
    events: list[Event] = [
        TextDelta("a", index=0, logprobs=[_lp("a", -1)]),
        TextDelta("b", index=1, logprobs=[_lp("b", -2)]),
        TextDelta("c", index=0, logprobs=[_lp("c", -3)]),
    ]
    result = collect(events).result()
    assert [info(g)["logprobs"] for g in result.generations[0]] == [
        {"content": [_lp("a", -1), _lp("c", -3)]},
        {"content": [_lp("b", -2)]},
    ]


# --------------------------------------------------------------------------- usage


def test_no_usage_gives_empty_token_usage() -> None:
    collector = collect([TextDelta("a"), Finish("stop")])
    assert collector.token_usage() == {}
    result = collector.result()
    assert result.llm_output is not None
    assert result.llm_output["token_usage"] == {}
    assert result.token_usage == {}
    assert chat_generation(result).message.usage_metadata is None


def test_usage_last_report_wins_never_added() -> None:
    events: list[Event] = [
        TextDelta("a"),
        Usage(prompt_tokens=10, completion_tokens=1, total_tokens=11),
        TextDelta("b"),
        Usage(prompt_tokens=10, completion_tokens=7, total_tokens=17),
        Finish("stop"),
    ]
    collector = collect(events)
    expected = {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17}
    assert collector.token_usage() == expected
    result = collector.result()
    assert result.llm_output is not None
    assert result.llm_output["token_usage"] == expected
    assert chat_generation(result).message.usage_metadata == {
        "input_tokens": 10,
        "output_tokens": 7,
        "total_tokens": 17,
    }


def test_usage_partial_report_keeps_earlier_fields() -> None:
    # Anthropic: message_start carries input tokens, message_delta output tokens.
    events: list[Event] = [
        Usage(prompt_tokens=25, completion_tokens=1),
        TextDelta("hi"),
        Usage(completion_tokens=15),
    ]
    assert collect(events).token_usage() == {
        "prompt_tokens": 25,
        "completion_tokens": 15,
        "total_tokens": 40,
    }


def test_usage_stale_total_not_kept() -> None:
    # The first report's total no longer matches once completion grew.
    events: list[Event] = [Usage(10, 1, 11), Usage(None, 9, None)]
    assert collect(events).token_usage()["total_tokens"] == 19


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (Usage(3, 4), {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}),
        (Usage(3, 4, 100), {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 100}),
        (Usage(0, 0), {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}),
        (Usage(None, None, 9), {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 9}),
        (Usage(), {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}),
        # One side unknown (e.g. Ollama omits the prompt count for a cached
        # prompt): it reads as 0, and the total agrees with the parts.
        (Usage(None, 5), {"prompt_tokens": 0, "completion_tokens": 5, "total_tokens": 5}),
        (Usage(6, None), {"prompt_tokens": 6, "completion_tokens": 0, "total_tokens": 6}),
    ],
)
def test_usage_total_computed_when_missing(usage: Usage, expected: dict[str, int]) -> None:
    assert collect([usage]).token_usage() == expected


def test_usage_extras_kept_beside_common_keys() -> None:
    events: list[Event] = [
        Usage(10, 2, 12, details={"prompt_tokens_details": {"cached_tokens": 4}, "cache_read": 1}),
        Usage(10, 5, 15, details={"completion_tokens_details": {"reasoning_tokens": 3}, "cache_read": 2}),
    ]
    usage = collect(events).token_usage()
    assert usage == {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 3},
        "cache_read": 2,  # the last report wins for extras too
    }
    assert list(usage)[:3] == ["prompt_tokens", "completion_tokens", "total_tokens"]


def test_usage_extras_never_override_common_keys() -> None:
    events: list[Event] = [Usage(1, 2, 3, details={"total_tokens": 999, "prompt_tokens": -1})]
    assert collect(events).token_usage() == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}


def test_usage_event_objects_not_mutated() -> None:
    first = Usage(1, 1, 2, details={"a": 1})
    second = Usage(None, 3, None, details={"b": 2})
    collect([first, second])
    assert first == Usage(1, 1, 2, details={"a": 1})
    assert second == Usage(None, 3, None, details={"b": 2})


def test_usage_shared_by_all_choices() -> None:
    events: list[Event] = [TextDelta("a", 0), TextDelta("b", 1), Usage(5, 6)]
    result = collect(events).result()
    assert [g.message.usage_metadata for g in result.generations[0] if isinstance(g, ChatGeneration)] == [
        {"input_tokens": 5, "output_tokens": 6, "total_tokens": 11}
    ] * 2


# --------------------------------------------------------------------------- n > 1


def test_choices_demultiplexed_by_index_and_ordered() -> None:
    events: list[Event] = [
        TextDelta("C", index=2),
        TextDelta("A", index=0),
        TextDelta("B", index=1),
        TextDelta("c", index=2),
        TextDelta("a", index=0),
        Finish("length", index=1),
        TextDelta("b", index=1),
        Finish("stop", index=2),
        Finish("stop", index=0),
    ]
    for chat in (True, False):
        collector = collect(events, chat=chat)
        assert collector.finished
        result = collector.result()
        assert len(result.generations) == 1
        gens = result.generations[0]
        assert [g.text for g in gens] == ["Aa", "Bb", "Cc"]
        assert [info(g)["finish_reason"] for g in gens] == ["stop", "length", "stop"]
        assert [collector.text(i) for i in range(3)] == ["Aa", "Bb", "Cc"]
        if chat:
            assert [g.message.content for g in gens if isinstance(g, ChatGeneration)] == ["Aa", "Bb", "Cc"]


def test_finished_requires_every_choice() -> None:
    collector = collect([TextDelta("a", 0), TextDelta("b", 1), Finish("stop", 0)])
    assert not collector.finished
    collector.feed(Finish("stop", 1))
    assert collector.finished


def test_choice_zero_never_seen_is_not_reported() -> None:
    # Only when other choices exist; a lone empty choice 0 is still the answer.
    events: list[Event] = [TextDelta("x", index=1), Finish("stop", index=1)]
    gens = collect(events).result().generations[0]
    assert [g.text for g in gens] == ["x"]


def test_choice_zero_with_only_a_finish_is_reported() -> None:
    events: list[Event] = [Finish("stop", 0), TextDelta("x", 1), Finish("stop", 1)]
    gens = collect(events).result().generations[0]
    assert [g.text for g in gens] == ["", "x"]


@pytest.mark.parametrize(
    "first",
    [
        RefusalDelta("no", 0),
        ThinkingDelta("hmm", 0),
        ToolCallStart(0, "call_1", "f", 0),
    ],
    ids=["refusal", "thinking", "tool_call"],
)
def test_choice_zero_with_only_non_text_content_is_reported(first: Event) -> None:
    # Mid-stream, choice 0 has produced something other than text: it must
    # still be generations[0][0], not be replaced by choice 1.
    events: list[Event] = [first, TextDelta("other", 1)]
    gens = collect(events).result().generations[0]
    assert [g.text for g in gens] == ["", "other"]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.text(max_size=5)),
        min_size=1,
        max_size=40,
    )
)
def test_property_demux_matches_per_choice_concatenation(pieces: list[tuple[int, str]]) -> None:
    collector = collect([TextDelta(text, index) for index, text in pieces])
    indexes = sorted({index for index, _ in pieces})
    expected = ["".join(text for i, text in pieces if i == index) for index in indexes]
    assert [collector.text(i) for i in indexes] == expected
    gens = collector.result().generations[0]
    assert [g.text for g in gens] == expected


# --------------------------------------------------------------------------- metadata


def test_message_start_model_and_id_into_llm_output() -> None:
    events: list[Event] = [
        MessageStart("gpt-4o-mini-2024-07-18", "chatcmpl-123", extra={"system_fingerprint": "fp_1"}),
        TextDelta("hi"),
        Finish("stop"),
    ]
    result = collect(events).result()
    assert result.llm_output == {
        "token_usage": {},
        "model_name": "gpt-4o-mini-2024-07-18",
        "id": "chatcmpl-123",
        "system_fingerprint": "fp_1",
    }
    gen = chat_generation(result)
    assert gen.message.id == "chatcmpl-123"
    assert gen.message.response_metadata == {
        "finish_reason": "stop",
        "model_name": "gpt-4o-mini-2024-07-18",
        "id": "chatcmpl-123",
    }


def test_message_start_without_id() -> None:
    result = collect([MessageStart("m"), TextDelta("x")]).result()
    assert result.llm_output == {"token_usage": {}, "model_name": "m"}
    gen = chat_generation(result)
    assert gen.message.id is None
    assert "id" not in gen.message.response_metadata


def test_later_message_start_does_not_erase_known_fields() -> None:
    events: list[Event] = [
        MessageStart("model-a", "id-1", extra={"a": 1}),
        MessageStart(None, None, extra={"b": 2}),
    ]
    result = collect(events).result()
    assert result.llm_output == {"token_usage": {}, "model_name": "model-a", "id": "id-1", "a": 1, "b": 2}


def test_completion_llm_output_has_model_and_id() -> None:
    events: list[Event] = [MessageStart("davinci", "cmpl-1"), TextDelta("x"), Usage(1, 1)]
    result = collect(events, chat=False).result()
    assert result.llm_output == {
        "token_usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        "model_name": "davinci",
        "id": "cmpl-1",
    }


# --------------------------------------------------------------------------- tool calls


def tool_calls(collector: Collector, index: int = 0) -> list[ToolCall]:
    gen = collector.result().generations[0][index]
    assert isinstance(gen, ChatGeneration)
    return gen.message.tool_calls


def test_tool_calls_assembled_in_call_index_order() -> None:
    events: list[Event] = [
        MessageStart("m", "r1"),
        ToolCallStart(1, "call_b", "get_time"),
        ToolCallStart(0, "call_a", "get_weather"),
        ToolCallDelta(0, '{"city": '),
        ToolCallDelta(1, '{"tz": "UTC"'),
        ToolCallDelta(0, '"Paris", "units": ["c", '),
        ToolCallDelta(1, "}"),
        ToolCallDelta(0, '"f"]}'),
        Finish("tool_calls"),
    ]
    collector = collect(events)
    calls = tool_calls(collector)
    assert calls == [
        ToolCall(id="call_a", name="get_weather", args={"city": "Paris", "units": ["c", "f"]}),
        ToolCall(id="call_b", name="get_time", args={"tz": "UTC"}),
    ]
    assert all(call.complete and call.raw_args is None for call in calls)
    gen = chat_generation(collector.result())
    assert gen.text == ""
    assert "tool_calls_incomplete" not in info(gen)
    assert info(gen)["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("parts", [[], [""], ["  ", "\n"]], ids=["none", "empty", "blank"])
def test_tool_call_empty_args_is_empty_dict(parts: list[str]) -> None:
    events: list[Event] = [ToolCallStart(0, "c", "no_args"), *(ToolCallDelta(0, p) for p in parts)]
    [call] = tool_calls(collect(events))
    assert call == ToolCall(id="c", name="no_args", args={})
    assert call.complete


def test_tool_call_truncated_json_is_incomplete() -> None:
    events: list[Event] = [
        ToolCallStart(0, "c0", "ok"),
        ToolCallDelta(0, '{"x": 1}'),
        ToolCallStart(1, "c1", "cut"),
        ToolCallDelta(1, '{"text": "a long'),
        ToolCallDelta(1, " answer"),
        Finish("length"),
    ]
    collector = collect(events)
    ok, cut = tool_calls(collector)
    assert ok == ToolCall(id="c0", name="ok", args={"x": 1})
    assert cut.name == "cut"
    assert cut.id == "c1"
    assert cut.complete is False
    assert cut.args == {}
    assert cut.raw_args == '{"text": "a long answer'
    gen = chat_generation(collector.result())
    assert info(gen)["tool_calls_incomplete"] is True


@pytest.mark.parametrize("raw", ["[1, 2]", '"text"', "42", "null"])
def test_tool_call_non_object_json_is_incomplete(raw: str) -> None:
    [call] = tool_calls(collect([ToolCallStart(0, "c", "f"), ToolCallDelta(0, raw)]))
    assert call.complete is False
    assert call.args == {}
    assert call.raw_args == raw


def test_tool_call_unicode_args_split_anywhere() -> None:
    raw = '{"q": "température °C \\u2028 😀", "n": [1, {"k": null}]}'
    for cut in range(len(raw) + 1):
        events: list[Event] = [
            ToolCallStart(0, "c", "f"),
            ToolCallDelta(0, raw[:cut]),
            ToolCallDelta(0, raw[cut:]),
        ]
        [call] = tool_calls(collect(events))
        assert call.args == {"q": "température °C \u2028 😀", "n": [1, {"k": None}]}, cut


def test_tool_calls_per_choice() -> None:
    events: list[Event] = [
        ToolCallStart(0, "a0", "f", index=0),
        ToolCallStart(0, "b0", "g", index=1),
        ToolCallDelta(0, '{"i": 0}', index=0),
        ToolCallDelta(0, '{"i": 1}', index=1),
    ]
    collector = collect(events)
    assert tool_calls(collector, 0) == [ToolCall(id="a0", name="f", args={"i": 0})]
    assert tool_calls(collector, 1) == [ToolCall(id="b0", name="g", args={"i": 1})]


def test_tool_call_fragment_before_its_start_is_kept() -> None:
    events: list[Event] = [
        ToolCallDelta(0, '{"a": '),
        ToolCallStart(0, "call_1", "f"),
        ToolCallDelta(0, "1}"),
    ]
    assert tool_calls(collect(events)) == [ToolCall(id="call_1", name="f", args={"a": 1})]


def test_tool_call_fragment_without_start() -> None:
    # Kept, but a call that never got a name cannot be run: not complete.
    assert tool_calls(collect([ToolCallDelta(0, '{"a": 1}')])) == [
        ToolCall(id=None, name="", args={"a": 1}, complete=False, raw_args='{"a": 1}')
    ]


def test_tool_call_repeated_start_keeps_arguments() -> None:
    # Some OpenAI-compatible servers resend id/name on later chunks.
    events: list[Event] = [
        ToolCallStart(0, "call_1", "f"),
        ToolCallDelta(0, '{"a": '),
        ToolCallStart(0, None, ""),
        ToolCallDelta(0, "1}"),
    ]
    assert tool_calls(collect(events)) == [ToolCall(id="call_1", name="f", args={"a": 1})]


def test_tool_calls_not_in_completion_results() -> None:
    events: list[Event] = [TextDelta("x"), ToolCallStart(0, "c", "f"), ToolCallDelta(0, "{}")]
    gen = only_generation(collect(events, chat=False).result())
    assert type(gen) is Generation
    assert gen.text == "x"
    assert "tool_calls_incomplete" not in info(gen)


# --------------------------------------------------------------------------- refusal / thinking


def test_refusal_kept_out_of_text() -> None:
    events: list[Event] = [RefusalDelta("I can't "), RefusalDelta("help."), Finish("stop")]
    gen = chat_generation(collect(events).result())
    assert gen.text == ""
    assert gen.message.content == ""
    assert info(gen)["refusal"] == "I can't help."
    assert gen.message.additional_kwargs == {"refusal": "I can't help."}


def test_thinking_kept_out_of_text() -> None:
    events: list[Event] = [
        ThinkingDelta("Let me "),
        ThinkingDelta("think."),
        ThinkingDelta("", signature="sig=="),
        TextDelta("Answer."),
        Finish("stop"),
    ]
    gen = chat_generation(collect(events).result())
    assert gen.text == "Answer."
    assert gen.message.content == "Answer."
    assert info(gen)["thinking"] == "Let me think."
    assert info(gen)["thinking_signature"] == "sig=="
    assert gen.message.additional_kwargs == {"thinking": "Let me think.", "thinking_signature": "sig=="}


def test_thinking_without_signature() -> None:
    gen = chat_generation(collect([ThinkingDelta("t"), TextDelta("a")]).result())
    assert info(gen)["thinking"] == "t"
    assert "thinking_signature" not in info(gen)


def test_refusal_and_thinking_absent_when_not_sent() -> None:
    gen = chat_generation(collect([TextDelta("a")]).result())
    assert "refusal" not in info(gen)
    assert "thinking" not in info(gen)
    assert gen.message.additional_kwargs == {}


def test_refusal_and_thinking_in_completion_mode() -> None:
    gen = only_generation(
        collect([ThinkingDelta("t"), RefusalDelta("r"), TextDelta("a")], chat=False).result()
    )
    assert gen.text == "a"
    assert info(gen)["thinking"] == "t"
    assert info(gen)["refusal"] == "r"


def test_refusal_and_thinking_per_choice() -> None:
    events: list[Event] = [
        TextDelta("a", 0),
        RefusalDelta("no", 1),
        ThinkingDelta("hm", 2),
        TextDelta("c", 2),
    ]
    gens = collect(events).result().generations[0]
    assert [g.text for g in gens] == ["a", "", "c"]
    assert [info(g).get("refusal") for g in gens] == [None, "no", None]
    assert [info(g).get("thinking") for g in gens] == [None, None, "hm"]


# --------------------------------------------------------------------------- mid-stream


def test_result_mid_stream_is_partial_and_does_not_disturb_state() -> None:
    collector = Collector(chat=True)
    collector.feed(MessageStart("m", "r"))
    collector.feed(TextDelta("Hel"))
    collector.feed(ToolCallStart(0, "c", "f"))
    collector.feed(ToolCallDelta(0, '{"a": '))

    partial = collector.result()
    gen = chat_generation(partial)
    assert gen.text == "Hel"
    assert info(gen)["finish_reason"] is None
    assert info(gen)["tool_calls_incomplete"] is True
    assert gen.message.tool_calls[0].raw_args == '{"a": '
    assert partial.llm_output is not None
    assert partial.llm_output["model_name"] == "m"
    assert collector.result() == partial  # asking twice changes nothing

    collector.feed(TextDelta("lo"))
    collector.feed(ToolCallDelta(0, "1}"))
    collector.feed(Usage(3, 2))
    collector.feed(Finish("stop"))
    final = collector.result()
    gen = chat_generation(final)
    assert gen.text == "Hello"
    assert gen.message.tool_calls == [ToolCall(id="c", name="f", args={"a": 1})]
    assert "tool_calls_incomplete" not in info(gen)
    assert info(gen)["finish_reason"] == "stop"
    assert final.token_usage == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    # The earlier snapshot was not changed by later events.
    assert chat_generation(partial).text == "Hel"
    assert partial.token_usage == {}


def test_result_at_every_prefix() -> None:
    events: list[Event] = [
        MessageStart("m", "r"),
        TextDelta("a"),
        ThinkingDelta("t"),
        TextDelta("b"),
        Usage(1, 1),
        TextDelta("c"),
        Usage(1, 3),
        Finish("stop"),
    ]
    collector = Collector(chat=True)
    text = ""
    for event in events:
        collector.feed(event)
        if isinstance(event, TextDelta):
            text += event.text
        gen = chat_generation(collector.result())
        assert gen.text == text
        assert gen.message.content == text


def test_result_round_trips_through_pydantic() -> None:
    events: list[Event] = [
        MessageStart("m", "r", extra={"system_fingerprint": "fp"}),
        TextDelta("a", logprobs=[_lp("a", -1)]),
        RefusalDelta("r"),
        ThinkingDelta("t", signature="s"),
        ToolCallStart(0, "c", "f"),
        ToolCallDelta(0, '{"x": 1'),
        Usage(1, 2, details={"cached": 0}),
        Finish("length"),
    ]
    result = collect(events, run_id=uuid4()).result()
    assert LLMResult.model_validate_json(result.model_dump_json()).model_dump() == result.model_dump()
