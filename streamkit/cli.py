"""The ``streamkit`` command.

``streamkit demo``
    Reproduces the seed page ("How to stream LLM and chat model responses")
    end to end, OpenAI and Anthropic. For a provider whose key
    (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``) is not set, it starts the
    built-in loopback mock server in-process and says so.
``streamkit chat "prompt" [--provider openai|anthropic] [--model M] [--base-url URL] [--system S]``
    Streams one answer to the terminal, then prints token usage.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any

from .anthropic import Anthropic, ChatAnthropic
from .callbacks import AsyncCallbackHandler, StreamingStdOutCallbackHandler
from .errors import StreamkitError
from .messages import HumanMessage, SystemMessage
from .openai import ChatOpenAI, OpenAI
from .results import LLMResult

__all__ = ["main"]


def _rule(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 66 - len(title)), flush=True)


class _FirstToken(AsyncCallbackHandler):
    """Measures time to first token, for the demo's summary lines."""

    def __init__(self) -> None:
        self.started = 0.0
        self.first: float | None = None

    async def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], **kwargs: Any) -> None:
        self.started = time.perf_counter()
        self.first = None

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        if self.first is None:
            self.first = time.perf_counter() - self.started


def _print_result(result: LLMResult) -> None:
    print(result.model_dump_json(indent=2, exclude={"run"}))


async def _demo(args: argparse.Namespace) -> int:
    async with AsyncExitStack() as stack:
        server = None
        real_openai = bool(os.environ.get("OPENAI_API_KEY")) and not args.mock
        real_anthropic = bool(os.environ.get("ANTHROPIC_API_KEY")) and not args.mock
        if not (real_openai and real_anthropic):
            from .testing import MockResponse, MockServer

            server = await stack.enter_async_context(MockServer())
            # A little pacing so the streaming is visible, as with a real model.
            for _ in range(16):
                server.enqueue(MockResponse(delay=args.delay))
        openai_opts: dict[str, Any] = {}
        anthropic_opts: dict[str, Any] = {}
        if real_openai:
            print("OpenAI: the real API (OPENAI_API_KEY is set).")
        else:
            assert server is not None
            openai_opts = {"base_url": server.openai_base_url, "api_key": "mock-key"}
        if real_anthropic:
            print("Anthropic: the real API (ANTHROPIC_API_KEY is set).")
        else:
            assert server is not None
            anthropic_opts = {"base_url": server.anthropic_base_url, "api_key": "mock-key"}
        if server is not None:
            missing = [
                n
                for n, real in (("OPENAI_API_KEY", real_openai), ("ANTHROPIC_API_KEY", real_anthropic))
                if not real
            ]
            print(
                f"No {' / '.join(missing)}: those answers come from streamkit's built-in mock\n"
                f"server on {server.url} (real HTTP over loopback, in each provider's wire format)."
            )
        ttft = _FirstToken()
        callbacks = [StreamingStdOutCallbackHandler(), ttft]

        llm = OpenAI(streaming=True, callbacks=callbacks, temperature=0, **openai_opts)
        stack.push_async_callback(llm.aclose)
        await _seed_prompts(llm, ttft)

        _rule("ChatOpenAI, streaming=True, stdout handler")
        chat = ChatOpenAI(streaming=True, callbacks=callbacks, temperature=0, **openai_opts)
        stack.push_async_callback(chat.aclose)
        print('>>> await chat([HumanMessage(content="Write me a song about sparkling water.")])')
        message = await chat([HumanMessage(content="Write me a song about sparkling water.")])
        print(f"\n[returned {type(message).__name__}, usage {message.usage_metadata}]")

        claude = Anthropic(streaming=True, callbacks=callbacks, temperature=0, **anthropic_opts)
        stack.push_async_callback(claude.aclose)
        await _seed_prompts(claude, ttft)

        _rule("async for token in chat.stream(...)")
        print('>>> async for token in chat.stream([HumanMessage(content="Tell me a joke.")]):')
        tokens = 0
        plain = ChatAnthropic(temperature=0, **anthropic_opts)
        stack.push_async_callback(plain.aclose)
        async with plain.stream([HumanMessage(content="Tell me a joke.")]) as stream:
            async for token in stream:
                tokens += 1
                print(token, end="", flush=True)
        usage = stream.result.llm_output["token_usage"] if stream.result.llm_output else {}
        print(f"\n[{tokens} tokens from {type(plain).__name__}; token_usage {usage}]")
    return 0


async def _seed_prompts(llm: OpenAI | Anthropic, ttft: _FirstToken) -> None:
    """The seed page's two prompt-model examples: a streamed song, then generate()."""
    name = type(llm).__name__
    _rule(f"{name}, streaming=True, stdout handler")
    print('>>> await llm("Write me a song about sparkling water.")')
    text = await llm("Write me a song about sparkling water.")
    print(f"\n[returned a str of {len(text)} characters; first token after {_ms(ttft.first)}]")
    _rule(f"{name}.generate(), token usage while streaming")
    print('>>> result = await llm.generate(["Tell me a joke."])')
    result = await llm.generate(["Tell me a joke."])
    print()
    _print_result(result)


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f} ms"


async def _chat(args: argparse.Namespace) -> int:
    messages: list[Any] = []
    if args.system:
        messages.append(SystemMessage(content=args.system))
    messages.append(HumanMessage(content=args.prompt))
    options: dict[str, Any] = {"temperature": args.temperature}
    if args.model:
        options["model"] = args.model
    if args.base_url:
        options["base_url"] = args.base_url
    model_class = ChatAnthropic if args.provider == "anthropic" else ChatOpenAI
    async with model_class(**options) as chat:
        async with chat.stream(messages) as stream:
            async for token in stream:
                sys.stdout.write(token)
                sys.stdout.flush()
        print()
        usage = stream.result.llm_output or {}
        print(f"[{usage.get('model_name')}; token_usage {usage.get('token_usage')}]", file=sys.stderr)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamkit", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="run the seed page's examples (offline on the mock server without a key)"
    )
    demo.add_argument("--mock", action="store_true", help="use the built-in mock server even if a key is set")
    demo.add_argument("--delay", type=float, default=0.02, help="mock seconds per token (default 0.02)")
    chat = sub.add_parser("chat", help="stream one answer to the terminal")
    chat.add_argument("prompt")
    chat.add_argument("--model", help="model name (default: ChatOpenAI's default)")
    chat.add_argument(
        "--provider", choices=("openai", "anthropic"), default="openai", help="wire format (default openai)"
    )
    chat.add_argument("--base-url", help="base URL (OpenAI: including /v1; Anthropic: without)")
    chat.add_argument("--system", help="a system message")
    chat.add_argument("--temperature", type=float, default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``streamkit`` console script."""
    args = _parser().parse_args(argv)
    runner = _demo if args.command == "demo" else _chat
    try:
        return asyncio.run(runner(args))
    except StreamkitError as exc:
        print(f"streamkit: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
