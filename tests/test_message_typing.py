"""User code writing messages the LangChain way type-checks under ``mypy --strict``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parent.parent

GOOD = """
from typing import Any

from streamkit import AIMessage, HumanMessage, SystemMessage, ToolMessage
from streamkit.messages import ContentPart, MessageContent

hi = HumanMessage("hi")
parts = HumanMessage(
    [
        "Describe this:",
        {"type": "text", "text": "the photo"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
        {"type": "image", "base64": "iVBORw0KGgo=", "mime_type": "image/png"},
        {"type": "file", "source_type": "base64", "data": "JVBERi0=", "mime_type": "application/pdf"},
    ]
)
keyword = HumanMessage(content=[{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}])
system = SystemMessage([{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}])
result = ToolMessage([{"type": "text", "text": "42"}], tool_call_id="call_1")
answer = AIMessage("Paris.")
built: list[ContentPart] = ["x", {"type": "text", "text": "y"}]
content: MessageContent = built
again = HumanMessage(content)
text: str = parts.text
reply: str = answer.content
either: MessageContent = hi.content
"""

# Each line must be an error: proof that mypy really checks these signatures.
BAD = """
from streamkit import AIMessage, HumanMessage

AIMessage([{"type": "text", "text": "an answer is text"}])
HumanMessage(42)
HumanMessage(["ok", 42])
"""


def run_mypy(tmp_path: Path, source: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, int]:
    snippet = tmp_path / "user_code.py"
    snippet.write_text(source)
    # This checkout's streamkit, whatever is installed in the environment.
    monkeypatch.setenv("MYPYPATH", str(ROOT))
    monkeypatch.chdir(tmp_path)
    out, err, status = api.run(
        [
            "--strict",
            "--no-error-summary",
            "--cache-dir",
            os.devnull,
            "--python-version",
            "3.11",
            # The user's code is what is checked: streamkit's own source is
            # mypy-strict in CI's main job, against the dependencies' newest
            # stubs; the oldest releases' stubs differ (the minimum-versions job).
            "--follow-imports=silent",
            str(snippet),
        ]
    )
    return out + err, status


def test_langchain_style_messages_type_check_strictly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output, status = run_mypy(tmp_path, GOOD, monkeypatch)
    assert (status, output) == (0, "")


def test_mypy_flags_content_of_the_wrong_type(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output, status = run_mypy(tmp_path, BAD, monkeypatch)
    assert status == 1
    flagged = sorted(int(line.split(":")[1]) for line in output.splitlines() if ": error:" in line)
    assert flagged == [4, 5, 6], output
