"""The clients being compared. Each reads a stream and returns its text.

A contender is opened once per client process (``open_contender``) and
then called per stream: ``await client.stream(model, mark)`` returns the
concatenated answer text and calls ``mark()`` when the first non-empty
piece of text arrives (for time-to-first-token and for counting streams
open at once). Each loop is what a user of that library would write; the
``mark`` check is the same one-line test in all of them.

The floor is plain aiohttp, ``async for line in resp.content`` and
``json.loads`` on each ``data:`` line (on each line, for Ollama's NDJSON),
then the text pulled out of the format's own shape: about the least a
Python client can do and still be correct for these streams. There is one
floor per wire format; every ratio is to the floor of the same format.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from .wire import PROVIDERS, Provider

__all__ = ["CONTENDERS", "Client", "ContenderInfo", "available", "contender", "open_contender"]

PROMPT = "Write me a song about sparkling water."
Mark = Callable[[], None]


class Client(Protocol):
    async def stream(self, model: str, mark: Mark) -> str: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class ContenderInfo:
    key: str
    label: str
    providers: tuple[Provider, ...]
    #: Modules that must be importable (the optional ``bench`` extra).
    requires: tuple[str, ...] = ()
    #: Can it read a single 64 MiB line? (aiohttp's ``readline`` caps lines.)
    huge_lines: bool = True


CONTENDERS: tuple[ContenderInfo, ...] = (
    ContenderInfo("floor", "floor: aiohttp lines + json.loads", PROVIDERS, huge_lines=False),
    ContenderInfo(
        "floor-orjson", "aiohttp lines + orjson", ("openai", "anthropic"), ("orjson",), huge_lines=False
    ),
    ContenderInfo("sk-stream", "streamkit stream()", PROVIDERS),
    ContenderInfo("sk-generate", "streamkit generate() + handler", PROVIDERS),
    ContenderInfo("openai-sdk", "openai-python AsyncOpenAI(stream=True)", ("openai",), ("openai",)),
    ContenderInfo(
        "langchain-openai", "langchain-openai ChatOpenAI.astream", ("openai",), ("langchain_openai",)
    ),
    ContenderInfo(
        "anthropic-sdk", "anthropic-python messages.create(stream=True)", ("anthropic",), ("anthropic",)
    ),
    ContenderInfo(
        "anthropic-sdk-helper", "anthropic-python messages.stream() helper", ("anthropic",), ("anthropic",)
    ),
)


def contender(key: str) -> ContenderInfo:
    for info in CONTENDERS:
        if info.key == key:
            return info
    raise KeyError(key)


def available(info: ContenderInfo) -> bool:
    """True when the contender's optional packages are installed."""
    return all(importlib.util.find_spec(name) is not None for name in info.requires)


def open_contender(key: str, provider: Provider, root: str) -> Client:
    """A ready client of kind ``key`` for ``provider`` on the server at ``root``."""
    factories: dict[str, Callable[[Provider, str], Client]] = {
        "floor": lambda p, r: _Floor(p, r, json.loads),
        "floor-orjson": _floor_orjson,
        "sk-stream": _StreamkitStream,
        "sk-generate": _StreamkitGenerate,
        "openai-sdk": _OpenAISDK,
        "langchain-openai": _LangChainOpenAI,
        "anthropic-sdk": _AnthropicSDK,
        "anthropic-sdk-helper": _AnthropicSDKHelper,
    }
    return factories[key](provider, root)


def _base_url(provider: Provider, root: str) -> str:
    # As with the real APIs: OpenAI's base URL (chat and Responses) includes /v1;
    # Anthropic's, Gemini's (the API version is added per request) and Ollama's do not.
    return f"{root}/v1" if provider in ("openai", "openai-responses") else root


# -- the floor ---------------------------------------------------------------


