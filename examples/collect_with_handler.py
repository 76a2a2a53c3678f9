"""Stream many prompts concurrently with an async handler, then read the full result.

python examples/collect_with_handler.py
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from typing import Any
from uuid import UUID

from streamkit import OpenAI
from streamkit.callbacks import AsyncCallbackHandler
from streamkit.testing import MockServer


class PerRun(AsyncCallbackHandler):
    """Keeps the tokens of each concurrent run apart, by run_id."""

    def __init__(self) -> None:
        self.tokens: dict[UUID, list[str]] = defaultdict(list)

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens[kwargs["run_id"]].append(token)


async def run(base_url: str | None, api_key: str | None) -> None:
    handler = PerRun()
    prompts = ["Tell me a joke.", "Write me a song about sparkling water.", "Say hi."]
    async with OpenAI(streaming=True, callbacks=[handler], base_url=base_url, api_key=api_key) as llm:
        result = await llm.generate(prompts, max_concurrency=3)
    for prompt, generations, run_info in zip(prompts, result.generations, result.run or [], strict=False):
        streamed = "".join(handler.tokens[run_info.run_id])
        assert streamed == generations[0].text
        print(f"{prompt!r}: {len(handler.tokens[run_info.run_id])} tokens, {generations[0].text[:40]!r}...")
    print("token_usage:", result.llm_output["token_usage"] if result.llm_output else None)


async def main() -> None:
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        await run(None, None)
        return
    async with MockServer() as server:
        await run(server.openai_base_url, "mock")


if __name__ == "__main__":
    asyncio.run(main())
