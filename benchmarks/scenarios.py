"""The six scenarios: what is run, with which sizes, and what is derived.

Every scenario runs each contender once per repetition, in a fresh client
process, alternating the order of the contenders between repetitions
(forward, reversed, forward...). Figures are medians over repetitions;
ratios are to the floor (``floor``: aiohttp lines + ``json.loads``)
measured in the same run on the same stream, in the same wire format.
Scenarios 1 and 2 run every wire format of :data:`benchmarks.wire.PROVIDERS`,
scenario 3 those of ``Config.ttft_providers`` (all of them in ``--full``),
scenarios 4, 5 and 6 OpenAI's chat format only.
"""

from __future__ import annotations

import math
import statistics
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .contenders import CONTENDERS, ContenderInfo, available
from .gateway import GATEWAY_CONTENDERS, run_gateway
from .harness import Harness, Measurement
from .wire import PROVIDERS, Provider, Spec, expected

__all__ = ["SCENARIOS", "Config", "Row", "ScenarioResult", "config_for"]

MiB = 1024 * 1024
WARMUP = Spec(tokens=8)


@dataclass(frozen=True)
class Config:
    name: str
    reps: int
    single_tokens: int
    concurrent_streams: int
    concurrent_tokens: int
    ttft_requests: int
    ttft_tokens: int
    ttft_first_delay_ms: float
    #: The wire formats scenario 3 runs (scenarios 1 and 2 run all of them).
    ttft_providers: tuple[Provider, ...]
    many_streams: int
    many_tokens: int
    many_reps: int
    linear_event_bytes: tuple[int, ...]
    linear_line_bytes: tuple[int, ...]
    linear_tokens: tuple[int, ...]
    linear_reps: int
    gateway_streams: int
    gateway_tokens: int
    gateway_delay_ms: float
    gateway_warmups: int
    client_timeout_s: float


