"""Issue #14.2: one span per call and the GenAI client metrics, by the semantic conventions.

Attribute and metric names come from the ``opentelemetry-semantic-conventions``
package's constants, never typed by hand; spans and metrics are read back
with the SDK's in-memory exporter and reader.
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics
from opentelemetry.semconv.attributes import error_attributes, server_attributes
from opentelemetry.trace import SpanKind, StatusCode

from streamkit import ChatAnthropic, ChatOpenAI, RateLimitError
from streamkit.otel import OpenTelemetryHandler
from streamkit.testing import MockResponse, MockServer


@pytest.fixture
def otel() -> Any:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield spans, reader, tracer_provider, meter_provider
    tracer_provider.shutdown()
    meter_provider.shutdown()


def _metrics(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    out: dict[str, list[Any]] = {}
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                out.setdefault(metric.name, []).extend(metric.data.data_points)
    return out


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_span_per_call_with_the_gen_ai_attributes(
    mock_server: MockServer, otel: Any, provider: str
) -> None:
    spans, reader, tracer_provider, meter_provider = otel
    handler = OpenTelemetryHandler(tracer_provider=tracer_provider, meter_provider=meter_provider)
    usage = {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}
    mock_server.enqueue(MockResponse(text="one two three four five", usage=usage))
    if provider == "openai":
        model: Any = ChatOpenAI(
            base_url=mock_server.openai_base_url, api_key="k", model="gpt-4o-mini", temperature=0.2
        )
    else:
        model = ChatAnthropic(
            base_url=mock_server.anthropic_base_url, api_key="k", model="claude-x", temperature=0.2
        )
    async with model:
        await model.stream("Say five words.", callbacks=[handler], max_tokens=50).collect()
    [span] = spans.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert span.kind is SpanKind.CLIENT
    assert span.name == f"chat {model.model}"
    assert attrs[gen_ai.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[gen_ai.GEN_AI_PROVIDER_NAME] == provider
    assert attrs[gen_ai.GEN_AI_REQUEST_MODEL] == model.model
    assert attrs[gen_ai.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert attrs[gen_ai.GEN_AI_REQUEST_MAX_TOKENS] == 50
    assert attrs[server_attributes.SERVER_ADDRESS] == "127.0.0.1"
    assert attrs[gen_ai.GEN_AI_RESPONSE_MODEL] == model.model  # the mock echoes the requested model
    expected_reason = "stop" if provider == "openai" else "end_turn"
    assert attrs[gen_ai.GEN_AI_RESPONSE_FINISH_REASONS] == (expected_reason,)
    assert attrs[gen_ai.GEN_AI_USAGE_INPUT_TOKENS] == 11
    assert attrs[gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert (
        gen_ai.GEN_AI_INPUT_MESSAGES not in attrs and gen_ai.GEN_AI_OUTPUT_MESSAGES not in attrs
    )  # off by default
    points = _metrics(reader)
    assert len(points[gen_ai_metrics.GEN_AI_CLIENT_OPERATION_DURATION]) == 1
    token_types = {
        dict(p.attributes)[gen_ai.GEN_AI_TOKEN_TYPE]: p.sum
        for p in points[gen_ai_metrics.GEN_AI_CLIENT_TOKEN_USAGE]
    }
    assert token_types == {"input": 11, "output": 5}


async def test_an_error_is_recorded_with_its_type(mock_server: MockServer, otel: Any) -> None:
    spans, reader, tracer_provider, meter_provider = otel
    handler = OpenTelemetryHandler(tracer_provider=tracer_provider, meter_provider=meter_provider)
    mock_server.enqueue(MockResponse(status=429))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k", max_retries=0) as chat:
        with pytest.raises(RateLimitError):
            await chat.stream("hi", callbacks=[handler]).collect()
    [span] = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[error_attributes.ERROR_TYPE] == "RateLimitError"
    [point] = _metrics(reader)[gen_ai_metrics.GEN_AI_CLIENT_OPERATION_DURATION]
    assert dict(point.attributes)[error_attributes.ERROR_TYPE] == "RateLimitError"


async def test_content_is_recorded_only_when_asked(mock_server: MockServer, otel: Any) -> None:
    spans, _, tracer_provider, meter_provider = otel
    handler = OpenTelemetryHandler(
        tracer_provider=tracer_provider, meter_provider=meter_provider, capture_content=True
    )
    mock_server.enqueue(MockResponse(text="secret answer"))
    async with ChatOpenAI(base_url=mock_server.openai_base_url, api_key="k") as chat:
        await chat.stream("secret question", callbacks=[handler]).collect()
    attrs = dict(spans.get_finished_spans()[0].attributes or {})
    assert "secret question" in attrs[gen_ai.GEN_AI_INPUT_MESSAGES]
    assert "secret answer" in attrs[gen_ai.GEN_AI_OUTPUT_MESSAGES]
