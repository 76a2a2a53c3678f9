"""Wild wire (issue #9): what real servers send, replayed over real sockets.

Every entry of every ``tests/fixtures/wild/*/expected.json`` (see that
folder's README: ten cases from the team's shared store, the rest written
from the public docs, source and issue trackers of vLLM, Ollama, llama.cpp,
Mistral, Groq, OpenRouter, DeepSeek, ``transformers serve``, Envoy and
Anthropic) is served byte for byte by the loopback ``MockServer`` -- whole,
and one byte per write -- and read the way a user reads a stream::

    async for token in llm.stream("hi"): ...
    stream.result

A success must match every value ``expect`` gives; a failure must be the
typed error ``expect_error`` names, with the partial result and the tokens
the consumer already got. Every case is also run with a callback handler,
which must see only ``str`` tokens and exactly one of ``on_llm_end`` /
``on_llm_error``. Separate tests check what the tables cannot say: case 17
returns at ``[DONE]`` and closes the connection, and the Anthropic blocks of
cases 08 and 10 go back to the server unchanged in the next request.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from wire_replay import replay

from streamkit import ChatAnthropic, ChatOpenAI, OpenAI
from streamkit import errors as sk_errors
from streamkit.callbacks import AsyncCallbackHandler
from streamkit.deadlines import Timeouts
from streamkit.messages import HumanMessage, ToolMessage
from streamkit.results import ChatGeneration, LLMResult
from streamkit.testing import MockResponse, MockServer

WILD = Path(__file__).parent / "fixtures" / "wild"
CHUNKINGS = ("whole", "1byte")

# The shared cases must stay the exact bytes of ../shared/fixtures/wild.
SHARED_SHA256 = {
    "01-azure-filter-first-chunk/input-async-filter.sse": "0f990d060088c92e98c7effff0fc7d74758626f57a536e2d80d46634b15816b5",
    "01-azure-filter-first-chunk/input.sse": "5a01a3110a513471cbc62505141c0474df40d441e301889a65b8bed78da33e9d",
    "03-toolcalls-reused-index/input.sse": "b075a29c785ef3fdef80c7157c059f868099c7f56ebf52118b409c80aadf0d5f",
    "05-content-parts-list/input.sse": "63274fa4c45fa8753997385eafa4ee88618e747ba3c7a13a4176a06f3f1573dd",
    "06-toolcall-name-later/input.sse": "e3a0b73b9c33413b25553923ebbd42ba47f8eff6ae103c494f53a0b06ee5be44",
    "08-anthropic-redacted-thinking/input.sse": "8b2bc5ab8145883022ebf0f0328b082f8c5b3b988348b4f4c2cbc2d40626ef0f",
    "10-anthropic-server-tool-use/input.sse": "73935e52ea13cd590dac99250efaa8a72602bad790833f1b0865e8f03d91e0bc",
    "11-anthropic-cache-usage/input.sse": "1880dd493d7d62b33d6a1866a86529f2f357709bea0ddd9884625a3a04291782",
    "14-done-without-finish/input-event-error.sse": "9e4aa6119ccc9d0977e067372b9cdc18df07ebbeabb505361539cf5c84b25588",
    "14-done-without-finish/input-only-done.sse": "d8d37da081f11203f2af42092a92cb35508f27db75eba643058a0a580454517d",
    "14-done-without-finish/input.sse": "43cd66eea2e4478e2ee4554e00e84166f4afaa679608b9a6d86e575f7be5e8f7",
    "16-json-error-body-200/input-bare.json": "0057e84640007ea62b94ce9f26422651e7008e18f22e76802601e343d153df54",
    "16-json-error-body-200/input.json": "93f0bb78e9663edd8750d56014d212cc792ba00f228e583499422a290dc4c19e",
    "17-after-done-abort-or-hold/input.sse": "578534476452b69be561c30f9cd57f519fc556179810b9ef29667d113c7983ad",
}

PROVIDERS = ("openai_chat", "openai_completions", "anthropic")
EXPECT_KEYS = {
    "text",
    "finish_reason",
    "thinking",
    "model_name",
    "id",
    "system_fingerprint",
    "created",
    "tool_calls",
    "token_usage",
    "usage_metadata",
}
ERROR_KEYS = {
    "type",
    "not_type",
    "message_contains",
    "message_excludes",
    "partial_text",
    "tokens",
    "status_code",
}


@dataclass(frozen=True)
class Case:
    folder: str
    entry: dict[str, Any]
    body: bytes

    @property
    def id(self) -> str:
        name = self.entry["input"].rsplit(".", 1)[0]
        after = self.entry.get("server", {}).get("after_body")
        return f"{self.folder}/{name}" + (f"-{after}" if after else "")


def _load() -> list[Case]:
    cases = []
    for folder in sorted(p for p in WILD.iterdir() if p.is_dir()):
        for entry in json.loads((folder / "expected.json").read_text("utf-8"))["cases"]:
            cases.append(Case(folder.name, entry, (folder / entry["input"]).read_bytes()))
    return cases


CASES = _load()


def _params(with_chunking: bool = True) -> list[Any]:
    if not with_chunking:
        return [pytest.param(case, id=case.id) for case in CASES]
    return [
        pytest.param(case, chunking, id=f"{case.id}-{chunking}") for case in CASES for chunking in CHUNKINGS
    ]


# -- the data itself ---------------------------------------------------------


def test_fixture_table_is_well_formed() -> None:
    """Every entry follows the schema (a typo would silently check nothing)."""
    folders = {p.name for p in WILD.iterdir() if p.is_dir()}
    assert len(folders) >= 39
    for case in CASES:
        entry = case.entry
        where = case.id
        assert entry["provider"] in PROVIDERS, where
        assert entry["source"].strip(), where
        classes = entry["class"] if isinstance(entry["class"], list) else [entry["class"]]
        assert classes and all(c in range(1, 9) for c in classes), where
        assert ("expect" in entry) != ("expect_error" in entry), where
        if "expect" in entry:
            assert set(entry["expect"]) <= EXPECT_KEYS, where
            assert entry["expect"], where
        else:
            assert set(entry["expect_error"]) <= ERROR_KEYS, where
            assert hasattr(sk_errors, entry["expect_error"]["type"]), where
            assert "partial_text" in entry["expect_error"], where
        if entry["status"] != 200:
            assert "expect_error" in entry and not entry["input"].endswith(".sse"), where
    # At least two cases of their own per class 1-6 besides the shared ones.
    for cls in range(1, 7):
        own = [c for c in CASES if int(c.folder[:2]) >= 20 and cls in _classes(c)]
        assert len(own) >= 2, f"class {cls}: {len(own)} cases"


def _classes(case: Case) -> list[int]:
    value = case.entry["class"]
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("path", sorted(SHARED_SHA256))
def test_shared_cases_are_byte_exact(path: str) -> None:
    assert hashlib.sha256((WILD / path).read_bytes()).hexdigest() == SHARED_SHA256[path]


# -- running one case --------------------------------------------------------


def _response(case: Case, chunking: str) -> MockResponse:
    entry = case.entry
    server = entry.get("server", {})
    return replace(
        replay(case.body, chunking),
        status=entry["status"],
        content_type=entry["content_type"],
        after_body=server.get("after_body"),
        hold_for=float(server.get("hold_for", 0.0)),
    )


def _model(case: Case, server: MockServer) -> ChatOpenAI | OpenAI | ChatAnthropic:
    request = dict(case.entry.get("request", {}))
    provider = case.entry["provider"]
    if provider == "openai_chat":
        return ChatOpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0, **request)
    if provider == "openai_completions":
        return OpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0, **request)
    return ChatAnthropic(base_url=server.anthropic_base_url, api_key="test", max_retries=0, **request)


class Recorder(AsyncCallbackHandler):
    """Records what a handler is given."""

    def __init__(self) -> None:
        self.tokens: list[Any] = []
        self.ends: list[LLMResult] = []
        self.errors: list[BaseException] = []

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)

    async def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        self.ends.append(response)

    async def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.errors.append(error)


async def _read(
    llm: Any, tokens: list[Any], handler: Recorder | None = None, *, check_types: bool = True
) -> LLMResult:
    """``async for`` over the stream, recording tokens; then ``stream.result``.

    ``async with`` so that a failed assertion here still closes the stream
    (and its connection) at once.
    """
    stream = llm.stream("hi", callbacks=[handler] if handler is not None else None)
    async with stream:
        async for token in stream:
            if check_types:
                assert isinstance(token, str), f"a {type(token).__name__} reached async for: {token!r}"
            tokens.append(token)
    result: LLMResult = stream.result
    return result


def _check_success(result: LLMResult, tokens: list[str], case: Case) -> None:
    exp = case.entry["expect"]
    generation = result.generations[0][0]
    info = generation.generation_info or {}
    output = result.llm_output or {}
    if "text" in exp:
        assert generation.text == exp["text"]
        if case.entry.get("request", {}).get("n", 1) == 1:
            assert "".join(tokens) == exp["text"], "the tokens the consumer got"
    if "finish_reason" in exp:
        assert info.get("finish_reason") == exp["finish_reason"]
    if "thinking" in exp:
        assert info.get("thinking") == exp["thinking"]
    for key in ("model_name", "id", "system_fingerprint", "created"):
        if key in exp:
            assert output.get(key) == exp[key], f"llm_output[{key!r}]"
    if "token_usage" in exp:
        usage = output.get("token_usage") or {}
        assert {k: usage.get(k) for k in exp["token_usage"]} == exp["token_usage"], f"token_usage: {usage}"
    if "tool_calls" in exp or "usage_metadata" in exp:
        assert isinstance(generation, ChatGeneration)
        message = generation.message
        if "tool_calls" in exp:
            got = [call.model_dump() for call in message.tool_calls]
            assert len(got) == len(exp["tool_calls"]), f"tool calls: {got}"
            for call, want in zip(got, exp["tool_calls"], strict=True):
                assert {k: call[k] for k in want} == want, f"tool call {call}"
        if "usage_metadata" in exp:
            # The keys given must match (cache/reasoning breakdowns may stand beside them).
            assert message.usage_metadata is not None
            assert {k: message.usage_metadata.get(k) for k in exp["usage_metadata"]} == exp["usage_metadata"]


def _check_error(err: BaseException, tokens: list[str], case: Case) -> None:
    exp = case.entry["expect_error"]
    cls = getattr(sk_errors, exp["type"])
    assert isinstance(err, cls), f"{type(err).__name__}: {err}"
    if cls is sk_errors.ProtocolError:
        # "the server broke the format" is not "the stream was cut".
        assert not isinstance(err, sk_errors.IncompleteStreamError), f"{type(err).__name__}: {err}"
    if "not_type" in exp:
        assert not isinstance(err, getattr(sk_errors, exp["not_type"])), f"{type(err).__name__}: {err}"
    message = str(err)
    if "message_contains" in exp:
        assert exp["message_contains"] in message
    if "message_excludes" in exp:
        assert exp["message_excludes"] not in message
    if "status_code" in exp:
        assert getattr(err, "status_code", None) == exp["status_code"]
    partial = getattr(err, "partial_result", None)
    assert isinstance(partial, LLMResult), "every stream error carries .partial_result"
    assert partial.generations[0][0].text == exp["partial_text"]
    assert "".join(tokens) == exp.get("tokens", exp["partial_text"]), "the tokens the consumer got"


# -- every case, as a user reads it -------------------------------------------


@pytest.mark.parametrize(("case", "chunking"), _params())
async def test_wild_case(mock_server: MockServer, case: Case, chunking: str) -> None:
    mock_server.enqueue(_response(case, chunking))
    tokens: list[str] = []
    async with _model(case, mock_server) as llm:
        if "expect" in case.entry:
            result = await _read(llm, tokens)
            _check_success(result, tokens, case)
        else:
            # The class named, or a subclass of it (see _check_error for the checks).
            with pytest.raises(getattr(sk_errors, case.entry["expect_error"]["type"])) as info:
                await _read(llm, tokens)
            _check_error(info.value, tokens, case)


@pytest.mark.parametrize(("case", "chunking"), _params())
async def test_wild_case_handlers(mock_server: MockServer, case: Case, chunking: str) -> None:
    """Handlers see only str tokens, the same ones, and exactly one of on_llm_end / on_llm_error."""
    mock_server.enqueue(_response(case, chunking))
    handler = Recorder()
    tokens: list[Any] = []
    failure: BaseException | None = None
    async with _model(case, mock_server) as llm:
        try:
            await _read(llm, tokens, handler, check_types=False)
        except Exception as exc:  # whatever escapes; test_wild_case checks its class
            failure = exc
    assert all(isinstance(t, str) for t in handler.tokens), [type(t).__name__ for t in handler.tokens]
    assert all(isinstance(t, str) for t in tokens), [type(t).__name__ for t in tokens]
    assert handler.tokens == tokens
    assert len(handler.ends) + len(handler.errors) == 1, (len(handler.ends), handler.errors)
    if "expect" in case.entry:
        assert failure is None, f"{type(failure).__name__}: {failure}"
        assert len(handler.ends) == 1
    else:
        assert failure is not None
        assert handler.errors == [failure]


# -- case 17: finish at [DONE], whatever the transport does after ---------------

CASE_17 = (WILD / "17-after-done-abort-or-hold" / "input.sse").read_bytes()


@pytest.mark.parametrize("chunking", CHUNKINGS)
async def test_17_hold_after_done_returns_at_done_and_closes(mock_server: MockServer, chunking: str) -> None:
    """The server holds the connection for 5 s after [DONE]; an idle deadline of 0.3 s must not fire,
    the result is there at [DONE], and the client closes the held connection rather than pool it."""
    held = replace(replay(CASE_17, chunking), after_body="hold", hold_for=5.0)
    mock_server.enqueue(held, MockResponse(text="second"))
    tokens: list[str] = []
    async with ChatOpenAI(
        base_url=mock_server.openai_base_url, api_key="test", max_retries=0, timeout=Timeouts(idle=0.3)
    ) as llm:
        result = await _read(llm, tokens)
        assert "".join(tokens) == "Done"
        assert result.generations[0][0].text == "Done"
        assert (result.generations[0][0].generation_info or {})["finish_reason"] == "stop"
        # The server is still holding: only the client closing the connection ends the handler now.
        assert await mock_server.wait_for_disconnect(within=2.0), "the held connection was not closed"
        second = await llm("again")
        assert second.content == "second"
    first, again = mock_server.requests
    assert first.peer is not None and again.peer is not None
    assert first.peer[1] != again.peer[1], "the second request reused the held connection"


@pytest.mark.parametrize("chunking", CHUNKINGS)
async def test_17_abort_after_done_is_a_success(mock_server: MockServer, chunking: str) -> None:
    """The server drops the connection after [DONE] without the final chunk: still a success."""
    aborted = replace(replay(CASE_17, chunking), after_body="abort")
    mock_server.enqueue(aborted, MockResponse(text="second"))
    tokens: list[str] = []
    async with ChatOpenAI(
        base_url=mock_server.openai_base_url, api_key="test", max_retries=0, timeout=Timeouts(idle=0.3)
    ) as llm:
        result = await _read(llm, tokens)
        assert "".join(tokens) == "Done"
        assert result.generations[0][0].text == "Done"
        assert (result.llm_output or {})["token_usage"]["total_tokens"] == 6
        second = await llm("again")
        assert second.content == "second"
    first, again = mock_server.requests
    assert first.peer is not None and again.peer is not None
    assert first.peer[1] != again.peer[1]


# -- cases 08 and 10: Anthropic blocks go back unchanged --------------------------


def _wire_blocks(body: bytes) -> dict[int, dict[str, Any]]:
    """Each content_block_start's block, by index, read naively from the fixture."""
    blocks = {}
    for line in body.decode("utf-8").splitlines():
        if line.startswith("data: "):
            event = json.loads(line[len("data: ") :])
            if event["type"] == "content_block_start":
                blocks[event["index"]] = event["content_block"]
    return blocks