def config_for(name: str, reps: int | None = None) -> Config:
    if name == "quick":
        return Config(
            name="quick",
            reps=reps or 1,
            single_tokens=2_000,
            concurrent_streams=20,
            concurrent_tokens=50,
            ttft_requests=10,
            ttft_tokens=20,
            ttft_first_delay_ms=5.0,
            # Each format adds three client processes (~1 s each, mostly imports):
            # the new formats' TTFT runs in --full only, to keep --quick under a minute.
            ttft_providers=("openai", "anthropic"),
            many_streams=300,
            many_tokens=20,
            many_reps=reps or 1,
            linear_event_bytes=(MiB // 4, MiB // 2, MiB),
            linear_line_bytes=(MiB // 4, MiB // 2, MiB),
            linear_tokens=(5_000, 10_000, 20_000),
            linear_reps=reps or 1,
            gateway_streams=10,
            gateway_tokens=20,
            gateway_delay_ms=20.0,
            gateway_warmups=2,
            client_timeout_s=60.0,
        )
    return Config(
        name="full",
        reps=reps or 5,
        single_tokens=20_000,
        concurrent_streams=200,
        concurrent_tokens=500,
        ttft_requests=100,
        ttft_tokens=20,
        ttft_first_delay_ms=5.0,
        ttft_providers=PROVIDERS,
        many_streams=10_000,
        many_tokens=50,
        many_reps=reps or 3,
        linear_event_bytes=(16 * MiB, 32 * MiB, 64 * MiB),
        # Under the decoder's default max_event_size (16 MiB).
        linear_line_bytes=(2 * MiB, 4 * MiB, 8 * MiB),
        linear_tokens=(250_000, 500_000, 1_000_000),
        linear_reps=reps or 3,
        # 200 tokens/s offered in all: about a third of what LiteLLM's proxy
        # relays on one core here, so that no relay is saturated and the
        # latency is a relay's own, not a queue's (see benchmarks/README.md).
        gateway_streams=100,
        gateway_tokens=100,
        gateway_delay_ms=500.0,
        gateway_warmups=10,
        client_timeout_s=600.0,
    )


@dataclass
class Row:
    """One line of a table: a contender (or a size) with its medians."""

    scenario: str
    provider: str
    contender: str
    label: str
    exact: bool
    reps: int
    metrics: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    raw: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ScenarioResult:
    key: str
    title: str
    description: str
    params: dict[str, Any]
    rows: list[Row]
    elapsed_s: float = 0.0


def _median(values: Sequence[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    return statistics.median(clean) if clean else math.nan


def _contenders(provider: Provider, only: set[str] | None, *, huge: bool = False) -> list[ContenderInfo]:
    return [
        c
        for c in CONTENDERS
        if provider in c.providers
        and available(c)
        and (only is None or c.key in only or c.key == "floor")
        and (c.huge_lines or not huge)
    ]


def _alternating(
    contenders: list[ContenderInfo], reps: int, run: Callable[[ContenderInfo, int], Measurement]
) -> dict[str, list[Measurement]]:
    """Run each contender once per repetition; reverse the order every other repetition."""
    out: dict[str, list[Measurement]] = {c.key: [] for c in contenders}
    for rep in range(reps):
        order = contenders if rep % 2 == 0 else list(reversed(contenders))
        for info in order:
            out[info.key].append(run(info, rep))
    return out


def _runner(h: Harness, provider: Provider, **job: Any) -> Callable[[ContenderInfo, int], Measurement]:
    """One measurement of a contender: a fresh client process (with one warm-up stream by default)."""
    job.setdefault("warmup", WARMUP)

    def run(info: ContenderInfo, rep: int) -> Measurement:
        return h.run_client(info, provider, rep, **job)

    return run


def _row(
    scenario: str, provider: str, info: ContenderInfo, ms: list[Measurement], metrics: dict[str, Any]
) -> Row:
    return Row(
        scenario=scenario,
        provider=provider,
        contender=info.key,
        label=info.label,
        exact=bool(ms) and all(m.exact for m in ms),
        reps=len(ms),
        metrics=metrics,
        problems=[p for m in ms if (p := m.problem)],
        raw=[{**m.data, "rep": m.rep, "exact": m.exact, "process_s": m.elapsed_s} for m in ms],
    )


def _ok(ms: list[Measurement]) -> list[dict[str, Any]]:
    return [m.data for m in ms if m.exact]


def _add_ratios(rows: list[Row], key: str, ratio_key: str, *, inverse: bool = False) -> None:
    """``ratio_key`` = metric / floor's metric (or floor / metric), per provider."""
    for row in rows:
        floor = next(
            (r for r in rows if r.contender == "floor" and r.provider == row.provider and r.exact), None
        )
        value = row.metrics.get(key, math.nan)
        base = floor.metrics.get(key, math.nan) if floor else math.nan
        if not row.exact or not base or math.isnan(base) or math.isnan(value):
            row.metrics[ratio_key] = math.nan
        else:
            row.metrics[ratio_key] = base / value if inverse else value / base


# -- (1) single stream ---------------------------------------------------------------


def single(h: Harness, cfg: Config, only: set[str] | None) -> ScenarioResult:
    spec = Spec(tokens=cfg.single_tokens)
    for provider in PROVIDERS:
        h.server.prepare(spec, (provider,))
    h.server.prepare(WARMUP, PROVIDERS)
    rows: list[Row] = []
    for provider in PROVIDERS:
        contenders = _contenders(provider, only)
        runs = _alternating(contenders, cfg.reps, _runner(h, provider, mode="single", spec=spec))
        for info in contenders:
            ok = _ok(runs[info.key])
            n = spec.token_count
            rows.append(
                _row(
                    "single",
                    provider,
                    info,
                    runs[info.key],
                    {
                        "tokens_per_s": _median([n / d["wall_s"] for d in ok]),
                        "cpu_us_per_token": _median([d["cpu_s"] / n * 1e6 for d in ok]),
                        "wall_s": _median([d["wall_s"] for d in ok]),
                    },
                )
            )
    _add_ratios(rows, "tokens_per_s", "speed_vs_floor")
    _add_ratios(rows, "cpu_us_per_token", "cpu_vs_floor")
    return ScenarioResult(
        "single",
        f"1. Single stream, {cfg.single_tokens:,} tokens",
        "One stream read to its end. tokens/s is tokens / wall time of the streaming call; CPU µs/token is "
        "the client process's CPU time (time.process_time) over the same span / tokens. "
        "x floor: speed relative to the floor (higher is faster); CPU x floor: CPU relative to the floor "
        "(lower is cheaper).",
        {"tokens": cfg.single_tokens, "reps": cfg.reps},
        rows,
    )


# -- (2) concurrent streams --------------------------------------------------------------


def concurrent(h: Harness, cfg: Config, only: set[str] | None) -> ScenarioResult:
    spec = Spec(tokens=cfg.concurrent_tokens)
    h.server.prepare(spec, PROVIDERS)
    h.server.prepare(WARMUP, PROVIDERS)
    n_streams = cfg.concurrent_streams
    total = n_streams * spec.token_count
    rows: list[Row] = []
    for provider in PROVIDERS:
        contenders = _contenders(provider, only)
        runs = _alternating(
            contenders, cfg.reps, _runner(h, provider, mode="parallel", spec=spec, streams=n_streams)
        )
        for info in contenders:
            ok = _ok(runs[info.key])
            rows.append(
                _row(
                    "concurrent",
                    provider,
                    info,
                    runs[info.key],
                    {
                        "tokens_per_s": _median([total / d["wall_s"] for d in ok]),
                        "cpu_us_per_token": _median([d["cpu_s"] / total * 1e6 for d in ok]),
                        "peak_rss_mib": _median([d["peak_rss_kib"] / 1024 for d in ok]),
                        "wall_s": _median([d["wall_s"] for d in ok]),
                    },
                )
            )
    _add_ratios(rows, "tokens_per_s", "speed_vs_floor")
    _add_ratios(rows, "peak_rss_mib", "rss_vs_floor")
    return ScenarioResult(
        "concurrent",
        f"2. {n_streams} concurrent streams x {cfg.concurrent_tokens} tokens",
        f"{n_streams} streams started at once in one client process (asyncio.gather). Aggregate tokens/s is "
        "all tokens / wall time until the last stream ends. Peak RSS is the client process's ru_maxrss "
        "(imports included).",
        {"streams": n_streams, "tokens": cfg.concurrent_tokens, "reps": cfg.reps},
        rows,
    )


# -- (3) time to first token -------------------------------------------------------------


def ttft(h: Harness, cfg: Config, only: set[str] | None) -> ScenarioResult:
    spec = Spec(tokens=cfg.ttft_tokens, first_delay_ms=cfg.ttft_first_delay_ms)
    providers = cfg.ttft_providers
    h.server.prepare(spec, providers)
    h.server.prepare(WARMUP, providers)
    rows: list[Row] = []
    for provider in providers:
        contenders = _contenders(provider, only)
        runs = _alternating(
            contenders,
            cfg.reps,
            _runner(h, provider, mode="ttft", spec=spec, warmups=3, requests=cfg.ttft_requests),
        )
        for info in contenders:
            ok = _ok(runs[info.key])
            per_rep_median = [_median(d["ttft_ms"]) for d in ok]
            per_rep_p90 = [_quantile(d["ttft_ms"], 0.9) for d in ok]
            rows.append(
                _row(
                    "ttft",
                    provider,
                    info,
                    runs[info.key],
                    {"ttft_ms": _median(per_rep_median), "ttft_p90_ms": _median(per_rep_p90)},
                )
            )
    for row in rows:
        floor = next((r for r in rows if r.contender == "floor" and r.provider == row.provider), None)
        base = floor.metrics["ttft_ms"] if floor and floor.exact else math.nan
        row.metrics["delta_vs_floor_ms"] = row.metrics["ttft_ms"] - base if row.exact else math.nan
    return ScenarioResult(
        "ttft",
        f"3. Time to first token (server waits {cfg.ttft_first_delay_ms:g} ms before the first token)",
        f"{cfg.ttft_requests} requests one after another on a warm client (3 warm-up requests first), "
        f"{cfg.ttft_tokens} tokens each. TTFT is from the call to the first piece of text in the client's "
        "hands; median (and p90) per process, then the median over repetitions. Δ vs floor is the "
        "difference from the floor's median TTFT: the client's own overhead before the first token.",
        {
            "requests": cfg.ttft_requests,
            "tokens": cfg.ttft_tokens,
            "first_delay_ms": cfg.ttft_first_delay_ms,
            "providers": list(providers),
            "reps": cfg.reps,
        },
        rows,
    )


def _quantile(values: Sequence[float], q: float) -> float:
    clean = sorted(v for v in values if not math.isnan(v))
    if not clean:
        return math.nan
    return clean[min(len(clean) - 1, math.ceil(q * len(clean)) - 1)]


# -- (4) very many streams at once -------------------------------------------------------


def many(h: Harness, cfg: Config, only: set[str] | None) -> ScenarioResult:
    n_streams = cfg.many_streams
    base = Spec(
        tokens=cfg.many_tokens, barrier=n_streams, barrier_timeout_s=min(120.0, cfg.client_timeout_s / 2)
    )
    h.server.prepare(base, ("openai",))
    h.server.prepare(WARMUP, ("openai",))
    allowed = {"floor", "sk-stream"}
    contenders = [c for c in _contenders("openai", only) if c.key in allowed]
    specs: dict[tuple[str, int], Spec] = {}

    def run(info: ContenderInfo, rep: int) -> Measurement:
        spec = specs[(info.key, rep)] = base.with_nonce(uuid.uuid4().hex[:12])
        return h.run_client(info, "openai", rep, mode="parallel", spec=spec, warmup=WARMUP, streams=n_streams)

    runs = _alternating(contenders, cfg.many_reps, run)
    want = expected(base)
    rows: list[Row] = []
    total = n_streams * base.token_count
    for info in contenders:
        ms = runs[info.key]
        ok = _ok(ms)
        completed = [m.data.get("digests", {}).get(want, 0) for m in ms]
        rows.append(
            _row(
                "many",
                "openai",
                info,
                ms,
                {
                    "completed_min": min(completed) if completed else 0,
                    "peak_open_min": min((m.data.get("peak_open", 0) for m in ms), default=0),
                    "tokens_per_s": _median([total / d["wall_s"] for d in ok]),
                    "peak_rss_mib": _median([d["peak_rss_kib"] / 1024 for d in ok]),
                    "kib_per_stream": _median(
                        [(d["peak_rss_kib"] - d["base_rss_kib"]) / n_streams for d in ok]
                    ),
                    "all_open_s": _median([d["all_open_s"] for d in ok if d.get("all_open_s")]),
                    "wall_s": _median([d["wall_s"] for d in ok]),
                },
            )
        )
    _add_ratios(rows, "tokens_per_s", "speed_vs_floor")
    return ScenarioResult(
        "many",
        f"4. {n_streams:,} concurrent streams in one client process",
        f"{n_streams:,} streams of {cfg.many_tokens} tokens started at once against the server process. The "
        "server holds every stream after its first token until the client holds a first token from every "
        "one of them (then the client tells it to go on), so they are all open at the same time. Peak "
        "open = streams holding a first token and not yet finished, counted by the client; all open at = "
        "seconds from the start until that happened. Memory per stream = (peak RSS - RSS just before the "
        "streams) / streams. Aggregate tokens/s = all tokens / wall time, connecting and the hold included.",
        {"streams": n_streams, "tokens": cfg.many_tokens, "reps": cfg.many_reps},
        rows,
    )


# -- (5) linear time ---------------------------------------------------------------------


def linear(h: Harness, cfg: Config, only: set[str] | None) -> ScenarioResult:
    cases: list[tuple[str, Spec]] = [
        (f"one event of {b / MiB:g} MiB", Spec(huge=b)) for b in cfg.linear_event_bytes
    ]
    cases += [(f"one event of {b / MiB:g} MiB in short lines", Spec(lines=b)) for b in cfg.linear_line_bytes]
    cases += [(f"{n:,} tokens", Spec(tokens=n)) for n in cfg.linear_tokens]
    sizes: dict[str, int] = {}
    h.server.prepare(WARMUP, ("openai",))
    info = next(c for c in CONTENDERS if c.key == "sk-stream")
    rows: list[Row] = []
    for label, spec in cases:
        sizes[label] = h.server.prepare(spec, ("openai",))["openai"]
        runs = _alternating([info], cfg.linear_reps, _runner(h, "openai", mode="single", spec=spec))
        ms = runs[info.key]
        ok = _ok(ms)
        mib = sizes[label] / MiB
        kind = "event" if spec.huge else "lines" if spec.lines else "tokens"
        unit = spec.tokens if kind == "tokens" else mib
        rows.append(
            Row(
                scenario="linear",
                provider="openai",
                contender=info.key,
                label=label,
                exact=bool(ms) and all(m.exact for m in ms),
                reps=len(ms),
                metrics={
                    "kind": kind,
                    "size": spec.huge or spec.lines or spec.tokens,
                    "body_mib": mib,
                    "wall_s": _median([d["wall_s"] for d in ok]),
                    "cpu_s": _median([d["cpu_s"] for d in ok]),
                    "per_unit": _median([d["wall_s"] / unit for d in ok])
                    * (1e6 if kind == "tokens" else 1.0),
                    "unit": "µs/token" if kind == "tokens" else "s/MiB",
                    "s_per_mib": _median([d["wall_s"] / mib for d in ok]),
                    "peak_rss_mib": _median([d["peak_rss_kib"] / 1024 for d in ok]),
                },
                problems=[p for m in ms if (p := m.problem)],
                raw=[{**m.data, "rep": m.rep, "exact": m.exact} for m in ms],
            )
        )
    for kind in ("event", "lines", "tokens"):
        group = [r for r in rows if r.metrics["kind"] == kind]
        smallest = group[0].metrics["per_unit"] if group else math.nan
        for r in group:
            r.metrics["per_unit_vs_smallest"] = r.metrics["per_unit"] / smallest if smallest else math.nan
    return ScenarioResult(
        "linear",
        "5. Linear time: one huge event, one event of many lines, and very long streams "
        "(streamkit stream(), OpenAI format)",
        "Each size read by streamkit's ChatOpenAI.stream() in a fresh process. The cost per unit (seconds "
        "per MiB of body for the single event, whether one line or many short data: lines, µs per token "
        "for the long streams) should stay flat as "
        "the size doubles: per unit vs smallest ≈ 1.0 means time proportional to size. The floor is "
        "left out: aiohttp's readline refuses lines over its limit, so it cannot read the big event.",
        {
            "event_bytes": list(cfg.linear_event_bytes),
            "line_event_bytes": list(cfg.linear_line_bytes),
            "tokens": list(cfg.linear_tokens),
            "reps": cfg.linear_reps,
            "body_bytes": sizes,
        },
        rows,
    )


# -- (6) gateway: N streams relayed ---------------------------------------------------------


def gateway(h: Harness, cfg: Config, only: set[str] | None) -> ScenarioResult:
    spec = Spec(tokens=cfg.gateway_tokens, token_delay_ms=cfg.gateway_delay_ms)
    h.server.prepare(spec, ("openai",))
    h.server.prepare(WARMUP, ("openai",))
    n = cfg.gateway_streams
    total = n * spec.token_count
    contenders = [
        c
        for c in GATEWAY_CONTENDERS
        if available(c) and (only is None or c.key in only or c.key in ("floor", "direct"))
    ]

    def run(info: ContenderInfo, rep: int) -> Measurement:
        # The relay gets a CPU of its own; the server and the fanout share the other.
        return run_gateway(
            h,
            info,
            rep,
            spec=spec,
            warmup=WARMUP,
            streams=n,
            warmups=cfg.gateway_warmups,
            relay_cpu=h.client_cpu,
            fanout_cpu=h.server_cpu,
        )

    runs = _alternating(contenders, cfg.reps, run)
    rows: list[Row] = []
    for info in contenders:
        ok = _ok(runs[info.key])
        relayed = info.key != "direct"
        rows.append(
            _row(
                "gateway",
                "openai",
                info,
                runs[info.key],
                {
                    "cpu_us_per_token": _median([d["cpu_s"] / total * 1e6 for d in ok])
                    if relayed
                    else math.nan,
                    "kib_per_stream": _median([(d["peak_rss_kib"] - d["idle_rss_kib"]) / n for d in ok])
                    if relayed
                    else math.nan,
                    "idle_rss_mib": _median([d["idle_rss_kib"] / 1024 for d in ok]) if relayed else math.nan,
                    "latency_p50_ms": _median([d["latency_ms"]["p50"] for d in ok]),
                    "latency_p99_ms": _median([d["latency_ms"]["p99"] for d in ok]),
                    "ttft_p50_ms": _median([d["ttft_ms"]["p50"] for d in ok]),
                    "wall_s": _median([d["wall_s"] for d in ok]),
                },
            )
        )
    direct = next((r for r in rows if r.contender == "direct" and r.exact), None)
    for row in rows:
        for key in ("latency_p50_ms", "latency_p99_ms", "ttft_p50_ms"):
            base = direct.metrics[key] if direct else math.nan
            added = row.metrics[key] - base if row.exact and row.contender != "direct" else math.nan
            row.metrics["added_" + key] = added
        cpu = row.metrics["cpu_us_per_token"]
        row.metrics["tokens_per_core_s"] = 1e6 / cpu if cpu and not math.isnan(cpu) else math.nan
    _add_ratios(rows, "cpu_us_per_token", "cpu_vs_floor")
    _add_ratios(rows, "kib_per_stream", "mem_vs_floor")
    return ScenarioResult(
        "gateway",
        f"6. Gateway: {n} concurrent streams x {cfg.gateway_tokens} tokens relayed "
        f"(upstream paced at {cfg.gateway_delay_ms:g} ms per token)",
        f"A relay process between the server and {n} concurrent SSE clients (one fanout process), "
        f"which each send an OpenAI chat request (stream i starts i/{n} of a token interval in, so that "
        "tokens arrive evenly spread) and read the answer to its end, text checked. The relay is pinned "
        "to a CPU of its own; the server and the fanout share the other. CPU µs/token: the relay "
        "process's CPU time (utime+stime from /proc, the streams' span plus 0.5 s after) / tokens "
        "relayed; tokens/s per core = 1e6 / that, what one core could relay. Latency per token: when "
        "the fanout has a token's text minus when the server wrote it (both CLOCK_MONOTONIC), over every "
        "token of every stream, p50 and p99; added = minus the same figure with no relay (the `direct` "
        "row: the server's writes, loopback and the fanout's own parsing). TTFT: from the request to the "
        "first text. KiB/stream: (the relay's peak RSS during the streams, sampled every 10 ms, minus "
        "its RSS after the warm-up) / streams. x floor: relative to the floor relay (lower is cheaper).",
        {
            "streams": n,
            "tokens": cfg.gateway_tokens,
            "token_delay_ms": cfg.gateway_delay_ms,
            "warmups": cfg.gateway_warmups,
            "reps": cfg.reps,
        },
        rows,
    )


SCENARIOS: dict[str, Callable[[Harness, Config, set[str] | None], ScenarioResult]] = {
    "single": single,
    "concurrent": concurrent,
    "ttft": ttft,
    "many": many,
    "linear": linear,
    "gateway": gateway,
}
