"""OpenTelemetry traces of requests and database queries, when OTEL_ENABLED or
OTEL_EXPORTER_OTLP_ENDPOINT says so.

The packages come with the `tracing` extra and are imported only then: a default install
runs without them. Spans are exported over OTLP/HTTP, configured by the standard OTEL_*
variables (service name, headers, sampler).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

SERVICE_NAME = "testimony-api"


def tracing_wanted(settings: Settings) -> bool:
    return settings.otel_enabled or bool(settings.otel_exporter_otlp_endpoint)


def span_exporter(settings: Settings) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    base = settings.otel_exporter_otlp_endpoint
    # Given here rather than read by the exporter, the base URL needs the signal's path.
    return OTLPSpanExporter(endpoint=f"{base.rstrip('/')}/v1/traces" if base else None)


def install_tracing(app: FastAPI, engine: AsyncEngine, settings: Settings) -> None:
    if not tracing_wanted(settings):
        return
    try:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
        from opentelemetry.sdk.resources import OTELResourceDetector, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as error:
        raise RuntimeError(
            "Tracing is on (OTEL_ENABLED or OTEL_EXPORTER_OTLP_ENDPOINT) but its packages are "
            "missing: install testimony-api[tracing]."
        ) from error
    resource = Resource.create({"service.name": SERVICE_NAME}).merge(
        OTELResourceDetector().detect()
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(span_exporter(settings)))
    app.state.tracer_provider = provider
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, exclude_spans=["send"])
    # Its declared range ends before SQLAlchemy 2.1, whose engine events it uses unchanged.
    SQLAlchemyInstrumentor().instrument(
        engine=engine.sync_engine, tracer_provider=provider, skip_dep_check=True
    )


def shutdown_tracing(app: FastAPI) -> None:
    """Send the spans still buffered; at the app's shutdown."""
    provider = getattr(app.state, "tracer_provider", None)
    if provider is not None:
        provider.shutdown()
