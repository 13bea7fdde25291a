package middleware

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/semconv/v1.41.0/genaiconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/internal/apart"
	"github.com/ssechat/ssechat/internal/streamctx"
)

const instrumentationName = "github.com/ssechat/ssechat/middleware"

// Attributes this package adds to the GenAI conventions.
const (
	// AttrEndReason is why the stream ended (chat.EndReason): completed,
	// client_gone, upstream_error, timeout, stopped, internal or shutdown;
	// "detached" when the request ended with its generation still running.
	AttrEndReason = attribute.Key("ssechat.stream.end_reason")
	// AttrStreamID is the stream's id, the prefix of its event ids.
	AttrStreamID = attribute.Key("ssechat.stream.id")
	// AttrCharacters is the number of Unicode code points streamed.
	AttrCharacters = attribute.Key("ssechat.stream.characters")
)

// The bucket boundaries the GenAI semantic conventions recommend.
var (
	durationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	ttftBuckets     = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0}
	tokenBuckets    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
)

// TelemetryOptions configures [Telemetry]. The zero value (or nil) gives the
// defaults.
type TelemetryOptions struct {
	// TracerProvider and MeterProvider default to otel's global providers.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// ProviderName is gen_ai.provider.name, the vendor behind the model
	// ("openai", "deepseek", ...; see genaiconv.ProviderName*). Default
	// "openai", the wire chat/openai speaks.
	ProviderName string
	// RecordContent adds the request's messages and the answer to the span
	// as gen_ai.input.messages and gen_ai.output.messages. Default false:
	// conversations often hold personal data.
	RecordContent bool
}

type telemetry struct {
	tracer     trace.Tracer
	provider   string
	content    bool
	ttft       genaiconv.ServerTimeToFirstToken
	duration   genaiconv.ServerRequestDuration
	tokens     genaiconv.ClientTokenUsage
	characters metric.Int64Counter

	sets  sync.Map // metricSetsKey → *metricSets
	setsN atomic.Int32
}

// Telemetry returns middleware that traces and measures chat streams
// (chat.Handler) with OpenTelemetry, following the GenAI semantic
// conventions (semconv v1.41.0).
//
// Each request gets one span, named "chat {model}" once the model is known,
// with gen_ai.operation.name, gen_ai.provider.name, gen_ai.request.model,
// gen_ai.request.stream, gen_ai.response.model, gen_ai.response.id (the
// upstream's, or the stream id), gen_ai.response.finish_reasons,
// gen_ai.usage.input_tokens and output_tokens,
// gen_ai.response.time_to_first_chunk (s), and [AttrEndReason],
// [AttrStreamID] and [AttrCharacters]. An upstream failure or timeout sets
// error.type to its chat.Code and the span status to Error; a client that
// leaves is not an error. A request refused before streaming (4xx) gets
// error.type set to its status code. The span is a child of the request's
// span (otelhttp's, for example) when there is one, and a server span
// otherwise; spans the provider makes (an instrumented HTTP client) are its
// children.
//
// Metrics, with the conventions' bucket boundaries:
// gen_ai.server.time_to_first_token and gen_ai.server.request.duration (s),
// gen_ai.client.token.usage ({token}, per gen_ai.token.type) and the counter
// ssechat.stream.characters ({character}).
//
// Message content is recorded only with [TelemetryOptions].RecordContent.
func Telemetry(opts *TelemetryOptions) func(http.Handler) http.Handler {
	return newTelemetry(opts).middleware
}

