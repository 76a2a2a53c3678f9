"""The blocking API (``invoke``, ``stream_sync``, ``batch``, ``generate_sync``, ``close``).

Plain ``def`` tests, as a script would call it: no event loop in the test's
thread. The mock server runs on its own loop in a background thread (an
anyio blocking portal); the model runs on its private loop thread.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from streamkit import (
    AIMessage,
    Anthropic,
    AuthenticationError,
    ChatAnthropic,
    ChatOpenAI,
    HumanMessage,
    InvalidArgumentError,
    LLMResult,
    OpenAI,
    OverloadedError,
    StreamAbandoned,
    StreamkitError,
)
from streamkit.callbacks import BaseCallbackHandler
from streamkit.events import Finish, TextDelta
from streamkit.sync import BlockingCallError
from streamkit.testing import MockResponse, MockServer

#: 20 words, a long pause before each: a stream that is still going when the test leaves it.
SLOW = MockResponse(text=" ".join(f"w{i}" for i in range(20)), delay=0.5)


class Served:
    """The mock server, running on a loop in another thread."""

    def __init__(self, server: MockServer, portal: BlockingPortal) -> None:
        self.server = server
        self.portal = portal

    def disconnected(self) -> bool:
        """Wait (up to 10 s) until a client abandons a stream; True if one did."""
        return self.portal.call(functools.partial(self.server.wait_for_disconnect, 10.0))


@pytest.fixture
def served() -> Iterator[Served]:
    with start_blocking_portal() as portal:
        server = MockServer()
        portal.call(server.start)
        try:
            yield Served(server, portal)
        finally:
            portal.call(server.close)


class Errors(BaseCallbackHandler):
    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.errors.append(error)


def sync_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("streamkit-sync-")]


def test_invoke_returns_the_answer_without_an_event_loop(served: Served) -> None:
    url = served.server.openai_base_url
    served.server.enqueue(MockResponse(text="Hello there."), MockResponse(text="Plain text."))
    with ChatOpenAI(base_url=url, api_key="k") as chat, OpenAI(base_url=url, api_key="k") as llm:
        message = chat.invoke("hi", temperature=0.5)
        text = llm.invoke("hi")
    assert isinstance(message, AIMessage) and message.content == "Hello there."
    assert message.usage_metadata is not None and message.usage_metadata["output_tokens"] == 2
    assert text == "Plain text."
    assert served.server.requests[0].json["temperature"] == 0.5
    served.server.enqueue(MockResponse(text="Bonjour"), MockResponse(text="Salut"))
    url = served.server.anthropic_base_url
    with ChatAnthropic(base_url=url, api_key="k") as claude, Anthropic(base_url=url, api_key="k") as prompt:
        assert claude.invoke("hi").content == "Bonjour"
        assert prompt.invoke("hi") == "Salut"
    assert served.server.requests[-1].path == "/v1/messages"


def test_a_for_loop_gets_the_tokens_then_the_result(served: Served) -> None:
    served.server.enqueue(MockResponse(text="one two three", chunk_size=5))
    with ChatOpenAI(base_url=served.server.openai_base_url, api_key="k") as chat:
        with chat.stream_sync("count") as stream:
            tokens = [token for token in stream]
        assert tokens == ["one", " two", " three"]
        assert stream.finished and stream.text == "one two three"
        assert stream.result.llm_output is not None
        assert stream.result.llm_output["token_usage"]["completion_tokens"] == 3
        served.server.enqueue(MockResponse(text="a b"))
        events = list(chat.stream_sync("x").events())
        assert [e.text for e in events if isinstance(e, TextDelta)] == ["a", " b"]
        assert isinstance(events[-1], Finish) or any(isinstance(e, Finish) for e in events)
        served.server.enqueue(MockResponse(text="c d"))
        stream = chat.stream_sync("x")
        assert next(stream) == "c" and next(stream) == " d"
        with pytest.raises(StopIteration):
            next(stream)
        served.server.enqueue(MockResponse(text="e f"))
        assert chat.stream_sync("x").collect().generations[0][0].text == "e f"


def test_break_closes_the_connection_at_once(served: Served) -> None:
    served.server.enqueue(SLOW)
    handler = Errors()
    with ChatOpenAI(base_url=served.server.openai_base_url, api_key="k", callbacks=[handler]) as chat:
        for token in chat.stream_sync("hi"):
            assert token == "w0"
            break
        # Closed at the break itself: the handlers were told before the next line.
        assert len(handler.errors) == 1 and isinstance(handler.errors[0], StreamAbandoned)
        assert served.disconnected()
        assert served.server.disconnects == 1 and served.server.completed == 0
        assert handler.errors[0].partial_result is not None
        assert handler.errors[0].partial_result.generations[0][0].text.startswith("w0")


def test_an_exception_in_the_loop_body_closes_the_connection(served: Served) -> None:
    served.server.enqueue(SLOW)
    with ChatOpenAI(base_url=served.server.openai_base_url, api_key="k") as chat:
        with pytest.raises(ZeroDivisionError), chat.stream_sync("hi") as stream:
            for _ in stream:
                1 / 0  # noqa: B018
        assert served.disconnected()
        assert served.server.completed == 0


def test_batch_and_generate_sync_keep_input_order(served: Served) -> None:
    served.server.responder = lambda request: MockResponse(
        text=f"re: {request.json['messages'][-1]['content']}", delay=0.01
    )
    with ChatOpenAI(base_url=served.server.openai_base_url, api_key="k") as chat:
        answers = chat.batch(["a", "b", "c"], max_concurrency=2)
        result = chat.generate_sync([[HumanMessage(content="d")], "e"])
    assert [a.content for a in answers] == ["re: a", "re: b", "re: c"]
    assert all(isinstance(a, AIMessage) for a in answers)
    assert isinstance(result, LLMResult)
    assert [g[0].text for g in result.generations] == ["re: d", "re: e"]
    assert result.llm_output is not None and result.llm_output["token_usage"]["completion_tokens"] == 4
    served.server.responder = None
    with OpenAI(base_url=served.server.openai_base_url, api_key="k") as llm:
        with pytest.raises(InvalidArgumentError, match="generate_sync"):
            llm.batch(["a"], return_exceptions=True)
        assert llm.batch(["Tell me a joke."]) == [
            "Why did the scarecrow win an award? Because he was outstanding in his field."
        ]


def test_threads_can_share_one_model(served: Served) -> None:
    served.server.responder = lambda request: MockResponse(
        text=f"re: {request.json['messages'][-1]['content']}", delay=0.01
    )
    answers: dict[int, str] = {}
    with ChatOpenAI(base_url=served.server.openai_base_url, api_key="k") as chat:

        def ask(i: int) -> None:
            answers[i] = str(chat.invoke(f"q{i}").content)

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert answers == {i: f"re: q{i}" for i in range(4)}


def test_errors_are_the_same_typed_errors(served: Served) -> None:
    served.server.enqueue(MockResponse(status=401, error={"error": {"message": "bad key"}}))
    with ChatOpenAI(base_url=served.server.openai_base_url, api_key="k", max_retries=0) as chat:
        with pytest.raises(AuthenticationError, match="bad key"):
            chat.invoke("hi")
        served.server.enqueue(MockResponse(text="one two three four", error_after=3))
        got: list[str] = []
        with pytest.raises(OverloadedError) as caught:
            for token in chat.stream_sync("hi"):
                got.append(token)
    assert got == ["one", " two"]  # the tokens before the error reached the loop first
    assert caught.value.partial_result is not None
    assert caught.value.partial_result.generations[0][0].text == "one two"


def test_close_and_with_stop_the_loop_thread(served: Served) -> None:
    before = len(sync_threads())
    chat = ChatOpenAI(base_url=served.server.openai_base_url, api_key="k")
    chat.invoke("hi")
    assert len(sync_threads()) == before + 1
    chat.close()
    assert len(sync_threads()) == before
    chat.close()  # idempotent
    assert chat.invoke("again").content.endswith("again")  # a new loop, on demand
    with chat:
        pass
    assert len(sync_threads()) == before


def test_a_model_never_closed_is_cleaned_up_when_collected(served: Served) -> None:
    before = len(sync_threads())
    chat = ChatOpenAI(base_url=served.server.openai_base_url, api_key="k")
    chat.invoke("hi")
    thread = sync_threads()[-1]
    del chat
    gc.collect()
    thread.join(10)
    assert not thread.is_alive()
    assert len(sync_threads()) == before
    # A temporary model lives as long as the stream read from it.
    served.server.enqueue(MockResponse(text="still here", delay=0.01))
    assert list(ChatOpenAI(base_url=served.server.openai_base_url, api_key="k").stream_sync("x")) == [
        "still",
        " here",
    ]


async def test_blocking_calls_refuse_to_run_inside_an_event_loop(mock_server: MockServer) -> None:
    chat = ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k")
    calls = {
        "invoke": (lambda: chat.invoke("hi"), "await llm(...)"),
        "stream_sync": (lambda: chat.stream_sync("hi"), "async for token in llm.stream(...)"),
        "batch": (lambda: chat.batch(["hi"]), "await llm.generate([...])"),
        "generate_sync": (lambda: chat.generate_sync(["hi"]), "await llm.generate([...])"),
        "close": (chat.close, "await llm.aclose()"),
    }
    for name, (call, instead) in calls.items():
        with pytest.raises(BlockingCallError) as caught:
            call()
        message = str(caught.value)
        assert f"ChatOpenAI.{name}()" in message and instead in message and "event loop" in message
        assert isinstance(caught.value, StreamkitError) and isinstance(caught.value, RuntimeError)
    assert mock_server.requests == []  # nothing was sent
    assert not sync_threads()
    await chat.aclose()


def test_a_call_never_awaited_warns_and_names_the_fix() -> None:
    chat = ChatOpenAI(base_url="http://127.0.0.1:9/v1", api_key="k")
    with pytest.warns(RuntimeWarning) as caught:
        chat("hi")  # type: ignore[unused-coroutine]
        gc.collect()
    assert len(caught) == 1  # ours only: not Python's own "coroutine ... was never awaited"
    message = str(caught[0].message)
    assert "never awaited" in message and "await llm(...)" in message and "llm.invoke(...)" in message
    assert caught[0].filename == __file__  # points at the line that made the call
    with pytest.warns(RuntimeWarning, match=r"await llm\.generate\(\.\.\.\).*llm\.generate_sync") as caught:
        pending = chat.generate(["hi"])
        del pending
        gc.collect()
    assert len(caught) == 1


async def test_awaited_calls_do_not_warn(mock_server: MockServer) -> None:
    # Any warning fails the test (filterwarnings = error): awaiting, tasks and gather still work.
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        assert (await chat("a")).content.endswith("a")
        task = asyncio.create_task(chat("b"))
        result, message = await asyncio.gather(chat.generate(["c"]), task)
        assert result.generations[0][0].text.endswith("c") and message.content.endswith("b")
        assert (await chat.ainvoke("d")).content.endswith("d")
        pending = chat("e")
        assert repr(pending).startswith("<streamkit call (not awaited yet")
        pending.close()  # closed on purpose: no warning
    assert len(mock_server.requests) == 4


def test_a_call_made_outside_any_loop_runs_with_asyncio_run(served: Served) -> None:
    # "Connection: close": asyncio.run's loop ends with the call, and no pooled connection may outlive it.
    chat = ChatOpenAI(
        base_url=served.server.openai_base_url, api_key="k", default_headers={"Connection": "close"}
    )
    assert asyncio.run(chat("hi")).content.endswith("hi")  # a coroutine, as asyncio.run requires


SCRIPT = textwrap.dedent(
    """
    import signal, sys, threading
    from streamkit import ChatOpenAI
    from streamkit.callbacks import BaseCallbackHandler

    url, mode = sys.argv[1], sys.argv[2]

    class Errors(BaseCallbackHandler):
        def on_llm_error(self, error, **kwargs):
            print("handler:", type(error).__name__, flush=True)

    def interrupt_soon():
        main = threading.main_thread().ident
        threading.Timer(0.2, signal.pthread_kill, (main, signal.SIGINT)).start()

    if mode == "plain":
        # A script that never closes anything, and exits.
        print(ChatOpenAI(base_url=url, api_key="k").invoke("hi").content)
        kept = ChatOpenAI(base_url=url, api_key="k")
        print("".join(kept.stream_sync("Tell me a joke.")))
    else:
        chat = ChatOpenAI(base_url=url, api_key="k", callbacks=[Errors()], streaming=True)
        try:
            if mode == "ctrl-c-stream":
                for token in chat.stream_sync("hi"):
                    print("token:", token, flush=True)
                    interrupt_soon()
            else:
                interrupt_soon()
                chat.invoke("hi")
        except KeyboardInterrupt:
            print("interrupted", flush=True)
    """
)


def run_script(served: Served, mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "always::ResourceWarning", "-c", SCRIPT, served.server.openai_base_url, mode],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_plain_script_exits_cleanly_without_closing(served: Served) -> None:
    done = run_script(served, "plain")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "This is the streamkit mock server answering: hi",
        "Why did the scarecrow win an award? Because he was outstanding in his field.",
    ]
    assert done.stderr == ""  # no unclosed session, transport or socket


@pytest.mark.parametrize("mode", ["ctrl-c-stream", "ctrl-c-invoke"])
def test_ctrl_c_cancels_the_request_and_closes_its_connection(served: Served, mode: str) -> None:
    served.server.enqueue(SLOW)
    done = run_script(served, mode)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # The handlers heard of the cancellation before KeyboardInterrupt reached the script.
    assert lines[-2:] == ["handler: StreamAbandoned", "interrupted"], done.stdout + done.stderr
    assert served.disconnected()
    assert served.server.completed == 0


README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_blocking_examples_run_as_a_plain_script(served: Served) -> None:
    """The README's ```python sync blocks, each run by plain ``python`` (no event loop)."""
    blocks = re.findall(r"```python sync\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))}
    env.update(
        OPENAI_BASE_URL=served.server.openai_base_url,
        OPENAI_API_KEY="sk-readme-test",
        ANTHROPIC_BASE_URL=served.server.anthropic_base_url,
        ANTHROPIC_API_KEY="sk-ant-readme-test",
    )
    out = ""
    for block in blocks:
        done = subprocess.run(
            [sys.executable, "-W", "error", "-c", block], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        out += done.stdout
    assert "Bubbles rising" in out  # the song, streamed by the for loop
    assert "prompt_tokens" in out  # the usage of generate_sync
    assert len(served.server.requests) >= 5


def test_readme_blocking_calls_appear_only_in_plain_script_blocks() -> None:
    """Every other python block runs under top-level await (tests/test_readme.py), where a
    blocking call raises; the blocking examples carry the ``python sync`` marker instead."""
    blocks = re.findall(r"```(python[^\n]*)\n(.*?)```", README.read_text(), flags=re.S)
    assert any(info == "python" for info, _ in blocks)
    for info, body in blocks:
        blocking = re.search(r"\.(invoke|stream_sync|generate_sync|batch|close)\(", body)
        assert (info == "python sync") == bool(blocking), (info, body[:200])
