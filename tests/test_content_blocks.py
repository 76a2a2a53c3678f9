"""Content parts in (issue #11, point 1): each accepted shape reaches each provider
in its exact wire form (as the MockServer records it, and passes its request
validation); each part a provider cannot take is an InvalidArgumentError that
names it, raised before any request."""

from __future__ import annotations

from typing import Any

import pytest

from streamkit import (
    AIMessage,
    BadRequestError,
    ChatAnthropic,
    ChatOpenAI,
    HumanMessage,
    InvalidArgumentError,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from streamkit.messages import BaseMessage
from streamkit.testing import MockResponse, MockServer

PNG = "iVBORw0KGgoAAAANSUhEUg=="
PDF = "JVBERi0xLjQK"
TXT = "aGVsbG8gd29ybGQ="  # "hello world"
EPHEMERAL = {"type": "ephemeral"}

# Shorthands for the wire forms.
OA_PNG = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
OA_URL = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
AN_PNG = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
AN_URL = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
AN_PDF = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}}


def oa_pdf(filename: str = "document.pdf") -> dict[str, Any]:
    return {"type": "file", "file": {"filename": filename, "file_data": f"data:application/pdf;base64,{PDF}"}}


#: (id, part as the user writes it, OpenAI wire form, Anthropic wire form); a
#: str instead of a wire form is the start of the InvalidArgumentError's reason.
CASES: list[tuple[str, Any, Any, Any]] = [
    (
        "bare-str",
        "plain words",
        {"type": "text", "text": "plain words"},
        {"type": "text", "text": "plain words"},
    ),
    (
        "text+cache_control",
        {"type": "text", "text": "long context", "cache_control": EPHEMERAL},
        {"type": "text", "text": "long context"},
        {"type": "text", "text": "long context", "cache_control": EPHEMERAL},
    ),
    (
        "openai-image-url+detail",
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
        AN_URL,
    ),
    ("openai-image-data-url", OA_PNG, OA_PNG, AN_PNG),
    (
        "openai-image-bare-string",
        {"type": "image_url", "image_url": "https://example.com/cat.png"},
        OA_URL,
        AN_URL,
    ),
    (
        "openai-image+cache_control",
        {**OA_PNG, "cache_control": EPHEMERAL},
        OA_PNG,
        {**AN_PNG, "cache_control": EPHEMERAL},
    ),
    (
        "lc-v0-image-url",
        {"type": "image", "source_type": "url", "url": "https://example.com/cat.png"},
        OA_URL,
        AN_URL,
    ),
    (
        "lc-v0-image-base64",
        {"type": "image", "source_type": "base64", "data": PNG, "mime_type": "image/png"},
        OA_PNG,
        AN_PNG,
    ),
    ("lc-v1-image-url", {"type": "image", "url": "https://example.com/cat.png"}, OA_URL, AN_URL),
    (
        "lc-v1-image-base64+extras.cache_control",
        {"type": "image", "base64": PNG, "mime_type": "image/png", "extras": {"cache_control": EPHEMERAL}},
        OA_PNG,
        {**AN_PNG, "cache_control": EPHEMERAL},
    ),
    (
        "lc-v0-pdf-base64+metadata.filename",
        {
            "type": "file",
            "source_type": "base64",
            "data": PDF,
            "mime_type": "application/pdf",
            "metadata": {"filename": "report.pdf"},
        },
        oa_pdf("report.pdf"),
        AN_PDF,
    ),
    (
        "lc-v1-pdf-base64",
        {"type": "file", "base64": PDF, "mime_type": "application/pdf"},
        oa_pdf(),
        AN_PDF,
    ),
    (
        "lc-v1-pdf-url",
        {"type": "file", "url": "https://example.com/report.pdf", "mime_type": "application/pdf"},
        "OpenAI Chat Completions takes a document as base64 data or an uploaded file id, not a URL",
        {"type": "document", "source": {"type": "url", "url": "https://example.com/report.pdf"}},
    ),
    (
        "lc-v1-text-plain",
        {"type": "file", "base64": TXT, "mime_type": "text/plain", "title": "notes"},
        {"type": "file", "file": {"filename": "document.txt", "file_data": f"data:text/plain;base64,{TXT}"}},
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "hello world"},
            "title": "notes",
        },
    ),
    (
        "openai-file-data",
        {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF}", "filename": "r.pdf"}},
        {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF}", "filename": "r.pdf"}},
        AN_PDF,
    ),
    (
        "openai-file-id",
        {"type": "file", "file": {"file_id": "file-abc123"}},
        {"type": "file", "file": {"file_id": "file-abc123"}},
        {"type": "document", "source": {"type": "file", "file_id": "file-abc123"}},
    ),
    ("anthropic-image-base64", AN_PNG, OA_PNG, AN_PNG),
    ("anthropic-image-url", AN_URL, OA_URL, AN_URL),
    (
        "anthropic-document+title+citations+cache_control",
        {**AN_PDF, "title": "Q3", "citations": {"enabled": True}, "cache_control": EPHEMERAL},
        oa_pdf(),
        {**AN_PDF, "title": "Q3", "citations": {"enabled": True}, "cache_control": EPHEMERAL},
    ),
    (
        "anthropic-document-url",
        {"type": "document", "source": {"type": "url", "url": "https://example.com/report.pdf"}},
        "OpenAI Chat Completions takes a document as base64 data or an uploaded file id, not a URL",
        {"type": "document", "source": {"type": "url", "url": "https://example.com/report.pdf"}},
    ),
    (
        "anthropic-document-text-source",
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hi"}},
        "a document with a 'text' source has no OpenAI form",
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hi"}},
    ),
    (
        "anthropic-search-result",
        {
            "type": "search_result",
            "source": "https://example.com/a",
            "title": "A",
            "content": [{"type": "text", "text": "found"}],
        },
        "a 'search_result' part is Anthropic-only",
        {
            "type": "search_result",
            "source": "https://example.com/a",
            "title": "A",
            "content": [{"type": "text", "text": "found"}],
        },
    ),
    (
        "openai-input-audio",
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        "an 'input_audio' part is OpenAI-only",
    ),
]


