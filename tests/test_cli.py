"""The ``streamkit`` command: chat, demo, mock, --version, and how it fails.

Most tests run the command in a subprocess against a mock server on
127.0.0.1, as a user's shell would; a few call ``main(argv)`` directly.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import streamkit
from streamkit import ChatOpenAI
from streamkit._cli import _PROVIDERS, _endpoint, main
from streamkit.testing import MockResponse, MockServer

#: The summary line ``chat`` ends with, on standard error.
CHAT_SUMMARY = re.compile(
    r"^\[(?P<model>\S+) at (?P<url>\S+)\] time to first token \d+ ms, [\d.]+ tokens/s, "
    r"usage (?P<prompt>\d+) prompt \+ (?P<completion>\d+) completion = (?P<total>\d+) tokens$"
)
LONG = " ".join(f"w{i}" for i in range(400))


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))}
    env.update(extra)
    return env


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streamkit._cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def free_port() -> int:
    """A loopback port that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- demo and chat ---------------------------------------------------------------


async def test_demo_runs_offline_without_a_key() -> None:
    code, out, err = await run_cli("demo", "--delay", "0", env=clean_env())
    assert code == 0, err
    assert "built-in mock" in out
    assert "Bubbles rising, crisp and clear" in out  # the song streamed through OpenAI and ChatOpenAI
    assert '"token_usage"' in out and '"prompt_tokens"' in out  # the LLMResult with usage
    assert "Why did the scarecrow" in out
    assert "=== Anthropic" in out and '"model_name": "claude-' in out  # the Anthropic examples
    assert "tokens from ChatAnthropic" in out
    assert out.count("Bubbles rising, crisp and clear") >= 3
    assert "Traceback" not in err and "Unclosed" not in err
    # It ends with one summary line over every answer.
    last = out.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(
        r"summary: 6 answers; time to first token \d+ ms \(median\); [\d.]+ tokens/s; "
        r"usage \d+ prompt \+ \d+ completion = \d+ tokens",
        last,
    ), last


async def test_chat_streams_one_answer_then_a_summary_line() -> None:
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
    assert out == "Forty two, of course.\n"  # standard output holds the answer only
    summary = CHAT_SUMMARY.match(err.strip())
    assert summary, err
    assert summary["model"] == "served-7" and summary["url"] == server.openai_base_url
    assert (summary["prompt"], summary["completion"], summary["total"]) == ("4", "4", "8")
    assert body["model"] == "local-model"
    assert body["messages"][-1] == {"role": "user", "content": "What is the answer?"}


async def test_chat_with_the_anthropic_format() -> None:
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
    assert CHAT_SUMMARY.match(err.strip()) and "claude-mock" in err
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-test"
    assert request.json["system"] == "You are terse."


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"streamkit {streamkit.__version__}\n"


# -- errors ------------------------------------------------------------------------


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
    assert "check the key in OPENAI_API_KEY" in err
    assert "Traceback" not in err
    assert "sk-SENTINEL-cli-key" not in out + err


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_no_key_names_the_variable_and_the_option(provider: str) -> None:
    code, out, err = await run_cli("chat", "hi", "--provider", provider, env=clean_env())
    variable = "OPENAI_API_KEY" if provider == "openai" else "ANTHROPIC_API_KEY"
    assert code == 2
    assert f"set the {variable} environment variable" in err and "--base-url" in err
    assert "streamkit demo" in err and "streamkit mock" in err
    assert "api_key=" not in err and "Traceback" not in err  # no Python-speak
    assert out == ""


async def test_a_404_from_a_missing_or_extra_v1_names_the_url_and_the_fix() -> None:
    async with MockServer() as server:
        # OpenAI format, /v1 missing: the URL tried, and the base URL to use.
        code, _, err = await run_cli("chat", "hi", "--base-url", server.url, env=clean_env())
        assert code == 1 and "NotFoundError" in err
        assert f"{server.url}/chat/completions" in err
        assert f"try --base-url {server.url}/v1" in err
        # The same mistake made in the environment names the variable.
        code, _, err = await run_cli("chat", "hi", env=clean_env(OPENAI_BASE_URL=server.url))
        assert code == 1 and f"set OPENAI_BASE_URL={server.url}/v1" in err
        # The whole endpoint pasted as the base URL.
        code, _, err = await run_cli(
            "chat", "hi", "--base-url", f"{server.url}/v1/chat/completions", env=clean_env()
        )
        assert code == 1 and f"try --base-url {server.url}/v1\n" in err
        # Anthropic format, /v1 extra.
        code, _, err = await run_cli(
            "chat", "hi", "--provider", "anthropic", "--base-url", server.openai_base_url, env=clean_env()
        )
        assert code == 1 and f"{server.url}/v1/v1/messages" in err
        assert f"try --base-url {server.url}\n" in err
        # Nothing wrong with the URL: the hint points at the model name instead.
        server.enqueue(MockResponse(status=404, error={"error": {"message": "model `nope` not found"}}))
        code, _, err = await run_cli(
            "chat", "hi", "--model", "nope", "--base-url", server.openai_base_url, env=clean_env()
        )
        assert code == 1 and "check the model name (--model nope)" in err
    assert "Traceback" not in err


