"""The gateway scenario's processes: a relay between the server and the fanout.

::

    benchmark server  <--  relay (the contender)  <--  fanout: N SSE clients
    (CPU A)                (CPU B, measured)            (CPU A)

For each contender and repetition the harness starts a fresh relay
process, waits until it serves, runs one fanout process
(:mod:`benchmarks.fanout`) against it, and stops the relay. The relays:

* ``direct``: no relay; the fanout reads the server itself. Not a
  contender: the reference for latency (what the measurement itself costs:
  the server's writes, loopback, the fanout's parsing).
* ``floor`` and ``sk-relay``: :mod:`benchmarks.relays`.
* ``litellm-proxy``: LiteLLM's proxy server (``litellm[proxy]``), started
  as its documented command line does (``python -m
  litellm.proxy.proxy_cli --config CONFIG --host 127.0.0.1 --port PORT
  --num_workers 1``: one uvicorn process), with a config that routes the
  aliases to the server as OpenAI-compatible deployments (``openai/``
  prefix, ``api_base``), ``drop_params: true`` and a random master key,
  and the environment ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (no price-list
  download), ``LITELLM_LOG=ERROR`` (no log line per request; uvicorn's
  access log off) and ``LITELLM_TELEMETRY_DISABLED=true`` (its usage
  telemetry, off unless turned on per LiteLLM's "Usage telemetry" docs,
  vetoed outright; the old ``--telemetry`` option is a no-op). Otherwise
  its defaults: uvloop, and its streaming wrapper and logging callbacks
  as they come.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .contenders import ContenderInfo
from .harness import REPO, Harness, Measurement, _child_env, _pin
from .wire import Spec, expected

__all__ = ["GATEWAY_CONTENDERS", "run_gateway"]

#: ``direct`` first (the reference), then the floor, then the relays compared with it.
GATEWAY_CONTENDERS: tuple[ContenderInfo, ...] = (
    ContenderInfo("direct", "no relay (reference: the measurement itself)", ("openai",)),
    ContenderInfo("floor", "floor: aiohttp relay, SSE lines forwarded", ("openai",)),
    ContenderInfo("sk-relay", "streamkit.web sse_response(ChatOpenAI.stream)", ("openai",)),
    ContenderInfo(
        "litellm-proxy",
        "LiteLLM proxy (litellm[proxy])",
        ("openai",),
        # Top-level names only: find_spec() of a dotted name imports its parent (litellm is slow to import).
        ("litellm", "fastapi", "uvicorn"),
    ),
)

#: The downstream wire format each relay speaks.
FORMATS = {"direct": "openai", "floor": "openai", "sk-relay": "streamkit", "litellm-proxy": "openai"}
RUN_ALIAS = "bench-run"
WARMUP_ALIAS = "bench-warmup"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class _Relay:
    root: str
    pid: int | None
    proc: subprocess.Popen[str] | None
    log: Path | None = None

    def close(self) -> None:
        proc = self.proc
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def log_tail(self) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text(errors="replace")[-1500:]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start_relay(
    key: str, upstream: str, models: dict[str, str], secret: str, cpu: int | None, workdir: Path
) -> _Relay:
    env = _child_env()
    if key == "direct":
        return _Relay(upstream, None, None)
    if key in ("floor", "sk-relay"):
        config = {"upstream": upstream, "models": models, "key": secret}
        log = workdir / f"{key}.log"
        with log.open("w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.relays", key, json.dumps(config)],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        _pin(proc.pid, cpu)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            proc.wait(10)
            raise RuntimeError(f"the {key} relay did not start: {log.read_text()[-800:]}")
        return _Relay(f"http://127.0.0.1:{json.loads(line)['port']}", proc.pid, proc, log)
    if key == "litellm-proxy":
        config_path = workdir / "litellm-config.yaml"
        config_doc = {
            "model_list": [
                {
                    "model_name": alias,
                    "litellm_params": {
                        "model": f"openai/{upstream_model}",
                        "api_base": f"{upstream}/v1",
                        "api_key": "bench",
                    },
                }
                for alias, upstream_model in models.items()
            ],
            "litellm_settings": {"drop_params": True},
            "general_settings": {"master_key": secret},
        }
        config_path.write_text(json.dumps(config_doc, indent=1))  # JSON is YAML
        env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        env["LITELLM_LOG"] = "ERROR"
        env["LITELLM_TELEMETRY_DISABLED"] = "true"
        port = _free_port()
        log = workdir / "litellm.log"
        command = [sys.executable, "-m", "litellm.proxy.proxy_cli", "--config", str(config_path)]
        command += ["--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
        with log.open("w") as out:
            proc = subprocess.Popen(
                command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, text=True
            )
        _pin(proc.pid, cpu)
        relay = _Relay(f"http://127.0.0.1:{port}", proc.pid, proc, log)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"LiteLLM's proxy exited with {proc.returncode}: {relay.log_tail()}")
            with contextlib.suppress(OSError, urllib.error.URLError):
                with _NO_PROXY.open(f"{relay.root}/health/liveliness", timeout=2) as resp:
                    if resp.status == 200:
                        return relay
            time.sleep(0.25)
        relay.close()
        raise RuntimeError(f"LiteLLM's proxy did not answer within 180 s: {relay.log_tail()}")
    raise KeyError(key)


def run_gateway(
    h: Harness,
    info: ContenderInfo,
    rep: int,
    *,
    spec: Spec,
    warmup: Spec,
    streams: int,
    warmups: int,
    relay_cpu: int | None,
    fanout_cpu: int | None,
) -> Measurement:
    """One measurement: a fresh relay process, one fanout process against it."""
    secret = "sk-" + secrets.token_hex(32)
    models = {RUN_ALIAS: spec.model(), WARMUP_ALIAS: warmup.model()}
    nonce = secrets.token_hex(6)
    t0 = time.perf_counter()
    data: dict[str, Any]
    with tempfile.TemporaryDirectory(prefix="streamkit-gateway-") as tmp:
        try:
            relay = _start_relay(info.key, h.server.root, models, secret, relay_cpu, Path(tmp))
        except Exception as exc:
            data = {"ok": False, "error": f"relay start: {exc}"}
        else:
            try:
                data = _fanout(h, relay, info, spec, warmup, warmups, streams, secret, nonce, fanout_cpu)
            finally:
                relay.close()
            if not data.get("ok") and relay.log:
                data["relay_log"] = relay.log_tail()
    elapsed = time.perf_counter() - t0
    want = {expected(spec): streams}
    problem = None
    if not data.get("ok"):
        problem = str(data.get("error"))
    elif data.get("digests") != want:
        problem = f"text mismatch: got {data.get('digests')}, want {want}"
        if data.get("stream_errors"):
            problem += f"; errors: {data['stream_errors']}"
    elif data.get("warmup_digests") != {expected(warmup): 2 * warmups}:
        problem = f"warm-up text mismatch: {data.get('warmup_digests')}"
    elif data.get("unmatched_streams"):
        problem = f"{data['unmatched_streams']} streams without send times to match"
    if problem:
        h.log.append(f"{info.key} [gateway] rep {rep}: {problem}")
    return Measurement(info.key, "openai", rep, data, problem is None, problem, streams, elapsed)


def _fanout(
    h: Harness,
    relay: _Relay,
    info: ContenderInfo,
    spec: Spec,
    warmup: Spec,
    warmups: int,
    streams: int,
    secret: str,
    nonce: str,
    cpu: int | None,
) -> dict[str, Any]:
    job = {
        "root": relay.root,
        "upstream": h.server.root,
        "format": FORMATS[info.key],
        "key": secret,
        "model": RUN_ALIAS if relay.pid is not None else spec.model(),
        "warmup_model": WARMUP_ALIAS if relay.pid is not None else warmup.model(),
        "spec": spec.model(),
        "streams": streams,
        "stagger_s": spec.token_delay_ms / 1000 / streams,
        "warmups": warmups,
        "nonce": nonce,
        "relay_pids": [relay.pid] if relay.pid is not None else [],
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.fanout", json.dumps(job)],
        cwd=REPO,
        env=_child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _pin(proc.pid, cpu)
    try:
        out, err = proc.communicate(timeout=h.timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return {"ok": False, "error": f"timed out after {h.timeout_s:g}s"}
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if proc.returncode == 0 and lines:
        data: dict[str, Any] = json.loads(lines[-1])
        return data
    return {"ok": False, "error": f"exit {proc.returncode}: {err.strip()[-800:]}"}
