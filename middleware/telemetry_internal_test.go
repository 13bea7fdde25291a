package middleware

import (
	"context"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ssechat/ssechat/internal/streamctx"
)

func TestMetricSetsBounded(t *testing.T) {
	// Model names come from requests: the cache stops growing at
	// maxMetricSets kinds, and the kinds past it still get their own sets.
	tm := newTelemetry(nil)
	for i := range maxMetricSets + 50 {
		model := "m" + strconv.Itoa(i)
		for range 2 {
			ms := tm.metricSets(model, "", "")
			if v, _ := ms.base.Value("gen_ai.request.model"); v.AsString() != model || ms.base.Len() != 3 {
				t.Fatalf("%s: base %v", model, ms.base.Encoded(attribute.DefaultEncoder()))
			}
			if v, _ := ms.output.Value("gen_ai.token.type"); v.AsString() != "output" || ms.output.Len() != 4 {
				t.Fatalf("%s: output %v", model, ms.output.Encoded(attribute.DefaultEncoder()))
			}
			if !ms.duration.Equals(&ms.base) {
				t.Fatalf("%s: duration %v without an error", model, ms.duration.Encoded(attribute.DefaultEncoder()))
			}
		}
	}
	if n := tm.setsN.Load(); n != maxMetricSets {
		t.Errorf("%d kinds kept, want %d", n, maxMetricSets)
	}
	ms := tm.metricSets("m", "m-2", "timeout")
	if v, _ := ms.duration.Value("error.type"); v.AsString() != "timeout" || ms.duration.Len() != 5 {
		t.Errorf("duration %v", ms.duration.Encoded(attribute.DefaultEncoder()))
	}
}

// BenchmarkTelemetryRecord is what the telemetry middleware does for a
// stream once it has ended: the span's attributes and the metrics.
func BenchmarkTelemetryRecord(b *testing.B) {
	tp := sdktrace.NewTracerProvider()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tm := newTelemetry(&TelemetryOptions{TracerProvider: tp, MeterProvider: mp})
	rep := &streamctx.Report{
		Model: "m", StreamID: "abc", End: "completed", FinishReason: "stop", Characters: 600,
		HasUsage: true, InputTokens: 10, OutputTokens: 200, FirstChunk: time.Millisecond, Duration: time.Second,
	}
	b.ReportAllocs()
	for b.Loop() {
		ctx, span := tm.tracer.Start(context.Background(), "chat")
		tm.record(ctx, span, rep)
		span.End()
	}
}
