package main

import (
	"context"
	"net/url"
	"strings"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// setupTelemetry builds trace and meter providers from the OTEL_*
// environment variables. With none set, nothing is exported (autoexport
// alone would default to OTLP and complain about a missing collector).
func setupTelemetry(ctx context.Context) (*sdktrace.TracerProvider, *sdkmetric.MeterProvider, error) {
	exp, err := autoexport.NewSpanExporter(ctx, autoexport.WithFallbackSpanExporter(
		func(context.Context) (sdktrace.SpanExporter, error) { return tracetest.NewNoopExporter(), nil }))
	if err != nil {
		return nil, nil, err
	}
	reader, err := autoexport.NewMetricReader(ctx, autoexport.WithFallbackMetricReader(
		func(context.Context) (sdkmetric.Reader, error) { return sdkmetric.NewManualReader(), nil }))
	if err != nil {
		return nil, nil, err
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp)), sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)), nil
}

// vendors maps upstream hosts to gen_ai.provider.name values.
var vendors = []struct{ host, name string }{
	{"deepseek", "deepseek"}, {"groq", "groq"}, {"mistral", "mistral_ai"}, {"perplexity", "perplexity"}, {"x.ai", "x_ai"},
}

// upstreamName is gen_ai.provider.name for the upstream's base URL.
func upstreamName(upstream string) string {
	if upstream == "mock" {
		return "ssechat.mock"
	}
	if u, err := url.Parse(upstream); err == nil {
		for _, v := range vendors {
			if strings.Contains(u.Host, v.host) {
				return v.name
			}
		}
	}
	return "openai"
}