async def test_connection_errors_name_the_url_without_ssl_noise() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    code, out, err = await run_cli("chat", "hi", "--base-url", url, env=clean_env())
    assert code == 1
    assert f"could not connect to {url}/chat/completions: nothing answered there" in err
    assert "ssl:" not in err and "Traceback" not in err
    assert "--base-url" in err and out == ""
    code, _, err = await run_cli("chat", "hi", env=clean_env(OPENAI_BASE_URL=url))
    assert code == 1 and "ssl:" not in err and "is OPENAI_BASE_URL right?" in err


async def test_an_error_mid_answer_leaves_the_terminal_on_a_fresh_line() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(text="one two three four", error_after=3))
        code, out, err = await run_cli(
            "chat", "hi", "--base-url", server.openai_base_url, env=clean_env(OPENAI_API_KEY="sk-test")
        )
    assert code == 1
    assert out == "one two\n"  # the partial answer, and the line ended
    assert err.startswith("streamkit: error: OverloadedError")


CTRL_C = (
    # The interpreter's own Ctrl-C handling, even if this test runner was started with SIGINT ignored.
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from streamkit._cli import main; sys.exit(main(sys.argv[1:]))"
)


async def test_ctrl_c_exits_130_on_a_fresh_line_and_closes_the_stream() -> None:
    async with MockServer() as server:
        server.enqueue(MockResponse(text=LONG, delay=0.05))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CTRL_C,
            "chat",
            "hi",
            "--base-url",
            server.openai_base_url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=clean_env(),
        )
        assert proc.stdout is not None
        first = await asyncio.wait_for(proc.stdout.read(4), 30)  # the answer has begun
        proc.send_signal(signal.SIGINT)
        rest, err = await asyncio.wait_for(proc.communicate(), 30)
        assert await server.wait_for_disconnect(10)
    assert proc.returncode == 130
    out = (first + rest).decode()
    assert out.startswith("w0") and out.endswith("\n") and not out.endswith("\n\n")
    assert b"Traceback" not in err and server.completed == 0


@pytest.mark.parametrize("command", ["chat", "demo"])
async def test_piped_into_a_reader_that_stops_early_exits_quietly(command: str) -> None:
    async with MockServer() as server:
        server.responder = lambda request: MockResponse(text=LONG, delay=0.002)
        args = ["chat", "hi", "--base-url", server.openai_base_url] if command == "chat" else ["demo"]
        env = clean_env(OPENAI_BASE_URL=server.openai_base_url, ANTHROPIC_BASE_URL=server.anthropic_base_url)
        read_end, write_end = os.pipe()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "streamkit._cli",
            *args,
            stdout=write_end,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        os.close(write_end)
        # Like `| head -c 20`: read a little, then close the pipe while the answer is still coming.
        head = await asyncio.to_thread(os.read, read_end, 20)
        os.close(read_end)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert head
    assert proc.returncode == 141, err.decode()
    assert err == b""  # no BrokenPipeError, no traceback, no "Exception ignored"


