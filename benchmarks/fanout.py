"""The gateway scenario's downstream: ``python -m benchmarks.fanout JOB_JSON``.

Many SSE clients in one process (aiohttp, ``asyncio.gather``), all asking a
relay (or, for the ``direct`` reference, the benchmark server itself) for a
paced stream at once, each reading it to its end (``[DONE]``, or
streamkit's ``done`` frame) and reporting its text's digest, like the other
scenarios' clients. Meanwhile it watches the relay process from outside,
through ``/proc``: its CPU time and its resident memory. Prints one JSON
line.

The sequence: ``warmups`` concurrent warm-up streams (twice, texts
checked), 0.5 s of quiet, then the relay's CPU time and RSS (*idle*); the
``streams`` measured streams, stream ``i`` started ``i * stagger_s``
seconds in (``stagger_s`` = the token interval / streams, so that the
streams' tokens come evenly spread instead of all streams' at the same
instant, as unrelated users' answers do; all are open at once all the
same), while a thread samples the relay's
RSS every 10 ms (*peak*); when the last one ends, 0.5 s of quiet (work the
relay does after a stream, such as logging, belongs to it), then its CPU
time again. CPU time is ``utime + stime`` of ``/proc/PID/stat`` (all
threads, including finished ones) over the relay and its child processes,
in clock ticks (``SC_CLK_TCK``, 10 ms on Linux: size runs so that this is
small against the total). RSS is ``VmRSS`` of ``/proc/PID/status``, summed
likewise.

Latency per token: every prompt carries a stream tag
(:func:`benchmarks.wire.tagged_prompt`); the server records
``time.monotonic_ns()`` just before it writes each token of a tagged paced
stream, and this process records ``time.monotonic_ns()`` as each piece of
text is parsed. ``CLOCK_MONOTONIC`` is one clock for all processes of a
Linux machine, so the two compare directly. A token has arrived when the
text read so far reaches its end (its character offset), so a relay that
merges or splits tokens is measured the same way. Latency = arrival - send,
for every token of every stream; the scenario reports its percentiles.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
import traceback
import urllib.request
from collections import Counter
from typing import Any

from .contenders import PROMPT
from .server import raise_nofile_limit
from .wire import Spec, tagged_prompt, text_digest, token_ends

__all__ = ["main", "run_job"]

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _children(pids: list[int]) -> list[int]:
    """``pids`` and all their descendants living now."""
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    rest = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            parents[int(name)] = int(rest[1])
    tree = set(pids)
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return sorted(tree)


def _cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids`` (each with all its threads)."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(rest[11]) + int(rest[12])  # fields 14 and 15: utime, stime
    return ticks / _CLK_TCK


def _rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


class _Sampler(threading.Thread):
    """The peak of the relay's RSS, sampled every ``interval`` seconds until stopped."""

    def __init__(self, pids: list[int], interval: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, _rss_kib(self.pids))
            self.samples += 1
            self._stop_event.wait(self.interval)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        self.peak = max(self.peak, _rss_kib(self.pids))
        return self.peak


class _Reader:
    """One relay's downstream: POST a chat request, read the SSE answer to its end."""

    def __init__(self, job: dict[str, Any]) -> None:
        import aiohttp

        self._url = job["root"] + "/v1/chat/completions"
        self._headers = {"Authorization": f"Bearer {job['key']}"}
        self._format: str = job["format"]
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None)
        )

    async def stream(self, model: str, tag: str) -> tuple[str, list[tuple[int, int]], int]:
        """The text, ``(characters so far, monotonic ns)`` per piece, and the request's start (ns)."""
        body = {
            "model": model,
            "messages": [{"role": "user", "content": tagged_prompt(PROMPT, tag)}],
            "stream": True,
        }
        parts: list[str] = []
        arrivals: list[tuple[int, int]] = []
        size = 0
        ended = False
        loads = json.loads
        now = time.monotonic_ns
        started = now()
        async with self._session.post(self._url, json=body, headers=self._headers) as resp:
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}: {(await resp.text())[:300]}")
            if self._format == "openai":
                async for line in resp.content:
                    if line.startswith(b"data: "):
                        if line.startswith(b"data: [DONE]"):
                            ended = True
                            break
                        chunk = loads(line[6:])
                        if "error" in chunk:
                            raise RuntimeError(f"error chunk: {chunk['error']}")
                        choices = chunk.get("choices")
                        if choices:
                            text = choices[0].get("delta", {}).get("content")
                            if text:
                                parts.append(text)
                                size += len(text)
                                arrivals.append((size, now()))
            else:  # streamkit's own format: event: token / done / error
                event = b""
                async for line in resp.content:
                    if line.startswith(b"event: "):
                        event = line[7:].strip()
                    elif line.startswith(b"data: "):
                        if event == b"token":
                            text = loads(line[6:])["text"]
                            parts.append(text)
                            size += len(text)
                            arrivals.append((size, now()))
                        elif event == b"done":
                            ended = True
                            break
                        elif event == b"error":
                            raise RuntimeError(f"error frame: {line[6:].decode()[:300]}")
        if not ended:
            raise RuntimeError("the stream ended without its end marker")
        return "".join(parts), arrivals, started

    async def aclose(self) -> None:
        await self._session.close()