func newTelemetry(opts *TelemetryOptions) *telemetry {
	var o TelemetryOptions
	if opts != nil {
		o = *opts
	}
	if o.TracerProvider == nil {
		o.TracerProvider = otel.GetTracerProvider()
	}
	if o.MeterProvider == nil {
		o.MeterProvider = otel.GetMeterProvider()
	}
	if o.ProviderName == "" {
		o.ProviderName = string(genaiconv.ProviderNameOpenAI)
	}
	meter := o.MeterProvider.Meter(instrumentationName)
	t := &telemetry{
		tracer:   o.TracerProvider.Tracer(instrumentationName),
		provider: o.ProviderName,
		content:  o.RecordContent,
	}
	var err error
	if t.ttft, err = genaiconv.NewServerTimeToFirstToken(meter, metric.WithExplicitBucketBoundaries(ttftBuckets...)); err != nil {
		otel.Handle(err)
	}
	if t.duration, err = genaiconv.NewServerRequestDuration(meter, metric.WithExplicitBucketBoundaries(durationBuckets...)); err != nil {
		otel.Handle(err)
	}
	if t.tokens, err = genaiconv.NewClientTokenUsage(meter, metric.WithExplicitBucketBoundaries(tokenBuckets...)); err != nil {
		otel.Handle(err)
	}
	if t.characters, err = meter.Int64Counter("ssechat.stream.characters",
		metric.WithUnit("{character}"), metric.WithDescription("Unicode code points of answer text streamed to clients.")); err != nil {
		otel.Handle(err)
	}
	return t
}

// observer receives one stream's report from chat.Handler.
type observer struct{ report *streamctx.Report }

func (o *observer) Finished(r *streamctx.Report) { o.report = r }

func (t *telemetry) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The span's start and end in functions of their own: what stays
		// on the stack below the chat handler is small (see
		// chat.Handler's producer.generate).
		s, w, r, done := install(w, r)
		defer done()
		ctx, span, obs := t.begin(r)
		defer span.End()
		start := time.Now()
		next.ServeHTTP(w, r.WithContext(ctx))
		// Recording a metric takes a deep stack (attribute sets are
		// sorted in large frames): see apart.Do.
		apart.Do(func() { t.finish(ctx, span, obs, s, start) })
	})
}

// begin starts the request's span.
//
//go:noinline
func (t *telemetry) begin(r *http.Request) (context.Context, trace.Span, *observer) {
	kind := trace.SpanKindServer
	if trace.SpanContextFromContext(r.Context()).IsValid() {
		kind = trace.SpanKindInternal
	}
	ctx, span := t.tracer.Start(r.Context(), "chat", trace.WithSpanKind(kind), trace.WithAttributes(
		semconv.GenAIOperationNameChat,
		semconv.GenAIProviderNameKey.String(t.provider),
		semconv.GenAIRequestStream(true),
	))
	obs := new(observer)
	return streamctx.WithObserver(ctx, obs), span, obs
}

// finish records what the handler reported, or the status it answered
// with.
//
//go:noinline
func (t *telemetry) finish(ctx context.Context, span trace.Span, obs *observer, s *stream, start time.Time) {
	if obs.report != nil {
		t.record(ctx, span, obs.report)
		return
	}
	// Refused before streaming (or not a chat.Handler at all).
	status := http.StatusOK
	if s != nil {
		_, _, _, status = s.state()
	}
	if status >= 400 {
		span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(status)))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		t.duration.Record(ctx, time.Since(start).Seconds(), genaiconv.OperationNameChat, genaiconv.ProviderNameAttr(t.provider),
			t.duration.AttrErrorType(genaiconv.ErrorTypeAttr(strconv.Itoa(status))))
	}
}

