"""OpenTelemetry traces and metrics for every call, by the GenAI semantic conventions.

::

    from streamkit.otel import OpenTelemetryHandler

    chat = ChatOpenAI(callbacks=[OpenTelemetryHandler()])   # the global tracer and meter providers

Install the extra: ``pip install 'streamkit-llm[otel]'`` (``opentelemetry-api``
at run time; bring your own SDK and exporter). One span per call, kind
``CLIENT``, named ``"{gen_ai.operation.name} {gen_ai.request.model}"``
(``chat gpt-4o-mini``), with the attributes of the OpenTelemetry GenAI
semantic conventions (https://opentelemetry.io/docs/specs/semconv/gen-ai/),
their names taken from the ``opentelemetry-semantic-conventions`` package:

* request: ``gen_ai.operation.name`` (``chat`` / ``text_completion``),
  ``gen_ai.provider.name``, ``gen_ai.request.model``, ``temperature``,
  ``max_tokens``, ``top_p``, ``top_k``, ``stop_sequences``, ``seed``,
  ``choice.count``, ``server.address``/``server.port``;
* response: ``gen_ai.response.model``, ``gen_ai.response.id``,
  ``gen_ai.response.finish_reasons``, ``gen_ai.usage.input_tokens`` /
  ``output_tokens`` (and cache read/creation, reasoning tokens when the
  provider reported them), ``gen_ai.response.time_to_first_chunk`` (seconds);
* an error: status ``ERROR`` and ``error.type`` (the streamkit error class,
  ``StreamAbandoned`` when the consumer stopped early).

Metrics (histograms): ``gen_ai.client.operation.duration`` (s),
``gen_ai.client.token.usage`` (tokens, one record per ``gen_ai.token.type``),
``gen_ai.client.operation.time_to_first_chunk`` (s) and
``gen_ai.client.operation.time_per_output_chunk`` (s).

Prompt and completion content is **off by default**; with
``capture_content=True`` the span carries ``gen_ai.input.messages`` and
``gen_ai.output.messages`` (JSON). The handler adds nothing per token: the
timings come from the call's own metrics (``llm_output["metrics"]``) when
streamkit measured them, and from the start and end hooks otherwise.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from .callbacks._base import BaseCallbackHandler
from .messages import BaseMessage
from .results import ChatGeneration, LLMResult

try:
    from opentelemetry import metrics, trace
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
    from opentelemetry.semconv._incubating.metrics import gen_ai_metrics
    from opentelemetry.semconv.attributes import error_attributes, server_attributes
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised by users without the extra
    raise ImportError(
        "streamkit.otel needs OpenTelemetry: pip install 'streamkit-llm[otel]' "
        "(opentelemetry-api and opentelemetry-semantic-conventions)"
    ) from exc

__all__ = ["OpenTelemetryHandler"]

#: ``invocation_params`` key -> semantic-convention attribute.
_REQUEST_ATTRIBUTES = {
    "temperature": gen_ai.GEN_AI_REQUEST_TEMPERATURE,
    "max_tokens": gen_ai.GEN_AI_REQUEST_MAX_TOKENS,
    "top_p": gen_ai.GEN_AI_REQUEST_TOP_P,
    "top_k": gen_ai.GEN_AI_REQUEST_TOP_K,
    "seed": gen_ai.GEN_AI_REQUEST_SEED,
    "n": gen_ai.GEN_AI_REQUEST_CHOICE_COUNT,
}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


class _Call:
    __slots__ = ("attributes", "span", "started")

    def __init__(self, span: Any, attributes: dict[str, Any], started: float) -> None:
        self.span = span
        self.attributes = attributes  # the metric attributes (operation, provider, model)
        self.started = started


class OpenTelemetryHandler(BaseCallbackHandler):
    """One span per call and the GenAI client metrics (see the module docstring).

    ``tracer_provider`` / ``meter_provider``: OpenTelemetry's providers
    (default: the global ones). ``capture_content``: record prompts and
    completions on the span (off by default: they may hold personal data).
    """

    def __init__(
        self,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        capture_content: bool = False,
    ) -> None:
        self.tracer = trace.get_tracer("streamkit", tracer_provider=tracer_provider)
        meter = metrics.get_meter("streamkit", meter_provider=meter_provider)
        self.capture_content = capture_content
        self._duration = gen_ai_metrics.create_gen_ai_client_operation_duration(meter)
        self._tokens = gen_ai_metrics.create_gen_ai_client_token_usage(meter)
        self._ttft = meter.create_histogram(
            gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
            unit="s",
            description="Time to receive the first chunk of a streamed response",
        )
        self._per_chunk = meter.create_histogram(
            gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK,
            unit="s",
            description="Time between the chunks of a streamed response, after the first",
        )
        self._calls: dict[UUID, _Call] = {}

    # -- start -------------------------------------------------------------

    def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], **kwargs: Any) -> None:
        """Open the call's span, operation ``text_completion`` (a prompt model's call).

        ``serialized`` gives the model, provider, base URL and request
        parameters (``invocation_params``); ``prompts`` are recorded as
        ``gen_ai.input.messages`` only with ``capture_content``. A call
        without a ``run_id`` (a ``UUID`` in ``kwargs``) is not traced.
        """
        self._start(serialized, "text_completion", kwargs.get("run_id"), prompts)

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kwargs: Any
    ) -> None:
        """Open the call's span, operation ``chat``; ``messages``: one list per conversation.

        As :meth:`on_llm_start`; with ``capture_content`` each message is
        recorded as ``{"type", "content"}``.
        """
        rendered = [
            [m.model_dump(include={"type", "content"}) for m in conversation] for conversation in messages
        ]
        self._start(serialized, "chat", kwargs.get("run_id"), rendered)

    def _start(self, serialized: dict[str, Any], operation: str, run_id: Any, content: Any) -> None:
        if not isinstance(run_id, UUID):
            return
        params = serialized.get("invocation_params") or {}
        model = params.get("model") or serialized.get("model") or ""
        provider = serialized.get("model_provider") or ""
        attributes: dict[str, Any] = {
            gen_ai.GEN_AI_OPERATION_NAME: operation,
            gen_ai.GEN_AI_PROVIDER_NAME: provider,
            gen_ai.GEN_AI_REQUEST_MODEL: model,
        }
        url = urlsplit(serialized.get("base_url") or "")
        if url.hostname:
            attributes[server_attributes.SERVER_ADDRESS] = url.hostname
            attributes[server_attributes.SERVER_PORT] = url.port or (443 if url.scheme == "https" else 80)
        span_attributes = dict(attributes)
        for key, name in _REQUEST_ATTRIBUTES.items():
            value = params.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                span_attributes[name] = value
        stops = params.get("stop") or params.get("stop_sequences")
        if isinstance(stops, list):
            span_attributes[gen_ai.GEN_AI_REQUEST_STOP_SEQUENCES] = [str(s) for s in stops]
        if self.capture_content:
            span_attributes[gen_ai.GEN_AI_INPUT_MESSAGES] = json.dumps(
                content, ensure_ascii=False, default=str
            )
        span = self.tracer.start_span(
            f"{operation} {model}".strip(), kind=SpanKind.CLIENT, attributes=span_attributes
        )
        metric_attributes = {k: v for k, v in attributes.items() if not k.startswith("server.port")}
        self._calls[run_id] = _Call(span, metric_attributes, time.perf_counter())

    # -- end -------------------------------------------------------------

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        """Close the span with the response's attributes and record the metrics.

        Sets the response model and id, the finish reasons, the token counts
        (tokens) and the time to first chunk (seconds), and records
        ``gen_ai.client.operation.duration`` (seconds; the call's own
        ``duration_s`` when it measured one), ``gen_ai.client.token.usage``
        (input and output tokens) and the chunk timings (seconds).
        """
        call = self._calls.pop(kwargs.get("run_id"), None)  # type: ignore[arg-type]
        if call is None:
            return
        span = call.span
        output = response.llm_output or {}
        elapsed = time.perf_counter() - call.started
        attributes = dict(call.attributes)
        if output.get("model_name"):
            span.set_attribute(gen_ai.GEN_AI_RESPONSE_MODEL, output["model_name"])
            attributes[gen_ai.GEN_AI_RESPONSE_MODEL] = output["model_name"]
        if output.get("id"):
            span.set_attribute(gen_ai.GEN_AI_RESPONSE_ID, output["id"])
        reasons = [
            str((g.generation_info or {}).get("finish_reason"))
            for row in response.generations
            for g in row
            if (g.generation_info or {}).get("finish_reason") is not None
        ]
        if reasons:
            span.set_attribute(gen_ai.GEN_AI_RESPONSE_FINISH_REASONS, reasons)
        usage = response.token_usage
        if usage:
            self._usage(span, usage, attributes)
        measured = output.get("metrics") or {}
        duration = measured.get("duration_s", elapsed)
        ttft = measured.get("time_to_first_token_s")
        if isinstance(ttft, (int, float)):
            span.set_attribute(gen_ai.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, ttft)
            self._ttft.record(ttft, attributes)
            chunks = measured.get("output_deltas")
            if isinstance(chunks, int) and chunks > 1:
                self._per_chunk.record((duration - ttft) / (chunks - 1), attributes)
        if self.capture_content:
            outputs = [
                generation.message.model_dump(include={"type", "content", "tool_calls"})
                if isinstance(generation, ChatGeneration)
                else {"type": "text", "content": generation.text}
                for row in response.generations
                for generation in row
            ]
            span.set_attribute(
                gen_ai.GEN_AI_OUTPUT_MESSAGES, json.dumps(outputs, ensure_ascii=False, default=str)
            )
        self._duration.record(duration, attributes)
        span.end()

    def _usage(self, span: Any, usage: dict[str, Any], attributes: dict[str, Any]) -> None:
        counts = {
            gen_ai.GEN_AI_USAGE_INPUT_TOKENS: usage.get("prompt_tokens"),
            gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS: usage.get("completion_tokens"),
            gen_ai.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: usage.get("cache_read_input_tokens")
            or (usage.get("prompt_tokens_details") or {}).get("cached_tokens"),
            gen_ai.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: usage.get("cache_creation_input_tokens"),
            gen_ai.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: (usage.get("completion_tokens_details") or {}).get(
                "reasoning_tokens"
            ),
        }
        for name, value in counts.items():
            if isinstance(value, int) and not isinstance(value, bool):
                span.set_attribute(name, value)
        for token_type, key in (("input", "prompt_tokens"), ("output", "completion_tokens")):
            value = usage.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                self._tokens.record(value, {**attributes, gen_ai.GEN_AI_TOKEN_TYPE: token_type})

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        """Close the span with status ``ERROR`` and ``error.type`` = the error's class name.

        Also records ``gen_ai.client.operation.duration`` (seconds, from the
        start hook) with ``error.type``. ``StreamAbandoned`` (the consumer
        stopped early) is recorded like any other error.
        """
        call = self._calls.pop(kwargs.get("run_id"), None)  # type: ignore[arg-type]
        if call is None:
            return
        kind = type(error).__name__
        call.span.set_attribute(error_attributes.ERROR_TYPE, kind)
        call.span.set_status(Status(StatusCode.ERROR, kind))
        attributes = {**call.attributes, error_attributes.ERROR_TYPE: kind}
        self._duration.record(time.perf_counter() - call.started, attributes)
        call.span.end()
