"""The loopback server: its own process, pre-rendered SSE bodies.

    python -m benchmarks.server [--port 0] [--backlog 4096]

Prints one JSON line, ``{"port": N}``, once it listens on 127.0.0.1, then
serves until killed:

* ``POST /v1/chat/completions``: an OpenAI Chat Completions stream;
* ``POST /v1/messages``: an Anthropic Messages stream;
* ``POST /v1/responses``: an OpenAI Responses API stream;
* ``POST /v1beta/models/{model}:streamGenerateContent?alt=sse``: a Gemini
  stream (the model, URL-quoted or not, in the path; the body has none);
* ``POST /api/chat``: an Ollama NDJSON stream (``stream`` defaults to true,
  as in Ollama);
* ``POST /_prepare`` ``{"model": ...}``: render a spec's bodies now, so that
  no measurement pays for it; ``POST /_reset`` drops them all;
* ``POST /_release`` ``{"nonce": ...}``: let the streams held at a barrier
  (see ``Spec.barrier``) go on;
* ``GET /_stats``: requests served, streams open now and at most;
* ``POST /_stamps`` ``{"prefix": ...}``: the send times of the paced
  streams whose prompt carried a stream tag starting with ``prefix`` (see
  :func:`benchmarks.wire.stream_tag`), and forget them: ``{tag: [ns, ...]}``,
  one ``time.monotonic_ns()`` per token, taken just before its bytes are
  written (the gateway scenario's latency per token).

The request's ``model`` is a :class:`benchmarks.wire.Spec`; the bodies are
rendered once per spec and cached (see :mod:`benchmarks.wire`). A request
that does not ask for a stream gets a 400.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time

from aiohttp import web

from .wire import PROVIDERS, Provider, Rendered, Spec, render, stream_tag

__all__ = ["main", "raise_nofile_limit"]


def raise_nofile_limit() -> int:
    """Raise the soft open-files limit to the hard one; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


class _Barrier:
    """Holds streams until the client says it holds all of them (or on timeout)."""

    def __init__(self) -> None:
        self.arrived = 0
        self.event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        self.arrived += 1
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except TimeoutError:
            self.event.set()  # give up waiting: release everyone