def openai(server: MockServer) -> ChatOpenAI:
    return ChatOpenAI(base_url=server.openai_base_url, api_key="test", model="gpt-test")


def anthropic(server: MockServer, **kwargs: Any) -> ChatAnthropic:
    return ChatAnthropic(base_url=server.anthropic_base_url, api_key="test", model="claude-test", **kwargs)


async def send(server: MockServer, provider: str, messages: list[BaseMessage], **kwargs: Any) -> Any:
    """The request body the server received for ``messages`` (which it must have accepted)."""
    model = openai(server) if provider == "openai" else anthropic(server, **kwargs)
    async with model:
        await model(messages)
    request = server.requests[-1]
    assert request.rejection is None
    return request.json


async def rejected(server: MockServer, provider: str, messages: list[BaseMessage]) -> str:
    """The InvalidArgumentError's message; and nothing was sent."""
    model = openai(server) if provider == "openai" else anthropic(server)
    before = len(server.requests)
    async with model:
        with pytest.raises(InvalidArgumentError) as info:
            model.stream(messages)
        with pytest.raises(InvalidArgumentError):
            await model(messages)
    assert len(server.requests) == before
    return str(info.value)


@pytest.mark.parametrize(
    ("part", "openai_wire", "anthropic_wire"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_each_shape_reaches_each_provider_in_its_wire_form(
    mock_server: MockServer, provider: str, part: Any, openai_wire: Any, anthropic_wire: Any
) -> None:
    expected = openai_wire if provider == "openai" else anthropic_wire
    messages: list[BaseMessage] = [HumanMessage(["What is this?", part])]
    if isinstance(expected, str):
        message = await rejected(mock_server, provider, messages)
        assert "messages[0].content[1]" in message
        assert expected in message
        return
    kwargs = {"default_headers": {"anthropic-beta": "files-api-2025-04-14"}} if "file_id" in str(part) else {}
    body = await send(mock_server, provider, messages, **kwargs)
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What is this?"}, expected]}
    ]


async def test_anthropic_file_source_needs_the_files_beta_header(mock_server: MockServer) -> None:
    """Without the header the real API rejects a ``file`` source by tag; streamkit sends it, the mock answers so."""
    async with anthropic(mock_server) as chat:
        with pytest.raises(BadRequestError) as info:
            await chat([HumanMessage([{"type": "file", "file_id": "file-abc"}])])
    assert info.value.message is not None
    assert info.value.message.endswith(
        "messages.0.content.0.document.source: Input tag 'file' found using 'type' does not match any of "
        "the expected tags: 'base64', 'content', 'text', 'url'"
    )


async def test_string_content_is_sent_unchanged(mock_server: MockServer) -> None:
    messages: list[BaseMessage] = [SystemMessage("be brief"), HumanMessage("hi")]
    body = await send(mock_server, "openai", messages)
    assert body["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    body = await send(mock_server, "anthropic", messages)
    assert body["system"] == "be brief"
    assert body["messages"] == [{"role": "user", "content": "hi"}]


async def test_system_blocks_with_cache_control(mock_server: MockServer) -> None:
    messages: list[BaseMessage] = [
        SystemMessage([{"type": "text", "text": "You answer from the manual.", "cache_control": EPHEMERAL}]),
        SystemMessage("Be brief."),
        SystemMessage(""),
        HumanMessage("hi"),
    ]
    body = await send(mock_server, "anthropic", messages)
    assert body["system"] == [
        {"type": "text", "text": "You answer from the manual.", "cache_control": EPHEMERAL},
        {"type": "text", "text": "Be brief."},
    ]
    body = await send(mock_server, "openai", messages)
    assert body["messages"][:3] == [
        {"role": "system", "content": [{"type": "text", "text": "You answer from the manual."}]},
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": ""},
    ]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_an_image_in_a_system_message_is_named(mock_server: MockServer, provider: str) -> None:
    message = await rejected(mock_server, provider, [SystemMessage(["rules", AN_PNG]), HumanMessage("hi")])
    assert "messages[0].content[1] (an 'image' part)" in message
    assert ("only text parts in a system message" if provider == "openai" else "system prompt") in message


async def test_tool_results_with_parts(mock_server: MockServer) -> None:
    call = AIMessage("", tool_calls=[ToolCall(id="call_1", name="screenshot", args={})])
    result = ToolMessage([{"type": "text", "text": "here it is"}, OA_PNG], tool_call_id="call_1")
    body = await send(mock_server, "anthropic", [HumanMessage("look"), call, result])
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "call_1",
                "content": [{"type": "text", "text": "here it is"}, AN_PNG],
            }
        ],
    }
    # OpenAI tool messages take text parts only.
    message = await rejected(mock_server, "openai", [HumanMessage("look"), call, result])
    assert (
        "messages[2].content[1] (an 'image_url' part): OpenAI takes only text parts in a tool message"
        in message
    )
    text_only = ToolMessage([{"type": "text", "text": "42"}], tool_call_id="call_1")
    body = await send(mock_server, "openai", [HumanMessage("look"), call, text_only])
    assert body["messages"][2] == {
        "role": "tool",
        "content": [{"type": "text", "text": "42"}],
        "tool_call_id": "call_1",
    }


