"""One measurement, in a fresh process: ``python -m benchmarks.client JOB_JSON``.

The harness starts one of these per contender, scenario and repetition. It
opens the contender, runs the warm-up streams (tiny, not timed, text still
checked), then the measured part, and prints one JSON line:

* ``single``: one stream; wall and CPU time (``time.process_time``) around
  the streaming only;
* ``parallel``: ``streams`` streams at once with ``asyncio.gather``; wall,
  CPU, RSS just before (``base_rss_kib``) and the process's peak RSS
  (``ru_maxrss``), and how many streams were open (first token received,
  not yet finished) at the same time;
* ``ttft``: ``requests`` streams one after the other; the time from the
  call to the first piece of text, each.

Texts are never compared here: each one's digest (SHA-256 and length) goes
back to the harness, which compares them with the expected ones.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
import traceback
import urllib.request
from collections import Counter
from typing import Any

from .contenders import open_contender
from .server import raise_nofile_limit
from .wire import text_digest

__all__ = ["main", "run_job"]


def _rss_kib() -> int:
    """The current resident set size, in KiB (the peak so far where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except OSError:
        return _peak_rss_kib()
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def _peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _noop() -> None:
    pass


async def run_job(job: dict[str, Any]) -> dict[str, Any]:
    client = open_contender(job["contender"], job["provider"], job["root"])
    out: dict[str, Any] = {"digests": {}, "warmup_digests": {}}
    try:
        warm: Counter[str] = Counter()
        for _ in range(job.get("warmups", 0)):
            warm[text_digest(await client.stream(job["warmup_model"], _noop))] += 1
        out["warmup_digests"] = dict(warm)
        mode = job["mode"]
        model = job["model"]
        if mode == "single":
            cpu0 = time.process_time()
            t0 = time.perf_counter()
            text = await client.stream(model, _noop)
            out["wall_s"] = time.perf_counter() - t0
            out["cpu_s"] = time.process_time() - cpu0
            out["digests"] = {text_digest(text): 1}
            del text
        elif mode == "parallel":
            release = (job["root"], job["release_nonce"]) if job.get("release_nonce") else None
            out.update(await _parallel(client, model, job["streams"], release))
        elif mode == "ttft":
            out.update(await _ttft(client, model, job["requests"]))
        else:
            raise ValueError(f"unknown mode {mode!r}")
        out["peak_rss_kib"] = _peak_rss_kib()
        out["ok"] = True
    except BaseException as exc:  # reported, not raised: the harness decides
        out["ok"] = False
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc(limit=8)
    finally:
        await client.aclose()
    return out


def _post_release(root: str, nonce: str) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(
        f"{root}/_release",
        data=json.dumps({"nonce": nonce}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with opener.open(req, timeout=30) as resp:
        resp.read()


async def _parallel(client: Any, model: str, streams: int, release: tuple[str, str] | None) -> dict[str, Any]:
    """``streams`` streams at once. With ``release``, the server holds each one
    after its first token until all of them have one here; then we let them go."""
    loop = asyncio.get_running_loop()
    state = {"open": 0, "peak": 0}
    all_open_at = [0.0]
    releasing: list[asyncio.Future[None]] = []

    def mark() -> None:
        state["open"] += 1
        if state["open"] > state["peak"]:
            state["peak"] = state["open"]
            if state["peak"] == streams and release is not None and not releasing:
                all_open_at[0] = time.perf_counter()
                releasing.append(loop.run_in_executor(None, _post_release, *release))

    async def one() -> str:
        opened = [False]

        def first() -> None:
            opened[0] = True
            mark()

        try:
            return text_digest(await client.stream(model, first))
        finally:
            if opened[0]:
                state["open"] -= 1

    base_rss = _rss_kib()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(streams)), return_exceptions=True)
    wall = time.perf_counter() - t0
    if releasing:
        await releasing[0]
    cpu = time.process_time() - cpu0
    digests: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for r in results:
        if isinstance(r, BaseException):
            errors[f"{type(r).__name__}: {r}"[:300]] += 1
        else:
            digests[r] += 1
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "base_rss_kib": base_rss,
        "end_rss_kib": _rss_kib(),
        "peak_open": state["peak"],
        "all_open_s": all_open_at[0] - t0 if all_open_at[0] else None,
        "digests": dict(digests),
        "stream_errors": dict(errors),
    }


async def _ttft(client: Any, model: str, requests: int) -> dict[str, Any]:
    ttfts: list[float] = []
    digests: Counter[str] = Counter()
    first = [0.0]

    def mark() -> None:
        first[0] = time.perf_counter()

    for _ in range(requests):
        first[0] = 0.0
        t0 = time.perf_counter()
        text = await client.stream(model, mark)
        ttfts.append((first[0] - t0) * 1000.0 if first[0] else float("nan"))
        digests[text_digest(text)] += 1
    return {"ttft_ms": ttfts, "digests": dict(digests)}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    job = json.loads(args[0] if args else sys.stdin.read())
    # Keep any tracing/telemetry off and every request on loopback.
    os.environ.setdefault("LANGSMITH_TRACING", "false")
    os.environ.setdefault("LANGCHAIN_TRACING_V2", "false")
    nofile = raise_nofile_limit()
    result = asyncio.run(run_job(job))
    result["nofile"] = nofile
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
