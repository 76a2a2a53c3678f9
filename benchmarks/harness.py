"""Starting the server and the client processes, checking every text.

The harness itself does no streaming: it starts the server process once,
asks it to pre-render each scenario's bodies, then starts one client
process per contender, scenario and repetition (``python -m
benchmarks.client``), waits for its JSON line and compares every reported
text digest with the expected one.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .contenders import ContenderInfo
from .wire import Provider, Spec, expected

__all__ = ["REPO", "Harness", "Measurement", "ServerProcess"]

REPO = Path(__file__).resolve().parent.parent
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _child_env() -> dict[str, str]:
    """The environment for child processes: loopback only, no tracing."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["LANGSMITH_TRACING"] = env["LANGCHAIN_TRACING_V2"] = "false"
    env.pop("OPENAI_BASE_URL", None)
    env.pop("ANTHROPIC_BASE_URL", None)
    env.pop("GOOGLE_GEMINI_BASE_URL", None)
    env.pop("OLLAMA_HOST", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def _pin(pid: int, cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, {cpu})


class ServerProcess:
    """``python -m benchmarks.server`` in its own process, on 127.0.0.1."""

    def __init__(self, cpu: int | None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.server", "--port", "0", "--backlog", "4096"],
            cwd=REPO,
            env=_child_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        _pin(self.proc.pid, cpu)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.kill()
            raise RuntimeError("the benchmark server did not start")
        info = json.loads(line)
        self.port: int = info["port"]
        self.nofile: int = info["nofile"]
        self.root = f"http://127.0.0.1:{self.port}"

    def call(self, path: str, payload: dict[str, Any] | None = None, timeout: float = 300.0) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(
            self.root + path, data=data, headers={"Content-Type": "application/json"}
        )
        with _NO_PROXY.open(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    def prepare(self, spec: Spec, providers: tuple[Provider, ...]) -> dict[str, int]:
        """Render the bodies now (not during a measurement); their sizes in bytes."""
        sizes: dict[str, int] = self.call("/_prepare", {"model": spec.model(), "providers": list(providers)})[
            "bytes"
        ]
        return sizes

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Measurement:
    """One client process's report, with the harness's verdict on its text."""

    contender: str
    provider: Provider
    rep: int
    data: dict[str, Any]
    exact: bool
    problem: str | None = None
    streams: int = 1
    elapsed_s: float = 0.0


@dataclass
class Harness:
    server: ServerProcess
    client_cpu: int | None
    timeout_s: float
    log: list[str] = field(default_factory=list)
    #: The server's CPU (the gateway scenario's fanout runs there too).
    server_cpu: int | None = None

    def run_client(
        self,
        info: ContenderInfo,
        provider: Provider,
        rep: int,
        *,
        mode: str,
        spec: Spec,
        warmup: Spec | None,
        warmups: int = 1,
        streams: int = 1,
        requests: int = 1,
    ) -> Measurement:
        job = {
            "mode": mode,
            "contender": info.key,
            "provider": provider,
            "root": self.server.root,
            "model": spec.model(),
            "warmup_model": warmup.model() if warmup else None,
            "warmups": warmups if warmup else 0,
            "streams": streams,
            "requests": requests,
            "release_nonce": spec.nonce if spec.barrier else None,
        }
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.client", json.dumps(job)],
            cwd=REPO,
            env=_child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _pin(proc.pid, self.client_cpu)
        try:
            out, err = proc.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            data: dict[str, Any] = {"ok": False, "error": f"timed out after {self.timeout_s:g}s"}
        else:
            lines = [line for line in out.splitlines() if line.startswith("{")]
            if proc.returncode == 0 and lines:
                data = json.loads(lines[-1])
            else:
                data = {"ok": False, "error": f"exit {proc.returncode}: {err.strip()[-800:]}"}
        elapsed = time.perf_counter() - t0
        count = streams if mode == "parallel" else requests if mode == "ttft" else 1
        want = {expected(spec): count}
        problem = None
        if not data.get("ok"):
            problem = str(data.get("error"))
        elif data.get("digests") != want:
            problem = f"text mismatch: got {data.get('digests')}, want {want}"
            if data.get("stream_errors"):
                problem += f"; errors: {data['stream_errors']}"
        elif warmup is not None and data.get("warmup_digests") != {expected(warmup): warmups}:
            problem = f"warm-up text mismatch: {data.get('warmup_digests')}"
        if problem:
            self.log.append(f"{info.key} [{provider}] rep {rep}: {problem}")
        return Measurement(info.key, provider, rep, data, problem is None, problem, count, elapsed)
