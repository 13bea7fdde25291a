package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	goopenai "github.com/sashabaranov/go-openai"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/chat/openai"
	"github.com/ssechat/ssechat/internal/fakeopenai"
)

// relay starts a chat handler whose provider is the real go-openai client
// talking to the fake upstream, with the given provider and handler
// options.
func relay(t *testing.T, popts []openai.Option, hopts ...chat.Option) (*httptest.Server, *fakeopenai.Server, chan *chat.Result) {
	t.Helper()
	fake := &fakeopenai.Server{}
	up := httptest.NewServer(fake)
	t.Cleanup(up.Close)
	cfg := goopenai.DefaultConfig(apiKey)
	cfg.BaseURL = up.URL + "/v1"
	results := make(chan *chat.Result, 8)
	h := chat.NewHandler(openai.New(cfg, append([]openai.Option{openai.WithModel("fake-model")}, popts...)...),
		append(hopts, chat.WithFinish(func(_ context.Context, r *chat.Result) { results <- r }))...)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, fake, results
}

// goOpenAIRead reads url's openai-mode stream with go-openai, accumulating
// content, reasoning_content and tool calls by index as its users do.
func goOpenAIRead(t *testing.T, url, msg string) (text, reasoning string, calls []goopenai.ToolCall, finish goopenai.FinishReason, usage *goopenai.Usage) {
	t.Helper()
	cfg := goopenai.DefaultConfig("unused")
	cfg.BaseURL = url
	stream, err := goopenai.NewClientWithConfig(cfg).CreateChatCompletionStream(context.Background(), goopenai.ChatCompletionRequest{
		Model: "m", Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: msg}},
		StreamOptions: &goopenai.StreamOptions{IncludeUsage: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	var tb, rb strings.Builder
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return tb.String(), rb.String(), calls, finish, usage
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range resp.Choices {
			tb.WriteString(c.Delta.Content)
			rb.WriteString(c.Delta.ReasoningContent)
			for _, tc := range c.Delta.ToolCalls {
				i := *tc.Index
				for len(calls) <= i {
					calls = append(calls, goopenai.ToolCall{})
				}
				if tc.ID != "" {
					calls[i].ID, calls[i].Type = tc.ID, tc.Type
				}
				calls[i].Function.Name += tc.Function.Name
				calls[i].Function.Arguments += tc.Function.Arguments
			}
			if c.FinishReason != "" {
				finish = c.FinishReason
			}
		}
		if resp.Usage != nil {
			usage = resp.Usage
		}
	}
}

// TestReasoningDeepSeek: DeepSeek's reasoning_content reaches every mode
// exactly, with reasoning tokens, and go-openai reads it back from openai
// mode.
func TestReasoningDeepSeek(t *testing.T) {
	srv, _, results := relay(t, nil)
	const text = "你好, world! 👩‍💻 e\u0301"
	for _, mode := range []chat.Mode{chat.ModeDelta, chat.ModeSnapshot, chat.ModeOpenAI} {
		req := chattest.UserMessage(fakeopenai.ScriptReason + text)
		req.StreamOptions = &chat.StreamOptions{IncludeUsage: true}
		s, err := chattest.Post(srv.Client(), srv.URL+"?mode="+string(mode), req)
		if err != nil {
			t.Fatal(err)
		}
		if s.Text != text || s.Reasoning != fakeopenai.Reasoning(text) || s.Done == nil || s.Done.Usage == nil || s.Done.Usage.ReasoningTokens != 7 {
			t.Fatalf("%s: text %q reasoning %q done %+v", mode, s.Text, s.Reasoning, s.Done)
		}
		if r := <-results; r.Reasoning != fakeopenai.Reasoning(text) || r.Usage.ReasoningTokens != 7 {
			t.Fatalf("%s: result reasoning %q usage %+v", mode, r.Reasoning, r.Usage)
		}
	}
	got, reasoning, _, finish, usage := goOpenAIRead(t, srv.URL+"/?mode=openai&x=", fakeopenai.ScriptReason+text)
	<-results
	if got != text || reasoning != fakeopenai.Reasoning(text) || finish != goopenai.FinishReasonStop ||
		usage == nil || usage.CompletionTokensDetails == nil || usage.CompletionTokensDetails.ReasoningTokens != 7 {
		t.Fatalf("go-openai read text %q reasoning %q finish %q usage %+v", got, reasoning, finish, usage)
	}
}