class _Floor:
    def __init__(self, provider: Provider, root: str, loads: Callable[[bytes], Any]) -> None:
        import aiohttp

        self._aiohttp = aiohttp
        self._provider = provider
        self._loads = loads
        self._root = root
        self._headers: dict[str, str]
        if provider == "openai":
            self._url = f"{root}/v1/chat/completions"
            self._headers = {"Authorization": "Bearer bench"}
        elif provider == "anthropic":
            self._url = f"{root}/v1/messages"
            self._headers = {"x-api-key": "bench", "anthropic-version": "2023-06-01"}
        elif provider == "openai-responses":
            self._url = f"{root}/v1/responses"
            self._headers = {"Authorization": "Bearer bench"}
        elif provider == "gemini":
            self._url = ""  # the model is in the path: see stream()
            self._headers = {"x-goog-api-key": "bench"}
        else:
            self._url = f"{root}/api/chat"
            self._headers = {}
        self._session: Any = None

    def _get_session(self) -> Any:
        if self._session is None:
            aiohttp = self._aiohttp
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None)
            )
        return self._session

    def _request(self, model: str) -> tuple[str, dict[str, Any]]:
        """The URL and the JSON body of the format's streaming request."""
        if self._provider == "gemini":
            url = f"{self._root}/v1beta/models/{quote(model, safe='')}:streamGenerateContent?alt=sse"
            return url, {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
        if self._provider == "openai-responses":
            return self._url, {"model": model, "input": PROMPT, "stream": True}
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "user", "content": PROMPT}],
            "stream": True,
        }
        if self._provider == "anthropic":
            body["max_tokens"] = 1024
        return self._url, body

    async def stream(self, model: str, mark: Mark) -> str:
        loads = self._loads
        parts: list[str] = []
        provider = self._provider
        url, body = self._request(model)
        async with self._get_session().post(url, json=body, headers=self._headers) as resp:
            resp.raise_for_status()
            if provider == "openai":
                async for line in resp.content:
                    if line.startswith(b"data: ") and not line.startswith(b"data: [DONE]"):
                        choices = loads(line[6:])["choices"]
                        if choices:
                            text = choices[0]["delta"].get("content")
                            if text:
                                if not parts:
                                    mark()
                                parts.append(text)
            elif provider == "anthropic":
                async for line in resp.content:
                    if line.startswith(b"data: "):
                        event = loads(line[6:])
                        if event["type"] == "content_block_delta" and event["delta"]["type"] == "text_delta":
                            if not parts:
                                mark()
                            parts.append(event["delta"]["text"])
            elif provider == "openai-responses":
                async for line in resp.content:
                    if line.startswith(b"data: "):
                        event = loads(line[6:])
                        if event["type"] == "response.output_text.delta":
                            if not parts:
                                mark()
                            parts.append(event["delta"])
            elif provider == "gemini":
                # CRLF framing: each data line ends with b"\r\n", which json.loads skips as whitespace.
                async for line in resp.content:
                    if line.startswith(b"data: "):
                        for part in loads(line[6:])["candidates"][0]["content"]["parts"]:
                            text = part.get("text")
                            if text and not part.get("thought"):
                                if not parts:
                                    mark()
                                parts.append(text)
            else:
                async for line in resp.content:
                    text = loads(line)["message"]["content"]
                    if text:
                        if not parts:
                            mark()
                        parts.append(text)
        return "".join(parts)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _floor_orjson(provider: Provider, root: str) -> Client:
    import orjson

    return _Floor(provider, root, orjson.loads)


# -- streamkit -----------------------------------------------------------------


def _streamkit_model(provider: Provider, root: str, **kwargs: Any) -> Any:
    """The format's streamkit chat class: ``ChatOpenAI``, ``ChatAnthropic``,
    ``ChatOpenAIResponses``, ``ChatGoogleGenerativeAI`` or ``ChatOllama``."""
    module, name = {
        "openai": ("streamkit", "ChatOpenAI"),
        "anthropic": ("streamkit", "ChatAnthropic"),
        "openai-responses": ("streamkit.providers.openai_responses", "ChatOpenAIResponses"),
        "gemini": ("streamkit.providers.gemini", "ChatGoogleGenerativeAI"),
        "ollama": ("streamkit.providers.ollama", "ChatOllama"),
    }[provider]
    cls = getattr(importlib.import_module(module), name)
    # Default settings (timeouts included), no retries: a failure must show.
    # The linear scenario sends single events up to 64 MiB, past the default
    # max_event_size (16 MiB) that guards against endless lines. Ollama needs
    # no key (a local server).
    key = {} if provider == "ollama" else {"api_key": "bench"}
    return cls(
        base_url=_base_url(provider, root),
        max_retries=0,
        max_event_size=256 * 1024 * 1024,
        **key,
        **kwargs,
    )


