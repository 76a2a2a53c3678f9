"""Every README ``python`` block runs as written when pasted into ``python -m asyncio``.

``tests/test_readme.py`` executes the blocks with ``exec``; this test does
what a reader does: it starts ``python -m asyncio`` (the asyncio REPL, which
allows top-level ``await``) and pastes the blocks into it, in order, one
session for all of them, line by line as a terminal would. The REPL is
stricter than ``exec``: a compound statement (``async with``, ``for``,
``def``) must be followed by a blank line before the next statement, and
every name must have been defined by an earlier block. Any traceback the
REPL prints fails the test, naming the block.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
MARK = "# --- README block {n} ---"


def python_blocks() -> list[str]:
    # Only plain ```python blocks: ```python sync ones use the blocking API
    # (tests/test_sync.py runs them as a script).
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.skipif(
    sys.version_info[:2] != (3, 11),
    reason="the promise is for Python 3.11's asyncio REPL (CI's main job); 3.13's reads piped lines one by one",
)
def test_every_block_pastes_into_the_asyncio_repl(threaded_mock_url: str, tmp_path: Path) -> None:
    blocks = python_blocks()
    assert len(blocks) >= 10
    pasted = []
    for n, block in enumerate(blocks, 1):
        # A marker line before each block, so a traceback can be traced to its block,
        # and the blank line a reader's paste ends with.
        pasted.append(f"print({MARK.format(n=n)!r})\n{block}\n")
    pasted.append("exit()\n")
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"{threaded_mock_url}/v1",
        "OPENAI_API_KEY": "sk-repl-test",
        "ANTHROPIC_BASE_URL": threaded_mock_url,
        "ANTHROPIC_API_KEY": "sk-ant-repl-test",
        "PYTHONWARNINGS": "error::RuntimeWarning",
    }
    run = subprocess.run(
        [sys.executable, "-m", "asyncio"],
        input="".join(pasted),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # interleaved, so each traceback follows its block's marker
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=180,
    )
    transcript = run.stdout
    failures = []
    current = "before the first block"
    for line in transcript.splitlines():
        marker = re.search(r"# --- README block (\d+) ---", line)
        if marker:
            current = f"block {marker.group(1)}"
        if (
            line.startswith(("Traceback", "SyntaxError", '  File "<stdin>"'))
            or "Error:" in line.split(" ")[0]
        ):
            failures.append(f"{current}: {line}")
    assert not failures, "\n".join(failures)
    assert MARK.format(n=len(blocks)) in run.stdout