var wantCalls = []chat.ToolCall{
	{ID: "call_weather", Name: "weather", Arguments: `{"city":"北京"}`},
	{ID: "call_clock", Name: "clock", Arguments: `{"tz":"Asia/Shanghai"}`},
}

// TestToolCallDeltas: OpenAI's tool-call deltas (two parallel calls, their
// arguments split and interleaved) are streamed in every mode exactly, and
// go-openai reads them back from openai mode; with no tools of the
// server's, the answer ends with tool_calls for the client.
func TestToolCallDeltas(t *testing.T) {
	srv, _, results := relay(t, nil)
	for _, mode := range []chat.Mode{chat.ModeDelta, chat.ModeSnapshot, chat.ModeOpenAI} {
		s, err := chattest.Post(srv.Client(), srv.URL+"?mode="+string(mode), chattest.UserMessage(fakeopenai.ScriptTools))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s.ToolCalls, wantCalls) || s.Done == nil || s.Done.FinishReason != "tool_calls" {
			t.Fatalf("%s: calls %+v done %+v error %+v", mode, s.ToolCalls, s.Done, s.Error)
		}
		if r := <-results; !reflect.DeepEqual(r.ToolCalls, wantCalls) || r.FinishReason != "tool_calls" {
			t.Fatalf("%s: result calls %+v", mode, r.ToolCalls)
		}
	}
	_, _, calls, finish, _ := goOpenAIRead(t, srv.URL+"/?mode=openai&x=", fakeopenai.ScriptTools)
	<-results
	if finish != goopenai.FinishReasonToolCalls || len(calls) != 2 {
		t.Fatalf("go-openai read finish %q calls %+v", finish, calls)
	}
	for i, c := range calls {
		if c.ID != wantCalls[i].ID || c.Type != goopenai.ToolTypeFunction || c.Function.Name != wantCalls[i].Name || c.Function.Arguments != wantCalls[i].Arguments {
			t.Fatalf("go-openai call %d: %+v", i, c)
		}
	}
}

