"""The collector: pure state that turns events into an ``LLMResult``.

``feed(event)`` never awaits, never does I/O, and can be asked for a
``result()`` at any moment: that is how an error mid-stream carries the
partial answer. The adapter feeds it *before* any handler sees an event,
so a misbehaving handler cannot corrupt the result.

Text is kept as a list of parts and joined once at the end; pydantic
validation happens once, on the result, never per delta.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar, assert_never
from uuid import UUID

from .events import (
    Citation,
    ContentBlock,
    Event,
    Finish,
    MessageStart,
    RefusalDelta,
    ServerToolResult,
    ServerToolUse,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from .messages import AIMessage, ToolCall
from .results import ChatGeneration, Generation, LLMResult, RunInfo

__all__ = ["Collector"]

T = TypeVar("T")


class _ToolCallState:
    __slots__ = ("extras", "id", "name", "parts")

    def __init__(self, id: str | None, name: str, extras: dict[str, Any] | None = None) -> None:
        self.id = id
        self.name = name
        self.extras = extras
        self.parts: list[str] = []


class _Choice:
    __slots__ = (
        "blocks",
        "citations",
        "finish",
        "finish_reason",
        "finished",
        "logprobs_dict",
        "logprobs_list",
        "refusal",
        "server_tools",
        "signature",
        "text",
        "thinking",
        "tool_calls",
    )

    def __init__(self) -> None:
        self.text: list[str] = []
        self.refusal: list[str] | None = None
        self.thinking: list[str] | None = None
        self.signature: str | None = None
        self.logprobs_list: list[Any] | None = None
        self.logprobs_dict: dict[str, list[Any]] | None = None
        self.finish_reason: str | None = None
        self.finished = False
        self.tool_calls: dict[int, _ToolCallState] = {}
        self.citations: list[dict[str, Any]] | None = None
        #: Content blocks in wire order (providers that send them): each is
        #: [kind, whole block or None, text start, thinking start,
        #: citation start, tool-call ordinal, signature].
        self.blocks: list[list[Any]] | None = None
        self.finish: Finish | None = None
        self.server_tools: list[ServerToolUse | ServerToolResult] | None = None

    def add_logprobs(self, logprobs: Any) -> None:
        if isinstance(logprobs, list):
            if self.logprobs_list is None:
                self.logprobs_list = []
            self.logprobs_list.extend(logprobs)
        elif isinstance(logprobs, dict):
            if self.logprobs_dict is None:
                self.logprobs_dict = {}
            for key, values in logprobs.items():
                if isinstance(values, list):
                    self.logprobs_dict.setdefault(key, []).extend(values)

    def logprobs(self, chat: bool) -> Any:
        if self.logprobs_list is not None:
            return {"content": self.logprobs_list} if chat else self.logprobs_list
        return self.logprobs_dict


class Collector:
    """Builds the result of one request (one prompt, ``n`` choices)."""

    __slots__ = (
        "_choices",
        "chat",
        "extra",
        "model",
        "model_provider",
        "response_id",
        "run_id",
        "texts",
        "usage",
    )

    def __init__(self, *, chat: bool, run_id: UUID | None = None, model_provider: str | None = None) -> None:
        self.chat = chat
        self.run_id = run_id
        #: LangChain's ``response_metadata["model_provider"]`` (``openai``, ``anthropic``).
        self.model_provider = model_provider
        self.model: str | None = None
        self.response_id: str | None = None
        self.extra: dict[str, Any] = {}
        self.usage: Usage | None = None
        self._choices: dict[int, _Choice] = {0: _Choice()}
        # Choice 0's text parts, for the hot path (most streams have one choice).
        self.texts = self._choices[0].text

    def _choice(self, index: int) -> _Choice:
        choice = self._choices.get(index)
        if choice is None:
            choice = self._choices[index] = _Choice()
        return choice

    def feed(self, event: Event) -> None:
        """Fold one event into the state."""
        if isinstance(event, TextDelta):
            if event.index == 0:
                self.texts.append(event.text)
                choice = self._choices[0]
            else:
                choice = self._choice(event.index)
                choice.text.append(event.text)
            if event.logprobs is not None:
                choice.add_logprobs(event.logprobs)
        elif isinstance(event, ContentBlock):
            # Second: Gemini sends one per part, so one per token.
            self._block(self._choice(event.index), event.kind, event.block)
        elif isinstance(event, Usage):
            # Reports are cumulative (Anthropic resends totals): the last one wins.
            if self.usage is None:
                self.usage = event
            else:
                old = self.usage
                self.usage = Usage(
                    prompt_tokens=_last(event.prompt_tokens, old.prompt_tokens),
                    completion_tokens=_last(event.completion_tokens, old.completion_tokens),
                    total_tokens=event.total_tokens,
                    details={**old.details, **event.details},
                    input_token_details=_last(event.input_token_details, old.input_token_details),
                    output_token_details=_last(event.output_token_details, old.output_token_details),
                )
        elif isinstance(event, Finish):
            choice = self._choice(event.index)
            choice.finished = True
            if event.reason is not None:
                choice.finish_reason = event.reason
            choice.finish = event
        elif isinstance(event, MessageStart):
            # The first non-empty value of each field wins (Azure's first
            # chunk has empty ones; later chunks repeat the real ones).
            if self.model is None and event.model:
                self.model = event.model
            if self.response_id is None and event.id:
                self.response_id = event.id
            for key, value in event.extra.items():
                self.extra.setdefault(key, value)
        elif isinstance(event, ToolCallStart):
            choice = self._choice(event.index)
            state = choice.tool_calls.get(event.call_index)
            if state is None:
                choice.tool_calls[event.call_index] = _ToolCallState(event.id, event.name, event.extras)
            else:  # fragments came first, or a repeated start: keep the arguments
                if event.id is not None:
                    state.id = event.id
                if event.name:
                    state.name = event.name
                if event.extras:
                    state.extras = event.extras
        elif isinstance(event, ToolCallDelta):
            choice = self._choice(event.index)
            state = choice.tool_calls.get(event.call_index)
            if state is None:  # a fragment before its start: keep it, name unknown
                state = choice.tool_calls[event.call_index] = _ToolCallState(None, "")
            state.parts.append(event.arguments)
        elif isinstance(event, RefusalDelta):
            choice = self._choice(event.index)
            if choice.refusal is None:
                choice.refusal = []
            choice.refusal.append(event.text)
        elif isinstance(event, ThinkingDelta):
            choice = self._choice(event.index)
            if choice.thinking is None:
                choice.thinking = []
            choice.thinking.append(event.text)
            if event.signature is not None:
                choice.signature = event.signature
                if choice.blocks and choice.blocks[-1][0] == "thinking":
                    choice.blocks[-1][6] = event.signature
        elif isinstance(event, Citation):
            choice = self._choice(event.index)
            if choice.citations is None:
                choice.citations = []
            choice.citations.append(event.citation)
        elif isinstance(event, (ServerToolUse, ServerToolResult)):
            choice = self._choice(event.index)
            if choice.server_tools is None:
                choice.server_tools = []
            choice.server_tools.append(event)
            self._block(choice, event.block["type"], event.block)
        else:
            assert_never(event)

    @staticmethod
    def _block(choice: _Choice, kind: str, whole: dict[str, Any] | None) -> None:
        """Record a content block's start: where its text, thinking, citations and call begin."""
        if choice.blocks is None:
            choice.blocks = []
        choice.blocks.append(
            [
                kind,
                whole,
                len(choice.text),
                len(choice.thinking or ()),
                len(choice.citations or ()),
                len(choice.tool_calls),
                None,
            ]
        )

    @property
    def finished(self) -> bool:
        """Every choice seen so far has a finish event."""
        return all(choice.finished for choice in self._choices.values())

    def text(self, index: int = 0) -> str:
        """The answer text of one choice so far."""
        choice = self._choices.get(index)
        return "".join(choice.text) if choice else ""

    def delivered_deltas(self) -> int:
        """How many content deltas arrived (text, refusal, thinking, tool arguments), all choices.

        Counted from the parts kept anyway, so it costs nothing per token.
        Most providers send about one token per delta: this is the estimate
        of completion tokens for a stream that ended before its usage report.
        """
        total = 0
        for choice in self._choices.values():
            total += len(choice.text) + len(choice.refusal or ()) + len(choice.thinking or ())
            total += sum(len(state.parts) for state in choice.tool_calls.values())
        return total

    def token_usage(self, estimate: bool = False) -> dict[str, Any]:
        """Usage in the common keys, with provider extras beside them.

        With ``estimate`` (a stream that failed or was abandoned), completion
        tokens are at least the deltas delivered (:meth:`delivered_deltas`),
        and ``usage_estimated: True`` says the figure is counted, not reported.
        """
        usage = self.usage
        counted = self.delivered_deltas() if estimate else 0
        if usage is None:
            if not counted:
                return {}
            usage = Usage()
        prompt = usage.prompt_tokens
        completion = usage.completion_tokens
        total = usage.total_tokens
        estimated = counted > (completion or 0)
        if estimated:
            completion = counted
            total = None
        if total is None and (prompt is not None or completion is not None):
            total = (prompt or 0) + (completion or 0)
        out: dict[str, Any] = {
            "prompt_tokens": prompt or 0,
            "completion_tokens": completion or 0,
            "total_tokens": total or 0,
        }
        for key, value in usage.details.items():
            out.setdefault(key, value)
        if estimated:
            out["usage_estimated"] = True
        return out

    def result(self, *, estimate_usage: bool = False) -> LLMResult:
        """The result so far (complete once the stream has finished).

        ``estimate_usage``: for a stream that failed or was abandoned, see
        :meth:`token_usage`.
        """
        usage = self.token_usage(estimate_usage)
        generations: list[Generation] = []
        for index in sorted(self._choices):
            choice = self._choices[index]
            if index == 0 and len(self._choices) > 1 and not _has_content(choice):
                continue  # n>1 streams whose choice 0 never appeared
            generations.append(self._generation(choice, usage))
        llm_output: dict[str, Any] = {"token_usage": usage, "model_name": self.model}
        if self.response_id is not None:
            llm_output["id"] = self.response_id
        llm_output.update(self.extra)
        run = [RunInfo(run_id=self.run_id)] if self.run_id is not None else None
        return LLMResult(generations=[generations], llm_output=llm_output, run=run)

    def _generation(self, choice: _Choice, usage: dict[str, Any]) -> Generation:
        text = "".join(choice.text)
        info: dict[str, Any] = {
            "finish_reason": choice.finish_reason,
            "logprobs": choice.logprobs(self.chat),
        }
        refusal = "".join(choice.refusal) if choice.refusal is not None else None
        thinking = "".join(choice.thinking) if choice.thinking is not None else None
        if refusal is not None:
            info["refusal"] = refusal
        if thinking is not None:
            info["thinking"] = thinking
            if choice.signature is not None:
                info["thinking_signature"] = choice.signature
        if choice.citations is not None:
            info["citations"] = choice.citations
        finish = choice.finish
        if finish is not None and finish.normalized is not None:
            info["normalized_finish_reason"] = finish.normalized
        if finish is not None and finish.stop_sequence is not None:
            info["stop_sequence"] = finish.stop_sequence
        if not self.chat:
            return Generation(text=text, generation_info=info)
        tool_calls = [_tool_call(state) for _, state in sorted(choice.tool_calls.items())]
        additional: dict[str, Any] = {}
        if refusal is not None:
            additional["refusal"] = refusal
        if thinking is not None:
            additional["thinking"] = thinking
            if choice.signature is not None:
                additional["thinking_signature"] = choice.signature
        if choice.citations is not None:
            additional["citations"] = choice.citations
        if choice.server_tools is not None:
            # What the provider ran itself: shown, never for the client to execute.
            uses = [e for e in choice.server_tools if isinstance(e, ServerToolUse)]
            results = [e for e in choice.server_tools if isinstance(e, ServerToolResult)]
            if uses:
                additional["server_tool_calls"] = [
                    {"id": e.id, "name": e.name, "input": e.input} for e in uses
                ]
            if results:
                additional["server_tool_results"] = [
                    {"tool_use_id": e.tool_use_id, "type": e.kind, "content": e.content} for e in results
                ]
        if any(not call.complete for call in tool_calls):
            info["tool_calls_incomplete"] = True
        metadata: dict[str, Any] = {"finish_reason": choice.finish_reason, "model_name": self.model}
        if "stop_sequence" in info:
            metadata["stop_sequence"] = info["stop_sequence"]
        if self.response_id is not None:
            metadata["id"] = self.response_id
        if self.model_provider is not None:
            metadata["model_provider"] = self.model_provider
        message = AIMessage(
            content=text,
            tool_calls=tool_calls,
            additional_kwargs=additional,
            response_metadata=metadata,
            usage_metadata=self._usage_metadata(usage),
            content_blocks=_blocks(choice, tool_calls) if choice.blocks is not None else None,
            id=self.response_id,
        )
        return ChatGeneration(text=text, message=message, generation_info=info)

    def _usage_metadata(self, usage: dict[str, Any]) -> dict[str, Any] | None:
        """LangChain's ``usage_metadata``: totals, with cache and reasoning breakdowns if known."""
        if not usage:
            return None
        metadata: dict[str, Any] = {
            "input_tokens": usage["prompt_tokens"],
            "output_tokens": usage["completion_tokens"],
            "total_tokens": usage["total_tokens"],
        }
        event = self.usage
        if event is not None and event.input_token_details:
            metadata["input_token_details"] = dict(event.input_token_details)
        if event is not None and event.output_token_details:
            metadata["output_token_details"] = dict(event.output_token_details)
        return metadata


