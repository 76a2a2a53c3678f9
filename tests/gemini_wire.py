"""The recorded Gemini bodies (``tests/fixtures/wire/gemini``), read naively.

Shared by ``test_conformance_gemini.py`` and ``test_gemini_chunking_property.py``.
Nothing here uses streamkit's SSE decoder or mapper: a body is split at
blank lines, each event must be exactly one ``data: <json>`` line (asserted),
and what a client must make of it is computed from the JSON directly, so
streamkit is checked against an independent reading.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WIRE = Path(__file__).parent / "fixtures" / "wire" / "gemini"

# SHA-256 of every file as copied or re-framed (see the folder's README): no
# one may "fix" a file (the separators and the unterminated last events are the point).
SHA256 = {
    "error_404_not_found.json": "0ae2a86507c33eb72adee996efc6f46808e73cfecb1b0f910f8a361a45848985",
    "function_call_no_signature.sse": "aec34e1d8bf097db87cd506af2949c7c9795f054f9769d5de353bb579d3c02fd",
    "generate_function_call_signature.json": "b35468ce411f895cad48fbb2f5811af08d7f9fc437dbdb0118ac7404acf31b3b",
    "generate_thought_max_tokens.json": "d3ffc842d958eb53086e4fd4e9a6db5ea11435c3ddabfa4a4bd2432e092efd22",
    "max_tokens_thinking_budget.sse": "e9003cdd4c0978ddf66af0f6a32256edc6efa3f6bf1f9689b1577b41104a2225",
    "mcp_server_tool.sse": "21bb4b0781cef404d793d8fbe04ef274f55ff5b3d2949af3975f47e545aaa60c",
    "signature_loop_1.sse": "5a4fafd671c749df840674bb73125d40f43537b563b3087f5bd38deaf4a71d30",
    "signature_loop_2.sse": "626db4f745dcb1dbd68d0e95311cdce9112f81448bc1fb52cca3359530df43f6",
    "signature_loop_2.request.json": "b05e6f3084c9e92d8da7b08e8ef4b7facaddcc0fd099c6fe99e066536802bca9",
    "signature_loop_3.sse": "ed4e6e6801c76e0f4f01475488c47d5d687452ac927d1f9d3a4c0bdfcd135e46",
    "signature_loop_3.request.json": "f979ab6e2d155cead43f16b51538c0b5fc4d8da8e16acc2ac041efb0f41bf4af",
    "text_prompt_count_drops.sse": "163a2731e42a16fe5b09fe8aa09dc114249e6d8e05bbdf1ee9cdf2a48cd8295b",
    "thinking_function_call.sse": "70f4bc6145bdda348470fdbeb1463785aec66d0e0221305cf1a6cd15e2baddce",
    "thinking_text.sse": "b81148a6876cf66bb351e47c085798f9a5fd7981ffedc924ae94cffae425f2a3",
}


@dataclass(frozen=True)
class Fixture:
    name: str  # "thinking_text"
    body: bytes  # as stored
    expected: dict[str, Any]

    @property
    def crlf(self) -> bool:
        """Whether the stored body separates events with ``\\r\\n\\r\\n`` (the live API's way)."""
        return b"\r\n" in self.body

    def variants(self) -> dict[str, bytes]:
        """The body as stored, and with the other line ending (LF <-> CRLF), the only change.

        Raw LF/CR bytes occur only as SSE line ends: the JSON is on one line
        (asserted by :attr:`payloads`), so swapping them changes nothing else.
        """
        other = self.body.replace(b"\r\n", b"\n") if self.crlf else self.body.replace(b"\n", b"\r\n")
        return {"crlf" if self.crlf else "lf": self.body, "lf" if self.crlf else "crlf": other}

    @property
    def payloads(self) -> list[dict[str, Any]]:
        """Every event's JSON, in order (each event exactly one ``data: `` line)."""
        text = self.body.decode("utf-8").replace("\r\n", "\n")
        out = []
        for block in text.split("\n\n"):
            block = block.strip("\n")
            if not block:
                continue
            lines = block.split("\n")
            assert len(lines) == 1 and lines[0].startswith("data: "), f"{self.name}: {lines[:2]}"
            out.append(json.loads(lines[0][len("data: ") :]))
        return out

    def parts(self) -> list[dict[str, Any]]:
        """Candidate 0's parts, every one, in wire order."""
        return [
            part
            for payload in self.payloads
            for candidate in payload.get("candidates", [])
            if candidate.get("index", 0) == 0
            for part in (candidate.get("content") or {}).get("parts", [])
        ]

    def text_deltas(self) -> list[str]:
        """Every non-empty answer text, in wire order: the tokens a consumer must see."""
        return [p["text"] for p in self.parts() if "text" in p and not p.get("thought") and p["text"]]

    def thought_deltas(self) -> list[str]:
        return [p["text"] for p in self.parts() if p.get("thought") and p.get("text")]

    def client_calls(self) -> list[dict[str, Any]]:
        """``functionCall`` parts not answered by a ``functionResponse`` in the model's own output."""
        answered = {p["functionResponse"]["name"] for p in self.parts() if "functionResponse" in p}
        return [p for p in self.parts() if "functionCall" in p and p["functionCall"]["name"] not in answered]


def load(name: str) -> Fixture:
    body = (WIRE / f"{name}.sse").read_bytes()
    expected = json.loads((WIRE / f"{name}.expected.json").read_text())
    return Fixture(name, body, expected)


def names() -> list[str]:
    return sorted(p.name.removesuffix(".sse") for p in WIRE.glob("*.sse"))


def usage_of(usage: dict[str, Any]) -> tuple[int, int, int]:
    """(input, output, total) a client must report for a ``usageMetadata``.

    Input: every input token, ``promptTokenCount`` (cached included) plus
    ``toolUsePromptTokenCount``; output: ``candidatesTokenCount`` plus
    ``thoughtsTokenCount`` (LangChain's ChatGoogleGenerativeAI counts it so);
    total: ``totalTokenCount``, which the API defines as their sum.
    """
    prompt = usage.get("promptTokenCount", 0) + usage.get("toolUsePromptTokenCount", 0)
    output = usage.get("candidatesTokenCount", 0) + usage.get("thoughtsTokenCount", 0)
    return prompt, output, usage["totalTokenCount"]