// weatherTool and clockTool are the server's tools the fake calls.
func weatherTool(run func(ctx context.Context, args json.RawMessage) (any, error)) chat.Tool {
	if run == nil {
		run = func(_ context.Context, args json.RawMessage) (any, error) {
			var a struct{ City string }
			if err := json.Unmarshal(args, &a); err != nil {
				return nil, err
			}
			return map[string]any{"city": a.City, "temp": 21}, nil
		}
	}
	return chat.Tool{Name: "weather", Description: "The weather in a city.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`), Run: run}
}

func clockTool(run func(ctx context.Context, args json.RawMessage) (any, error)) chat.Tool {
	if run == nil {
		run = func(context.Context, json.RawMessage) (any, error) { return nil, errors.New("the clock is broken") }
	}
	return chat.Tool{Name: "clock", Description: "The time in a time zone.", Run: run}
}

// toolSpans returns the recorder of the process's spans, installed once:
// the package's tracer, made before any test ran, delegates to the first
// global provider only, so a second one (go test -count 2) would see none.
var toolSpans = sync.OnceValue(func() *tracetest.SpanRecorder {
	spans := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	return spans
})

// TestToolLoop: the provider runs the server's tools (one succeeds, one
// fails: its error goes back to the model), streams the calls and results,
// and the model's second step answers with them; execute_tool spans are
// recorded per the GenAI conventions.
func TestToolLoop(t *testing.T) {
	spans := toolSpans()
	before := len(spans.Ended())

	srv, fake, results := relay(t, []openai.Option{openai.WithTools(weatherTool(nil), clockTool(nil))})
	serverCalls := []chat.ToolCall{
		{ID: "call_weather", Name: "weather", Arguments: `{"city":"北京"}`, Server: true},
		{ID: "call_clock", Name: "clock", Arguments: `{"tz":"Asia/Shanghai"}`, Server: true},
	}
	for _, mode := range []chat.Mode{chat.ModeDelta, chat.ModeSnapshot} {
		s, err := chattest.Post(srv.Client(), srv.URL+"?mode="+string(mode), chattest.UserMessage(fakeopenai.ScriptTools))
		if err != nil {
			t.Fatal(err)
		}
		wantResults := []chat.ToolResult{
			{ID: "call_weather", Name: "weather", Output: json.RawMessage(`{"city":"北京","temp":21}`)},
			{ID: "call_clock", Name: "clock", Error: "the clock is broken"},
		}
		const answer = `Results: {"city":"北京","temp":21}; {"error":"the clock is broken"}`
		if !reflect.DeepEqual(s.ToolCalls, serverCalls) || !reflect.DeepEqual(s.ToolResults, wantResults) || s.Text != answer ||
			s.Done == nil || s.Done.FinishReason != "stop" {
			t.Fatalf("%s: calls %+v results %+v text %q done %+v error %+v", mode, s.ToolCalls, s.ToolResults, s.Text, s.Done, s.Error)
		}
		// Calls, then results, then the text: in the order they happened.
		var order []string
		for _, ev := range s.Events {
			if n := ev.Name; n == chat.EventToolCall || n == chat.EventToolResult || (n == chat.EventDelta || n == chat.EventSnapshot) && (len(order) == 0 || order[len(order)-1] != "text") {
				if n == chat.EventDelta || n == chat.EventSnapshot {
					n = "text"
				}
				order = append(order, n)
			}
		}
		if strings.Join(order, ",") != "tool_call,tool_call,tool_result,tool_result,text" {
			t.Fatalf("%s: order %v", mode, order)
		}
		r := <-results
		if r.Text != answer || !reflect.DeepEqual(r.ToolResults, wantResults) || r.Usage == nil || r.Usage.TotalTokens != 32 {
			t.Fatalf("%s: result %+v usage %+v", mode, r, r.Usage)
		}
	}
	// In openai mode the server's own calls are not shown: an OpenAI client
	// would run them, or send them back without results.
	s, err := chattest.Post(srv.Client(), srv.URL+"?mode=openai", chattest.UserMessage(fakeopenai.ScriptTools))
	if err != nil {
		t.Fatal(err)
	}
	<-results
	if len(s.ToolCalls) != 0 || s.Text != `Results: {"city":"北京","temp":21}; {"error":"the clock is broken"}` || s.Done == nil || s.Done.FinishReason != "stop" {
		t.Fatalf("openai mode: calls %+v text %q done %+v", s.ToolCalls, s.Text, s.Done)
	}
	// Each answer took two requests; the second carried the calls and results.
	reqs := fake.Requests()[:4]
	if len(reqs) != 4 {
		t.Fatalf("%d upstream requests", len(reqs))
	}
	msgs, _ := reqs[1].Body["messages"].([]any)
	if len(msgs) != 4 {
		t.Fatalf("second step's messages: %v", msgs)
	}
	if tools, _ := reqs[0].Body["tools"].([]any); len(tools) != 2 {
		t.Fatalf("tools offered: %v", reqs[0].Body["tools"])
	}
	var execs []string
	for _, sp := range spans.Ended()[before:] {
		if strings.HasPrefix(sp.Name(), "execute_tool ") {
			attrs := map[string]string{}
			for _, a := range sp.Attributes() {
				attrs[string(a.Key)] = a.Value.Emit()
			}
			if attrs["gen_ai.operation.name"] != "execute_tool" || attrs["gen_ai.tool.name"] == "" || attrs["gen_ai.tool.call.id"] == "" {
				t.Fatalf("span %s attributes %v", sp.Name(), attrs)
			}
			execs = append(execs, sp.Name()+"/"+sp.Status().Code.String())
		}
	}
	if len(execs) != 6 || !strings.Contains(strings.Join(execs, " "), "execute_tool clock/Error") {
		t.Fatalf("execute_tool spans: %v", execs)
	}
}

// TestToolPanicAndStepLimit: a tool that panics is recovered (the model
// gets an error, the client a tool error without the panic's value), and a
// model that keeps calling tools stops at the step limit with a clear
// finish: tool_calls, after the last results.
func TestToolPanicAndStepLimit(t *testing.T) {
	var runs atomic.Int32
	panicky := weatherTool(func(context.Context, json.RawMessage) (any, error) {
		runs.Add(1)
		panic("secret internal state")
	})
	srv, fake, _ := relay(t, []openai.Option{openai.WithTools(panicky), openai.WithMaxSteps(3)})
	s, err := chattest.Post(srv.Client(), srv.URL, chattest.UserMessage(fakeopenai.ScriptToolsForever))
	if err != nil {
		t.Fatal(err)
	}
	if s.Done == nil || s.Done.FinishReason != "tool_calls" || len(s.ToolResults) != 3 || runs.Load() != 3 || len(fake.Requests()) != 3 {
		t.Fatalf("done %+v error %+v results %+v runs %d requests %d", s.Done, s.Error, s.ToolResults, runs.Load(), len(fake.Requests()))
	}
	for _, r := range s.ToolResults {
		if r.Error != chat.ErrToolPanicked.Error() || strings.Contains(r.Error, "secret") {
			t.Fatalf("result %+v", r)
		}
	}
}

// TestAbortDuringTool: a client that leaves while a tool runs cancels the
// tool's context, and no further step is taken.
func TestAbortDuringTool(t *testing.T) {
	running := make(chan struct{})
	canceled := make(chan struct{})
	slow := weatherTool(func(ctx context.Context, _ json.RawMessage) (any, error) {
		close(running)
		<-ctx.Done()
		close(canceled)
		return nil, ctx.Err()
	})
	srv, fake, results := relay(t, []openai.Option{openai.WithTools(slow, clockTool(nil))})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader(`{"messages":[{"role":"user","content":"tools"}]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-running
	cancel()
	<-canceled
	r := <-results
	if r.End != chat.EndClientGone || len(fake.Requests()) != 1 {
		t.Fatalf("end %s, %d upstream requests", r.End, len(fake.Requests()))
	}
}

// TestRequestTools: tools a client declares are refused unless the
// handler allows them; then they, tool_choice, parallel_tool_calls and
// response_format reach the upstream.
func TestRequestTools(t *testing.T) {
	const body = `{"messages":[{"role":"user","content":"tools"}],
		"tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object"}}}],
		"tool_choice":"auto","parallel_tool_calls":false,"response_format":{"type":"json_object"}}`
	srv, fake, _ := relay(t, nil)
	s, err := chattest.Post(srv.Client(), srv.URL, body)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != http.StatusUnprocessableEntity || s.Error.Code != chat.CodeInvalidRequest || len(fake.Requests()) != 0 {
		t.Fatalf("default: status %d error %+v", s.Status, s.Error)
	}

	srv, fake, results := relay(t, nil, chat.WithRequestTools(true))
	s, err = chattest.Post(srv.Client(), srv.URL, body)
	if err != nil {
		t.Fatal(err)
	}
	<-results
	if s.Done == nil || s.Done.FinishReason != "tool_calls" || len(fake.Requests()) != 1 {
		t.Fatalf("allowed: done %+v error %+v", s.Done, s.Error)
	}
	got := fake.Requests()[0].Body
	tools, _ := got["tools"].([]any)
	rf, _ := got["response_format"].(map[string]any)
	if len(tools) != 1 || got["tool_choice"] != "auto" || got["parallel_tool_calls"] != false || rf["type"] != "json_object" {
		t.Fatalf("upstream got %v", got)
	}

	// A malformed tool is the client's error, before anything streams.
	s, err = chattest.Post(srv.Client(), srv.URL, `{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != http.StatusUnprocessableEntity || !strings.Contains(s.Error.Message, "tools[0]") {
		t.Fatalf("malformed tool: %d %+v", s.Status, s.Error)
	}
}
