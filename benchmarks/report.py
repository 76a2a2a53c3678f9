"""Markdown tables, the JSON record and the PNG chart."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .scenarios import SCENARIOS, Row, ScenarioResult

__all__ = ["chart", "load", "markdown", "write_json"]

Column = tuple[str, Callable[[Row], str]]


def _num(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def _ratio(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.2f}x"


def _delta(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:+.2f}"


def _exact(row: Row) -> str:
    return "✓" if row.exact else "✗ FAILED"


def _m(key: str, fmt: Callable[[Any], str]) -> Callable[[Row], str]:
    return lambda row: fmt(row.metrics.get(key))


def _stream(row: Row) -> str:
    return _STREAM_NAMES.get(row.provider, row.provider)


_STREAM_NAMES = {
    "openai": "OpenAI chat",
    "anthropic": "Anthropic messages",
    "openai-responses": "OpenAI Responses",
    "gemini": "Gemini streamGenerateContent",
    "ollama": "Ollama /api/chat",
}


def _label(row: Row) -> str:
    return f"**{row.label}**" if row.contender.startswith("sk-") else row.label


COLUMNS: dict[str, list[Column]] = {
    "single": [
        ("Stream", _stream),
        ("Contender", _label),
        ("tokens/s", _m("tokens_per_s", _num)),
        ("x floor", _m("speed_vs_floor", _ratio)),
        ("CPU µs/token", _m("cpu_us_per_token", lambda v: _num(v, 2))),
        ("CPU x floor", _m("cpu_vs_floor", _ratio)),
        ("text exact", _exact),
    ],
    "concurrent": [
        ("Stream", _stream),
        ("Contender", _label),
        ("aggregate tokens/s", _m("tokens_per_s", _num)),
        ("x floor", _m("speed_vs_floor", _ratio)),
        ("CPU µs/token", _m("cpu_us_per_token", lambda v: _num(v, 2))),
        ("peak RSS MiB", _m("peak_rss_mib", lambda v: _num(v, 1))),
        ("text exact", _exact),
    ],
    "ttft": [
        ("Stream", _stream),
        ("Contender", _label),
        ("median TTFT ms", _m("ttft_ms", lambda v: _num(v, 2))),
        ("Δ vs floor ms", _m("delta_vs_floor_ms", _delta)),
        ("p90 TTFT ms", _m("ttft_p90_ms", lambda v: _num(v, 2))),
        ("text exact", _exact),
    ],
    "many": [
        ("Contender", _label),
        ("streams exact (worst rep)", lambda r: f"{r.metrics.get('completed_min', 0):,}"),
        ("peak open (worst rep)", lambda r: f"{r.metrics.get('peak_open_min', 0):,}"),
        ("aggregate tokens/s", _m("tokens_per_s", _num)),
        ("x floor", _m("speed_vs_floor", _ratio)),
        ("peak RSS MiB", _m("peak_rss_mib", lambda v: _num(v, 1))),
        ("KiB/stream", _m("kib_per_stream", lambda v: _num(v, 1))),
        ("all open at s", _m("all_open_s", lambda v: _num(v, 2))),
        ("wall s", _m("wall_s", lambda v: _num(v, 2))),
        ("text exact", _exact),
    ],
    "gateway": [
        ("Relay", _label),
        ("CPU µs/token", _m("cpu_us_per_token", lambda v: _num(v, 1))),
        ("CPU x floor", _m("cpu_vs_floor", _ratio)),
        ("tokens/s per core", _m("tokens_per_core_s", _num)),
        (
            "latency p50 / p99 ms",
            lambda r: (
                f"{_num(r.metrics.get('latency_p50_ms'), 2)} / {_num(r.metrics.get('latency_p99_ms'), 2)}"
            ),
        ),
        ("added p50 ms", _m("added_latency_p50_ms", _delta)),
        ("added p99 ms", _m("added_latency_p99_ms", _delta)),
        ("TTFT p50 ms", _m("ttft_p50_ms", lambda v: _num(v, 1))),
        ("KiB/stream", _m("kib_per_stream", lambda v: _num(v, 1))),
        ("mem x floor", _m("mem_vs_floor", _ratio)),
        ("idle RSS MiB", _m("idle_rss_mib", lambda v: _num(v, 0))),
        ("text exact", _exact),
    ],
    "linear": [
        ("Input", lambda r: r.label),
        ("body MiB", _m("body_mib", lambda v: _num(v, 1))),
        ("wall s", _m("wall_s", lambda v: _num(v, 3))),
        ("CPU s", _m("cpu_s", lambda v: _num(v, 3))),
        ("per unit", lambda r: f"{_num(r.metrics.get('per_unit'), 3)} {r.metrics.get('unit', '')}"),
        ("per unit vs smallest", _m("per_unit_vs_smallest", _ratio)),
        ("s/MiB of body", _m("s_per_mib", lambda v: _num(v, 4))),
        ("peak RSS MiB", _m("peak_rss_mib", lambda v: _num(v, 1))),
        ("text exact", _exact),
    ],
}


def table(result: ScenarioResult) -> str:
    cols = COLUMNS[result.key]
    lines = [
        "| " + " | ".join(name for name, _ in cols) + " |",
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(cols))) + "|",
    ]
    for row in result.rows:
        lines.append("| " + " | ".join(fn(row) for _, fn in cols) + " |")
    return "\n".join(lines)


def markdown(results: list[ScenarioResult], meta: dict[str, Any]) -> str:
    env = meta["environment"]
    out = [
        "# streamkit benchmark results",
        "",
        f"`{meta['command']}` ({meta['mode']}; {meta['started']}; {meta['elapsed_s']:.0f} s in all).",
        "",
        f"Python {env['python']} on {env['platform']}, {env['cpus']} CPUs; server pinned to CPU "
        f"{meta['server_cpu']}, clients to CPU {meta['client_cpu']}. Packages: "
        + ", ".join(f"{k} {v}" for k, v in env["packages"].items() if v)
        + f". streamkit at {env['git']}.",
        "",
        "Every figure is the median over repetitions, each in a fresh client process; ratios are to the "
        "floor (aiohttp `async for line in resp.content` + `json.loads`) from the same run. "
        "Every client's text was compared with the expected text (SHA-256 and length) — "
        + (
            "all matched."
            if meta["all_exact"]
            else "**some did not match: see ✗ rows and the problems below.**"
        ),
    ]
    ran = [r.key for r in results]
    left_out = [key for key in SCENARIOS if key not in ran]
    if left_out:
        out += [
            "",
            f"**A subset:** this run has scenario(s) {', '.join(ran) or 'none'} only; "
            f"{', '.join(left_out)} were not run (their latest tables are in this file's git history, "
            "or in a folder of their own under benchmarks/results/).",
        ]
    if meta["skipped"]:
        out += ["", "Skipped (not installed): " + ", ".join(meta["skipped"]) + "."]
    for result in results:
        out += ["", f"## {result.title}", "", result.description, "", table(result)]
        problems = [f"- {r.label} [{r.provider}]: {p}" for r in result.rows for p in r.problems]
        if problems:
            out += ["", "Problems:", "", *problems[:20]]
    if meta.get("notes"):
        out += ["", "## Notes", "", *(f"- {n}" for n in meta["notes"])]
    return "\n".join(out) + "\n"


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def write_json(path: Path, results: list[ScenarioResult], meta: dict[str, Any]) -> None:
    doc = {
        **meta,
        "scenarios": [
            {
                "key": r.key,
                "title": r.title,
                "description": r.description,
                "params": r.params,
                "elapsed_s": r.elapsed_s,
                "rows": [row.to_json() for row in r.rows],
            }
            for r in results
        ],
    }
    path.write_text(json.dumps(_clean(doc), indent=1, ensure_ascii=False) + "\n")


def chart(path: Path, results: list[ScenarioResult]) -> str | None:
    """Draw the chart; return why not if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]'): chart.png was not drawn"

    by_key = {r.key: r for r in results}
    panels = [k for k in ("single", "concurrent", "ttft", "many", "gateway", "linear") if k in by_key]
    # Each panel's height grows with its bars (scenarios 1-3 have a row per contender and wire format).
    heights = [max(3.0, 0.8 + 0.17 * len(by_key[k].rows)) for k in panels]
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(10, sum(heights) + 0.8),
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )
    for ax, key in zip((a[0] for a in axes), panels, strict=True):
        result = by_key[key]
        if key == "linear":
            _linear_panel(ax, result)
            continue
        metric, xlabel = {
            "single": ("speed_vs_floor", "tokens/s relative to the floor (higher is faster)"),
            "concurrent": ("speed_vs_floor", "aggregate tokens/s relative to the floor"),
            "ttft": ("delta_vs_floor_ms", "TTFT minus the floor's, ms (lower is better)"),
            "many": ("kib_per_stream", "KiB of client memory per open stream"),
            "gateway": ("cpu_vs_floor", "relay CPU per relayed token relative to the floor relay"),
        }[key]
        rows = [r for r in result.rows if r.exact and not _isnan(r.metrics.get(metric))]
        labels = [f"{r.label} [{r.provider}]" if key not in ("many", "gateway") else r.label for r in rows]
        values = [float(r.metrics[metric]) for r in rows]
        colors = [
            "#d62728" if r.contender.startswith("sk-") else "#7f7f7f" if r.contender == "floor" else "#1f77b4"
            for r in rows
        ]
        ax.barh(range(len(rows)), values, color=colors)
        ax.set_yticks(range(len(rows)), labels, fontsize=8)
        ax.invert_yaxis()
        if key in ("single", "concurrent", "gateway"):
            ax.axvline(1.0, color="black", linewidth=0.8)
        for i, v in enumerate(values):
            ax.text(max(v, 0.0), i, f" {v:.2f}", va="center", fontsize=7)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_title(result.title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def _isnan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _linear_panel(ax: Any, result: ScenarioResult) -> None:
    """Cost per unit (per MiB, per token) relative to the smallest size: flat at 1.0 is linear time."""
    names = {"event": "one huge event", "lines": "one event of short lines", "tokens": "long stream"}
    for kind, marker in (("event", "o"), ("lines", "^"), ("tokens", "s")):
        rows = [r for r in result.rows if r.metrics.get("kind") == kind and r.exact]
        if not rows:
            continue
        ys = [float(r.metrics["per_unit_vs_smallest"]) for r in rows]
        values = ", ".join(f"{r.metrics['per_unit']:.3g}" for r in rows)
        sizes = ", ".join(r.label.replace("one event of ", "").replace(" in short lines", "") for r in rows)
        name = names[kind]
        ax.plot(
            range(len(rows)), ys, marker=marker, label=f"{name} ({sizes}): {values} {rows[0].metrics['unit']}"
        )
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_ylim(
        0, max([2.0, *(float(r.metrics.get("per_unit_vs_smallest") or 0) * 1.1 for r in result.rows)])
    )
    ax.set_xticks(range(3), ["1/4 size", "1/2 size", "full size"])
    ax.set_ylabel("cost per unit vs smallest", fontsize=8)
    ax.set_xlabel(
        "flat at 1.0 = time proportional to size; quadratic time would reach 4.0 at full size", fontsize=8
    )
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(result.title, fontsize=10)


def load(path: Path) -> tuple[list[ScenarioResult], dict[str, Any]]:
    """Read back a results.json (to redraw the chart or the tables without running again)."""
    doc = json.loads(path.read_text())
    results = []
    for s in doc.pop("scenarios"):
        rows = [
            Row(**{**r, "metrics": {k: math.nan if v is None else v for k, v in r["metrics"].items()}})
            for r in s["rows"]
        ]
        results.append(
            ScenarioResult(s["key"], s["title"], s["description"], s["params"], rows, s["elapsed_s"])
        )
    return results, doc
