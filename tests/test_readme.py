"""Every ``python`` code block in the README runs, in order, against the mock server.

The blocks use top-level ``await`` (as in a notebook or ``python -m
asyncio``); they share one namespace, as a reader running them in turn would.
The README's promise is that they work with ``OPENAI_BASE_URL`` pointing at
an OpenAI-compatible server: here, streamkit's own loopback mock.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from streamkit.testing import MockServer

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_blocks() -> None:
    assert len(python_blocks()) >= 5


def set_up_section() -> str:
    return README.read_text().split("## Set up", 1)[1].split("\n## ", 1)[0]


def test_ci_runs_the_readmes_test_command() -> None:
    """.ci/run must run the very command the README gives for the tests."""
    setup = set_up_section().split("\n### ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)```", setup, flags=re.S)
    assert len(commands) == 2, "the README's set-up is two commands: demo, tests"
    demo, tests = (c.strip() for c in commands)
    assert "streamkit demo" in demo
    ci = (README.parent / ".ci" / "run").read_text().splitlines()
    assert tests in ci


def test_ci_runs_the_readmes_python_313_and_minimum_versions_commands() -> None:
    """.ci/run runs the README's other-Pythons commands verbatim, each checked, each on its Python."""
    other = set_up_section().split("\n### Other Pythons", 1)[1]
    (block,) = re.findall(r"```sh\n(.*?)```", other, flags=re.S)
    newest, minimum = block.strip().splitlines()
    assert "-c .ci/min-versions.txt" in minimum and "min-versions" not in newest
    ci = (README.parent / ".ci" / "run").read_text().splitlines()
    for command, python in ((newest, "PY313"), (minimum, "PY311")):
        at = ci.index(command)
        assert ci[at + 1] == "passed $?"  # a failure inside an && list does not stop `set -e`
        assert ci[at - 2] == f'fresh_venv "${python}"'
    pins = (README.parent / ".ci" / "min-versions.txt").read_text()
    for floor in re.findall(r'"(\w+)>=([\d.]+)"', (README.parent / "pyproject.toml").read_text()):
        if floor[0] in ("aiohttp", "anyio", "pydantic"):
            assert f"{floor[0]}=={floor[1]}" in pins, floor


async def test_readme_python_blocks_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with MockServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-readme-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.anthropic_base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-readme-test")
        namespace: dict[str, Any] = {"__name__": "__readme__"}
        for number, block in enumerate(python_blocks(), 1):
            code = compile(block, f"README.md block {number}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            result = eval(code, namespace)
            if result is not None:
                await result
        for name in ("llm", "chat", "claude"):
            model = namespace.get(name)
            if model is not None:
                await model.aclose()
        assert len(server.requests) >= 10
        assert any(r.path == "/v1/messages" for r in server.requests)
        assert any("tools" in (r.json or {}) for r in server.requests)
    out = capsys.readouterr().out
    assert "Bubbles rising" in out  # the stdout handler printed the song as it streamed
    assert "prompt_tokens" in out  # token usage was printed
    # The stdout handler's lines mode: every line of two concurrent answers whole, labelled.
    assert "[1] Why did the scarecrow win an award? Because he was outstanding in his field.\n" in out
    assert (
        "\n[2] Bubbles rising, crisp and clear,\n" in out and "\n[2] Sparkling water, always near.\n" in out
    )
    assert "partial: one two\n" in out  # the chaos-kit example kept the partial text
    assert "resumed: " in out  # the grace-period example read the rest after a drop
    # The content-blocks example: a PDF by URL is named as a part OpenAI cannot take.
    assert "invalid argument: messages[0].content[0] (a 'file' part): OpenAI Chat Completions takes" in out
