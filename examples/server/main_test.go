package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	goopenai "github.com/sashabaranov/go-openai"
	gosse "github.com/tmaxmax/go-sse"
	"go.uber.org/goleak"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/internal/fakeopenai"
	"github.com/ssechat/ssechat/internal/servertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs the server on a free loopback port and returns its /chat URL
// and a function that stops it and returns run's error.
func start(t *testing.T, args []string, env map[string]string) (string, *syncBuffer, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...),
			func(k string) string { return env[k] }, logs, func(a net.Addr) { addrc <- a })
	}()
	var url string
	select {
	case a := <-addrc:
		url = "http://" + a.String() + "/chat"
	case err := <-errc:
		t.Fatalf("server did not start: %v\n%s", err, logs)
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-errc
	}
	t.Cleanup(func() { _ = stop() })
	return url, logs, stop
}

func TestEchoesExactly(t *testing.T) {
	url, logs, stop := start(t, []string{"-mock-delay", "0"}, nil)
	texts := []string{
		"你好，世界！这是一个流式回答。",
		"emoji 👩‍👩‍👧‍👦 🏳️‍🌈 👋🏽 and flags 🇨🇳",
		"combining e\u0301 a\u0308 \u0915\u094d\u0937",
		"lines\r\nwith\rbreaks\n\n",
		"data: looks like a field\n\nid: 1\nevent: done\n: comment",
	}
	for _, mode := range []string{"delta", "snapshot", "openai"} {
		for _, text := range texts {
			s, err := chattest.Post(http.DefaultClient, url+"?mode="+mode, chattest.UserMessage(text))
			if err != nil {
				t.Fatal(err)
			}
			if s.Status != 200 || s.Text != text || s.Terminals != 1 || s.Done == nil {
				t.Fatalf("%s: status %d text %q want %q, error %+v", mode, s.Status, s.Text, text, s.Error)
			}
		}
	}
	// A message with no text is nothing to answer: 422, never an empty 200.
	for _, mode := range []string{"delta", "snapshot", "openai", "ui"} {
		s, err := chattest.Post(http.DefaultClient, url+"?mode="+mode, chattest.UserMessage(""))
		if err != nil {
			t.Fatal(err)
		}
		if s.Status != 422 || s.Error == nil || s.Error.Code != chat.CodeInvalidRequest {
			t.Fatalf("%s: an empty message: status %d error %+v", mode, s.Status, s.Error)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if n := strings.Count(logs.String(), `msg="stream end"`); n != 3*len(texts) {
		t.Fatalf("%d stream end lines, want %d:\n%s", n, 3*len(texts), logs)
	}
	if !strings.Contains(logs.String(), "end=completed") || !strings.Contains(logs.String(), "model=echo") {
		t.Fatalf("logs:\n%s", logs)
	}
}

func TestDisconnectIsLogged(t *testing.T) {
	url, logs, stop := start(t, []string{"-mock-delay", "1h", "-detach", "0"}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// The start event arrives before the first (hour-long) chunk.
	servertest.ReadUntil(t, resp.Body, "event: start")
	cancel()
	resp.Body.Close()
	if err := stop(); err != nil { // graceful: waits for the stream to end
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "end=client_gone") {
		t.Fatalf("logs:\n%s", logs)
	}
}

func TestOpenAIUpstream(t *testing.T) {
	fake := &fakeopenai.Server{}
	up := httptest.NewServer(fake)
	defer up.Close()
	url, logs, _ := start(t, nil, map[string]string{
		"OPENAI_API_KEY":  "sk-example",
		"OPENAI_BASE_URL": up.URL + "/v1",
		"OPENAI_MODEL":    "fake-model",
	})
	s, err := chattest.Post(http.DefaultClient, url, chattest.UserMessage("through the real client"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Text != "through the real client" || s.Start.Model != "fake-model" || s.Done == nil {
		t.Fatalf("text %q start %+v error %+v", s.Text, s.Start, s.Error)
	}
	if got := fake.Requests()[0]; got.Authorization != "Bearer sk-example" || got.Body["model"] != "fake-model" {
		t.Fatalf("upstream got %+v", got)
	}
	// An upstream that refuses the key: the client gets a code, the log a
	// code, and neither the key nor the upstream's message.
	s, err = chattest.Post(http.DefaultClient, url, chattest.UserMessage("status 401"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != 502 || s.Error.Code != chat.CodeUpstreamError {
		t.Fatalf("status %d error %+v", s.Status, s.Error)
	}
	if l := logs.String(); !strings.Contains(l, "code=upstream_error") || strings.Contains(l, "sk-example") || strings.Contains(l, "Incorrect") {
		t.Fatalf("logs:\n%s", l)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-mock-delay", "-1s"}, {"-nope"}, {"-addr", "256.0.0.1:0"},
		{"-detach", "-1s"}, {"-max-response", "-1s"}, {"-redis", "notredis://x"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := run(ctx, args, func(string) string { return "" }, &syncBuffer{}, nil)
		cancel()
		if err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

// TestOpenAIClientLibrary reads the server's /v1/chat/completions with
// go-openai, as any OpenAI client library with its base URL set would.
func TestOpenAIClientLibrary(t *testing.T) {
	url, _, _ := start(t, []string{"-mock-delay", "0"}, nil)
	cfg := goopenai.DefaultConfig("unused")
	cfg.BaseURL = strings.TrimSuffix(url, "chat") + "v1"
	client := goopenai.NewClientWithConfig(cfg)
	text := "你好 👋🏽, data: [DONE]"
	stream, err := client.CreateChatCompletionStream(context.Background(), goopenai.ChatCompletionRequest{
		Model:         "echo",
		Messages:      []goopenai.ChatCompletionMessage{{Role: "user", Content: text}},
		Stream:        true,
		StreamOptions: &goopenai.StreamOptions{IncludeUsage: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	var got strings.Builder
	var usage *goopenai.Usage
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range resp.Choices {
			got.WriteString(c.Delta.Content)
		}
		if resp.Usage != nil {
			usage = resp.Usage
		}
	}
	if got.String() != text || usage == nil || usage.CompletionTokens != len([]rune(text)) {
		t.Fatalf("text %q usage %+v", got.String(), usage)
	}
}

// TestLoopbackHostsOnly: a server listening on loopback answers only
// loopback host names, so that a web page on another name that resolves
// to 127.0.0.1 (DNS rebinding) cannot drive it.
func TestLoopbackHostsOnly(t *testing.T) {
	url, _, _ := start(t, []string{"-mock-delay", "0"}, nil)
	port := strings.TrimSuffix(strings.TrimPrefix(url, "http://127.0.0.1:"), "/chat")
	for host, want := range map[string]int{
		"attacker.example":         http.StatusForbidden,
		"attacker.example:" + port: http.StatusForbidden,
		"127.0.0.1.nip.io:" + port: http.StatusForbidden,
		"localhost:" + port:        http.StatusOK,
		"127.0.0.1:" + port:        http.StatusOK,
		"[::1]:" + port:            http.StatusOK,
		"app.localhost:" + port:    http.StatusOK,
	} {
		req, _ := http.NewRequest(http.MethodGet, strings.TrimSuffix(url, "chat"), nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %q: status %d, want %d", host, resp.StatusCode, want)
		}
	}
}

// TestNotAnOpenProxy: the server, not the client, decides what runs on its
// upstream key: a model outside -models is refused, and max_tokens is
// capped at -max-tokens (also when the client sends none).
func TestNotAnOpenProxy(t *testing.T) {
	fake := &fakeopenai.Server{}
	up := httptest.NewServer(fake)
	defer up.Close()
	url, _, _ := start(t, []string{"-models", "fake-model,fake-mini", "-max-tokens", "256"}, map[string]string{
		"OPENAI_API_KEY":  "sk-example",
		"OPENAI_BASE_URL": up.URL + "/v1",
		"OPENAI_MODEL":    "fake-model",
	})
	post := func(body string) *chattest.Stream {
		t.Helper()
		s, err := chattest.Post(http.DefaultClient, url, body)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	msg := `"messages":[{"role":"user","content":"hi"}]`
	if s := post(`{"model":"gpt-4-expensive",` + msg + `}`); s.Status != 422 || s.Error.Code != chat.CodeInvalidRequest || !strings.Contains(s.Error.Message, "fake-mini") {
		t.Fatalf("a model outside the list: %d %+v", s.Status, s.Error)
	}
	for _, tt := range []struct {
		body, model string
		maxTokens   float64
	}{
		{`{` + msg + `}`, "fake-model", 256},
		{`{"model":"fake-mini","max_tokens":100,` + msg + `}`, "fake-mini", 100},
		{`{"max_tokens":9223372036854775807,` + msg + `}`, "fake-model", 256},
	} {
		if s := post(tt.body); s.Done == nil {
			t.Fatalf("%s: %d %+v", tt.body, s.Status, s.Error)
		}
		reqs := fake.Requests()
		got := reqs[len(reqs)-1].Body
		if got["model"] != tt.model || got["max_tokens"] != tt.maxTokens {
			t.Fatalf("%s: upstream got model %v, max_tokens %v", tt.body, got["model"], got["max_tokens"])
		}
	}
}

// TestUpstreamSilenceTimesOut: an upstream that never sends its first
// chunk is given up after -idle-timeout (504 timeout), instead of holding
// the stream until the client leaves.
func TestUpstreamSilenceTimesOut(t *testing.T) {
	url, logs, stop := start(t, []string{"-mock-delay", "1h", "-idle-timeout", "200ms"}, nil)
	client := &http.Client{Timeout: 10 * time.Second}
	s, err := chattest.Post(client, url, chattest.UserMessage("silence"))
	if err != nil {
		t.Fatal(err)
	}
	// 504 before the stream starts; the mock's start event may have come first.
	if s.Error == nil || s.Error.Code != chat.CodeTimeout || s.Status != http.StatusGatewayTimeout && s.Terminals != 1 {
		t.Fatalf("status %d, error %+v", s.Status, s.Error)
	}
	t.Logf("answered %d", s.Status)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "end=timeout") {
		t.Fatalf("logs:\n%s", logs)
	}
}

// TestRedisURLNotPrinted: a bad -redis URL is reported without its password.
func TestRedisURLNotPrinted(t *testing.T) {
	for _, u := range []string{"redis://:s3cret-pass@127.0.0.1:notaport/0", "redis://user:s3cret-pass@127.0.0.1:1/0", "redis://:s3cret-pass@[::1/0"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		logs := &syncBuffer{}
		err := run(ctx, []string{"-addr", "127.0.0.1:0", "-redis", u}, func(string) string { return "" }, logs, nil)
		cancel()
		if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(logs.String(), "s3cret") {
			t.Errorf("-redis %s: %v\n%s", u, err, logs)
		}
	}
}

// TestStreamsBelongToTheirSession: the page gives a browser a session
// cookie, and a stream started with it can be resumed and stopped only
// with it, not by someone who knows the stream id.
func TestStreamsBelongToTheirSession(t *testing.T) {
	url, _, _ := start(t, []string{"-mock-delay", "50ms"}, nil)
	page, err := http.Get(strings.TrimSuffix(url, "chat"))
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	var mine *http.Cookie
	for _, c := range page.Cookies() {
		if c.Name == "ssechat_session" && c.HttpOnly && c.SameSite == http.SameSiteStrictMode {
			mine = c
		}
	}
	if mine == nil {
		t.Fatalf("no session cookie: %v", page.Header["Set-Cookie"])
	}
	theirs := &http.Cookie{Name: "ssechat_session", Value: strings.Repeat("B", 26)}
	do := func(path, lastEventID, body string, c *http.Cookie) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, strings.TrimSuffix(url, "/chat")+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if lastEventID != "" {
			req.Header.Set("Last-Event-ID", lastEventID)
		}
		if c != nil {
			req.AddCookie(c)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := do("/chat", "", `{"messages":[{"role":"user","content":"`+strings.Repeat("长", 60)+`"}]}`, mine)
	defer resp.Body.Close()
	var id string
	for ev, err := range gosse.Read(resp.Body, nil) {
		if err != nil {
			t.Fatal(err)
		}
		id, _, _ = strings.Cut(ev.LastEventID, ".")
		break
	}
	for name, c := range map[string]*http.Cookie{"another session": theirs, "no session": nil} {
		for _, tt := range []struct{ path, last, body string }{{"/chat", id, ""}, {"/chat/stop", "", `{"stream_id":"` + id + `"}`}} {
			r := do(tt.path, tt.last, tt.body, c)
			r.Body.Close()
			if r.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s: status %d", name, tt.path, r.StatusCode)
			}
		}
	}
	if r := do("/chat/stop", "", `{"stream_id":"`+id+`"}`, mine); r.StatusCode != http.StatusNoContent {
		t.Fatalf("its own session's stop: %d", r.StatusCode)
	}
}

// TestMockReasoningAndTools: -mock-reasoning thinks aloud before the echo,
// -mock-tools calls message_length and answers with its result, in every
// mode.
func TestMockReasoningAndTools(t *testing.T) {
	url, _, _ := start(t, []string{"-mock-delay", "0", "-mock-reasoning", "-mock-tools"}, nil)
	const msg = "你好 👩‍👩‍👧‍👦!"
	for _, mode := range []string{"delta", "snapshot", "openai"} {
		s, err := chattest.Post(http.DefaultClient, url+"?mode="+mode, chattest.UserMessage(msg))
		if err != nil {
			t.Fatal(err)
		}
		args, _ := json.Marshal(map[string]string{"text": msg})
		if s.Reasoning != "Thinking about: "+msg || s.Text != "Your message has 11 characters." {
			t.Fatalf("%s: reasoning %q text %q error %+v", mode, s.Reasoning, s.Text, s.Error)
		}
		// The server runs the call: openai mode leaves it out (a client
		// would run it, or send it back without its result).
		if mode == "openai" && len(s.ToolCalls) != 0 ||
			mode != "openai" && (len(s.ToolCalls) != 1 || s.ToolCalls[0] != chat.ToolCall{ID: "call_1", Name: "message_length", Arguments: string(args), Server: true}) {
			t.Fatalf("%s: calls %+v", mode, s.ToolCalls)
		}
		if mode != "openai" && (len(s.ToolResults) != 1 || string(s.ToolResults[0].Output) != `{"characters":11}`) {
			t.Fatalf("%s: results %+v", mode, s.ToolResults)
		}
	}
}

// TestBlocklist: -blocklist cuts off an answer with a listed word before
// the word, in every mode; every answer is labelled AI-generated.
func TestBlocklist(t *testing.T) {
	list := filepath.Join(t.TempDir(), "blocklist.txt")
	if err := os.WriteFile(list, []byte("# words\n敏感词\n\nbadword\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url, logs, stop := start(t, []string{"-mock-delay", "0", "-blocklist", list}, nil)
	for _, mode := range []string{"delta", "snapshot", "openai", "ui"} {
		s, err := chattest.Post(http.DefaultClient, url+"?mode="+mode, chattest.UserMessage("第一句。然后是敏感词，后面"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(s.Text, "敏") || !strings.HasPrefix("第一句。然后是", s.Text) || s.Error == nil {
			t.Fatalf("%s: text %q error %+v", mode, s.Text, s.Error)
		}
		if s.Header.Get("X-AI-Generated") != "true" {
			t.Fatalf("%s: no AI label", mode)
		}
		clean, err := chattest.Post(http.DefaultClient, url+"?mode="+mode, chattest.UserMessage("a clean answer. 干净的回答。"))
		if err != nil || clean.Text != "a clean answer. 干净的回答。" || clean.Done == nil {
			t.Fatalf("%s: clean answer %q %+v %v", mode, clean.Text, clean.Error, err)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "end=content_filtered"); n != 4 {
		t.Fatalf("%d filtered answers logged:\n%s", n, logs)
	}
	if err := run(context.Background(), []string{"-blocklist", filepath.Join(t.TempDir(), "missing")}, func(string) string { return "" }, io.Discard, nil); err == nil {
		t.Fatal("a missing -blocklist file was accepted")
	}
}

// TestMockChunkCostsNoAllocation: the mock model's chunks are values, not
// allocations (they were, one per piece: 4-5 % of the server's CPU under
// load). A ten times longer answer takes no more allocations, and its
// pieces still make up the message.
func TestMockChunkCostsNoAllocation(t *testing.T) {
	allocs := func(msg string) float64 {
		req := &chat.Request{Messages: []chat.Message{{Role: chat.RoleUser, Content: msg}}}
		return testing.AllocsPerRun(20, func() {
			n := 0
			for c, err := range (echoModel{runes: 3}).Stream(context.Background(), req) {
				if err != nil {
					t.Fatal(err)
				}
				n += len(c.Text)
			}
			if n != len(msg) {
				t.Fatalf("the pieces make %d bytes, want %d", n, len(msg))
			}
		})
	}
	short, long := allocs(strings.Repeat("说点什么", 10)), allocs(strings.Repeat("说点什么", 100))
	if long > short {
		t.Errorf("an answer of 400 runes took %.0f allocations, one of 40 runes %.0f: the pieces allocate", long, short)
	}
	var text strings.Builder
	for c := range (echoModel{runes: 3}).Stream(context.Background(), &chat.Request{Messages: []chat.Message{{Role: chat.RoleUser, Content: "héllo, 世界!"}}}) {
		text.WriteString(c.Text)
	}
	if text.String() != "héllo, 世界!" {
		t.Errorf("the pieces make %q", text.String())
	}
}
