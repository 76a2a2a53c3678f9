"""StreamingStdOutCallbackHandler's modes for concurrent answers, and reading n>1 choices apart.

Concurrent prompts (and the choices of ``n > 1``) interleave their tokens
on the wire; ``mode="tokens"`` (LangChain's behaviour, the default) prints
them as they come, ``mode="lines"`` prints whole lines with a label per
answer, ``mode="answers"`` prints each answer whole when it ends.
"""

from __future__ import annotations

import io
import re
from typing import Any
from uuid import UUID

import pytest

from streamkit import (
    APIConnectionError,
    ChatOpenAI,
    HumanMessage,
    InvalidArgumentError,
    OpenAI,
    StreamStateError,
)
from streamkit.callbacks import (
    BackgroundHandler,
    BaseCallbackHandler,
    LabelInfo,
    StreamingStdOutCallbackHandler,
)
from streamkit.testing import MockResponse, MockServer

# Two answers, several lines each, every word naming its answer ("a..." / "b...").
A_TEXT = "a1 a2 a3\na4 a5 a6 a7\na8"
B_TEXT = "b1 b2\nb3 b4 b5 b6\nb7 b8 b9"
A_LINES = ["a1 a2 a3", "a4 a5 a6 a7", "a8"]
B_LINES = ["b1 b2", "b3 b4 b5 b6", "b7 b8 b9"]


class TokenOrder(BaseCallbackHandler):
    """Records which run each token belonged to, in the order handlers saw them."""

    def __init__(self) -> None:
        self.runs: list[UUID] = []

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.runs.append(kwargs["run_id"])

    def overlapped(self) -> bool:
        """Did a second run's token come before the first run's last one?"""
        first = self.runs[0]
        last_of_first = max(i for i, r in enumerate(self.runs) if r == first)
        return any(r != first for r in self.runs[:last_of_first])


def enqueue_two(server: MockServer) -> None:
    # A delay before every token, so that the two streams interleave.
    server.enqueue(MockResponse(text=A_TEXT, delay=0.005), MockResponse(text=B_TEXT, delay=0.005))


def by_label(lines: list[str]) -> dict[str, list[str]]:
    """``[n] text`` lines grouped by label, in order."""
    groups: dict[str, list[str]] = {}
    for line in lines:
        match = re.fullmatch(r"(\[\d+\]) (.*)", line)
        assert match, f"an unlabelled line: {line!r}"
        groups.setdefault(match.group(1), []).append(match.group(2))
    return groups


async def test_lines_mode_keeps_concurrent_answers_apart(mock_server: MockServer) -> None:
    enqueue_two(mock_server)
    out = io.StringIO()
    order = TokenOrder()
    handler = StreamingStdOutCallbackHandler(out, mode="lines")
    async with OpenAI(base_url=mock_server.openai_base_url, streaming=True) as llm:
        result = await llm.generate(["first", "second"], callbacks=[handler, order])
    assert order.overlapped()  # the tokens really did arrive interleaved
    text = out.getvalue()
    assert text.endswith("\n")
    groups = by_label(text.splitlines())
    assert sorted(groups) == ["[1]", "[2]"]
    assert sorted(groups.values()) == [A_LINES, B_LINES]  # every line whole, each answer in order
    assert sorted(g[0].text for g in result.generations) == [A_TEXT, B_TEXT]


async def test_tokens_mode_is_unchanged_and_interleaves(mock_server: MockServer) -> None:
    """The default writes each token as it comes and nothing else (LangChain's handler)."""
    enqueue_two(mock_server)
    out = io.StringIO()
    order = TokenOrder()
    async with OpenAI(base_url=mock_server.openai_base_url, streaming=True) as llm:
        await llm.generate(["first", "second"], callbacks=[StreamingStdOutCallbackHandler(out), order])
    assert order.overlapped()
    text = out.getvalue()
    assert "[" not in text and len(text) == len(A_TEXT) + len(B_TEXT)
    words = re.findall(r"[ab]\d", text)
    assert sorted(words) == sorted(re.findall(r"[ab]\d", A_TEXT + B_TEXT))