def _take_stamps(upstream: str, prefix: str) -> dict[str, list[int]]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(
        f"{upstream}/_stamps",
        data=json.dumps({"prefix": prefix}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with opener.open(req, timeout=60) as resp:
        stamps: dict[str, list[int]] = json.loads(resp.read())
    return stamps


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    ordered = sorted(values)
    n = len(ordered)

    def q(p: float) -> float:
        return ordered[min(n - 1, max(0, int(p * n + 0.5) - 1))]

    return {"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": ordered[-1], "mean": sum(ordered) / n}


async def run_job(job: dict[str, Any]) -> dict[str, Any]:
    reader = _Reader(job)
    out: dict[str, Any] = {"digests": {}, "warmup_digests": {}}
    nonce: str = job["nonce"]
    try:
        warm: Counter[str] = Counter()
        for round_ in range(2):
            texts = await asyncio.gather(
                *(reader.stream(job["warmup_model"], f"w{nonce}-{round_}-{i}") for i in range(job["warmups"]))
            )
            warm.update(text_digest(t) for t, _, _ in texts)
        out["warmup_digests"] = dict(warm)
        await asyncio.sleep(0.5)
        pids = _children(job["relay_pids"]) if job["relay_pids"] else []
        out["relay_pids"] = pids
        cpu0 = _cpu_s(pids)
        out["idle_rss_kib"] = _rss_kib(pids)
        sampler = _Sampler(pids)
        sampler.start()
        t0 = time.perf_counter()
        n = job["streams"]
        stagger: float = job["stagger_s"]

        async def one(i: int) -> tuple[str, list[tuple[int, int]], int]:
            await asyncio.sleep(i * stagger)
            return await reader.stream(job["model"], f"{nonce}-{i}")

        results = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
        out["wall_s"] = time.perf_counter() - t0
        out["cpu_at_end_s"] = _cpu_s(pids) - cpu0
        await asyncio.sleep(0.5)
        out["cpu_s"] = _cpu_s(pids) - cpu0
        out["peak_rss_kib"] = sampler.stop()
        out["rss_samples"] = sampler.samples
        digests: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        stamps = _take_stamps(job["upstream"], nonce + "-")
        ends = token_ends(Spec.from_model(job["spec"]))
        latencies: list[float] = []
        ttfts: list[float] = []
        unmatched = 0
        for i, r in enumerate(results):
            if isinstance(r, BaseException):
                errors[f"{type(r).__name__}: {r}"[:300]] += 1
                continue
            text, arrivals, started = r
            digests[text_digest(text)] += 1
            sent = stamps.get(f"{nonce}-{i}")
            if sent is None or len(sent) != len(ends):
                unmatched += 1
                continue
            if arrivals:
                ttfts.append((arrivals[0][1] - started) / 1e6)
            k = 0
            for end, t_sent in zip(ends, sent, strict=True):
                while k < len(arrivals) and arrivals[k][0] < end:
                    k += 1
                if k == len(arrivals):
                    unmatched += 1
                    break
                latencies.append((arrivals[k][1] - t_sent) / 1e6)
        out["digests"] = dict(digests)
        out["stream_errors"] = dict(errors)
        out["latency_ms"] = _percentiles(latencies)
        out["latency_count"] = len(latencies)
        out["ttft_ms"] = _percentiles(ttfts)
        out["unmatched_streams"] = unmatched
        out["ok"] = True
    except BaseException as exc:  # reported, not raised: the harness decides
        out["ok"] = False
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc(limit=8)
    finally:
        await reader.aclose()
    return out


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    job = json.loads(args[0] if args else sys.stdin.read())
    raise_nofile_limit()
    result = asyncio.run(run_job(job))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