class BenchServer:
    def __init__(self) -> None:
        self.cache: dict[tuple[Provider, tuple[int, int, int]], Rendered] = {}
        self.barriers: dict[str, _Barrier] = {}
        self.served = 0
        self.open = 0
        self.peak_open = 0
        self.stamps: dict[str, list[int]] = {}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/v1/chat/completions", self.openai)
        app.router.add_post("/v1/messages", self.anthropic)
        app.router.add_post("/v1/responses", self.openai_responses)
        app.router.add_post("/v1beta/models/{call}", self.gemini)
        app.router.add_post("/api/chat", self.ollama)
        app.router.add_post("/_prepare", self.prepare)
        app.router.add_post("/_reset", self.reset)
        app.router.add_post("/_release", self.release)
        app.router.add_get("/_stats", self.stats)
        app.router.add_post("/_stamps", self.take_stamps)
        return app

    def rendered(self, provider: Provider, spec: Spec) -> Rendered:
        key = (provider, spec.content_key)
        body = self.cache.get(key)
        if body is None:
            body = self.cache[key] = render(provider, spec)
        return body

    async def prepare(self, request: web.Request) -> web.Response:
        payload = await request.json()
        spec = Spec.from_model(payload["model"])
        sizes = {p: len(self.rendered(p, spec).body) for p in payload.get("providers", PROVIDERS)}
        return web.json_response({"bytes": sizes})

    async def reset(self, request: web.Request) -> web.Response:
        self.cache.clear()
        self.barriers.clear()
        self.peak_open = self.open
        return web.json_response({"ok": True})

    async def release(self, request: web.Request) -> web.Response:
        nonce = (await request.json())["nonce"]
        barrier = self._barrier(nonce)
        barrier.event.set()
        return web.json_response({"arrived": barrier.arrived})

    def _barrier(self, nonce: str) -> _Barrier:
        barrier = self.barriers.get(nonce)
        if barrier is None:
            barrier = self.barriers[nonce] = _Barrier()
        return barrier

    async def take_stamps(self, request: web.Request) -> web.Response:
        prefix = (await request.json())["prefix"]
        taken = {tag: self.stamps.pop(tag) for tag in [t for t in self.stamps if t.startswith(prefix)]}
        return web.json_response(taken)

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({"served": self.served, "open": self.open, "peak_open": self.peak_open})

    async def openai(self, request: web.Request) -> web.StreamResponse:
        return await self.stream(
            request, "openai", {"x-request-id": "req_bench", "openai-processing-ms": "1"}
        )

    async def anthropic(self, request: web.Request) -> web.StreamResponse:
        return await self.stream(request, "anthropic", {"request-id": "req_bench"})

    async def openai_responses(self, request: web.Request) -> web.StreamResponse:
        return await self.stream(
            request, "openai-responses", {"x-request-id": "req_bench", "openai-processing-ms": "1"}
        )

    async def gemini(self, request: web.Request) -> web.StreamResponse:
        # ``models/{model}:streamGenerateContent``: the model is the path segment up to its last colon.
        model, _, method = request.match_info["call"].rpartition(":")
        streaming = method == "streamGenerateContent" and request.query.get("alt") == "sse"
        return await self.stream(request, "gemini", {"server-timing": "gfet4t7; dur=1"}, model, streaming)

    async def ollama(self, request: web.Request) -> web.StreamResponse:
        return await self.stream(request, "ollama", {}, stream_default=True)

    async def stream(
        self,
        request: web.Request,
        provider: Provider,
        extra: dict[str, str],
        model: str | None = None,
        streaming: bool | None = None,
        *,
        stream_default: bool = False,
    ) -> web.StreamResponse:
        """Send ``provider``'s pre-rendered body for the spec named by ``model`` (else the body's ``model``).

        ``streaming`` (else the body's ``stream``, default ``stream_default``)
        must be true: the benchmark server only streams.
        """
        payload = json.loads(await request.read())
        if streaming is None:
            streaming = bool(payload.get("stream", stream_default))
        if not streaming:
            return web.json_response({"error": {"message": "the benchmark server only streams"}}, status=400)
        spec = Spec.from_model(model if model is not None else payload["model"])
        rendered = self.rendered(provider, spec)
        tag = stream_tag(payload) if spec.token_delay_ms else None
        stamps: list[int] | None = None
        if tag is not None:
            stamps = self.stamps[tag] = []
        body = rendered.body
        resp = web.StreamResponse(
            headers={"Content-Type": rendered.content_type, "Cache-Control": "no-cache", **extra}
        )
        self.served += 1
        self.open += 1
        self.peak_open = max(self.peak_open, self.open)
        try:
            await resp.prepare(request)
            pos = 0
            if spec.first_delay_ms or spec.token_delay_ms or spec.barrier:
                await resp.write(body[: rendered.head_end])
                pos = rendered.head_end
                if spec.first_delay_ms:
                    await asyncio.sleep(spec.first_delay_ms / 1000)
            if spec.token_delay_ms:
                delay = spec.token_delay_ms / 1000
                for i, end in enumerate(rendered.ends):
                    if i:
                        await asyncio.sleep(delay)
                    if stamps is not None:
                        stamps.append(time.monotonic_ns())
                    await resp.write(body[pos:end])
                    pos = end
                    if i == 0 and spec.barrier:
                        await self.barrier(spec)
            elif spec.barrier and rendered.ends:
                end = rendered.ends[0]
                await resp.write(body[pos:end])
                pos = end
                await self.barrier(spec)
            step = spec.write_size
            view = memoryview(body)
            for start in range(pos, len(body), step):
                await resp.write(view[start : start + step])
            await resp.write_eof()
        finally:
            self.open -= 1
        return resp

    async def barrier(self, spec: Spec) -> None:
        await self._barrier(spec.nonce).wait(spec.barrier_timeout_s)


async def serve(port: int, backlog: int) -> None:
    server = BenchServer()
    runner = web.AppRunner(server.app(), access_log=None, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=backlog)
    await site.start()
    bound = runner.addresses[0][1]
    print(json.dumps({"port": bound, "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--backlog", type=int, default=4096)
    args = parser.parse_args(argv)
    raise_nofile_limit()
    try:
        asyncio.run(serve(args.port, args.backlog))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
