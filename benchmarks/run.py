"""Run the benchmark suite: ``python -m benchmarks [--quick | --full]``.

Starts the loopback server in its own process, runs every scenario with a
fresh client process per contender, scenario and repetition, prints the
markdown tables, and writes ``results.md``, ``results.json`` and
``chart.png`` (if matplotlib is installed) to ``benchmarks/results/`` (or
``--out``). Exits with status 1 if any client's text did not match.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python benchmarks/run.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import benchmarks  # noqa: F401  (PEP 366: the parent package first)

    __package__ = "benchmarks"

from .contenders import CONTENDERS, available
from .gateway import GATEWAY_CONTENDERS
from .harness import REPO, Harness, ServerProcess
from .report import chart, load, markdown, write_json
from .scenarios import SCENARIOS, ScenarioResult, config_for

__all__ = ["main"]

_PACKAGES = (
    "streamkit",
    "aiohttp",
    "pydantic-core",
    "orjson",
    "openai",
    "anthropic",
    "langchain-openai",
    "litellm",
    "uvicorn",
    "uvloop",
    "matplotlib",
)


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "streamkit"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        return head + (" (streamkit/ has uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="CI smoke: tiny sizes, 1 repetition (< 1 minute)")
    mode.add_argument("--full", action="store_true", help="the real thing (the default): several minutes")
    parser.add_argument(
        "--reps", type=int, help="repetitions (default: 1 quick; 5 full, 3 for scenarios 4-5)"
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of: {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--contenders",
        help="comma-separated subset of: "
        + ", ".join(dict.fromkeys(c.key for c in (*CONTENDERS, *GATEWAY_CONTENDERS)))
        + " (the floor always runs; in the gateway scenario, direct too)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="output directory")
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin server and clients to separate CPUs"
    )
    parser.add_argument(
        "--replot",
        action="store_true",
        help="run nothing: redraw chart.png and results.md from --out's results.json",
    )
    return parser


def _replot(out_dir: Path) -> int:
    results, meta = load(out_dir / "results.json")
    meta["notes"] = [n for n in meta.get("notes", []) if "matplotlib" not in n]
    why_no_chart = chart(out_dir / "chart.png", results)
    if why_no_chart:
        meta["notes"].append(why_no_chart)
        print(f"benchmarks: {why_no_chart}", file=sys.stderr)
    text = markdown(results, meta)
    (out_dir / "results.md").write_text(text)
    print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.replot:
        return _replot(args.out)
    cfg = config_for("quick" if args.quick else "full", args.reps)
    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(unknown)}")
    only = {c.strip() for c in args.contenders.split(",")} if args.contenders else None
    skipped = [
        f"{c.key} (needs {', '.join(c.requires)})"
        for c in (*CONTENDERS, *GATEWAY_CONTENDERS)
        if not available(c)
    ]
    cpus = os.cpu_count() or 1
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pin = not args.no_pin and len(allowed) >= 2
    # The server on one CPU, each client on another: they never compete.
    server_cpu, client_cpu = (allowed[0], allowed[1]) if pin else (None, None)
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks " + shlex.join(argv if argv is not None else sys.argv[1:])
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    t0 = time.perf_counter()

    print(f"benchmarks: {cfg.name} run, scenarios {', '.join(names)}", file=sys.stderr)
    if skipped:
        print(f"benchmarks: skipping {', '.join(skipped)}", file=sys.stderr)
    server = ServerProcess(server_cpu)
    harness = Harness(server, client_cpu, cfg.client_timeout_s, server_cpu=server_cpu)
    results: list[ScenarioResult] = []
    try:
        for name in names:
            s0 = time.perf_counter()
            print(f"benchmarks: scenario {name} ...", file=sys.stderr, flush=True)
            result = SCENARIOS[name](harness, cfg, only)
            result.elapsed_s = time.perf_counter() - s0
            results.append(result)
            server.call("/_reset", {})
            print(
                f"benchmarks: scenario {name} done in {result.elapsed_s:.1f} s", file=sys.stderr, flush=True
            )
    finally:
        server.close()

    all_exact = all(row.exact for r in results for row in r.rows)
    notes: list[str] = []
    meta: dict[str, Any] = {
        "command": command,
        "mode": cfg.name,
        "config": cfg.__dict__,
        "started": started,
        "elapsed_s": time.perf_counter() - t0,
        "all_exact": all_exact,
        "skipped": skipped,
        "server_cpu": server_cpu,
        "client_cpu": client_cpu,
        "server_nofile": server.nofile,
        "problems": harness.log,
        "environment": {
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            "cpus": cpus,
            "packages": {name: _version(name) for name in _PACKAGES},
            "git": _git(),
        },
        "notes": notes,
    }
    why_no_chart = chart(out_dir / "chart.png", results)
    if why_no_chart:
        notes.append(why_no_chart)
        print(f"benchmarks: {why_no_chart}", file=sys.stderr)
    meta["chart"] = None if why_no_chart else str(out_dir / "chart.png")
    text = markdown(results, meta)
    (out_dir / "results.md").write_text(text)
    write_json(out_dir / "results.json", results, meta)
    print(text)
    print(
        f"benchmarks: wrote {out_dir}/results.md, results.json" + ("" if why_no_chart else ", chart.png"),
        file=sys.stderr,
    )
    if not all_exact:
        print("benchmarks: SOME TEXTS DID NOT MATCH:\n  " + "\n  ".join(harness.log), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
