"""The benchmark suite runs: ``python -m benchmarks --quick`` (see benchmarks/README.md).

Checks only that it ran, that every contender's text matched the expected
text, and that the output files were written. Never anything about speed.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_benchmark_runs_and_every_text_matches(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]

    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["mode"] == "quick"
    assert doc["all_exact"] is True, doc["problems"]
    scenarios = {s["key"]: s for s in doc["scenarios"]}
    assert set(scenarios) == {"single", "concurrent", "ttft", "many", "linear", "gateway"}
    for key, scenario in scenarios.items():
        assert scenario["rows"], key
        for row in scenario["rows"]:
            assert row["exact"], (key, row["provider"], row["contender"], row["problems"])
            assert row["reps"] >= 1
    # The floor and both streamkit styles ran on every wire format's stream in scenarios 1 and 2,
    # and on OpenAI's and Anthropic's in scenario 3 (--quick leaves the others' TTFT to --full).
    every_format = ("openai", "anthropic", "openai-responses", "gemini", "ollama")
    for key, formats in (
        ("single", every_format),
        ("concurrent", every_format),
        ("ttft", ("openai", "anthropic")),
    ):
        ran = {(r["provider"], r["contender"]) for r in scenarios[key]["rows"]}
        for provider in formats:
            assert {(provider, "floor"), (provider, "sk-stream"), (provider, "sk-generate")} <= ran, key
        for row in scenarios[key]["rows"]:  # every row has its format's floor to be compared with
            assert (row["provider"], "floor") in ran, (key, row["provider"])
    assert {r["contender"] for r in scenarios["many"]["rows"]} >= {"sk-stream"}
    # The gateway: no relay, the floor relay and streamkit's relay ran; LiteLLM's proxy ran
    # or, where litellm[proxy] is not installed, is listed as skipped.
    relays = {r["contender"] for r in scenarios["gateway"]["rows"]}
    assert {"direct", "floor", "sk-relay"} <= relays
    litellm_skipped = any(s.startswith("litellm-proxy ") for s in doc["skipped"])
    assert ("litellm-proxy" in relays) != litellm_skipped, (relays, doc["skipped"])
    for row in scenarios["gateway"]["rows"]:  # measured (a number, not NaN), whatever its value
        if row["contender"] != "direct":
            assert row["metrics"]["cpu_us_per_token"] is not None, row
            assert row["metrics"]["kib_per_stream"] is not None, row
        assert row["metrics"]["latency_p50_ms"] is not None, row

    markdown = (tmp_path / "results.md").read_text()
    assert "| Contender |" in markdown and "FAILED" not in markdown
    assert "| Contender |" in proc.stdout  # the tables are printed too
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")
    else:
        assert "matplotlib is not installed" in proc.stderr
        assert not (tmp_path / "chart.png").exists()