# -- what the command says -----------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["chat"], ["demo"], ["mock"]])
def test_help_speaks_to_users(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    text = capsys.readouterr().out
    assert text.strip()
    for jargon in ("``", ":class:", ":meth:", "wire", "seed", "loopback", "handler", "LLMResult"):
        assert jargon not in text, (jargon, text)


async def test_demo_banner_with_mock_and_keys_set_says_the_keys_are_not_used() -> None:
    env = clean_env(OPENAI_API_KEY="sk-real-looking", ANTHROPIC_API_KEY="sk-ant-real-looking")
    code, out, err = await run_cli("demo", "--mock", "--delay", "0", env=env)
    assert code == 0, err
    banner = out.split("\n===", 1)[0]
    assert "OpenAI: streamkit's built-in mock server at http://127.0.0.1:" in banner
    assert "(--mock given; OPENAI_API_KEY not used)" in banner
    assert "(--mock given; ANTHROPIC_API_KEY not used)" in banner
    assert "real API" not in out and "own API" not in banner


async def test_demo_banner_names_a_local_server_as_such() -> None:
    async with MockServer() as local:
        code, out, err = await run_cli(
            "demo", "--delay", "0", env=clean_env(OPENAI_BASE_URL=local.openai_base_url)
        )
        assert code == 0, err
        assert any(r.path == "/v1/chat/completions" for r in local.requests)  # OpenAI went there
        assert not any(r.path == "/v1/messages" for r in local.requests)  # Anthropic did not
    banner = out.split("\n===", 1)[0]
    assert (
        f"OpenAI: the server at {local.openai_base_url} (from OPENAI_BASE_URL; not OpenAI's own API)."
        in banner
    )
    assert "Anthropic: streamkit's built-in mock server" in banner and "(no ANTHROPIC_API_KEY set)" in banner


def test_demo_banner_for_the_official_api(monkeypatch: pytest.MonkeyPatch) -> None:
    # The words only: the demo itself would leave the machine.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    options, where = _endpoint(_PROVIDERS["openai"], use_mock=False, mock_url=None)
    assert options == {} and where == "OpenAI's own API at https://api.openai.com/v1 (OPENAI_API_KEY is set)"


# -- streamkit mock -------------------------------------------------------------------


async def start_mock(*args: str) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    """Start ``streamkit mock --port 0 ...``; return it and the variables it says to export."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streamkit._cli",
        "mock",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(),
    )
    assert proc.stdout is not None
    exports: dict[str, str] = {}
    while len(exports) < 2:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line, "the mock server exited before printing its URLs"
        if match := re.fullmatch(r"\s*export (\w+)=(\S+)\s*", line):
            exports[match[1]] = match[2]
    return proc, exports


async def stop(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


def sse_data(body: bytes) -> list[Any]:
    return [json.loads(line[6:]) for line in body.decode().splitlines() if line.startswith("data: {")]


async def test_mock_serves_any_client_until_ctrl_c() -> None:
    proc, exports = await start_mock("--reply", "Hello from the mock", "--delay", "0", "--chunk-size", "5")
    try:
        openai_url, anthropic_url = exports["OPENAI_BASE_URL"], exports["ANTHROPIC_BASE_URL"]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", openai_url)
        assert anthropic_url == openai_url.removesuffix("/v1")
        async with aiohttp.ClientSession() as session:
            # A raw streaming request, in the OpenAI format.
            body = {"model": "any", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
            async with session.post(f"{openai_url}/chat/completions", json=body) as resp:
                assert resp.status == 200 and resp.content_type == "text/event-stream"
                chunks = sse_data(await resp.read())
            assert (
                "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Hello from the mock"
            )
            # ... and in the Anthropic format.
            body = {
                "model": "any",
                "max_tokens": 20,
                "stream": True,
                "messages": [{"role": "user", "content": "hi"}],
            }
            async with session.post(f"{anthropic_url}/v1/messages", json=body) as resp:
                events = sse_data(await resp.read())
            deltas = [e["delta"]["text"] for e in events if e["type"] == "content_block_delta"]
            assert "".join(deltas) == "Hello from the mock"
        # A client that is not aiohttp (the standard library's), not streaming.
        request = urllib.request.Request(
            f"{openai_url}/chat/completions",
            data=json.dumps({"model": "any", "messages": [{"role": "user", "content": "hi"}]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        reply = await asyncio.to_thread(lambda: json.load(urllib.request.urlopen(request, timeout=30)))
        assert reply["choices"][0]["message"]["content"] == "Hello from the mock"
        # And streamkit itself, through the environment variable as the README says.
        async with ChatOpenAI(base_url=openai_url, api_key="any") as chat:
            assert (await chat("hi")).content == "Hello from the mock"
    finally:
        code, err = await stop(proc)
    assert code == 0, err
    assert "POST /v1/chat/completions  model=any  streamed" in err
    assert "POST /v1/messages  model=any  streamed" in err
    assert err.rstrip().endswith("stopped after 4 requests.")
    assert "Traceback" not in err


async def test_mock_on_a_port_in_use_says_how_to_choose_another() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        code, _, err = await run_cli("mock", "--port", port, env=clean_env())
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port 0" in err
    assert "Traceback" not in err


def test_batch_answers_every_prompt_in_order_with_a_progress_line(
    threaded_mock_url: str, tmp_path: Path
) -> None:
    """``streamkit batch``: JSON lines in the prompts' order, progress on stderr, failures kept apart."""
    import json as _json
    import subprocess as _subprocess

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("tell me a joke\n\nsparkling water\nhello\n")
    env = {**os.environ, "OPENAI_API_KEY": "k", "OPENAI_BASE_URL": f"{threaded_mock_url}/v1"}
    env.pop("PYTHONWARNINGS", None)
    run = _subprocess.run(
        [sys.executable, "-m", "streamkit._cli", "batch", str(prompts), "--concurrency", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    lines = [_json.loads(line) for line in run.stdout.splitlines()]
    assert [line["prompt"] for line in lines] == ["tell me a joke", "sparkling water", "hello"]
    assert "outstanding in his field" in lines[0]["answer"]
    assert all("error" not in line for line in lines)
    assert "3 answered, 0 failed" in run.stderr
    assert "3/3" in run.stderr or "100%" in run.stderr  # the counter line, or tqdm's bar
