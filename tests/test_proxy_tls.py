"""Proxies and TLS (issue #10, item 7).

A forward proxy written here (``relays.ForwardProxy``, on 127.0.0.1) sees
the absolute-URI request for an ``http://`` server and a ``CONNECT`` for an
``https://`` one; ``proxy=`` and the environment (``HTTP_PROXY`` /
``HTTPS_PROXY``, ``NO_PROXY``, ``trust_env``) route through it, and its
credentials are secrets. TLS uses a certificate authority made in the test
(``trustme``) for a MockServer app served with TLS on 127.0.0.1: default
verification fails with a typed ``CertificateError``, once (not retried);
a CA bundle path, an ``SSLContext`` or ``verify=False`` succeed.
"""

from __future__ import annotations

import base64
import ssl
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web
from relays import CountingRelay, ForwardProxy

from streamkit import (
    APIConnectionError,
    APIStatusError,
    CertificateError,
    ChatAnthropic,
    ChatOpenAI,
    InvalidArgumentError,
)
from streamkit.testing import MockResponse, MockServer

TEXT = "tokens through the middle"
PROXY_USER = "alice"
PROXY_PASSWORD = "proxy-SENTINEL-pass-8181"
PROXY_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_ENV:
        monkeypatch.delenv(name, raising=False)


async def stream_text(model: ChatOpenAI | ChatAnthropic) -> str:
    tokens = []
    async with model.stream("hi") as stream:
        async for token in stream:
            tokens.append(token)
    return "".join(tokens)


# -- proxies --------------------------------------------------------------------------


async def test_proxy_argument_carries_the_request_and_the_answer_streams_through(
    mock_server: MockServer,
) -> None:
    mock_server.enqueue(MockResponse(text=TEXT, chunk_size=3))
    async with ForwardProxy() as proxy:
        async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k", proxy=proxy.url) as model:
            assert await stream_text(model) == TEXT
    assert [(r.method, r.target) for r in proxy.requests] == [
        ("POST", f"{mock_server.openai_base_url}/chat/completions")  # absolute-form
    ]
    assert len(mock_server.requests) == 1


@pytest.mark.parametrize("name", ["HTTP_PROXY", "http_proxy"])
async def test_the_environment_proxy_is_used(
    mock_server: MockServer, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    mock_server.enqueue(MockResponse(text=TEXT))
    async with ForwardProxy() as proxy:
        monkeypatch.setenv(name, proxy.url)
        async with ChatAnthropic(base_url=mock_server.anthropic_base_url, api_key="k") as model:
            assert await stream_text(model) == TEXT
    assert [r.target for r in proxy.requests] == [f"{mock_server.anthropic_base_url}/v1/messages"]


@pytest.mark.parametrize("bypass", [{"NO_PROXY": "127.0.0.1"}, {"no_proxy": "localhost,127.0.0.1"}, {}])
async def test_no_proxy_or_trust_env_false_bypasses_the_environment_proxy(
    mock_server: MockServer, monkeypatch: pytest.MonkeyPatch, bypass: dict[str, str]
) -> None:
    mock_server.enqueue(MockResponse(text=TEXT))
    async with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        for name, value in bypass.items():
            monkeypatch.setenv(name, value)
        options: dict[str, Any] = {} if bypass else {"trust_env": False}
        async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k", **options) as model:
            assert await stream_text(model) == TEXT
    assert proxy.requests == []
    assert len(mock_server.requests) == 1


async def test_proxy_credentials_are_sent_to_the_proxy_and_are_secrets(mock_server: MockServer) -> None:
    token = base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()
    mock_server.enqueue(MockResponse(text=TEXT))
    async with ForwardProxy(require_auth=f"Basic {token}") as proxy:
        url = f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{proxy.port}"
        async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k", proxy=url) as model:
            assert await stream_text(model) == TEXT
            shown = [repr(model), str(model), repr(model.model_dump()), model.model_dump_json()]
            assert all(PROXY_PASSWORD not in text for text in shown)
            assert model.proxy is not None and not isinstance(model.proxy, str)  # a SecretStr
            assert model.proxy.get_secret_value() == url
    assert proxy.requests[0].headers["proxy-authorization"] == f"Basic {token}"
    assert "proxy-authorization" not in {k.lower() for k in mock_server.requests[0].headers}


async def test_a_proxy_that_echoes_the_credentials_has_them_redacted(mock_server: MockServer) -> None:
    """The proxy answers 407 quoting the Proxy-Authorization it got: the error never shows it."""
    async with ForwardProxy(require_auth="Basic something-else") as proxy:
        url = f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{proxy.port}"
        async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k", proxy=url) as model:
            with pytest.raises(APIStatusError) as info:
                await model("hi")
    error = info.value
    assert error.status_code == 407
    token = base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()
    assert token in proxy.requests[0].headers["proxy-authorization"]  # it was sent, and echoed
    shown = "\n".join([str(error), repr(error), repr(error.body), "".join(traceback.format_exception(error))])
    assert PROXY_PASSWORD not in shown and token not in shown
    assert "***" in shown
    assert mock_server.requests == []


async def test_an_unreachable_proxy_is_a_connection_error_without_the_credentials() -> None:
    async with ForwardProxy() as proxy:
        port = proxy.port
    url = f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{port}"
    async with ChatOpenAI(base_url="http://127.0.0.1:9/v1", api_key="k", proxy=url, max_retries=0) as model:
        with pytest.raises(APIConnectionError) as info:
            await model("hi")
    assert PROXY_PASSWORD not in "".join(traceback.format_exception(info.value))


@pytest.mark.parametrize(
    "proxy",
    [
        "ftp://127.0.0.1:21",
        "127.0.0.1:3128",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:3128/some/path",
        f"http://u:{PROXY_PASSWORD}@127.0.0.1:3128\r\nX: y",
        "",
    ],
)
def test_a_bad_proxy_fails_at_construction_without_showing_it(proxy: str) -> None:
    with pytest.raises(InvalidArgumentError, match="proxy") as info:
        ChatOpenAI(base_url="http://127.0.0.1:9/v1", proxy=proxy)
    assert PROXY_PASSWORD not in str(info.value)


def test_a_bad_environment_proxy_fails_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"socks5://u:{PROXY_PASSWORD}@127.0.0.1:1080")
    with pytest.raises(InvalidArgumentError, match="HTTP_PROXY") as info:
        ChatOpenAI(base_url="http://127.0.0.1:9/v1")
    assert PROXY_PASSWORD not in str(info.value)
    ChatOpenAI(base_url="http://127.0.0.1:9/v1", trust_env=False)  # the way out it names


