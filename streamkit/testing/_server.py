"""A loopback mock server that speaks the providers' wire formats.

``MockServer`` is an aiohttp.web app on 127.0.0.1 (random port) that
answers OpenAI Chat Completions (``/v1/chat/completions``), legacy
Completions (``/v1/completions``) and Anthropic Messages (``/v1/messages``),
streaming and not, from scripted :class:`MockResponse` objects, and records
what it saw::

    async with MockServer() as server:
        server.enqueue(MockResponse(text="Hello there", chunk_size=3, delay=0.01))
        llm = ChatOpenAI(base_url=server.openai_base_url, api_key="test")
        print(await llm("hi"))
        server.requests[-1].json        # the body the client sent
        server.disconnects              # how many streams the client abandoned

With nothing enqueued it answers with a canned reply (the ``streamkit
demo`` uses that); a request for structured output (OpenAI
``response_format`` ``json_schema``, Anthropic ``output_config.format``,
or a tool forced with ``tool_choice``) gets an object that fits the schema
instead (:func:`example_value`). It never listens on anything but loopback.

Every chat request is checked first against the provider's request schema
for messages and content blocks (:mod:`streamkit.testing._validate`): one
the real API would reject gets the same HTTP 400 error body, without
using up a scripted response, and its ``RecordedRequest.rejection`` holds
that body. ``MockServer(validate=False)`` turns this off.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from aiohttp import web

from ._render import Answer, split_tokens
from .wire import MockWire

__all__ = ["MockResponse", "MockServer", "RecordedRequest", "canned_reply", "example_value", "split_tokens"]

_CANNED = {
    "sparkling water": (
        "Verse 1:\nBubbles rising, crisp and clear,\nSparkling water, always near.\n"
        "A fizzy friend on a summer day,\nYou wash the heat and thirst away.\n\n"
        "Chorus:\nOh sparkling water, light and bright,\nYou make the ordinary feel just right."
    ),
    "joke": "Why did the scarecrow win an award? Because he was outstanding in his field.",
}


def canned_reply(prompt: str) -> str:
    """The mock's default answer to a prompt (deterministic)."""
    lowered = prompt.lower()
    for key, reply in _CANNED.items():
        if key in lowered:
            return reply
    return f"This is the streamkit mock server answering: {prompt.strip()[:200]}"