def _last(new: T | None, old: T | None) -> T | None:
    return old if new is None else new


def _blocks(choice: _Choice, calls: list[ToolCall]) -> list[dict[str, Any]]:
    """The content blocks in wire order, rebuilt from the parts each one spans."""
    records = choice.blocks or []
    thinking = choice.thinking or []
    citations = choice.citations or []
    ends = [*records[1:], None]
    out: list[dict[str, Any]] = []
    for record, following in zip(records, ends, strict=True):
        kind, whole, text_at, thinking_at, citation_at, call_at, signature = record
        if whole is not None:
            out.append(whole)
        elif kind == "text":
            text_end = following[2] if following else len(choice.text)
            block: dict[str, Any] = {"type": "text", "text": "".join(choice.text[text_at:text_end])}
            cited = citations[citation_at : following[4] if following else len(citations)]
            if cited:
                block["citations"] = cited
            out.append(block)
        elif kind == "thinking":
            thinking_end = following[3] if following else len(thinking)
            block = {"type": "thinking", "thinking": "".join(thinking[thinking_at:thinking_end])}
            if signature is not None:
                block["signature"] = signature
            out.append(block)
        elif kind == "tool_use" and call_at < len(calls):
            call = calls[call_at]
            out.append(
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.name,
                    "input": call.args,
                    **(call.extras or {}),
                }
            )
    return out


def _has_content(choice: _Choice) -> bool:
    return bool(choice.text or choice.finished or choice.tool_calls or choice.refusal or choice.thinking)


def _tool_call(state: _ToolCallState) -> ToolCall:
    """The assembled call. ``complete`` is False (and ``raw_args`` kept) when
    the arguments are not one JSON object, or the call never got a name:
    neither can be executed."""
    raw = "".join(state.parts)
    args: Any = {}
    parsed = True
    if raw.strip():
        try:
            args = json.loads(raw)
        except ValueError:
            parsed = False
        if not isinstance(args, dict):
            args, parsed = {}, False
    if parsed and state.name:
        return ToolCall(id=state.id, name=state.name, args=args, extras=state.extras)
    return ToolCall(
        id=state.id, name=state.name, args=args, complete=False, raw_args=raw, extras=state.extras
    )