def test_a_proxy_change_is_validated_on_assignment() -> None:
    model = ChatOpenAI(base_url="http://127.0.0.1:9/v1")
    with pytest.raises(InvalidArgumentError, match="proxy"):
        model.proxy = "ftp://x"
    assert model.proxy is None


# -- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_path(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@asynccontextmanager
async def tls_server(ca: trustme.CA, *names: str) -> AsyncIterator[tuple[MockServer, CountingRelay]]:
    """The MockServer's app served with TLS (a certificate for ``names``), behind a counting relay."""
    server = MockServer()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(names or ("127.0.0.1",))).configure_cert(context)
    runner = web.AppRunner(server.app, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = int(runner.addresses[0][1])
    try:
        async with CountingRelay(port) as relay:
            yield server, relay
    finally:
        await runner.cleanup()


def tls_url(relay: CountingRelay) -> str:
    return f"https://127.0.0.1:{relay.port}/v1"


@pytest.mark.parametrize("verify", [True, "default"])
async def test_an_unknown_certificate_is_a_typed_error_and_not_retried(ca: trustme.CA, verify: Any) -> None:
    options = {} if verify == "default" else {"verify": verify}
    async with tls_server(ca) as (server, relay):
        async with ChatOpenAI(base_url=tls_url(relay), api_key="k", max_retries=2, **options) as model:
            with pytest.raises(CertificateError) as info:
                await model("hi")
    error = info.value
    assert isinstance(error, APIConnectionError) and error.retryable is False
    assert relay.connections == 1  # one handshake: no retry
    assert server.requests == []
    assert "verify" in str(error) and "certificate" in str(error).lower()
    assert (error.host, error.port) == ("127.0.0.1", relay.port)
    assert error.__cause__ is None and error.__suppress_context__


async def test_a_host_name_mismatch_is_a_certificate_error(ca: trustme.CA, ca_path: Path) -> None:
    async with tls_server(ca, "other.example") as (server, relay):
        async with ChatOpenAI(base_url=tls_url(relay), api_key="k", verify=str(ca_path)) as model:
            with pytest.raises(CertificateError):
                await model("hi")
    assert relay.connections == 1 and server.requests == []


def trusting_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


VERIFY_OPTIONS = {
    "ca-bundle-path": lambda ca, path: str(path),
    "ca-bundle-Path": lambda ca, path: path,
    "ssl-context": lambda ca, path: trusting_context(ca),
    "verify-false": lambda ca, path: False,
}


@pytest.mark.parametrize("make", VERIFY_OPTIONS.values(), ids=VERIFY_OPTIONS.keys())
async def test_a_ca_bundle_a_context_or_verify_false_reach_a_self_hosted_server(
    ca: trustme.CA, ca_path: Path, make: Any
) -> None:
    async with tls_server(ca) as (server, relay):
        server.enqueue(MockResponse(text=TEXT, chunk_size=4))
        verify = make(ca, ca_path)
        async with ChatOpenAI(base_url=tls_url(relay), api_key="k", verify=verify) as model:
            assert await stream_text(model) == TEXT
            assert model.verify is verify  # kept as given (a context is never copied)
    assert len(server.requests) == 1


async def test_https_through_the_environment_proxy_tunnels_with_connect(
    ca: trustme.CA, ca_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with tls_server(ca) as (server, relay), ForwardProxy() as proxy:
        server.enqueue(MockResponse(text=TEXT))
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        async with ChatOpenAI(base_url=tls_url(relay), api_key="k", verify=str(ca_path)) as model:
            assert await stream_text(model) == TEXT
    assert [(r.method, r.target) for r in proxy.requests] == [("CONNECT", f"127.0.0.1:{relay.port}")]
    assert len(server.requests) == 1


@pytest.mark.parametrize("verify", ["/nonexistent/ca.pem", "", 3, None])
def test_a_bad_verify_fails_at_construction(verify: Any, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="verify"):
        ChatOpenAI(base_url="https://127.0.0.1:9/v1", verify=verify)


def test_a_file_that_is_not_a_ca_bundle_fails_at_construction(tmp_path: Path) -> None:
    path = tmp_path / "not-a-ca.pem"
    path.write_text("hello\n")
    with pytest.raises(InvalidArgumentError, match="verify") as info:
        ChatOpenAI(base_url="https://127.0.0.1:9/v1", verify=str(path))
    assert str(path) in str(info.value)
