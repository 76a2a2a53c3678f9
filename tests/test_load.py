"""Load: 1,000 concurrent streams against the loopback server, with a fault mix.

Every completed stream's text must be exact; every failed one must have
raised a typed error whose partial text is what the consumer had received
(a prefix of the answer); afterwards no connection is checked out, the
server has seen every abandoned stream's connection close (not just time
out on its own), and no task is left. Bounded in time; figures go to
``artifacts/load.json``.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest
from loopback import client_tasks_left

from streamkit import ChatAnthropic, ChatOpenAI, StreamkitError
from streamkit.deadlines import Timeouts
from streamkit.models import ChatModel
from streamkit.testing import MockResponse, MockServer, RecordedRequest

# slow: left out of CI's other-Python jobs (a minute of load); the main job runs it.
pytestmark = pytest.mark.slow

STREAMS = 1000
# A stalled answer stays silent longer than the whole test may run, so its
# server handler can only end because the client closed the connection.
STALL_FOR = 300.0
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"

# fault -> (share of the streams, how the stream must end)
MIX: dict[str, tuple[int, str]] = {
    "ok": (70, "ok"),
    "drop mid-stream": (8, "error"),
    "in-stream error mid-stream": (6, "error"),
    "503 once, then ok": (6, "ok"),  # retried: nothing was shown yet
    "drop before first token, then ok": (4, "ok"),
    "stall past the idle deadline": (3, "error"),
    "malformed JSON": (3, "error"),
}


def plan(i: int) -> str:
    slot = i % 100
    for fault, (share, _) in MIX.items():
        if slot < share:
            return fault
        slot -= share
    raise AssertionError("shares add up to 100")


def answer(i: int) -> str:
    return " ".join(f"s{i}w{k}" for k in range(12 + i % 9))


def responder(provider_of: dict[int, str]) -> Any:
    attempts: Counter[int] = Counter()
    first = {"openai": 1, "anthropic": 3}

    def respond(request: RecordedRequest) -> MockResponse:
        messages = request.json["messages"]
        i = int(messages[-1]["content"].split()[-1])
        attempts[i] += 1
        fault = plan(i)
        start = first[provider_of[i]]
        text = answer(i)
        if fault == "ok" or (attempts[i] > 1 and MIX[fault][1] == "ok"):
            return MockResponse(text=text, chunk_size=48)
        # Faults meant to fail do so on every attempt: should a loaded loop make
        # a request time out before its first token and be retried, the retry
        # meets the same fault, so the outcome never depends on timing.
        return {
            "drop mid-stream": MockResponse(text=text, drop_after=start + 4),
            "in-stream error mid-stream": MockResponse(text=text, error_after=start + 3),
            "503 once, then ok": MockResponse(status=503, headers={"retry-after": "0.05"}),
            "drop before first token, then ok": MockResponse(text=text, drop_after=start),
            "stall past the idle deadline": MockResponse(
                text=text, stall_after=start + 2, stall_for=STALL_FOR
            ),
            "malformed JSON": MockResponse(text=text, malformed_after=start + 5),
        }[fault]

    return respond


async def test_thousand_concurrent_streams_with_faults() -> None:
    before_tasks = set(asyncio.all_tasks())
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    provider_of = {i: ("openai" if i % 2 else "anthropic") for i in range(STREAMS)}
    outcomes: dict[int, tuple[str, list[str], BaseException | None]] = {}
    async with MockServer() as server:
        server.responder = responder(provider_of)
        # Generous deadlines: one loop serves both ends of 1,000 streams. The
        # stalling streams get a short idle deadline per call.
        timeouts = Timeouts(connect=10.0, idle=15.0, total=60.0)
        models: dict[str, ChatModel] = {
            "openai": ChatOpenAI(base_url=server.openai_base_url, api_key="k", timeout=timeouts),
            "anthropic": ChatAnthropic(base_url=server.anthropic_base_url, api_key="k", timeout=timeouts),
        }

        async def one(i: int) -> None:
            tokens: list[str] = []
            try:
                options: dict[str, Any] = {}
                if plan(i) == "stall past the idle deadline":
                    options["timeout"] = Timeouts(idle=2.0, total=60.0)
                async with models[provider_of[i]].stream(f"stream {i}", **options) as stream:
                    async for token in stream:
                        tokens.append(token)
            except StreamkitError as exc:
                outcomes[i] = ("error", tokens, exc)
            else:
                outcomes[i] = ("ok", tokens, None)

        started = time.perf_counter()
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for i in range(STREAMS):
                    tg.start_soon(one, i)
        wall = time.perf_counter() - started
        for model in models.values():
            connector = model.transport.session.connector
            assert connector is not None
            assert len(connector._acquired) == 0  # type: ignore[attr-defined]  # nothing checked out
        # The server learns of a close a few loop turns after the client made it
        # (connection_lost, then the handler is cancelled), so wait for that
        # rather than sample it: sampled at once, an abandoned stall that ended
        # last was still counted active. The pools are still open here, so only
        # the client's own closes can end the stalled handlers (STALL_FOR).
        with anyio.fail_after(30):  # a hang guard: this takes loop turns, or never happens
            while server.active:
                await asyncio.sleep(0.01)
        for model in models.values():
            await model.aclose()
        requests = len(server.requests)

    errors: Counter[str] = Counter()
    tokens_total = 0
    for i in range(STREAMS):
        status, tokens, error = outcomes[i]
        expected_status = MIX[plan(i)][1]
        assert status == expected_status, (i, plan(i), error)
        tokens_total += len(tokens)
        if status == "ok":
            assert "".join(tokens) == answer(i), i
        else:
            assert isinstance(error, StreamkitError)
            errors[type(error).__name__] += 1
            assert error.partial_result is not None
            partial = error.partial_result.generations[0][0].text
            assert partial == "".join(tokens), (i, plan(i))  # nothing the consumer saw is lost
            assert answer(i).startswith(partial), (i, plan(i))
    assert not client_tasks_left(before_tasks)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    figures = {
        "streams": STREAMS,
        "requests": requests,
        "faults": {fault: sum(1 for i in range(STREAMS) if plan(i) == fault) for fault in MIX},
        "errors_by_type": dict(errors),
        "tokens_received": tokens_total,
        "wall_seconds": round(wall, 2),
        "peak_rss_mib": round(rss_after / 1024, 1),
        "peak_rss_growth_mib": round((rss_after - rss_before) / 1024, 1),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "load.json").write_text(json.dumps(figures, indent=2))
    assert errors["APIConnectionError"] and errors["OverloadedError"] and errors["APITimeoutError"]
    assert errors["ProtocolError"]
