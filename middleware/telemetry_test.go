package middleware_test

import (
	"context"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/middleware"
)

type otelKit struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	tp     *sdktrace.TracerProvider
	mp     *sdkmetric.MeterProvider
}

func newOtelKit(t *testing.T) *otelKit {
	k := &otelKit{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	k.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(k.spans))
	k.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(k.reader))
	t.Cleanup(func() { _ = k.tp.Shutdown(context.Background()); _ = k.mp.Shutdown(context.Background()) })
	return k
}

func (k *otelKit) handler(p chat.Provider, content bool) http.Handler {
	return middleware.Telemetry(&middleware.TelemetryOptions{
		TracerProvider: k.tp, MeterProvider: k.mp, ProviderName: "deepseek", RecordContent: content,
	})(chat.NewHandler(p, chat.WithPrepare(func(r *http.Request, req *chat.Request) error {
		req.Model = "deepseek-chat"
		return nil
	})))
}

func attrs(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

func (k *otelKit) metrics(t *testing.T) map[string]metricdata.Aggregation {
	var rm metricdata.ResourceMetrics
	if err := k.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	m := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			m[md.Name] = md.Data
		}
	}
	return m
}

func TestTelemetryCompleted(t *testing.T) {
	k := newOtelKit(t)
	p := &chattest.Provider{Tokens: []string{"你好", "!"}, Usage: &chat.Usage{InputTokens: 7, OutputTokens: 3, TotalTokens: 10, ReasoningTokens: 2}}
	srv := httptest.NewServer(k.handler(p, true))
	defer srv.Close()
	s, err := chattest.Post(srv.Client(), srv.URL, chattest.UserMessage("hi"))
	if err != nil || s.Done == nil {
		t.Fatalf("stream: %v, %+v", err, s)
	}
	srv.Close() // waits for the handler, and so for the span
	spans := k.spans.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	sp := spans[0]
	a := attrs(sp.Attributes())
	want := map[attribute.Key]any{
		"gen_ai.operation.name":                "chat",
		"gen_ai.provider.name":                 "deepseek",
		"gen_ai.request.model":                 "deepseek-chat",
		"gen_ai.request.stream":                true,
		"gen_ai.response.id":                   s.Start.ID,
		"gen_ai.usage.input_tokens":            int64(7),
		"gen_ai.usage.output_tokens":           int64(3),
		"gen_ai.usage.reasoning.output_tokens": int64(2),
		"ssechat.stream.end_reason":            "completed",
		"ssechat.stream.characters":            int64(3),
	}
	for key, v := range want {
		if got := a[key].AsInterface(); got != v {
			t.Errorf("%s = %v, want %v", key, got, v)
		}
	}
	if got := a["gen_ai.response.finish_reasons"].AsStringSlice(); len(got) != 1 || got[0] != "stop" {
		t.Errorf("finish_reasons = %v", got)
	}
	if a["gen_ai.response.time_to_first_chunk"].AsFloat64() <= 0 {
		t.Errorf("time_to_first_chunk = %v", a["gen_ai.response.time_to_first_chunk"])
	}
	if !strings.Contains(a["gen_ai.input.messages"].AsString(), `"content":"hi"`) || !strings.Contains(a["gen_ai.output.messages"].AsString(), "你好!") {
		t.Errorf("content: %s / %s", a["gen_ai.input.messages"].AsString(), a["gen_ai.output.messages"].AsString())
	}
	if sp.Name() != "chat deepseek-chat" || sp.Status().Code != codes.Unset || sp.SpanKind().String() != "server" {
		t.Errorf("name %q, status %v, kind %v", sp.Name(), sp.Status(), sp.SpanKind())
	}

	m := k.metrics(t)
	ttft := m["gen_ai.server.time_to_first_token"].(metricdata.Histogram[float64])
	if len(ttft.DataPoints) != 1 || ttft.DataPoints[0].Count != 1 || len(ttft.DataPoints[0].Bounds) != 16 || ttft.DataPoints[0].Bounds[0] != 0.001 {
		t.Errorf("ttft: %+v", ttft.DataPoints)
	}
	dur := m["gen_ai.server.request.duration"].(metricdata.Histogram[float64])
	if len(dur.DataPoints) != 1 || len(dur.DataPoints[0].Bounds) != 14 || dur.DataPoints[0].Bounds[13] != 81.92 {
		t.Errorf("duration: %+v", dur.DataPoints)
	}
	tok := m["gen_ai.client.token.usage"].(metricdata.Histogram[int64])
	sums := map[string]int64{}
	for _, dp := range tok.DataPoints {
		v, _ := dp.Attributes.Value("gen_ai.token.type")
		sums[v.AsString()] = dp.Sum
		if len(dp.Bounds) != 14 || dp.Bounds[13] != 67108864 {
			t.Errorf("token bounds %v", dp.Bounds)
		}
		if pv, _ := dp.Attributes.Value("gen_ai.provider.name"); pv.AsString() != "deepseek" {
			t.Errorf("token usage provider %v", pv)
		}
	}
	if sums["input"] != 7 || sums["output"] != 3 {
		t.Errorf("token usage %v", sums)
	}
	chars := m["ssechat.stream.characters"].(metricdata.Sum[int64])
	if len(chars.DataPoints) != 1 || chars.DataPoints[0].Value != 3 {
		t.Errorf("characters %+v", chars.DataPoints)
	}
}