#: (id, part, providers it is rejected by, words the message must contain).
REJECTED: list[tuple[str, Any, tuple[str, ...], str]] = [
    (
        "unknown-type",
        {"type": "video", "url": "https://x/v.mp4"},
        ("openai", "anthropic"),
        "unknown part type 'video'",
    ),
    ("no-type", {"text": "hi"}, ("openai", "anthropic"), "needs a string 'type'"),
    (
        "data-url-without-base64",
        {"type": "image_url", "image_url": {"url": "data:image/png,abc"}},
        ("openai", "anthropic"),
        "malformed data URL",
    ),
    (
        "data-url-bad-alphabet",
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,ab$c"}},
        ("openai", "anthropic"),
        "not base64",
    ),
    (
        "pdf-in-image_url",
        {"type": "image_url", "image_url": {"url": f"data:application/pdf;base64,{PDF}"}},
        ("openai", "anthropic"),
        "use a 'file' part for documents",
    ),
    (
        "ftp-url",
        {"type": "image", "url": "ftp://example.com/cat.png"},
        ("openai", "anthropic"),
        "http(s) URL",
    ),
    ("base64-without-mime", {"type": "image", "base64": PNG}, ("openai", "anthropic"), "needs a mime_type"),
    (
        "bad-detail",
        {"type": "image_url", "image_url": {"url": "https://x/c.png", "detail": "max"}},
        ("openai", "anthropic"),
        "detail must be one of auto, low, high",
    ),
    (
        "image-bmp",
        {"type": "image", "base64": PNG, "mime_type": "image/bmp"},
        ("anthropic",),
        "Anthropic does not accept 'image/bmp' images",
    ),
    (
        "image-jpg",
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpg", "data": PNG}},
        ("anthropic",),
        "did you mean 'image/jpeg'?",
    ),
    (
        "docx-document",
        {"type": "file", "base64": PDF, "mime_type": "application/msword"},
        ("anthropic",),
        "Anthropic takes documents as application/pdf or text/plain",
    ),
    ("empty-text", {"type": "text", "text": ""}, ("anthropic",), "Anthropic rejects empty text blocks"),
    (
        "image-file-id",
        {"type": "image", "file_id": "file-1"},
        ("openai",),
        "OpenAI Chat Completions takes no image file ids",
    ),
    (
        "both-file-fields",
        {"type": "file", "file": {"file_id": "f", "file_data": f"data:application/pdf;base64,{PDF}"}},
        ("openai", "anthropic"),
        "exactly one of file_data (a data: URL) or file_id",
    ),
    (
        "file-data-not-a-data-url",
        {"type": "file", "file": {"file_data": PDF, "filename": "a.pdf"}},
        ("openai", "anthropic"),
        "file.file_data must be a data URL",
    ),
    (
        "anthropic-unknown-source",
        {"type": "image", "source": {"type": "file_path", "path": "/tmp/x.png"}},
        ("openai", "anthropic"),
        "source.type must be one of base64, url, file",
    ),
    (
        "cache-control-not-an-object",
        {"type": "text", "text": "x", "cache_control": "yes"},
        ("openai", "anthropic"),
        "cache_control must be an object",
    ),
]