async def test_answers_mode_writes_each_answer_whole(mock_server: MockServer) -> None:
    enqueue_two(mock_server)
    out = io.StringIO()
    order = TokenOrder()
    handler = StreamingStdOutCallbackHandler(out, mode="answers")
    async with ChatOpenAI(base_url=mock_server.openai_base_url, streaming=True) as chat:
        await chat.generate(
            [[HumanMessage(content="first")], [HumanMessage(content="second")]], callbacks=[handler, order]
        )
    assert order.overlapped()
    lines = out.getvalue().splitlines()
    assert out.getvalue().endswith("\n") and len(lines) == 6
    # Contiguous: the first three lines are one answer, the last three the other.
    first, second = by_label(lines[:3]), by_label(lines[3:])
    assert len(first) == len(second) == 1 and first.keys() != second.keys()
    assert sorted([*first.values(), *second.values()]) == [A_LINES, B_LINES]


async def test_label_format_string_and_function(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text="one two\nthree"), MockResponse(text="four"))
    out = io.StringIO()
    handler = StreamingStdOutCallbackHandler(out, mode="lines", label="{prompt:.5}| ")
    async with ChatOpenAI(base_url=mock_server.openai_base_url, streaming=True) as chat:
        # A chat model's prompt field is its last message's text.
        await chat(
            [HumanMessage(content="earlier"), HumanMessage(content="Tell me a joke")], callbacks=[handler]
        )
        assert out.getvalue() == "Tell | one two\nTell | three\n"

        seen: list[LabelInfo] = []

        def label(info: LabelInfo) -> str:
            seen.append(info)
            return f"<{info.run}:{info.index}/{info.n}> "

        stream = chat.stream(
            "hello", callbacks=[StreamingStdOutCallbackHandler(out, mode="lines", label=label)]
        )
        await stream.collect()
    assert out.getvalue().endswith("Tell | three\n<1:0/1> four\n")
    assert seen == [LabelInfo(run=1, index=0, n=1, prompt="hello", run_id=stream.run_id)]


async def test_runs_are_numbered_from_one_again_once_none_is_in_progress(mock_server: MockServer) -> None:
    out = io.StringIO()
    handler = StreamingStdOutCallbackHandler(out, mode="lines")
    async with OpenAI(base_url=mock_server.openai_base_url, streaming=True, callbacks=[handler]) as llm:
        mock_server.enqueue(MockResponse(text="x"))
        await llm("one")
        mock_server.enqueue(MockResponse(text="y"))
        await llm("two")
        async with llm.stream("outer") as outer:
            mock_server.enqueue(MockResponse(text="p"), MockResponse(text="q"))
            await anext(aiter(outer))  # started: [1]
            await llm("inner")  # meanwhile: [2]
            async for _ in outer:
                pass
    assert out.getvalue() == "[1] x\n[1] y\n[2] q\n[1] p\n"


async def test_interrupted_answer_is_written_as_far_as_it_got_and_marked(mock_server: MockServer) -> None:
    # The connection drops after the third event (a legacy Completions stream: one per token).
    for mode, expected in (
        ("lines", "[1] line one\n[1] line [interrupted: {error}]\n"),
        ("answers", "[1] line one\n[1] line [interrupted: {error}]\n"),
    ):
        mock_server.enqueue(MockResponse(tokens=["line", " one\n", "line", " two"], drop_after=3))
        out = io.StringIO()
        handler = StreamingStdOutCallbackHandler(out, mode=mode)  # type: ignore[arg-type]
        async with OpenAI(base_url=mock_server.openai_base_url, streaming=True) as llm:
            with pytest.raises(APIConnectionError) as caught:
                await llm("x", callbacks=[handler])
        assert out.getvalue() == expected.format(error=type(caught.value).__name__), mode


async def test_abandoned_answer_is_marked(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(text="one two\nthree four"))
    out = io.StringIO()
    handler = StreamingStdOutCallbackHandler(out, mode="lines")
    async with ChatOpenAI(base_url=mock_server.openai_base_url, streaming=True) as chat:
        async with chat.stream("x", callbacks=[handler]) as stream:
            async for token in stream:
                if token.startswith("\n") or token.endswith("\n") or "three" in token:
                    break
    assert out.getvalue().startswith("[1] one two\n")
    assert out.getvalue().endswith(" [interrupted: StreamAbandoned]\n")


async def test_tokens_mode_writes_nothing_of_its_own_on_error(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(tokens=["line", " one", " two"], drop_after=2))
    out = io.StringIO()
    async with OpenAI(base_url=mock_server.openai_base_url, streaming=True) as llm:
        with pytest.raises(APIConnectionError):
            await llm("x", callbacks=[StreamingStdOutCallbackHandler(out)])
    assert out.getvalue() == "line one"