class _StreamkitStream:
    """``async for token in chat.stream(...)``."""

    def __init__(self, provider: Provider, root: str) -> None:
        self._chat = _streamkit_model(provider, root)

    async def stream(self, model: str, mark: Mark) -> str:
        parts: list[str] = []
        async for token in self._chat.stream(PROMPT, model=model):
            if not parts:
                mark()
            parts.append(token)
        return "".join(parts)

    async def aclose(self) -> None:
        await self._chat.aclose()


class _StreamkitGenerate:
    """``await chat.generate(...)`` with ``streaming=True`` and one handler; the text
    comes from the full ``LLMResult`` and must match what the handler saw."""

    def __init__(self, provider: Provider, root: str) -> None:
        from streamkit.callbacks import AsyncCallbackHandler

        class TokenHandler(AsyncCallbackHandler):
            def __init__(self, mark: Mark) -> None:
                self.parts: list[str] = []
                self.mark = mark

            async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
                if not self.parts:
                    self.mark()
                self.parts.append(token)

        self._handler_class = TokenHandler
        self._chat = _streamkit_model(provider, root, streaming=True)

    async def stream(self, model: str, mark: Mark) -> str:
        handler = self._handler_class(mark)
        result = await self._chat.generate([PROMPT], callbacks=[handler], model=model)
        text: str = result.generations[0][0].text
        if "".join(handler.parts) != text:
            raise AssertionError("the handler's tokens differ from the LLMResult's text")
        usage = (result.llm_output or {}).get("token_usage") or {}
        if not isinstance(usage.get("completion_tokens"), int):
            raise AssertionError(f"no token usage in the LLMResult: {result.llm_output!r}")
        return text

    async def aclose(self) -> None:
        await self._chat.aclose()


# -- the official SDKs and LangChain -------------------------------------------


class _OpenAISDK:
    def __init__(self, provider: Provider, root: str) -> None:
        import openai

        self._client = openai.AsyncOpenAI(base_url=_base_url(provider, root), api_key="bench", max_retries=0)

    async def stream(self, model: str, mark: Mark) -> str:
        parts: list[str] = []
        stream = await self._client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in stream:
            if chunk.choices:
                text = chunk.choices[0].delta.content
                if text:
                    if not parts:
                        mark()
                    parts.append(text)
        return "".join(parts)

    async def aclose(self) -> None:
        await self._client.close()


class _LangChainOpenAI:
    def __init__(self, provider: Provider, root: str) -> None:
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr

        self._llm = ChatOpenAI(
            model="gpt-4o-mini", base_url=_base_url(provider, root), api_key=SecretStr("bench"), max_retries=0
        )

    async def stream(self, model: str, mark: Mark) -> str:
        parts: list[str] = []
        async for chunk in self._llm.astream(PROMPT, model=model):
            text = chunk.content
            if text:
                if not isinstance(text, str):
                    raise AssertionError(f"unexpected content {text!r}")
                if not parts:
                    mark()
                parts.append(text)
        return "".join(parts)

    async def aclose(self) -> None:
        client = getattr(self._llm, "async_client", None)
        root_client = getattr(self._llm, "root_async_client", None)
        for c in (root_client, client):
            close = getattr(c, "close", None)
            if close is not None:
                await close()
                break


class _AnthropicSDK:
    def __init__(self, provider: Provider, root: str) -> None:
        import anthropic

        self._client = anthropic.AsyncAnthropic(
            base_url=_base_url(provider, root), api_key="bench", max_retries=0
        )

    async def stream(self, model: str, mark: Mark) -> str:
        parts: list[str] = []
        stream = await self._client.messages.create(
            model=model, max_tokens=1024, messages=[{"role": "user", "content": PROMPT}], stream=True
        )
        async for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                if not parts:
                    mark()
                parts.append(event.delta.text)
        return "".join(parts)

    async def aclose(self) -> None:
        await self._client.close()


class _AnthropicSDKHelper(_AnthropicSDK):
    async def stream(self, model: str, mark: Mark) -> str:
        parts: list[str] = []
        async with self._client.messages.stream(
            model=model, max_tokens=1024, messages=[{"role": "user", "content": PROMPT}]
        ) as stream:
            async for text in stream.text_stream:
                if text:
                    if not parts:
                        mark()
                    parts.append(text)
        return "".join(parts)