@pytest.mark.parametrize(("part", "by", "words"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_parts_a_provider_cannot_take_are_named_before_any_request(
    mock_server: MockServer, provider: str, part: Any, by: tuple[str, ...], words: str
) -> None:
    messages: list[BaseMessage] = [
        SystemMessage("be brief"),
        HumanMessage("first"),
        AIMessage("ok"),
        HumanMessage(["look", part]),
    ]
    if provider not in by:
        await send(
            mock_server, provider, messages, default_headers={"anthropic-beta": "files-api-2025-04-14"}
        )
        return
    message = await rejected(mock_server, provider, messages)
    assert message.startswith("invalid argument: messages[3].content[1]")
    assert words in message


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_an_empty_part_list_is_named(mock_server: MockServer, provider: str) -> None:
    message = await rejected(mock_server, provider, [HumanMessage([])])
    assert "messages[0].content: content is an empty list" in message


async def test_generate_checks_every_conversation_before_sending_any(mock_server: MockServer) -> None:
    async with anthropic(mock_server) as chat:
        with pytest.raises(InvalidArgumentError, match=r"messages\[0\]\.content\[0\].*'image/tiff'"):
            await chat.generate(
                [
                    [HumanMessage("fine")],
                    [HumanMessage([{"type": "image", "base64": PNG, "mime_type": "image/tiff"}])],
                ]
            )
    assert mock_server.requests == []


def test_positional_content_and_text() -> None:
    assert HumanMessage("hi").content == "hi"
    parts = HumanMessage(["Look at ", {"type": "text", "text": "this"}, OA_PNG])
    assert parts.content == ["Look at ", {"type": "text", "text": "this"}, OA_PNG]
    assert parts.text == "Look at this"
    assert SystemMessage([{"type": "text", "text": "rules"}]).text == "rules"
    assert AIMessage("answer").content == "answer"
    with pytest.raises(ValueError):
        AIMessage([{"type": "text", "text": "no"}])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="content"):
        HumanMessage(["look", 42])  # type: ignore[list-item]


# -- the mock's request validation ------------------------------------------


async def post(
    server: MockServer, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.post(server.url + path, json=body, headers=headers) as resp,
    ):
        return resp.status, await resp.json()


def anthropic_body(*messages: Any, **extra: Any) -> dict[str, Any]:
    return {"model": "claude-test", "max_tokens": 16, "messages": list(messages), **extra}


def user(*blocks: Any) -> dict[str, Any]:
    return {"role": "user", "content": list(blocks)}


TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}