func TestTelemetryUpstreamError(t *testing.T) {
	k := newOtelKit(t)
	p := &chattest.Provider{Tokens: []string{"a", "b"}, Err: chat.NewError(chat.CodeUpstreamUnavailable, ""), ErrAt: 1}
	srv := httptest.NewServer(k.handler(p, false))
	defer srv.Close()
	if _, err := chattest.Post(srv.Client(), srv.URL, chattest.UserMessage("hi")); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	sp := k.spans.Ended()[0]
	a := attrs(sp.Attributes())
	if a["error.type"].AsString() != "upstream_unavailable" || a["ssechat.stream.end_reason"].AsString() != "upstream_error" || sp.Status().Code != codes.Error {
		t.Errorf("error.type %v, end %v, status %v", a["error.type"], a["ssechat.stream.end_reason"], sp.Status())
	}
	if _, ok := a["gen_ai.input.messages"]; ok {
		t.Error("content recorded without RecordContent")
	}
	dur := k.metrics(t)["gen_ai.server.request.duration"].(metricdata.Histogram[float64])
	if v, _ := dur.DataPoints[0].Attributes.Value("error.type"); v.AsString() != "upstream_unavailable" {
		t.Errorf("duration error.type = %v", v)
	}
}

func TestTelemetryClientAbortIsNotAnError(t *testing.T) {
	k := newOtelKit(t)
	p := &chattest.Provider{Tokens: []string{"a"}, Block: true}
	srv := httptest.NewServer(k.handler(p, false))
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	newLines(t, resp.Body).until("event: delta")
	cancel()
	resp.Body.Close()
	<-p.Canceled()
	srv.Close() // waits for the handler, and so for the span
	sp := k.spans.Ended()[0]
	a := attrs(sp.Attributes())
	if a["ssechat.stream.end_reason"].AsString() != "client_gone" || sp.Status().Code != codes.Unset {
		t.Errorf("end %v, status %v", a["ssechat.stream.end_reason"], sp.Status())
	}
	if _, ok := a["error.type"]; ok {
		t.Errorf("error.type set on a client abort: %v", a["error.type"])
	}
}

