"""The ``streamkit`` command.

``streamkit chat "prompt" [--provider openai|anthropic] [--model M] [--base-url URL] [--system S]``
    Streams one answer to standard output; a one-line summary (model and
    server, time to first token, tokens per second, token usage) goes to
    standard error.
``streamkit demo [--mock] [--delay S]``
    A tour of the streaming examples with OpenAI and Anthropic. A provider
    with no key (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``) and no server
    of its own (``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL``) is answered by
    the built-in loopback mock server; the banner says which is which.
``streamkit mock [--port P] [--reply TEXT] [--delay S] [--chunk-size N]``
    Runs the built-in mock server on 127.0.0.1 until Ctrl-C and prints the
    base URLs to export, so that any client (other languages' SDKs
    included) can be pointed at it.
``streamkit --version``
    The installed version.

Exit status: 0 on success (and for ``mock`` stopped by Ctrl-C), 1 on an
API or connection error, 2 on a usage error (no API key, bad option), 130
after Ctrl-C, 141 when standard output was closed early (``| head``),
quietly, as other command-line tools do.

Help texts and messages are written for users of the command: no Python
or Sphinx markup, and every error names what to change (the option or
environment variable).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import sys
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import urlsplit
from uuid import UUID

from . import providers
from ._anthropic import Anthropic, ChatAnthropic
from ._openai import ChatOpenAI, OpenAI
from .callbacks import AsyncCallbackHandler, StreamingStdOutCallbackHandler
from .callbacks._base import AnyHandler
from .errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    InvalidArgumentError,
    NotFoundError,
    StreamkitError,
)
from .messages import HumanMessage, SystemMessage
from .providers.base import Provider
from .results import BatchProgress, LLMResult

__all__ = ["main"]

#: Exit statuses (see the module docstring).
EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 1, 2, 130, 141

_DESCRIPTION = (
    "Stream answers from OpenAI- and Anthropic-style chat APIs in your terminal, "
    "or try streaming offline against a built-in mock server."
)


@dataclass(frozen=True)
class _Provider:
    """What the command needs to know about one registered provider (its module's public facts)."""

    name: str
    title: str
    #: The key's environment variable ("" for a provider that needs no key, such as Ollama).
    key_env: str
    url_env: str
    #: The provider's own API (``https://api.openai.com/v1``), or "" for a server you run.
    official: str
    entry: providers.ProviderEntry
    wire: Provider
    #: Where requests go when neither --base-url nor ``url_env`` says: the
    #: official API, or a local server's usual address (a vLLM preset's).
    default_url: str = ""

    def path(self, model: str) -> str:
        """The endpoint appended to the base URL (the provider builds it: Gemini puts the model in it).

        "" when the provider needs more than the model to build it (Azure's
        route: the deployment and API version): error messages then show
        the base URL, rather than failing themselves.
        """
        try:
            return self.wire.endpoint({"model": model}, True)
        except StreamkitError:
            return ""


def _env_help(entry: providers.ProviderEntry) -> str:
    """``"ollama: OLLAMA_HOST"``-style help for one provider's environment variables."""
    wire = entry.provider()
    names = " and ".join(n for n in (wire.api_key_env, wire.base_url_env) if n)
    return f"{entry.name}: {names or 'none'}"


def _provider(name: str) -> _Provider:
    """The registered provider ``name`` (``streamkit.providers``), with its preset applied."""
    entry = providers.get(name)
    wire = entry.provider()
    return _Provider(
        name,
        entry.title or name,
        wire.api_key_env or "",
        wire.base_url_env or "",
        # A server you run (Ollama, vLLM...) has a usual address, not an official API.
        wire.default_base_url if wire.requires_key else "",
        entry,
        wire,
        wire.default_base_url,
    )


#: The providers ``streamkit demo`` tours.
_PROVIDERS = {name: _provider(name) for name in ("openai", "anthropic")}


@dataclass(frozen=True)
class _Target:
    """Where a chat request goes, and where that address came from (for error hints)."""

    provider: _Provider
    base_url: str
    #: "--base-url", the environment variable's name, or "default".
    source: str
    model: str

    @property
    def url(self) -> str:
        """The endpoint's URL (the base URL alone if the path needs more: Azure's deployment)."""
        try:
            return self.base_url.rstrip("/") + self.provider.path(self.model)
        except InvalidArgumentError:
            return self.base_url


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def _version() -> str:
    """The installed version: ``streamkit.__version__``, else the distribution's metadata."""
    import streamkit

    version = getattr(streamkit, "__version__", None)
    if isinstance(version, str):
        return version
    from importlib import metadata

    for dist in metadata.packages_distributions().get("streamkit", []):
        return metadata.version(dist)
    return "unknown"


# -- output ------------------------------------------------------------------


class _Terminal:
    """Standard output, remembering whether the last character written ended a line."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.at_line_start = True

    def write(self, text: str) -> int:
        written = self.stream.write(text)
        if text:
            self.at_line_start = text.endswith("\n")
        return written

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def fresh_line(self) -> None:
        """End a line left open (by a stream cut short), so the shell prompt starts on its own line."""
        if not self.at_line_start:
            try:
                self.write("\n")
                self.flush()
            except (OSError, ValueError):
                pass


def _rule(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 66 - len(title)), flush=True)


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.0f} ms"


def _usage_text(usage: dict[str, Any] | None) -> str:
    if not usage:
        return "usage not reported"
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    total = usage.get("total_tokens")
    return f"usage {prompt} prompt + {completion} completion = {total} tokens"


def _rate(tokens: int, seconds: float | None) -> str:
    if not tokens or not seconds or seconds <= 0:
        return "n/a tokens/s"
    return f"{tokens / seconds:.1f} tokens/s"


class _Stats(AsyncCallbackHandler):
    """Times every run it sees (by ``run_id``): for the summary lines.

    Time to first token: from the start of the request to the first piece
    of answer text. Tokens per second: completion tokens (as the server
    counted them, else the pieces of text received) over the seconds from
    the first token to the end.
    """

    def __init__(self) -> None:
        self.started: dict[UUID, float] = {}
        self.first: dict[UUID, float] = {}
        self.pieces: dict[UUID, int] = {}
        self.done: list[tuple[float | None, int, float | None, dict[str, Any]]] = []

    async def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], **kwargs: Any) -> None:
        self.started[kwargs["run_id"]] = time.perf_counter()

    async def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[Any]], **kwargs: Any
    ) -> None:
        self.started[kwargs["run_id"]] = time.perf_counter()

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        run_id = kwargs["run_id"]
        self.first.setdefault(run_id, time.perf_counter())
        self.pieces[run_id] = self.pieces.get(run_id, 0) + 1

    async def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        run_id = kwargs["run_id"]
        now = time.perf_counter()
        start, first = self.started.pop(run_id, None), self.first.pop(run_id, None)
        usage = dict((response.llm_output or {}).get("token_usage") or {})
        tokens = usage.get("completion_tokens") or self.pieces.pop(run_id, 0)
        ttft = first - start if first is not None and start is not None else None
        self.done.append((ttft, int(tokens), now - first if first is not None else None, usage))

    @property
    def last_ttft(self) -> float | None:
        return self.done[-1][0] if self.done else None

    def summary(self) -> str:
        """One line over every finished run: median time to first token, tokens/s, summed usage."""
        ttfts = [t for t, *_ in self.done if t is not None]
        tokens = sum(n for _, n, seconds, _ in self.done if seconds)
        seconds = sum(s for *_, s, _ in self.done if s)
        usage: dict[str, Any] = {}
        for *_, run_usage in self.done:
            for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
                if isinstance(run_usage.get(key), int):
                    usage[key] = usage.get(key, 0) + run_usage[key]
        ttft = statistics.median(ttfts) if ttfts else None
        return (
            f"summary: {len(self.done)} answers; time to first token {_ms(ttft)} (median); "
            f"{_rate(tokens, seconds)}; {_usage_text(usage)}"
        )


def _print_result(result: LLMResult) -> None:
    print(result.model_dump_json(indent=2, exclude={"run"}))


# -- demo --------------------------------------------------------------------


def _endpoint(provider: _Provider, use_mock: bool, mock_url: str | None) -> tuple[dict[str, Any], str]:
    """The model options for ``provider`` in the demo, and a banner line that says where answers come from."""
    if use_mock:
        assert mock_url is not None
        url = mock_url + ("/v1" if provider.name == "openai" else "")
        return {"base_url": url, "api_key": "mock-key"}, f"streamkit's built-in mock server at {url}"
    url = _env(provider.url_env) or provider.official
    if urlsplit(url).hostname == urlsplit(provider.official).hostname:
        return {}, f"{provider.title}'s own API at {url} ({provider.key_env} is set)"
    return {}, f"the server at {url} (from {provider.url_env}; not {provider.title}'s own API)"


async def _demo(args: argparse.Namespace) -> int:
    stats = _Stats()
    async with AsyncExitStack() as stack:
        plans: dict[str, tuple[bool, str]] = {}
        for provider in _PROVIDERS.values():
            key, url = _env(provider.key_env), _env(provider.url_env)
            official = urlsplit(url or provider.official).hostname == urlsplit(provider.official).hostname
            if args.mock:
                ignored = " and ".join(n for n, v in ((provider.key_env, key), (provider.url_env, url)) if v)
                why = f"--mock given; {ignored} not used" if ignored else "--mock given"
                plans[provider.name] = (True, why)
            elif key or not official:
                plans[provider.name] = (False, "")
            else:
                plans[provider.name] = (True, f"no {provider.key_env} set")
        server = None
        if any(use_mock for use_mock, _ in plans.values()):
            from .testing import MockResponse, MockServer

            server = await stack.enter_async_context(MockServer())
            # A little pacing so the streaming is visible, as with a real model.
            server.responder = lambda request: MockResponse(delay=args.delay)
        options: dict[str, dict[str, Any]] = {}
        for provider in _PROVIDERS.values():
            use_mock, why = plans[provider.name]
            options[provider.name], where = _endpoint(provider, use_mock, server.url if server else None)
            print(f"{provider.title}: {where}" + (f" ({why})." if why else "."))
        if server is not None:
            print("The mock server speaks each provider's format over real HTTP on this machine.")
        callbacks: list[AnyHandler] = [StreamingStdOutCallbackHandler(), stats]
        openai_opts, anthropic_opts = options["openai"], options["anthropic"]

        llm = OpenAI(streaming=True, callbacks=callbacks, temperature=0, **openai_opts)
        stack.push_async_callback(llm.aclose)
        await _seed_prompts(llm, stats)

        _rule("ChatOpenAI, streaming=True, stdout handler")
        chat = ChatOpenAI(streaming=True, callbacks=callbacks, temperature=0, **openai_opts)
        stack.push_async_callback(chat.aclose)
        print('>>> await chat([HumanMessage(content="Write me a song about sparkling water.")])')
        message = await chat([HumanMessage(content="Write me a song about sparkling water.")])
        print(f"\n[returned {type(message).__name__}, usage {message.usage_metadata}]")

        claude = Anthropic(streaming=True, callbacks=callbacks, temperature=0, **anthropic_opts)
        stack.push_async_callback(claude.aclose)
        await _seed_prompts(claude, stats)

        _rule("async for token in chat.stream(...)")
        print('>>> async for token in chat.stream([HumanMessage(content="Tell me a joke.")]):')
        tokens = 0
        plain = ChatAnthropic(temperature=0, callbacks=[stats], **anthropic_opts)
        stack.push_async_callback(plain.aclose)
        async with plain.stream([HumanMessage(content="Tell me a joke.")]) as stream:
            async for token in stream:
                tokens += 1
                print(token, end="", flush=True)
        usage = stream.result.llm_output["token_usage"] if stream.result.llm_output else {}
        print(f"\n[{tokens} tokens from {type(plain).__name__}; token_usage {usage}]")
    print()
    print(stats.summary())
    return 0


async def _seed_prompts(llm: OpenAI | Anthropic, stats: _Stats) -> None:
    """Two prompt-model examples: a streamed song, then generate()."""
    name = type(llm).__name__
    _rule(f"{name}, streaming=True, stdout handler")
    print('>>> await llm("Write me a song about sparkling water.")')
    text = await llm("Write me a song about sparkling water.")
    print(f"\n[returned a str of {len(text)} characters; first token after {_ms(stats.last_ttft)}]")
    _rule(f"{name}.generate(), token usage while streaming")
    print('>>> result = await llm.generate(["Tell me a joke."])')
    result = await llm.generate(["Tell me a joke."])
    print()
    _print_result(result)


# -- chat --------------------------------------------------------------------


class _NoKey(Exception):
    """A usage error, explained: no API key for the official API, or no model and no default."""


def _default_model(provider: str) -> str | None:
    """The model used without --model: the preset's, else the chat class's default; None if it has none."""
    entry = providers.get(provider)
    preset = dict(entry.preset)
    field = entry.chat_class().model_fields["model"]
    if preset.get("model"):
        return str(preset["model"])
    return None if field.is_required() or not isinstance(field.default, str) else field.default


def _chat_target(args: argparse.Namespace) -> _Target:
    provider = _provider(args.provider)
    if args.base_url:
        base_url, source = args.base_url, "--base-url"
    elif _env(provider.url_env):
        base_url, source = str(_env(provider.url_env)), provider.url_env
    else:
        base_url, source = provider.default_url, "default"
    try:
        host = urlsplit(base_url).hostname
    except ValueError:  # "http://[::1": urlsplit's own complaint, without a traceback
        host = None
    model = args.model or _default_model(provider.name)
    if not model:
        # Azure's deployment has no sensible default: never send a made-up name.
        raise _NoKey(f"--provider {provider.name} has no default model: pass --model NAME")
    target = _Target(provider, base_url, source, model)
    official = urlsplit(provider.official).hostname
    needs_key = provider.wire.requires_key and official is not None  # as the model decides
    if needs_key and provider.key_env and not _env(provider.key_env) and host == official:
        raise _NoKey(
            f"no API key for {provider.title}: set the {provider.key_env} environment variable "
            f"(export {provider.key_env}=...), or use --base-url to reach a server that needs no key.\n"
            "To try streamkit without a key: streamkit demo, or streamkit mock."
        )
    return target


async def _chat(args: argparse.Namespace, target: _Target, out: _Terminal) -> int:
    messages: list[Any] = []
    if args.system:
        messages.append(SystemMessage(content=args.system))
    messages.append(HumanMessage(content=args.prompt))
    options: dict[str, Any] = {"temperature": args.temperature, "model": target.model}
    if args.base_url:
        options["base_url"] = args.base_url
    started = time.perf_counter()
    first: float | None = None
    pieces = 0
    async with target.provider.entry.chat_model(**options) as chat:
        async with chat.stream(messages) as stream:
            async for token in stream:
                if first is None:
                    first = time.perf_counter()
                pieces += 1
                out.write(token)
                out.flush()
        ended = time.perf_counter()
        out.fresh_line()
        llm_output = stream.result.llm_output or {}
    usage = llm_output.get("token_usage") or {}
    tokens = usage.get("completion_tokens") or pieces
    served_by = llm_output.get("model_name") or target.model
    print(
        f"[{served_by} at {target.base_url}] time to first token "
        f"{_ms(first - started if first is not None else None)}, "
        f"{_rate(tokens, ended - first if first is not None else None)}, {_usage_text(usage)}",
        file=sys.stderr,
    )
    return 0


# -- batch -------------------------------------------------------------------


class _Progress:
    """A progress bar on standard error: tqdm's if it is installed, else a counter line."""

    def __init__(self, total: int) -> None:
        try:
            from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]  # optional: the cli extra
        except ImportError:
            self.bar: Any = None
        else:
            self.bar = tqdm(total=total, unit="prompt", file=sys.stderr, dynamic_ncols=True)
        self.total = total

    def __call__(self, progress: BatchProgress) -> None:
        if self.bar is not None:
            self.bar.update(1)
        else:
            print(f"\r{progress.finished}/{progress.total} prompts done", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.total:
            print(file=sys.stderr)


def _read_prompts(name: str) -> list[str]:
    """One prompt per non-blank line of a file, or of standard input for ``-``."""
    if name == "-":
        return [line.rstrip("\n") for line in sys.stdin if line.strip()]
    with open(name, encoding="utf-8") as source:
        return [line.rstrip("\n") for line in source if line.strip()]


async def _batch(args: argparse.Namespace, target: _Target) -> int:
    prompts = _read_prompts(args.file)
    options: dict[str, Any] = {"temperature": args.temperature, "model": target.model}
    if args.base_url:
        options["base_url"] = args.base_url
    conversations = [
        [*([SystemMessage(content=args.system)] if args.system else []), HumanMessage(content=prompt)]
        for prompt in prompts
    ]
    progress = _Progress(len(prompts))
    try:
        async with target.provider.entry.chat_model(**options) as chat:
            result = await chat.generate(
                conversations, return_exceptions=True, on_progress=progress, max_concurrency=args.concurrency
            )
    finally:
        progress.close()
    errors = result.errors or [None] * len(prompts)
    failed = 0
    for prompt, generations, error in zip(prompts, result.generations, errors, strict=True):
        line: dict[str, Any] = {"prompt": prompt, "answer": generations[0].text if generations else ""}
        if error is not None:
            failed += 1
            detail = _describe(error, target) if isinstance(error, StreamkitError) else str(error)
            line["error"] = f"{type(error).__name__}: {detail}"
        print(json.dumps(line, ensure_ascii=False))
    usage = result.token_usage
    print(f"[{len(prompts) - failed} answered, {failed} failed; {_usage_text(usage)}]", file=sys.stderr)
    return EXIT_ERROR if failed else 0


# -- mock --------------------------------------------------------------------


async def _mock(args: argparse.Namespace) -> int:
    from .testing import MockResponse, MockServer, RecordedRequest

    server = MockServer(port=args.port)
    try:
        await server.start()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(
            f"streamkit: error: cannot listen on 127.0.0.1:{args.port} ({reason}); "
            "choose another port with --port (--port 0 picks a free one)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    served = 0

    def respond(request: RecordedRequest) -> MockResponse:
        nonlocal served
        served += 1
        if not args.quiet:
            body = request.json if isinstance(request.json, dict) else {}
            model = body.get("model", "?")
            streamed = "streamed" if body.get("stream") else "not streamed"
            print(f"{request.method} {request.path}  model={model}  {streamed}", file=sys.stderr, flush=True)
        return MockResponse(text=args.reply, delay=args.delay, chunk_size=args.chunk_size)

    server.responder = respond
    exports, routes = [], []
    for entry in providers.entries():
        if entry.preset or not entry.mocks:
            continue  # a preset speaks another provider's wire
        env = entry.provider().base_url_env
        line = f"  export {env}={server.base_url_for(entry.name)}"
        if env and line not in exports:  # the Responses API shares OPENAI_BASE_URL
            exports.append(line)
        routes += [route for wire in entry.mock_wires() for route in wire.routes]
    print(
        f"streamkit mock server on {server.url} (Ctrl-C to stop)\n"
        "\n"
        "Point any client of these APIs at it, in any language:\n"
        "\n" + "\n".join(exports) + "\n"
        "\n"
        "Any API key is accepted (official SDKs insist on having one: OPENAI_API_KEY=mock works; Azure\n"
        "also wants OPENAI_API_VERSION=2024-10-21 and AZURE_OPENAI_API_KEY=mock).\n"
        f"It answers POST {', '.join(routes)}, streamed or not.",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows: KeyboardInterrupt instead
            pass
    try:
        await stop.wait()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
        await server.close()
    print(f"stopped after {served} request{'s' if served != 1 else ''}.", file=sys.stderr)
    return 0


# -- errors --------------------------------------------------------------------

_CONNECT = re.compile(r"Cannot connect to host (?P<host>\S+)(?: ssl:\S+)? \[(?P<reason>.*)\]")


def _describe(exc: StreamkitError, target: _Target | None) -> str:
    """The message for an error: what happened, at which URL, and what to change."""
    text = re.sub(r" ssl:default\b", "", str(exc))  # aiohttp's TLS note, printed even for http://
    name = type(exc).__name__
    if isinstance(exc, NotFoundError) and target is not None:
        return f"{name}: {text} (from {target.url})\n{_not_found_hint(target)}"
    if isinstance(exc, APIConnectionError) and not isinstance(exc, APITimeoutError):
        match = _CONNECT.search(text)
        where = target.url if target is not None else (match["host"] if match else "the server")
        if match:
            reason = match["reason"]
            if "Connect call failed" in reason or "refused" in reason.lower():
                reason = "nothing answered there (connection refused)"
            elif "not known" in reason or "resolution" in reason.lower() or "nodename" in reason:
                reason = "the host name could not be resolved"
            text = f"could not connect to {where}: {reason}"
        elif target is not None:
            text = f"{text} (while talking to {target.url})"
        if target is not None:
            text += f"\n{_where_from(target)}"
        return f"{name}: {text}"
    if isinstance(exc, APITimeoutError) and target is not None:
        return f"{name}: {text} (while talking to {target.url})"
    if isinstance(exc, AuthenticationError) and target is not None:
        return f"{name}: {text}\nhint: check the key in {target.provider.key_env}"
    return f"{name}: {text}"


def _where_from(target: _Target) -> str:
    if target.source == "--base-url":
        return "hint: is the server running, and is --base-url right?"
    if target.source == "default":
        provider = target.provider
        if not provider.official:  # a local server's usual address (a preset's)
            return f"hint: is {provider.title} running there? (--base-url points elsewhere)"
        also = f" / {provider.url_env}" if provider.url_env else ""
        return f"hint: check your network connection (or set --base-url{also})"
    return f"hint: is the server running, and is {target.source} right? (--base-url overrides it)"


def _not_found_hint(target: _Target) -> str:
    """Why a 404 probably happened, and the base URL to try instead.

    Whether a base URL ends in ``/v1`` is each provider's own fact, read from
    its default URL (OpenAI's and the OpenAI-compatible presets' do;
    Anthropic's, Ollama's and Gemini's do not: their endpoint paths start
    with ``/v1/messages``, ``/api/chat``, ``/v1beta/...``).
    """
    provider = target.provider
    base = target.base_url.rstrip("/")
    path = urlsplit(base).path
    endpoint = urlsplit(target.url).path[len(path) :]  # the path streamkit appends ("" for Azure)
    with_v1 = urlsplit(provider.default_url).path.rstrip("/").endswith("/v1")
    endpoints = [e for e in (endpoint, "/completions" if provider.name == "openai" else "") if e]
    suggestion: str | None = None
    why = ""
    for tail in endpoints:
        if path.endswith(tail):
            suggestion = base[: -len(tail)]
            why = f"the base URL should stop before {tail} (streamkit adds it)"
            break
    else:
        if with_v1 and path.endswith("/v1/v1"):
            suggestion, why = base[:-3], "the base URL has /v1 twice"
        elif with_v1 and not path.endswith("/v1"):
            suggestion = base + "/v1"
            why = f"{provider.title} serves under /v1, and the base URL includes it"
        elif not with_v1 and path.endswith("/v1"):
            suggestion = base[:-3]
            adds = f" (streamkit adds {endpoint})" if endpoint else ""
            why = f"for --provider {provider.name} the base URL has no /v1{adds}"
    if suggestion is None:
        return (
            f"hint: check the model name (--model {target.model}) and that the server at {base} "
            f"speaks the {target.provider.title} format (--provider)"
        )
    if target.source == target.provider.url_env:
        return f"hint: {why}: set {target.provider.url_env}={suggestion} (or pass --base-url {suggestion})"
    return f"hint: {why}: try --base-url {suggestion}"


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _silence_stdout() -> None:
    """After the reader went away: send what is left to /dev/null, so exiting does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# -- entry point -----------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamkit", description=_DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"streamkit {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    chat = sub.add_parser(
        "chat",
        help="stream one answer to the terminal",
        description="Ask one question and stream the answer to the terminal as it is written.",
        epilog=(
            "The API key and the server come from the provider's environment variables: "
            + "; ".join(_env_help(e) for e in providers.entries() if not e.preset)
            + "; a preset reads its own (GROQ_API_KEY...). The answer goes to standard "
            "output; a summary line (time to first token, tokens per second, token usage) goes to "
            "standard error, so 'streamkit chat ... > answer.txt' keeps only the answer."
        ),
    )
    chat.add_argument("prompt", help="what to ask")
    chat.add_argument(
        "--model",
        help=(
            f"model name (default: the provider's: {_default_model('openai')} for openai, "
            f"{_default_model('anthropic')} for anthropic; Azure's is the deployment's name)"
        ),
    )
    chat.add_argument(
        "--provider",
        choices=providers.names(),
        default="openai",
        metavar="NAME",
        help=(
            "the API the server speaks: "
            + "; ".join(f"{e.name} ({e.title})" if e.title else e.name for e in providers.entries())
            + ". Default: openai (Chat Completions; also vLLM, Ollama's /v1, LM Studio, llama.cpp)"
        ),
    )
    chat.add_argument(
        "--base-url",
        metavar="URL",
        help=(
            "the server's address (default: the provider's base-URL variable, else its own API). "
            "OpenAI-style servers' addresses end in /v1 (https://api.openai.com/v1); Anthropic's, "
            "Gemini's and Ollama's do not (https://api.anthropic.com, http://localhost:11434)"
        ),
    )
    chat.add_argument("--system", metavar="TEXT", help="instructions for the model, sent before the prompt")
    chat.add_argument(
        "--temperature",
        type=float,
        default=None,
        metavar="NUMBER",
        help="randomness, 0 to 2 (default: the server's)",
    )

    batch = sub.add_parser(
        "batch",
        help="answer many prompts at once, with a progress bar",
        description=(
            "Answers every prompt of a file (one per line; - reads standard input), several at a time. "
            'Each answer is printed as a line of JSON ({"prompt", "answer", "error"}) in the '
            "prompts' order; a failed prompt does not stop the others. The progress bar goes to standard "
            "error (tqdm's if it is installed: pip install 'streamkit-llm[cli]')."
        ),
    )
    batch.add_argument("file", help="a text file with one prompt per line, or - for standard input")
    batch.add_argument(
        "--concurrency", type=int, default=8, metavar="N", help="prompts answered at once (default 8)"
    )
    for action in chat._actions:
        if action.dest in ("model", "provider", "base_url", "system", "temperature"):
            batch._add_action(action)

    demo = sub.add_parser(
        "demo",
        help="a tour of streaming with OpenAI and Anthropic (offline without API keys)",
        description=(
            "Runs the streaming examples with OpenAI and Anthropic: printing tokens as they arrive, "
            "token usage, iterating tokens yourself. A provider with no API key set is answered by "
            "a mock server built into streamkit, on this machine; the first lines say which is which."
        ),
    )
    demo.add_argument(
        "--mock", action="store_true", help="use the built-in mock server even if API keys are set"
    )
    demo.add_argument(
        "--delay",
        type=float,
        default=0.02,
        metavar="SECONDS",
        help="mock server: pause before each word (0.02)",
    )

    mock = sub.add_parser(
        "mock",
        help="run the built-in mock server for any client, until Ctrl-C",
        description=(
            "Runs streamkit's mock server on 127.0.0.1 until Ctrl-C. It answers like every API "
            "streamkit speaks (OpenAI's Chat Completions and Responses, Anthropic, Gemini, Ollama, "
            "Azure; streamed or not) without a key or a network, so you can point any client at it: "
            "the official SDKs, other languages, curl."
        ),
    )
    mock.add_argument(
        "--port", type=int, default=8765, help="port to listen on (default 8765; 0 picks a free one)"
    )
    mock.add_argument(
        "--reply",
        metavar="TEXT",
        help="answer every request with this text (default: a fixed answer that repeats the question)",
    )
    mock.add_argument(
        "--delay", type=float, default=0.02, metavar="SECONDS", help="pause before each word (default 0.02)"
    )
    mock.add_argument(
        "--chunk-size",
        type=int,
        metavar="BYTES",
        help=(
            "send the stream in pieces of this many bytes, to test a client's parsing (default: whole events)"
        ),
    )
    mock.add_argument("--quiet", action="store_true", help="do not print a line per request")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``streamkit`` console script; returns the exit status.

    ``argv``: the arguments (default ``sys.argv[1:]``). Returns 0 on
    success (and for ``mock`` stopped by Ctrl-C), 1 on an API or
    connection error (the error is printed, not a traceback), 2 on a usage
    error (no API key, a bad option: argparse exits with 2 itself for
    those it finds), 130 after Ctrl-C and 141 when standard output was
    closed early, as the module docstring says.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "mock" and not 0 <= args.port <= 65535:
        parser.error("--port must be a number from 0 to 65535")
    if args.command == "mock" and args.chunk_size is not None and args.chunk_size < 1:
        parser.error("--chunk-size must be at least 1")
    out = _Terminal(sys.stdout)
    sys.stdout = out  # the stdout handler writes through it too
    target: _Target | None = None
    try:
        if args.command == "demo":
            return asyncio.run(_demo(args))
        if args.command == "mock":
            return asyncio.run(_mock(args))
        target = _chat_target(args)
        if args.command == "batch":
            if args.concurrency < 1:
                parser.error("--concurrency must be at least 1")
            return asyncio.run(_batch(args, target))
        return asyncio.run(_chat(args, target, out))
    except _NoKey as exc:
        print(f"streamkit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        out.fresh_line()
        # Ctrl-C is how the mock server is meant to stop (where signal handlers cannot be set).
        return 0 if args.command == "mock" else EXIT_INTERRUPTED
    except BaseException as exc:
        if _caused_by(exc, BrokenPipeError):
            _silence_stdout()
            return EXIT_BROKEN_PIPE
        if not isinstance(exc, StreamkitError):
            raise
        out.fresh_line()
        print(f"streamkit: error: {_describe(exc, target)}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        sys.stdout = out.stream


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
