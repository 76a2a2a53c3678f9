"""The seed page ("How to stream LLM and chat model responses"), async, as a script.

    python examples/seed_page.py

Uses OPENAI_API_KEY / OPENAI_BASE_URL if set; otherwise it starts
streamkit's loopback mock server and runs against that.
"""

from __future__ import annotations

import asyncio
import os

from streamkit import ChatOpenAI, HumanMessage, OpenAI
from streamkit.callbacks import StreamingStdOutCallbackHandler
from streamkit.testing import MockServer


async def seed(base_url: str | None, api_key: str | None) -> None:
    options = {"base_url": base_url, "api_key": api_key}
    async with OpenAI(
        streaming=True, callbacks=[StreamingStdOutCallbackHandler()], temperature=0, **options
    ) as llm:
        resp = await llm("Write me a song about sparkling water.")
        print(f"\n\n[{len(resp)} characters]")
        result = await llm.generate(["Tell me a joke."])
        print("\n", result.llm_output)

    async with ChatOpenAI(
        streaming=True, callbacks=[StreamingStdOutCallbackHandler()], temperature=0, **options
    ) as chat:
        message = await chat([HumanMessage(content="Write me a song about sparkling water.")])
        print("\n\n", message.usage_metadata)


async def main() -> None:
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        await seed(None, None)
        return
    async with MockServer() as server:
        print(f"(no OPENAI_API_KEY: using the built-in mock server at {server.url})\n")
        await seed(server.openai_base_url, "mock")


if __name__ == "__main__":
    asyncio.run(main())