async def test_lines_mode_labels_each_choice_of_n(mock_server: MockServer) -> None:
    # The mock sends the choices' tokens round-robin: interleaved on the wire.
    mock_server.enqueue(MockResponse(choices=["zero one\nzero two", "one one one\none two"]))
    out = io.StringIO()
    handler = StreamingStdOutCallbackHandler(out, mode="lines")
    async with ChatOpenAI(base_url=mock_server.openai_base_url, streaming=True, n=2) as chat:
        await chat("x", callbacks=[handler])
    groups: dict[str, list[str]] = {}
    for line in out.getvalue().splitlines():
        label, _, text = line.partition(" ")
        groups.setdefault(label, []).append(text)
    assert groups == {"[1.0]": ["zero one", "zero two"], "[1.1]": ["one one one", "one two"]}


async def test_answers_mode_in_a_background_handler(mock_server: MockServer) -> None:
    """Run in worker threads (a BackgroundHandler), the writes still never mix."""
    enqueue_two(mock_server)
    out = io.StringIO()
    handler = BackgroundHandler(StreamingStdOutCallbackHandler(out, mode="answers"))
    async with OpenAI(base_url=mock_server.openai_base_url, streaming=True) as llm:
        await llm.generate(["first", "second"], callbacks=[handler])
    lines = out.getvalue().splitlines()
    first, second = by_label(lines[:3]), by_label(lines[3:])
    assert sorted([*first.values(), *second.values()]) == [A_LINES, B_LINES]


def test_bad_arguments_are_rejected_naming_them() -> None:
    with pytest.raises(InvalidArgumentError, match="mode must be one of 'tokens', 'lines', 'answers'"):
        StreamingStdOutCallbackHandler(mode="words")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="label= needs mode='lines' or mode='answers'"):
        StreamingStdOutCallbackHandler(label="[{run}] ")
    with pytest.raises(InvalidArgumentError, match=r"\{run\}, \{index\}, \{n\}, \{prompt\}, \{run_id\}"):
        StreamingStdOutCallbackHandler(mode="lines", label="{name}: ")
    with pytest.raises(InvalidArgumentError, match="not int"):
        StreamingStdOutCallbackHandler(mode="lines", label=3)  # type: ignore[arg-type]


# -- n > 1: each choice's tokens, on the stream ---------------------------------------


async def test_choice_tokens_tells_the_choices_apart(mock_server: MockServer) -> None:
    mock_server.enqueue(MockResponse(choices=["first answer here", "second one", "third is longest of all"]))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, streaming=True, n=3) as chat:
        texts = ["", "", ""]
        order = []
        async with chat.stream("x") as stream:
            async for index, token in stream.choice_tokens():
                texts[index] += token
                order.append(index)
        assert texts == ["first answer here", "second one", "third is longest of all"]
        assert texts == [g.text for g in stream.result.generations[0]]
        assert order[:6] == [0, 1, 2, 0, 1, 2]  # interleaved on the wire, told apart here
        with pytest.raises(StreamStateError):
            stream.choice_tokens()  # one pass: a finished stream is not read again

        mock_server.enqueue(MockResponse(text="just one"))
        async with chat.stream("y", n=1) as single:
            pairs = [pair async for pair in single.choice_tokens()]
            assert pairs == [(0, "just"), (0, " one")]

        mock_server.enqueue(MockResponse(text="a b"))
        async with chat.stream("z") as other:
            async for _ in other:
                break
            with pytest.raises(StreamStateError, match="already being read another way"):
                other.choice_tokens()


async def test_mock_server_gives_n_choices_when_none_are_scripted(mock_server: MockServer) -> None:
    async with ChatOpenAI(base_url=mock_server.openai_base_url, streaming=True, n=2) as chat:
        result = await chat.generate([[HumanMessage(content="hello there")]])
        plain = await ChatOpenAI(base_url=mock_server.openai_base_url, n=2).generate(
            [[HumanMessage(content="hello there")]]
        )
    texts = [g.text for g in result.generations[0]]
    assert len(texts) == 2 and texts[0] == texts[1] != ""
    assert [g.text for g in plain.generations[0]] == texts  # not streamed: the same two
