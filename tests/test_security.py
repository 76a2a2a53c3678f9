"""The key stays home: no redirect is followed, and no secret reaches an error, a dump or a log.

Issue #10, items 2 and 3. Every server is on 127.0.0.1; the "other origin"
is a second loopback server on another port, which must receive nothing.
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

import pytest
from aiohttp import web
from loopback import raw_server, serve

from streamkit import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    ChatAnthropic,
    ChatOpenAI,
    OpenAI,
    StreamkitError,
)
from streamkit.callbacks import BaseCallbackHandler
from streamkit.models import StreamingModel
from streamkit.testing import MockResponse, MockServer

KEY = "sk-SENTINEL-key-must-stay-home-31337"
HEADER_SECRET = "tenant-SENTINEL-header-secret-4242"
SECRETS = (KEY, HEADER_SECRET)
PROVIDERS = ["openai", "anthropic"]


def model_for(provider: str, url: str, **kwargs: Any) -> StreamingModel:
    kwargs.setdefault("max_retries", 2)
    headers = {"X-Tenant-Token": HEADER_SECRET}
    if provider == "openai":
        return ChatOpenAI(base_url=f"{url}/v1", api_key=KEY, default_headers=headers, **kwargs)
    return ChatAnthropic(base_url=url, api_key=KEY, default_headers=headers, **kwargs)


def everything_shown(error: BaseException) -> str:
    """Every way an error is shown or inspected."""
    parts = [
        str(error),
        repr(error),
        repr(error.args),
        repr(error.__cause__),
        repr(error.__context__),
        "".join(traceback.format_exception(error)),
    ]
    for name in ("body", "request_id", "location", "message"):
        parts.append(repr(getattr(error, name, None)))
    return "\n".join(parts)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


# -- C: redirects ---------------------------------------------------------------


@pytest.mark.parametrize("status", [307, 308, 302])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_redirect_to_another_origin_is_not_followed(provider: str, status: int) -> None:
    async with MockServer() as elsewhere:
        target = f"{elsewhere.url}{'/v1/chat/completions' if provider == 'openai' else '/v1/messages'}"

        async def redirect(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, headers={"Location": target}, text="moved: see Location")

        async with serve(redirect) as origin:
            model = model_for(provider, origin.url)
            async with model:
                with pytest.raises(APIStatusError) as info:
                    await model("the prompt must not travel")  # type: ignore[operator]
        assert elsewhere.requests == []  # nothing reached the other origin: no key, no header, no prompt
    err = info.value
    from streamkit import RedirectError  # new in this change

    assert isinstance(err, RedirectError)
    assert err.status_code == status
    assert err.location == target and target in str(err)
    assert err.body is None and "moved" not in str(err)
    assert not err.retryable
    assert len(origin.requests) == 1  # not retried (max_retries=2)
    # The origin itself did get the credentials: the test really used both header forms.
    headers = origin.requests[0][2]
    if provider == "openai":
        assert headers["Authorization"] == f"Bearer {KEY}"
    else:
        assert headers["x-api-key"] == KEY
    assert headers["X-Tenant-Token"] == HEADER_SECRET


async def test_a_same_origin_redirect_is_not_followed_either() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/v1/chat/completions":
            raise web.HTTPTemporaryRedirect("/v2/chat/completions")
        return web.json_response({"choices": []})

    async with serve(handler) as server:
        async with model_for("openai", server.url) as model:
            with pytest.raises(APIStatusError) as info:
                await model("hi")
    assert info.value.status_code == 307
    assert [r[1] for r in server.requests] == ["/v1/chat/completions"]


# -- D: secrets in errors, dumps and logs ---------------------------------------------


def echo_body(request: web.Request) -> dict[str, Any]:
    """What a careless upstream sends back: the credentials it received, in several places."""
    auth = request.headers.get("Authorization") or request.headers.get("x-api-key") or ""
    custom = request.headers.get("X-Tenant-Token", "")
    message = f"Incorrect API key provided: {auth}; tenant {custom} unknown"
    return {
        "error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"},
        "type": "error",
        "echo": {"headers": dict(request.headers), "list": [auth, {"deep": [custom]}], auth or "none": 1},
    }


class Failing(BaseCallbackHandler):
    """A handler whose on_llm_error itself fails: streamkit logs that with its traceback."""

    raise_error = False

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        raise RuntimeError(f"handler saw: {error!s} / {error!r}") from error


@pytest.mark.parametrize("shape", ["json", "text"])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_echoing_upstream_never_puts_the_key_in_the_error_or_the_logs(
    provider: str, shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def handler(request: web.Request) -> web.StreamResponse:
        body = echo_body(request)
        headers = {"x-request-id": f"req-{KEY}"}
        if shape == "json":
            return web.json_response(body, status=401, headers=headers)
        return web.Response(status=401, text=json.dumps(body)[:-1], headers=headers)  # not JSON: plain text

    async with serve(handler) as server:
        async with model_for(provider, server.url, callbacks=[Failing()]) as model:
            with pytest.raises(AuthenticationError) as info:
                await model("hi")
            err = info.value
            logging.getLogger("app").exception("the call failed", exc_info=err)
    assert server.requests and KEY in json.dumps(server.requests[0][2])  # the key was really sent
    assert "Incorrect API key provided" in str(err)
    assert "***" in str(err)
    assert_no_secret(everything_shown(err))
    assert_no_secret(repr(err.body))
    assert_no_secret(caplog.text)
    assert "handler saw" in caplog.text  # the failing handler was logged, traceback and all


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_mapped_aiohttp_error_chains_nothing_that_holds_the_request_headers(provider: str) -> None:
    # An invalid status line (echoing the key) makes aiohttp raise ClientResponseError,
    # whose request_info holds every request header, the key included.
    def reply(head: bytes) -> bytes:
        return b"HTTP/1.1 abc " + KEY.encode() + b"\r\n\r\n"

    async with raw_server(reply) as url:
        async with model_for(provider, url, max_retries=0) as model:
            with pytest.raises(APIConnectionError) as info:
                await model("hi")
    err = info.value
    assert err.__cause__ is None and err.__context__ is None
    assert "ClientResponseError" in str(err)  # a safe summary of what happened
    assert_no_secret(everything_shown(err))


@pytest.mark.parametrize("cls", [ChatOpenAI, OpenAI, ChatAnthropic])
def test_header_values_and_key_never_print_in_reprs_or_dumps(cls: type[StreamingModel]) -> None:
    model = cls(api_key=KEY, default_headers={"X-Tenant-Token": HEADER_SECRET, "X-Plain": "visible-name"})
    shown = "\n".join(
        [
            repr(model),
            str(model),
            repr(model.model_dump()),
            str(model.model_dump()),
            model.model_dump_json(),
            repr(model.default_headers),
            repr(model.transport),
        ]
    )
    assert_no_secret(shown)
    assert "X-Tenant-Token" in model.model_dump_json()  # names are shown, values are not


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_header_values_still_reach_the_server_and_survive_copies(provider: str) -> None:
    async with MockServer() as server:
        model = model_for(provider, server.url)
        copies = [model, model.model_copy(), model.model_copy(update={"temperature": 0.5})]
        if isinstance(model, (ChatOpenAI, ChatAnthropic)):
            copies.append(
                model.bind_tools([{"name": "f", "parameters": {"type": "object", "properties": {}}}])
            )
        for m in copies:
            async with m:
                await m("hi")  # type: ignore[operator]
    for request in server.requests:
        assert request.headers["X-Tenant-Token"] == HEADER_SECRET
    assert len(server.requests) == len(copies)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_error_event_inside_a_stream_that_echoes_the_key_is_redacted(
    mock_server: MockServer, provider: str
) -> None:
    """HTTP 200, then an in-stream error event quoting the key: the raised error never shows it."""
    message = f"upstream said: invalid key {KEY} (tenant {HEADER_SECRET})"
    if provider == "openai":
        body = (
            b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"partial"}}]}\n\n'
            b"data: " + json.dumps({"error": {"message": message, "type": "server_error"}}).encode() + b"\n\n"
        )
        model: Any = ChatOpenAI(
            base_url=mock_server.openai_base_url, api_key=KEY, default_headers={"x-tenant": HEADER_SECRET}
        )
    else:
        payload = {"type": "error", "error": {"type": "api_error", "message": message}}
        body = (
            b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","model":"c"}}\n\n'
            b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
            b'"content_block":{"type":"text","text":""}}\n\n'
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
            b'"delta":{"type":"text_delta","text":"partial"}}\n\n'
            b"event: error\ndata: " + json.dumps(payload).encode() + b"\n\n"
        )
        model = ChatAnthropic(
            base_url=mock_server.anthropic_base_url, api_key=KEY, default_headers={"x-tenant": HEADER_SECRET}
        )
    mock_server.enqueue(MockResponse(raw=body))
    async with model:
        with pytest.raises(StreamkitError) as info:
            async for _ in model.stream("hi"):
                pass
    err = info.value
    assert err.partial_result is not None and err.partial_result.text == "partial"
    shown = [str(err), repr(err), repr(getattr(err, "body", None)), "".join(traceback.format_exception(err))]
    for secret in SECRETS:
        assert all(secret not in text for text in shown), secret
    assert "***" in str(err)