func TestTelemetryRefusedRequest(t *testing.T) {
	k := newOtelKit(t)
	srv := httptest.NewServer(k.handler(&chattest.Provider{}, false))
	defer srv.Close()
	resp, err := srv.Client().Post(srv.URL, "text/plain", strings.NewReader("hi"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	srv.Close()
	sp := k.spans.Ended()[0]
	if a := attrs(sp.Attributes()); a["error.type"].AsString() != "415" || sp.Status().Code != codes.Unset {
		t.Errorf("error.type %v, status %v", a["error.type"], sp.Status())
	}
}

func TestTelemetryMetricAttributeSets(t *testing.T) {
	// Each metric's data points carry exactly the attributes of their
	// stream: the model asked for, the model that answered, the error,
	// whatever streams came before them.
	k := newOtelKit(t)
	h := middleware.Telemetry(&middleware.TelemetryOptions{TracerProvider: k.tp, MeterProvider: k.mp, ProviderName: "deepseek"})(
		chat.NewHandler(chat.ProviderFunc(func(ctx context.Context, req *chat.Request) iter.Seq2[chat.Chunk, error] {
			p := &chattest.Provider{Chunks: []chat.Chunk{{Text: "a", Model: req.Model + "-v2"}}, Usage: &chat.Usage{InputTokens: 5, OutputTokens: 1, TotalTokens: 6}}
			if req.Model == "failing" {
				p.Err, p.ErrAt = chat.NewError(chat.CodeUpstreamUnavailable, ""), 1
			}
			return p.Stream(ctx, req)
		}), chat.WithPrepare(func(r *http.Request, req *chat.Request) error {
			req.Model = req.Messages[0].Content
			return nil
		})))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, model := range []string{"m1", "m2", "m1", "failing"} {
		if _, err := chattest.Post(srv.Client(), srv.URL, chattest.UserMessage(model)); err != nil {
			t.Fatal(err)
		}
	}
	srv.Close()

	base := func(model string, more ...attribute.KeyValue) string {
		set := attribute.NewSet(append([]attribute.KeyValue{
			attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.provider.name", "deepseek"),
			attribute.String("gen_ai.request.model", model), attribute.String("gen_ai.response.model", model+"-v2"),
		}, more...)...)
		return set.Encoded(attribute.DefaultEncoder())
	}
	failed := attribute.String("error.type", "upstream_unavailable")
	in, out := attribute.String("gen_ai.token.type", "input"), attribute.String("gen_ai.token.type", "output")
	want := map[string]map[string]uint64{
		"gen_ai.server.time_to_first_token": {base("m1"): 2, base("m2"): 1, base("failing"): 1},
		"gen_ai.server.request.duration":    {base("m1"): 2, base("m2"): 1, base("failing", failed): 1},
		// The failed stream ended before its usage came.
		"gen_ai.client.token.usage": {base("m1", in): 2, base("m1", out): 2, base("m2", in): 1, base("m2", out): 1},
		"ssechat.stream.characters": {base("m1"): 2, base("m2"): 1, base("failing"): 1},
	}
	m := k.metrics(t)
	for name, points := range want {
		got := map[string]uint64{}
		switch d := m[name].(type) {
		case metricdata.Histogram[float64]:
			for _, dp := range d.DataPoints {
				got[dp.Attributes.Encoded(attribute.DefaultEncoder())] = dp.Count
			}
		case metricdata.Histogram[int64]:
			for _, dp := range d.DataPoints {
				got[dp.Attributes.Encoded(attribute.DefaultEncoder())] = dp.Count
			}
		case metricdata.Sum[int64]:
			for _, dp := range d.DataPoints {
				got[dp.Attributes.Encoded(attribute.DefaultEncoder())] = uint64(dp.Value) // one character a stream
			}
		default:
			t.Fatalf("%s: %T", name, m[name])
		}
		if len(got) != len(points) {
			t.Errorf("%s: %d data points, want %d: %v", name, len(got), len(points), got)
		}
		for set, n := range points {
			if got[set] != n {
				t.Errorf("%s {%s}: %d, want %d (all: %v)", name, set, got[set], n, got)
			}
		}
	}
}
