package openai_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	goopenai "github.com/sashabaranov/go-openai"
	"go.uber.org/goleak"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/chat/openai"
	"github.com/ssechat/ssechat/internal/fakeopenai"
	"github.com/ssechat/ssechat/internal/servertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const apiKey = "sk-test-SECRET-0123456789"

// setup starts the fake upstream and a chat handler using the real go-openai
// client against it, and returns the handler's server and the results of
// its finish hook.
func setup(t *testing.T, fake *fakeopenai.Server) (*httptest.Server, chan *chat.Result) {
	t.Helper()
	up := httptest.NewServer(fake)
	t.Cleanup(up.Close)
	cfg := goopenai.DefaultConfig(apiKey)
	cfg.BaseURL = up.URL + "/v1"
	results := make(chan *chat.Result, 4)
	h := chat.NewHandler(openai.New(cfg, openai.WithModel("fake-model")),
		chat.WithFinish(func(_ context.Context, r *chat.Result) { results <- r }))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, results
}

func post(t *testing.T, srv *httptest.Server, query, msg string) *chattest.Stream {
	t.Helper()
	req := chattest.UserMessage(msg)
	s, err := chattest.Post(srv.Client(), srv.URL+query, req)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStream(t *testing.T) {
	fake := &fakeopenai.Server{}
	srv, results := setup(t, fake)
	const msg = "你好, world! 👩‍💻 e\u0301"
	s := post(t, srv, "", msg)
	if s.Status != 200 || s.Text != msg || s.Terminals != 1 || s.Done == nil {
		t.Fatalf("status %d text %q terminals %d error %+v", s.Status, s.Text, s.Terminals, s.Error)
	}
	want := chat.Usage{InputTokens: 11, OutputTokens: 5, TotalTokens: 16}
	if s.Done.FinishReason != "stop" || s.Done.Usage == nil || *s.Done.Usage != want {
		t.Fatalf("done %+v", s.Done)
	}
	if s.Start.Model != "" {
		t.Fatalf("start model %q: the request named none", s.Start.Model)
	}
	res := <-results
	if res.End != chat.EndCompleted || res.Text != msg {
		t.Fatalf("result %+v", res)
	}
	// What went upstream: the key, the default model, streaming with usage.
	up := fake.Requests()[0]
	if up.Authorization != "Bearer "+apiKey || up.Body["model"] != "fake-model" || up.Body["stream"] != true {
		t.Fatalf("upstream request %+v", up)
	}
	if so, _ := up.Body["stream_options"].(map[string]any); so["include_usage"] != true {
		t.Fatalf("stream_options %v", up.Body["stream_options"])
	}
}

func TestRequestParameters(t *testing.T) {
	fake := &fakeopenai.Server{}
	srv, _ := setup(t, fake)
	body := `{"model":"other","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],
		"temperature":0,"top_p":0.5,"max_tokens":64,"stop":["\n\n"],"seed":7,"presence_penalty":0.5,"frequency_penalty":-0.5,"user":"u1"}`
	if s, err := chattest.Post(srv.Client(), srv.URL, body); err != nil || s.Text != "hi" {
		t.Fatalf("%+v %v", s, err)
	}
	got := fake.Requests()[0].Body
	if got["model"] != "other" || got["max_tokens"] != 64.0 || got["seed"] != 7.0 || got["user"] != "u1" ||
		got["top_p"] != 0.5 || got["presence_penalty"] != 0.5 || got["frequency_penalty"] != -0.5 {
		t.Fatalf("upstream body %v", got)
	}
	// go-openai drops zero floats; an explicit zero temperature still goes out.
	if temp, ok := got["temperature"].(float64); !ok || temp > 1e-30 {
		t.Fatalf("temperature %v", got["temperature"])
	}
	if msgs := got["messages"].([]any); len(msgs) != 2 || msgs[0].(map[string]any)["role"] != "system" {
		t.Fatalf("messages %v", got["messages"])
	}
}

func TestUpstreamFailures(t *testing.T) {
	tests := []struct {
		msg    string
		status int // 200 when the failure comes after the stream started
		code   chat.Code
		text   string
	}{
		{fakeopenai.ScriptCut, 200, chat.CodeTruncated, "Hello"},
		{fakeopenai.ScriptCutAfterFinish, 200, chat.CodeTruncated, ""},
		{fakeopenai.ScriptDrop, 200, chat.CodeTruncated, "Hel"},
		{fakeopenai.ScriptMidError, 200, chat.CodeUpstreamUnavailable, "Hel"},
		{"status 401", 502, chat.CodeUpstreamError, ""},
		{"status 403", 502, chat.CodeUpstreamError, ""},
		{"status 404", 502, chat.CodeUpstreamError, ""},
		{"status 429", 429, chat.CodeRateLimited, ""},
		{"status 500", 503, chat.CodeUpstreamUnavailable, ""},
		{"status 503", 503, chat.CodeUpstreamUnavailable, ""},
		{"status 504", 504, chat.CodeTimeout, ""},
	}
	fake := &fakeopenai.Server{}
	srv, results := setup(t, fake)
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			for _, mode := range []string{"delta", "openai"} {
				resp, err := srv.Client().Post(srv.URL+"?mode="+mode, "application/json",
					strings.NewReader(`{"messages":[{"role":"user","content":"`+tt.msg+`"}]}`))
				if err != nil {
					t.Fatal(err)
				}
				raw := readAll(t, resp)
				if strings.Contains(raw, apiKey) || strings.Contains(raw, "Incorrect API key") || strings.Contains(raw, "server_error") {
					t.Fatalf("upstream error text reached the client: %s", raw)
				}
				s := reparse(t, resp, raw)
				if s.Status != tt.status || s.Error == nil || s.Error.Code != tt.code || s.Done != nil {
					t.Fatalf("%s: status %d error %+v done %+v\n%s", mode, s.Status, s.Error, s.Done, raw)
				}
				if tt.status == 200 && (s.Terminals != 1 || (tt.text != "" && s.Text != tt.text)) {
					t.Fatalf("%s: terminals %d text %q", mode, s.Terminals, s.Text)
				}
				res := <-results
				if res.End != chat.EndUpstreamError && res.End != chat.EndTimeout {
					t.Fatalf("end %s", res.End)
				}
				if strings.Contains(res.Err.Error(), apiKey) {
					t.Fatalf("Error() quotes the key: %v", res.Err)
				}
			}
		})
	}
}

