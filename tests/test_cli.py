"""The ``streamkit`` command: the offline demo and one-shot chat."""

from __future__ import annotations

import asyncio
import os
import sys

from streamkit.testing import MockResponse, MockServer


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))}
    env.update(extra)
    return env


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streamkit.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_demo_runs_offline_without_a_key() -> None:
    code, out, err = await run_cli("demo", "--delay", "0", env=clean_env())
    assert code == 0, err
    assert "built-in mock" in out
    assert "Bubbles rising, crisp and clear" in out  # the song streamed through OpenAI and ChatOpenAI
    assert out.count("Bubbles rising, crisp and clear") >= 2
    assert '"token_usage"' in out and '"prompt_tokens"' in out  # the LLMResult with usage
    assert "Why did the scarecrow" in out
    assert "=== Anthropic" in out and '"model_name": "claude-' in out  # the seed's Anthropic example
    assert "tokens from ChatAnthropic" in out
    assert out.count("Bubbles rising, crisp and clear") >= 3
    assert "Traceback" not in err and "Unclosed" not in err


async def test_chat_streams_one_answer_from_a_given_server() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(text="Forty two, of course.", model="served-7", delay=0.001))
        code, out, err = await run_cli(
            "chat",
            "What is the answer?",
            "--model",
            "local-model",
            "--base-url",
            server.openai_base_url,
            env=clean_env(),
        )
        body = server.requests[-1].json
    assert code == 0, err
    assert out.strip() == "Forty two, of course."
    assert "served-7" in err and "prompt_tokens" in err
    assert body["model"] == "local-model"
    assert body["messages"][-1] == {"role": "user", "content": "What is the answer?"}


async def test_chat_with_the_anthropic_wire() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(text="Bonjour !", model="claude-mock"))
        code, out, err = await run_cli(
            "chat",
            "Say hello in French",
            "--provider",
            "anthropic",
            "--system",
            "You are terse.",
            "--base-url",
            server.anthropic_base_url,
            env=clean_env(ANTHROPIC_API_KEY="sk-ant-test"),
        )
        request = server.requests[-1]
    assert code == 0, err
    assert out.strip() == "Bonjour !"
    assert "claude-mock" in err
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-test"
    assert request.json["system"] == "You are terse."


async def test_chat_reports_errors_plainly() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(status=401, error={"error": {"message": "Incorrect API key provided"}}))
        code, out, err = await run_cli(
            "chat",
            "hi",
            "--base-url",
            server.openai_base_url,
            env=clean_env(OPENAI_API_KEY="sk-SENTINEL-cli-key"),
        )
    assert code == 1
    assert "AuthenticationError" in err and "Incorrect API key" in err
    assert "Traceback" not in err
    assert "sk-SENTINEL-cli-key" not in out + err