def example_value(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """A small value that fits a JSON schema (the mock's answer to a structured-output request).

    Follows local ``$ref``s, ``const``/``enum`` (the first value),
    ``anyOf``/``oneOf``/``allOf`` (the first non-null branch), and gives
    every property of an object, one item per array, ``"mock"`` for a
    string, 1 for a number. Not a schema validator: enough for the mock.
    """
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > 32:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        return example_value(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        branches = [b for b in schema.get(key) or () if isinstance(b, dict) and b.get("type") != "null"]
        if branches:
            return example_value(branches[0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        return {name: example_value(sub, root, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        return [example_value(schema.get("items") or {}, root, depth + 1)]
    return {"string": "mock", "integer": 1, "number": 1, "boolean": True}.get(str(kind))


def _structured_answer(body: dict[str, Any], script: MockResponse) -> MockResponse:
    """``script`` answering a structured-output request with a fitting object, when it scripts nothing."""
    if script.text is not None or script.tokens is not None or script.choices or script.tool_calls:
        return script
    if script.refusal or script.raw is not None:
        return script
    response_format = body.get("response_format")
    config = body.get("output_config")
    output_format = config.get("format") if isinstance(config, dict) else None
    for fmt, key in ((response_format, "json_schema"), (output_format, None)):
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            holder = fmt.get(key) if key else fmt
            schema = holder.get("schema") if isinstance(holder, dict) else None
            return replace(script, text=json.dumps(example_value(schema)))
    choice = body.get("tool_choice")
    name = None
    if isinstance(choice, dict):
        name = choice.get("name") or (choice.get("function") or {}).get("name")
    for tool in body.get("tools") or ():
        if not isinstance(tool, dict):
            continue
        spec = tool.get("function") if tool.get("type") == "function" else tool
        if isinstance(spec, dict) and name and spec.get("name") == name:
            schema = spec.get("parameters", spec.get("input_schema"))
            return replace(script, tool_calls=[{"name": name, "args": example_value(schema)}])
    return script


@dataclass
class MockResponse:
    """One scripted answer.

    * ``text`` / ``tokens``: the answer (``tokens`` fixes the split; default
      splits ``text`` into words). ``choices`` gives one text per choice (n>1);
      without it, a request's ``n`` choices each give the same answer.
    * ``tool_calls``: ``[{"name": ..., "args": {...}, "id": optional}]``,
      streamed after the text, the arguments' JSON in three pieces (or
      ``"fragments": [...]`` instead of ``args``: exactly those pieces, even
      if they are not valid JSON); ``thinking``: reasoning text streamed first.
    * ``refusal``: an OpenAI ``refusal`` (structured outputs), streamed word
      by word instead of content (OpenAI only).
    * ``blocks`` (Anthropic): the answer's content blocks, in order, written
      as a non-streaming response shows them (``text`` with ``citations``,
      ``thinking`` with its ``signature``, ``redacted_thinking``,
      ``tool_use``, ``server_tool_use``, ``web_search_tool_result`` and any
      other server-tool result); streamed the way the API streams each
      (text word by word after a ``citations_delta`` per citation, thinking
      then its ``signature_delta``, tool input as ``input_json_delta``
      pieces, the rest whole). Replaces ``text``/``thinking``/``tool_calls``.
    * ``content_parts`` (OpenAI chat): send ``delta.content`` as a list of
      typed parts, as Mistral's reasoning models do (``thinking`` parts
      holding text parts, then ``text`` parts).
    * ``annotations`` (OpenAI chat): ``url_citation`` annotations, sent in a
      delta after the text, as OpenAI's search models do.
    * ``finish_reason``, ``model``, ``usage`` (default: counted from tokens).
    * ``chunk_size``: bytes per network write (``None``: one write per event);
      ``random_chunks``: a seed for random write sizes (1..64 bytes).
    * ``delay``: seconds before each token event.
    * ``status``/``error``/``headers``: answer with an HTTP error instead
      (a JSON error body, ``error`` or a default one); with ``raw`` set, the
      error response sends those exact bytes instead, with ``content_type``
      and chunked as above (an error body that arrives in many pieces, a
      plain-text one...).
    * ``raw``: send these exact body bytes (a recorded stream), chunked as
      above, with ``content_type`` (``application/json`` for a JSON body).

    Faults, for testing what your code does when things go wrong (the
    event counts include the stream's first, metadata-only events):

    * ``drop_after``: close the connection abruptly after this many events;
    * ``stall_after`` / ``stall_for``: go silent for ``stall_for`` seconds
      after this many events, sending a keep-alive (an SSE comment, or an
      Anthropic ``ping``) every ``keepalive_every`` seconds if set;
    * ``error_after`` / ``error_type``: send the provider's in-stream error
      event (e.g. ``overloaded_error``) after this many events, then end;
    * ``malformed_after``: send an event whose JSON is broken, then carry on;
    * ``truncate_after``: end the body cleanly after this many events,
      without the terminal marker;
    * ``status`` with ``headers={"retry-after": "1"}``: an HTTP error (use
      :meth:`MockServer.enqueue_failures` for "fail N times, then succeed");
    * ``delay`` with ``chunk_size=1``: a slow drip; a huge ``text`` token
      with no spaces: a huge line.

    What the server does once every byte of the body has been written
    (``after_body``; default ``None``: end the body properly, the final
    zero-length chunk of chunked encoding included):

    * ``"abort"``: close the TCP connection without writing the final
      zero-length chunk, so the client sees an unterminated body (the bytes
      already written are flushed first; the close is a FIN, as a server
      process exiting or a proxy dropping the connection gives);
    * ``"hold"``: keep the connection open, silent, for ``hold_for``
      seconds, then end the body properly (a server or proxy that is slow to
      close after the last event). A client that closes first ends the hold
      at once (it counts in ``disconnects``).
    """

    text: str | None = None
    tokens: list[str] | None = None
    choices: list[str] | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    thinking: str | None = None
    refusal: str | None = None
    blocks: list[dict[str, Any]] | None = None
    content_parts: bool = False
    annotations: list[dict[str, Any]] | None = None
    finish_reason: str = "stop"
    model: str | None = None
    usage: dict[str, int] | None = None
    chunk_size: int | None = None
    random_chunks: int | None = None
    delay: float = 0.0
    status: int = 200
    error: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "text/event-stream"
    drop_after: int | None = None
    stall_after: int | None = None
    stall_for: float = 0.0
    keepalive_every: float | None = None
    error_after: int | None = None
    error_type: str = "overloaded_error"
    error_message: str = "Overloaded"
    malformed_after: int | None = None
    truncate_after: int | None = None
    after_body: Literal["abort", "hold"] | None = None
    hold_for: float = 0.0


@dataclass
class RecordedRequest:
    """What the mock server received."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    #: The client's (host, port): the same port twice means a reused connection.
    peer: tuple[str, int] | None = None
    #: The 400 error body sent back when the request broke the provider's schema.
    rejection: dict[str, Any] | None = None


class MockServer:
    """The loopback mock server; an async context manager (``start``/``close``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, validate: bool = True) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("MockServer only listens on loopback")
        self.host = host
        self.port = port
        #: Answer a request the real API would reject with its 400 error (see the module doc).
        self.validate = validate
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.completed = 0
        self.active = 0
        self._script: deque[MockResponse] = deque()
        #: Optional ``fn(request) -> MockResponse | None`` consulted before the
        #: queue: scripts by request content, for concurrent clients.
        self.responder: Callable[[RecordedRequest], MockResponse | None] | None = None
        self._runner: web.AppRunner | None = None
        self._disconnected = asyncio.Event()
        self.app = web.Application()
        #: Every registered provider's wire, by name (``streamkit.providers.register``).
        self.wires: dict[str, MockWire] = {}
        from ..providers import entries

        for entry in entries():
            for wire in entry.mock_wires():
                self.wires[wire.name] = wire
                for route in wire.routes:
                    self.app.router.add_post(route, self._handler(wire))

    # -- lifecycle -----------------------------------------------------

    async def start(self) -> MockServer:
        # handler_cancellation: a client that goes away cancels its handler
        # at once, which is how ``disconnects`` is counted.
        self._runner = web.AppRunner(
            self.app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        # The bound port, from the runner's public ``addresses`` (one
        # ``(host, port, ...)`` per listening socket).
        addresses = self._runner.addresses
        if not addresses:  # pragma: no cover - start() raises if it cannot bind
            raise RuntimeError("MockServer did not bind")
        self.port = int(addresses[0][1])
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> MockServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """The ``base_url`` for ``OpenAI``/``ChatOpenAI`` (with ``/v1``)."""
        return f"{self.url}/v1"

    def base_url_for(self, provider: str) -> str:
        """The ``base_url`` for a registered provider's models (``"gemini"``, ``"ollama"``...).

        Raises ``KeyError`` for a name the registry (``streamkit.providers``) does not know.
        """
        from ..providers import get

        wires = get(provider).mock_wires()
        if not wires:
            raise KeyError(f"provider {provider!r} has no mock wire")
        return self.url + wires[0].base_path

    @property
    def anthropic_base_url(self) -> str:
        """The ``base_url`` for ``Anthropic``/``ChatAnthropic`` (no ``/v1``, as in Anthropic's SDK)."""
        return self.url

    # -- scripting -----------------------------------------------------

    def enqueue(self, *responses: MockResponse) -> None:
        """Answer the next requests with these, in order."""
        self._script.extend(responses)

    def enqueue_failures(
        self,
        times: int,
        status: int = 503,
        *,
        retry_after: float | None = None,
        then: MockResponse | None = None,
    ) -> None:
        """Fail the next ``times`` requests with ``status`` (and a ``retry-after``), then answer ``then``."""
        headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
        for _ in range(times):
            self._script.append(MockResponse(status=status, headers=dict(headers)))
        if then is not None:
            self._script.append(then)

    async def wait_for_disconnect(self, within: float = 2.0) -> bool:
        """Wait until a client abandons a stream; True if one did in time."""
        try:
            await asyncio.wait_for(self._disconnected.wait(), within)
        except TimeoutError:
            return False
        self._disconnected.clear()
        return True

    # -- handlers ------------------------------------------------------

    def _handler(self, wire: MockWire) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            body, script = await self._record(request, lambda r: wire.check(r.json, r.headers))
            return await self._answer(request, body, script, wire)

        return handle

    async def _record(
        self,
        request: web.Request,
        check: Callable[[RecordedRequest], dict[str, Any] | None] | None = None,
    ) -> tuple[Any, MockResponse]:
        try:
            body = await request.json()
        except ValueError:
            body = None
        peer = request.transport.get_extra_info("peername") if request.transport else None
        recorded = RecordedRequest(
            request.method,
            request.path,
            dict(request.headers),
            body,
            (peer[0], peer[1]) if peer else None,
        )
        self.requests.append(recorded)
        if self.validate and check is not None:
            recorded.rejection = check(recorded)
            if recorded.rejection is not None:
                # As the real API: rejected before anything else, the script left for the next request.
                return body, MockResponse(status=400, error=recorded.rejection)
        chosen = self.responder(recorded) if self.responder is not None else None
        if chosen is not None:
            return body, chosen
        script = self._script.popleft() if self._script else MockResponse()
        return body, script

    def _error_body(self, script: MockResponse, wire: MockWire) -> dict[str, Any]:
        if script.error is not None:
            return script.error
        return wire.error_body(script.status, f"mock error {script.status}")

    async def _answer(
        self, request: web.Request, body: Any, script: MockResponse, wire: MockWire
    ) -> web.StreamResponse:
        if script.status >= 400:
            if script.raw is not None:
                return await self._stream(request, script, [(script.raw, False)], wire)
            return web.json_response(
                self._error_body(script, wire), status=script.status, headers=script.headers
            )
        body = body if isinstance(body, dict) else {}
        prompt = wire.prompt(body)
        script = _structured_answer(body, script)
        texts = script.choices or [script.text if script.text is not None else canned_reply(prompt)]
        if (script.tool_calls or script.refusal) and script.text is None and not script.choices:
            texts = [""]
        n = body.get("n")
        if isinstance(n, int) and n > 1 and not script.choices and texts[0] and script.tokens is None:
            texts = texts * n  # n choices asked for, one answer scripted: each choice gives it
        token_lists = [script.tokens] if script.tokens is not None else [split_tokens(t) for t in texts]
        usage = (
            dict(script.usage)
            if script.usage
            else {
                "prompt_tokens": max(1, len(prompt.split())),
                "completion_tokens": sum(len(t) for t in token_lists) + len(script.tool_calls),
            }
        )
        usage.setdefault("total_tokens", usage["prompt_tokens"] + usage["completion_tokens"])
        finish = wire.finish(script.finish_reason, bool(script.tool_calls))
        answer = Answer(
            model=script.model or str(body.get("model") or "mock-model"),
            token_lists=token_lists,
            finish_reason=finish,
            usage=usage,
            tool_calls=script.tool_calls,
            thinking=split_tokens(script.thinking) if script.thinking else [],
            refusal=split_tokens(script.refusal) if script.refusal else [],
            blocks=script.blocks,
            content_parts=script.content_parts,
            annotations=script.annotations or [],
        )
        streaming = wire.streaming(request.path, request.query, body)
        if script.raw is not None:
            events: list[tuple[bytes, bool]] = [(script.raw, False)]
        elif not streaming:
            return web.json_response(wire.full(answer, body), headers=script.headers)
        else:
            events = list(wire.events(answer, body))
            if script.content_type == "text/event-stream":  # the default: the wire's own
                script = replace(script, content_type=wire.content_type)
        return await self._stream(request, script, events, wire)

    async def _stall(self, resp: web.StreamResponse, script: MockResponse, wire: MockWire) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + script.stall_for
        keepalive = wire.keepalive
        while (left := end - loop.time()) > 0:
            if script.keepalive_every:
                await asyncio.sleep(min(left, script.keepalive_every))
                if end - loop.time() > 0 and keepalive:
                    await resp.write(keepalive)
            else:
                await asyncio.sleep(left)

    async def _stream(
        self, request: web.Request, script: MockResponse, events: list[tuple[bytes, bool]], wire: MockWire
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            status=script.status,
            headers={"Content-Type": script.content_type, "Cache-Control": "no-cache", **script.headers},
        )
        self.active += 1
        try:
            await resp.prepare(request)
            rng = random.Random(script.random_chunks) if script.random_chunks is not None else None
            chunked = rng is not None or bool(script.chunk_size)
            for count, (data, is_token) in enumerate(events):
                if script.drop_after is not None and count >= script.drop_after:
                    assert request.transport is not None
                    request.transport.close()
                    return resp
                if count == script.truncate_after:
                    break
                if count == script.stall_after:
                    await self._stall(resp, script, wire)
                if count == script.malformed_after:
                    await resp.write(b'data: {"choices": [{"delta": {"content": "br\n\n')
                if count == script.error_after:
                    await resp.write(wire.error_event(script.error_type, script.error_message))
                    break
                if is_token and script.delay:
                    await asyncio.sleep(script.delay)
                for piece in _pieces(data, script.chunk_size, rng):
                    await resp.write(piece)
                    if chunked:
                        # Give the loop a turn so each piece leaves as its own
                        # segment; back-to-back writes get coalesced on loopback
                        # and the client would see one read whatever the size.
                        await asyncio.sleep(0)
                        await asyncio.sleep(0)
            if script.after_body == "abort":
                # No write_eof(): the final zero-length chunk never goes out.
                # close() (not abort()) so the bytes already written are sent first.
                assert request.transport is not None
                request.transport.close()
                return resp
            if script.after_body == "hold":
                await asyncio.sleep(script.hold_for)
            await resp.write_eof()
            self.completed += 1
            return resp
        except (asyncio.CancelledError, ConnectionResetError):
            self.disconnects += 1
            self._disconnected.set()
            raise
        finally:
            self.active -= 1


def _pieces(data: bytes, size: int | None, rng: random.Random | None) -> Iterator[bytes]:
    if rng is not None:
        pos = 0
        while pos < len(data):
            step = rng.randint(1, 64)
            yield data[pos : pos + step]
            pos += step
    elif size:
        for pos in range(0, len(data), size):
            yield data[pos : pos + size]
    else:
        yield data