func TestCommentsAndKeepAlives(t *testing.T) {
	srv, _ := setup(t, &fakeopenai.Server{})
	s := post(t, srv, "", fakeopenai.ScriptComments)
	if s.Text != "Hello" || s.Done == nil || s.Terminals != 1 {
		t.Fatalf("text %q done %+v error %+v", s.Text, s.Done, s.Error)
	}
}

func TestSlowUpstream(t *testing.T) {
	srv, _ := setup(t, &fakeopenai.Server{Delay: 20 * time.Millisecond})
	s := post(t, srv, "?mode=snapshot", "slow but steady") // five chunks of three runes
	if s.Text != "slow but steady" || s.Done == nil || len(s.Events) != 1+5+1 {
		t.Fatalf("text %q, %d events", s.Text, len(s.Events))
	}
}

// TestClientLeavesUpstreamEnds is the acceptance test for abort on
// disconnect: a client that leaves mid-stream makes the upstream request
// end within 50 ms, over HTTP/1.1 and HTTP/2.
func TestClientLeavesUpstreamEnds(t *testing.T) {
	fake := &fakeopenai.Server{}
	up := httptest.NewServer(fake)
	defer up.Close()
	cfg := goopenai.DefaultConfig(apiKey)
	cfg.BaseURL = up.URL + "/v1"
	results := make(chan *chat.Result, 1)
	h := chat.NewHandler(openai.New(cfg, openai.WithModel("m")),
		chat.WithFinish(func(_ context.Context, r *chat.Result) { results <- r }))
	servertest.Each(t, h, func(t *testing.T, srv *httptest.Server) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL, strings.NewReader(`{"messages":[{"role":"user","content":"slow"}]}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		t.Log("client protocol", resp.Proto)
		servertest.ReadUntil(t, resp.Body, `{"text":"thinking"}`) // the stream is live, the upstream waits
		left := time.Now()
		cancel()
		ended := <-fake.Ended()
		took := ended.Sub(left)
		t.Logf("upstream request ended %v after the client left", took)
		if took > 50*time.Millisecond {
			t.Fatalf("upstream request ended %v after the client left, want <= 50ms", took)
		}
		if res := <-results; res.End != chat.EndClientGone || res.Text != "thinking" {
			t.Fatalf("result %+v", res)
		}
	})
}

// TestResponseHeaderTimeout: an upstream that accepts the request and never
// answers fails the stream after the response-header timeout, not when the
// client gives up.
func TestResponseHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hang.Close()
	defer close(release)
	cfg := goopenai.DefaultConfig("sk-test")
	cfg.BaseURL = hang.URL + "/v1"
	p := openai.New(cfg, openai.WithModel("m"), openai.WithResponseHeaderTimeout(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got error
	for _, err := range p.Stream(ctx, chattest.UserMessage("hi")) {
		if err != nil {
			got = err
			break
		}
	}
	var e *chat.Error
	if !errors.As(got, &e) || ctx.Err() != nil {
		t.Fatalf("err %v, ctx %v", got, ctx.Err())
	}
	if e.Code != chat.CodeUpstreamUnavailable && e.Code != chat.CodeTimeout {
		t.Fatalf("code %s (%v)", e.Code, e.Err)
	}
}