func (t *telemetry) record(ctx context.Context, span trace.Span, rep *streamctx.Report) {
	if rep.Model != "" {
		span.SetName("chat " + rep.Model)
	}
	respID := rep.ResponseID
	if respID == "" {
		respID = rep.StreamID
	}
	attrs := []attribute.KeyValue{
		semconv.GenAIRequestModel(rep.Model),
		semconv.GenAIResponseID(respID),
		AttrStreamID.String(rep.StreamID),
		AttrEndReason.String(rep.End),
		AttrCharacters.Int(rep.Characters),
	}
	if rep.ResponseModel != "" {
		attrs = append(attrs, semconv.GenAIResponseModel(rep.ResponseModel))
	}
	if rep.FinishReason != "" && rep.End == string(chat.EndCompleted) {
		attrs = append(attrs, semconv.GenAIResponseFinishReasons(rep.FinishReason))
	}
	if rep.HasUsage {
		attrs = append(attrs, semconv.GenAIUsageInputTokens(rep.InputTokens), semconv.GenAIUsageOutputTokens(rep.OutputTokens))
		if rep.ReasoningTokens > 0 {
			attrs = append(attrs, semconv.GenAIUsageReasoningOutputTokens(rep.ReasoningTokens))
		}
	}
	if rep.FirstChunk > 0 {
		attrs = append(attrs, semconv.GenAIResponseTimeToFirstChunk(rep.FirstChunk.Seconds()))
	}
	if rep.ErrorCode != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(rep.ErrorCode))
		span.SetStatus(codes.Error, rep.ErrorCode)
	}
	if t.content {
		attrs = append(attrs, contentAttrs(rep)...)
	}
	span.SetAttributes(attrs...)

	ms := t.metricSets(rep.Model, rep.ResponseModel, rep.ErrorCode)
	if rep.FirstChunk > 0 {
		t.ttft.RecordSet(ctx, rep.FirstChunk.Seconds(), ms.base)
	}
	if rep.HasUsage {
		t.tokens.RecordSet(ctx, int64(rep.InputTokens), ms.input)
		t.tokens.RecordSet(ctx, int64(rep.OutputTokens), ms.output)
	}
	t.characters.Add(ctx, int64(rep.Characters), metric.WithAttributeSet(ms.base))
	t.duration.RecordSet(ctx, rep.Duration.Seconds(), ms.duration)
}

// metricSets are the attribute sets of the metrics of one kind of stream:
// one model, one response model, one error type (or none).
type metricSets struct {
	base          attribute.Set // gen_ai.operation.name, gen_ai.provider.name and the models
	input, output attribute.Set // base and gen_ai.token.type
	duration      attribute.Set // base and error.type, if any
}

type metricSetsKey struct{ model, responseModel, errorType string }

// maxMetricSets bounds the cache of attribute sets: model names come from
// requests.
const maxMetricSets = 256

// metricSets returns the attribute sets for a stream, made once for each
// kind of stream (up to maxMetricSets kinds): building a set sorts and
// hashes its attributes, which would otherwise be done four times for
// every stream.
func (t *telemetry) metricSets(model, responseModel, errorType string) *metricSets {
	key := metricSetsKey{model, responseModel, errorType}
	if ms, ok := t.sets.Load(key); ok {
		return ms.(*metricSets)
	}
	op, prov := semconv.GenAIOperationNameChat, semconv.GenAIProviderNameKey.String(t.provider)
	base := []attribute.KeyValue{op, prov, t.duration.AttrRequestModel(model)}
	if responseModel != "" {
		base = append(base, t.duration.AttrResponseModel(responseModel))
	}
	with := func(kv attribute.KeyValue) attribute.Set {
		return attribute.NewSet(append(base[:len(base):len(base)], kv)...)
	}
	ms := &metricSets{
		base:   attribute.NewSet(base...),
		input:  with(semconv.GenAITokenTypeInput),
		output: with(semconv.GenAITokenTypeOutput),
	}
	ms.duration = ms.base
	if errorType != "" {
		ms.duration = with(t.duration.AttrErrorType(genaiconv.ErrorTypeAttr(errorType)))
	}
	if t.setsN.Load() < maxMetricSets {
		if v, loaded := t.sets.LoadOrStore(key, ms); loaded {
			return v.(*metricSets)
		}
		t.setsN.Add(1)
	}
	return ms
}

// contentAttrs renders the conversation in the conventions' JSON shapes.
func contentAttrs(rep *streamctx.Report) []attribute.KeyValue {
	type part struct {
		Type    string `json:"type"`
		Content string `json:"content"`
	}
	type message struct {
		Role         string `json:"role"`
		Parts        []part `json:"parts"`
		FinishReason string `json:"finish_reason,omitempty"`
	}
	in := make([]message, len(rep.Messages))
	for i, m := range rep.Messages {
		in[i] = message{Role: m.Role, Parts: []part{{"text", m.Content}}}
	}
	out := []message{{Role: "assistant", Parts: []part{{"text", rep.Text}}, FinishReason: rep.FinishReason}}
	inJSON, _ := json.Marshal(in)
	outJSON, _ := json.Marshal(out)
	return []attribute.KeyValue{
		semconv.GenAIInputMessagesKey.String(string(inJSON)),
		semconv.GenAIOutputMessagesKey.String(string(outJSON)),
	}
}