#: (id, body, Anthropic's error message).
ANTHROPIC_INVALID: list[tuple[str, dict[str, Any], str]] = [
    (
        "openai-part-sent-to-anthropic",
        anthropic_body(user(OA_PNG)),
        "messages.0.content.0: Input tag 'image_url' found using 'type' does not match any of the expected tags: "
        "'bash_code_execution_tool_result', 'code_execution_tool_result', 'container_upload', 'document', "
        "'image', 'mid_conv_system', 'redacted_thinking', 'search_result', 'server_tool_use', 'text', "
        "'text_editor_code_execution_tool_result', 'thinking', 'tool_result', 'tool_search_tool_result', "
        "'tool_use', 'web_fetch_tool_result', 'web_search_tool_result'",
    ),
    (
        "image-media-type",
        anthropic_body(
            user({"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": PNG}})
        ),
        "messages.0.content.0.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', "
        "'image/gif' or 'image/webp'",
    ),
    (
        "image-media-type-missing",
        anthropic_body(user({"type": "image", "source": {"type": "base64", "data": PNG}})),
        "messages.0.content.0.image.source.base64.media_type: Field required",
    ),
    (
        "pdf-media-type",
        anthropic_body(
            user({"type": "document", "source": {"type": "base64", "media_type": "image/png", "data": PNG}})
        ),
        "messages.0.content.0.document.source.base64.media_type: Input should be 'application/pdf'",
    ),
    (
        "extra-key-on-image",
        anthropic_body(user({**AN_PNG, "detail": "low"})),
        "messages.0.content.0.image.detail: Extra inputs are not permitted",
    ),
    (
        "tool-result-in-assistant-turn",
        anthropic_body(
            user({"type": "text", "text": "hi"}),
            {"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]},
        ),
        "messages.1: `tool_result` blocks can only be in `user` messages",
    ),
    (
        "tool-use-in-user-turn",
        anthropic_body(user(TOOL_USE)),
        "messages.0: `tool_use` blocks can only be in `assistant` messages",
    ),
    (
        "tool-use-without-id",
        anthropic_body(
            user({"type": "text", "text": "hi"}),
            {"role": "assistant", "content": [{k: v for k, v in TOOL_USE.items() if k != "id"}]},
        ),
        "messages.1.content.0.tool_use.id: Field required",
    ),
    (
        "tool-result-content-tag",
        anthropic_body(
            user(
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "tool_reference", "tool_name": "x"}],
                }
            )
        ),
        "messages.0.content.0.tool_result.content.0: Input tag 'tool_reference' found using 'type' does not match "
        "any of the expected tags: 'document', 'image', 'search_result', 'text'",
    ),
    (
        "system-role",
        anthropic_body({"role": "system", "content": "be brief"}, user({"type": "text", "text": "hi"})),
        'messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, '
        'not "system" as an input message role.',
    ),
    (
        "empty-content",
        anthropic_body({"role": "user", "content": []}),
        "messages.0: all messages must have non-empty content except for the optional final assistant message",
    ),
    (
        "empty-text-block",
        anthropic_body(user({"type": "text", "text": ""})),
        "messages: text content blocks must be non-empty",
    ),
    (
        "system-image",
        anthropic_body(user({"type": "text", "text": "hi"}), system=[AN_PNG]),
        "system.0: Input tag 'image' found using 'type' does not match any of the expected tags: 'text'",
    ),
    (
        "cache-control-type",
        anthropic_body(user({"type": "text", "text": "hi", "cache_control": {"type": "persistent"}})),
        "messages.0.content.0.text.cache_control.type: Input should be 'ephemeral'",
    ),
    (
        "five-cache-breakpoints",
        anthropic_body(
            user(*[{"type": "text", "text": f"t{k}", "cache_control": EPHEMERAL} for k in range(5)])
        ),
        "A maximum of 4 blocks with cache_control may be provided. Found 5.",
    ),
    (
        "message-extra-key",
        anthropic_body({"role": "user", "content": "hi", "name": "bob"}),
        "messages.0.name: Extra inputs are not permitted",
    ),
    (
        "no-max-tokens",
        {"model": "m", "messages": [user({"type": "text", "text": "hi"})]},
        "max_tokens: Field required",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"), [c[1:] for c in ANTHROPIC_INVALID], ids=[c[0] for c in ANTHROPIC_INVALID]
)
async def test_mock_rejects_what_anthropic_rejects(mock_server: MockServer, body: Any, message: str) -> None:
    mock_server.enqueue(MockResponse(text="scripted"))
    status, error = await post(mock_server, "/v1/messages", body)
    assert status == 400
    assert error == {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    assert mock_server.requests[-1].rejection == error
    # The scripted answer is still there for the next, valid, request.
    status, answer = await post(
        mock_server, "/v1/messages", anthropic_body(user({"type": "text", "text": "hi"}))
    )
    assert status == 200
    assert answer["content"][0]["text"] == "scripted"


async def test_mock_lets_beta_blocks_and_file_sources_through_with_a_beta_header(
    mock_server: MockServer,
) -> None:
    body = anthropic_body(
        user(
            {"type": "document", "source": {"type": "file", "file_id": "file_1"}},
            {"type": "brand_new_beta_block", "x": 1},
        )
    )
    status, _ = await post(mock_server, "/v1/messages", body)
    assert status == 400
    status, _ = await post(mock_server, "/v1/messages", body, {"anthropic-beta": "files-api-2025-04-14"})
    assert status == 200


async def test_mock_accepts_what_anthropic_accepts(mock_server: MockServer) -> None:
    """Strings, a final empty assistant prefill, consecutive user turns, thinking and server tool blocks."""
    body = anthropic_body(
        {"role": "user", "content": "hi"},
        {"role": "user", "content": [{"type": "text", "text": "again", "citations": None}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "redacted_thinking", "data": "opaque"},
                {
                    "type": "server_tool_use",
                    "id": "srvtoolu_1",
                    "name": "web_search",
                    "input": {"query": "q"},
                },
                {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                TOOL_USE,
            ],
        },
        user({"type": "tool_result", "tool_use_id": "toolu_1", "content": "42", "is_error": False}),
        {"role": "assistant", "content": ""},
        system=[{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
    )
    status, answer = await post(mock_server, "/v1/messages", body)
    assert (status, mock_server.requests[-1].rejection) == (200, None), answer


def openai_body(*messages: Any) -> dict[str, Any]:
    return {"model": "gpt-test", "messages": list(messages)}


ASSISTANT_CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
}

#: (id, body, OpenAI's error object).
OPENAI_INVALID: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "anthropic-block-sent-to-openai",
        openai_body({"role": "user", "content": [{"type": "text", "text": "hi"}, AN_PNG]}),
        {
            "message": "Invalid value: 'image'. Supported values are: 'text', 'image_url', 'input_audio', "
            "'refusal', 'audio', and 'file'.",
            "param": "messages[0].content[1].type",
            "code": "invalid_value",
        },
    ),
    (
        "image-in-system",
        openai_body({"role": "system", "content": [OA_PNG]}),
        {
            "message": "Invalid value: 'image_url'. Supported values are: 'text'.",
            "param": "messages[0].content[0].type",
            "code": "invalid_value",
        },
    ),
    (
        "image-part-without-image_url",
        openai_body({"role": "user", "content": [{"type": "image_url"}]}),
        {
            "message": "Missing required parameter: 'messages[0].content[0].image_url'.",
            "param": "messages[0].content[0].image_url",
            "code": "missing_required_parameter",
        },
    ),
    (
        "file-without-data-or-id",
        openai_body({"role": "user", "content": [{"type": "file", "file": {"url": "https://x/a.pdf"}}]}),
        {
            "message": "Missing required parameter: 'messages[0].content[0].file.file_id'.",
            "param": "messages[0].content[0].file.file_id",
            "code": "missing_required_parameter",
        },
    ),
    (
        "bad-role",
        openai_body({"role": "human", "content": "hi"}),
        {
            "message": "Invalid value: 'human'. Supported values are: 'system', 'assistant', 'user', 'function', "
            "'tool', and 'developer'.",
            "param": "messages[0].role",
            "code": "invalid_value",
        },
    ),
    (
        "tool-without-tool_call_id",
        openai_body({"role": "user", "content": "hi"}, ASSISTANT_CALL, {"role": "tool", "content": "42"}),
        {
            "message": "Missing required parameter: 'messages[2].tool_call_id'.",
            "param": "messages[2].tool_call_id",
            "code": "missing_required_parameter",
        },
    ),
    (
        "tool-call-without-id",
        openai_body(
            {"role": "user", "content": "hi"},
            {
                **ASSISTANT_CALL,
                "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}],
            },
        ),
        {
            "message": "Missing required parameter: 'messages[1].tool_calls[0].id'.",
            "param": "messages[1].tool_calls[0].id",
            "code": "missing_required_parameter",
        },
    ),
    (
        "content-a-number",
        openai_body({"role": "user", "content": 42}),
        {
            "message": "Invalid type for 'messages[0].content': expected one of a string or array of objects, "
            "but got an integer instead.",
            "param": "messages[0].content",
            "code": "invalid_type",
        },
    ),
    (
        "empty-messages",
        openai_body(),
        {
            "message": "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an "
            "empty array instead.",
            "param": "messages",
            "code": "empty_array",
        },
    ),
]


@pytest.mark.parametrize(
    ("body", "error"), [c[1:] for c in OPENAI_INVALID], ids=[c[0] for c in OPENAI_INVALID]
)
async def test_mock_rejects_what_openai_rejects(
    mock_server: MockServer, body: Any, error: dict[str, Any]
) -> None:
    status, answer = await post(mock_server, "/v1/chat/completions", body)
    assert status == 400
    assert answer == {"error": {**error, "type": "invalid_request_error"}}


async def test_the_client_surfaces_a_rejection_as_bad_request(mock_server: MockServer) -> None:
    """An Anthropic block written natively goes as written: the mock rejects a key the API does not know."""
    async with anthropic(mock_server) as chat:
        with pytest.raises(BadRequestError, match=r"messages\.0\.content\.0\.image\.detail: Extra inputs"):
            await chat([HumanMessage([{**AN_PNG, "detail": "low"}])])
    assert len(mock_server.requests) == 1


async def test_validation_can_be_turned_off() -> None:
    async with MockServer(validate=False) as server:
        status, _ = await post(server, "/v1/messages", anthropic_body(user(OA_PNG)))
    assert status == 200