async def _first_turn(llm: ChatAnthropic) -> Any:
    tokens: list[str] = []
    stream = llm.stream([HumanMessage("hi")])
    async for token in stream:
        tokens.append(token)
    generation = stream.result.generations[0][0]
    assert isinstance(generation, ChatGeneration)
    return generation.message


async def test_08_redacted_thinking_goes_back_first_and_byte_identical(mock_server: MockServer) -> None:
    body = (WILD / "08-anthropic-redacted-thinking" / "input.sse").read_bytes()
    redacted = _wire_blocks(body)[0]
    assert redacted["type"] == "redacted_thinking"
    mock_server.enqueue(MockResponse(raw=body), MockResponse(text="It is sunny in Paris."))
    async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="test", max_retries=0) as llm:
        ai = await _first_turn(llm)
        assert [(c.id, c.name, c.args) for c in ai.tool_calls] == [
            ("toolu_01A", "get_weather", {"city": "Paris"})
        ]
        await llm([HumanMessage("hi"), ai, ToolMessage("sunny, 24C", tool_call_id="toolu_01A")])
    sent = mock_server.requests[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    content = sent[1]["content"]
    assert isinstance(content, list), content
    assert content[0] == {"type": "redacted_thinking", "data": redacted["data"]}
    assert content[0]["data"].encode() == redacted["data"].encode()
    tool_use = [block for block in content if block.get("type") == "tool_use"]
    assert [(b["id"], b["name"], b["input"]) for b in tool_use] == [
        ("toolu_01A", "get_weather", {"city": "Paris"})
    ]
    assert content.index(tool_use[0]) > 0
    assert sent[2]["content"][0]["tool_use_id"] == "toolu_01A"


async def test_10_server_tool_blocks_are_not_client_calls_and_go_back_in_order(
    mock_server: MockServer,
) -> None:
    body = (WILD / "10-anthropic-server-tool-use" / "input.sse").read_bytes()
    wire = _wire_blocks(body)
    mock_server.enqueue(MockResponse(raw=body), MockResponse(text="You're welcome."))
    async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="test", max_retries=0) as llm:
        ai = await _first_turn(llm)
        assert ai.tool_calls == []  # the server already ran web_search; nothing for the client to run
        assert ai.content == "Let me search. It is sunny."
        await llm([HumanMessage("hi"), ai, HumanMessage("thanks")])
    sent = mock_server.requests[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    content = sent[1]["content"]
    assert isinstance(content, list), content
    assert [block["type"] for block in content] == [
        "text",
        "server_tool_use",
        "web_search_tool_result",
        "text",
    ]
    assert content[0]["text"] == "Let me search. "
    assert (content[1]["id"], content[1]["name"], content[1]["input"]) == (
        "srvtoolu_02",
        "web_search",
        {"query": "paris weather"},
    )
    assert content[2] == wire[2]  # tool_use_id and the encrypted results, exactly as they came
    assert content[3]["text"] == "It is sunny."
    if "citations" in content[3]:
        citation = json.loads(
            next(
                line[len("data: ") :]
                for line in body.decode().splitlines()
                if line.startswith("data: ") and "citations_delta" in line
            )
        )["delta"]["citation"]
        assert content[3]["citations"] == [citation]
