"""What ``generate()`` returns: ``LLMResult`` of ``Generation`` lists.

``generations[i]`` holds the answers to prompt ``i`` (one per choice when
``n > 1``). ``llm_output`` holds ``token_usage`` (always the keys
``prompt_tokens``, ``completion_tokens``, ``total_tokens``, with provider
extras beside them) and ``model_name`` as the server reported it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .messages import AIMessage

__all__ = ["BatchProgress", "ChatGeneration", "Generation", "LLMResult", "RunInfo"]


class Generation(BaseModel):
    """One answer: its ``text`` and ``generation_info``.

    ``generation_info`` always has ``finish_reason`` (the provider's own
    string: ``stop``, ``length``, ``end_turn``, ``tool_calls``...; ``None``
    if the stream stopped before one) and ``logprobs`` (the provider's
    log-probabilities, ``None`` unless requested), and where they apply
    ``normalized_finish_reason`` (one vocabulary for every provider, see
    :data:`streamkit.events.FinishReason`), ``stop_sequence``,
    ``thinking`` (the reasoning text) and ``thinking_signature``,
    ``refusal``, ``citations``, and for structured output ``parsed``.
    """

    model_config = ConfigDict(extra="forbid")

    text: str
    generation_info: dict[str, Any] | None = None
    type: Literal["Generation", "ChatGeneration"] = "Generation"


class ChatGeneration(Generation):
    """One chat answer: ``message`` is the :class:`~streamkit.messages.AIMessage`; ``text`` is its content.

    ``generation_info`` as on :class:`Generation`; the message carries the
    tool calls, ``usage_metadata`` and ``response_metadata``.
    """

    text: str = ""
    message: AIMessage
    type: Literal["Generation", "ChatGeneration"] = "ChatGeneration"

    @model_validator(mode="before")
    @classmethod
    def _text_from_message(cls, data: Any) -> Any:
        if isinstance(data, dict) and "message" in data and not data.get("text"):
            message = data["message"]
            content = message.content if isinstance(message, AIMessage) else message.get("content", "")
            data = {**data, "text": content or ""}
        return data


class RunInfo(BaseModel):
    """Identifies the run a generation came from: ``run_id``, the ``UUID`` handlers saw as ``run_id``."""

    run_id: UUID


class LLMResult(BaseModel):
    """The complete result of ``generate()``, and of a stream (``stream.result``).

    ``generations[i]`` holds prompt ``i``'s answers, one per choice
    (``n > 1``). ``llm_output`` holds ``token_usage`` (token counts, always
    ``prompt_tokens``, ``completion_tokens`` and ``total_tokens``, with the
    provider's extra fields and ``*_details`` beside them), ``model_name``
    (as the server reported it), ``id`` (the response's id, when the server
    sent one) and ``metrics`` (timings in seconds, sizes in bytes, see
    ``stream.metrics``); with several prompts, ``response_ids`` and
    ``metrics_per_prompt`` list them per prompt. ``run`` holds one
    :class:`RunInfo` per prompt.

    ``errors`` is set by ``generate(..., return_exceptions=True)`` only: one
    entry per prompt, the prompt's error or ``None``; a failed prompt's
    ``generations[i]`` hold its partial result. It is not serialised.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    generations: list[list[Generation]]
    llm_output: dict[str, Any] | None = None
    run: list[RunInfo] | None = None
    errors: list[BaseException | None] | None = Field(default=None, exclude=True, repr=False)

    @property
    def text(self) -> str:
        """The first answer's text (the common single-prompt case); ``""`` if there is none."""
        if not self.generations or not self.generations[0]:
            return ""
        return self.generations[0][0].text

    @property
    def token_usage(self) -> dict[str, Any]:
        """A copy of ``llm_output["token_usage"]`` (token counts: ``prompt_tokens``, ...), or ``{}``."""
        if not self.llm_output:
            return {}
        usage = self.llm_output.get("token_usage")
        return dict(usage) if usage else {}

    @classmethod
    def merge(cls, results: list[LLMResult]) -> LLMResult:
        """Combine per-prompt results into one, in order.

        Returns a new ``LLMResult``: the generations and runs concatenated,
        ``model_name`` the first one given. Every numeric usage field is
        summed (nested ``*_details`` too, and floats such as a gateway's
        ``cost``); a string keeps its first value. With more than one
        result, ``llm_output["response_ids"]`` lists every response's id
        (``None`` where a server sent none) and
        ``llm_output["metrics_per_prompt"]`` each one's metrics. Never
        raises for well-formed results.
        """
        generations: list[list[Generation]] = []
        runs: list[RunInfo] = []
        usage: dict[str, Any] = {}
        model_name: str | None = None
        extra: dict[str, Any] = {}
        ids: list[str | None] = []
        metrics: list[dict[str, Any] | None] = []
        for result in results:
            generations.extend(result.generations)
            runs.extend(result.run or ())
            output = result.llm_output or {}
            _add_usage(usage, output.get("token_usage") or {})
            model_name = model_name or output.get("model_name")
            ids.extend(output.get("response_ids") or [output.get("id")])
            metrics.extend(output.get("metrics_per_prompt") or [output.get("metrics")])
            for key, value in output.items():
                if key not in ("token_usage", "model_name", "response_ids", "metrics", "metrics_per_prompt"):
                    extra.setdefault(key, value)
        llm_output: dict[str, Any] = {"token_usage": usage, "model_name": model_name, **extra}
        if len(results) > 1:
            # Every response's id and figures, in prompt order (``id`` is the first one's).
            llm_output["response_ids"] = ids
            llm_output["metrics_per_prompt"] = metrics
        elif metrics and metrics[0] is not None:
            llm_output["metrics"] = metrics[0]
        return cls(generations=generations, llm_output=llm_output, run=runs or None)


def _add_usage(total: dict[str, Any], usage: dict[str, Any]) -> None:
    """Sum token counts across prompts, nested details too (``completion_tokens_details``)."""
    for key, value in usage.items():
        if isinstance(value, bool) or value is None:
            total.setdefault(key, value)
        elif isinstance(value, (int, float)):
            # Every number adds up: token counts, and a gateway's float ``cost``.
            previous = total.get(key, 0)
            is_number = isinstance(previous, (int, float)) and not isinstance(previous, bool)
            total[key] = previous + value if is_number else value
        elif isinstance(value, dict):
            nested = total.get(key)
            if not isinstance(nested, dict):
                nested = total[key] = {}
            _add_usage(nested, value)
        else:  # strings such as service_tier: the first one stands
            total.setdefault(key, value)


@dataclass(frozen=True, slots=True)
class BatchProgress:
    """What ``generate(..., on_progress=fn)`` passes to ``fn`` as each prompt finishes.

    ``index``: the prompt's position (from 0); ``finished`` of ``total``
    prompts are done (counts, this one included); ``result`` is its result
    (a partial one if it failed) and ``error`` its error, or ``None``.
    ``fn`` is called (and awaited, if it returns an awaitable) on the event
    loop, in completion order; an exception it raises cancels the other
    prompts and propagates out of ``generate()`` as itself.
    """

    index: int
    finished: int
    total: int
    result: LLMResult | None
    error: BaseException | None
