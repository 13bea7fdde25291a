package chat_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/internal/servertest"
)

const secret = "sk-live-SECRET-KEY-do-not-leak"

func post(t *testing.T, srv *httptest.Server, query string, body any) *chattest.Stream {
	t.Helper()
	s, err := chattest.Post(srv.Client(), srv.URL+query, body)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// send does req with c and reads the answer.
func send(t *testing.T, c *http.Client, req *http.Request) *chattest.Stream {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	s, err := chattest.Read(resp)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var idPattern = regexp.MustCompile(`^([A-Z2-7]{26})\.(\d+)$`)

// checkIDs asserts every event has an id "<stream>.<n>" with n = 0, 1, 2...
func checkIDs(t *testing.T, s *chattest.Stream) string {
	t.Helper()
	return checkIDsGaps(t, s, false)
}

// checkIDsGaps is checkIDs that, with gaps, allows numbers to be skipped
// (records a mode does not show), as long as they increase.
func checkIDsGaps(t *testing.T, s *chattest.Stream, gaps bool) string {
	t.Helper()
	var stream string
	last := -1
	for i, ev := range s.Events {
		m := idPattern.FindStringSubmatch(ev.ID)
		if m == nil {
			t.Fatalf("event %d id %q does not name a stream and position", i, ev.ID)
		}
		if stream == "" {
			stream = m[1]
		}
		n, _ := strconv.Atoi(m[2])
		if m[1] != stream || !gaps && n != i || n <= last {
			t.Fatalf("event %d id %q, want %s.%d", i, ev.ID, stream, i)
		}
		last = n
	}
	return stream
}

func TestModes(t *testing.T) {
	p := &chattest.Provider{
		Tokens: []string{"Hel", "lo, ", "世界 👋🏽", "\r\n<b>&\"</b>"},
		Usage:  &chat.Usage{InputTokens: 3, OutputTokens: 4, TotalTokens: 7},
	}
	const want = "Hello, 世界 👋🏽\r\n<b>&\"</b>"
	h := chat.NewHandler(p)
	servertest.Each(t, h, func(t *testing.T, srv *httptest.Server) {
		req := chattest.UserMessage("hi")
		req.Model = "m1"
		t.Run("delta", func(t *testing.T) {
			s := post(t, srv, "", req)
			stream := checkIDs(t, s)
			names := eventNames(s)
			if names != "start delta delta delta delta done" {
				t.Fatalf("events %s", names)
			}
			if s.Start == nil || s.Start.ID != stream || s.Start.Model != "m1" {
				t.Fatalf("start %+v, stream %s", s.Start, stream)
			}
			if s.Text != want || s.Terminals != 1 || s.Done.FinishReason != "stop" || *s.Done.Usage != *p.Usage {
				t.Fatalf("text %q, terminals %d, done %+v", s.Text, s.Terminals, s.Done)
			}
			if s.Events[2].Data != `{"text":"lo, "}` {
				t.Fatalf("delta data %q", s.Events[2].Data)
			}
		})
		t.Run("snapshot", func(t *testing.T) {
			s := post(t, srv, "?mode=snapshot", req)
			checkIDs(t, s)
			if names := eventNames(s); names != "start snapshot snapshot snapshot snapshot done" {
				t.Fatalf("events %s", names)
			}
			if s.Events[2].Data != `{"text":"Hello, "}` || s.Text != want || s.Terminals != 1 {
				t.Fatalf("second snapshot %q, text %q", s.Events[2].Data, s.Text)
			}
		})
		t.Run("openai", func(t *testing.T) {
			oreq := *req
			oreq.StreamOptions = &chat.StreamOptions{IncludeUsage: true}
			s := post(t, srv, "?mode=openai", &oreq)
			stream := checkIDs(t, s)
			if names := eventNames(s); names != "- - - - - - - -" {
				t.Fatalf("events %s", names)
			}
			first := `{"id":"chatcmpl-` + stream + `","object":"chat.completion.chunk","created":`
			if !strings.HasPrefix(s.Events[0].Data, first) ||
				!strings.HasSuffix(s.Events[0].Data, `"model":"m1","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}`) {
				t.Fatalf("role chunk %s", s.Events[0].Data)
			}
			if !strings.HasSuffix(s.Events[5].Data, `"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`) {
				t.Fatalf("finish chunk %s", s.Events[5].Data)
			}
			if !strings.HasSuffix(s.Events[6].Data, `"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`) {
				t.Fatalf("usage chunk %s", s.Events[6].Data)
			}
			if s.Events[7].Data != "[DONE]" || s.Text != want || s.Terminals != 1 || s.Done.FinishReason != "stop" {
				t.Fatalf("last %q, text %q, done %+v", s.Events[7].Data, s.Text, s.Done)
			}
			// Without include_usage, no usage chunk, as OpenAI does.
			s = post(t, srv, "?mode=openai", req)
			if len(s.Events) != 7 || s.Done.Usage != nil {
				t.Fatalf("%d events, usage %+v", len(s.Events), s.Done.Usage)
			}
		})
	})
}

func eventNames(s *chattest.Stream) string {
	var names []string
	for _, ev := range s.Events {
		n := ev.Name
		if n == "" {
			n = "-"
		}
		names = append(names, n)
	}
	return strings.Join(names, " ")
}

func TestEmptyAnswer(t *testing.T) {
	srv := httptest.NewServer(chat.NewHandler(&chattest.Provider{FinishReason: "length"}))
	defer srv.Close()
	s := post(t, srv, "", chattest.UserMessage("hi"))
	if eventNames(s) != "start done" || s.Done.FinishReason != "length" || s.Done.Usage != nil {
		t.Fatalf("events %s, done %+v", eventNames(s), s.Done)
	}
}

func TestBadRequests(t *testing.T) {
	p := &chattest.Provider{Tokens: []string{"x"}}
	srv := httptest.NewServer(chat.NewHandler(p, chat.WithMaxBodyBytes(200), chat.WithRequestModes(chat.ModeDelta)))
	defer srv.Close()
	good := `{"messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name, method, query, ctype, body string
		status                           int
		code                             chat.Code
	}{
		{"GET without a stream id", "GET", "", "application/json", good, 400, chat.CodeBadRequest}, // GET is allowed: it follows a stream
		{"no content type", "POST", "", "", good, 415, chat.CodeUnsupportedMediaType},
		{"text/plain", "POST", "", "text/plain;charset=UTF-8", good, 415, chat.CodeUnsupportedMediaType},
		{"latin1", "POST", "", "application/json; charset=iso-8859-1", good, 415, chat.CodeUnsupportedMediaType},
		{"too large", "POST", "", "application/json", `{"messages":[{"role":"user","content":"` + strings.Repeat("x", 300) + `"}]}`, 413, chat.CodeRequestTooLarge},
		{"empty body", "POST", "", "application/json", "", 400, chat.CodeBadRequest},
		{"malformed", "POST", "", "application/json", `{"messages":[`, 400, chat.CodeBadRequest},
		{"trailing data", "POST", "", "application/json", good + `{}`, 400, chat.CodeBadRequest},
		{"wrong type", "POST", "", "application/json", `{"messages":"hi"}`, 400, chat.CodeBadRequest},
		{"no messages", "POST", "", "application/json", `{"messages":[]}`, 422, chat.CodeInvalidRequest},
		{"unknown role", "POST", "", "application/json", `{"messages":[{"role":"wizard","content":"hi"}]}`, 422, chat.CodeInvalidRequest},
		{"invalid UTF-8", "POST", "", "application/json", "{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}", 422, chat.CodeInvalidRequest},
		{"temperature", "POST", "", "application/json", `{"messages":[{"role":"user","content":"hi"}],"temperature":7}`, 422, chat.CodeInvalidRequest},
		{"mode not allowed", "POST", "?mode=openai", "application/json", good, 400, chat.CodeBadRequest},
		{"empty mode is the default", "POST", "?mode=", "application/json", `{"messages":[]}`, 422, chat.CodeInvalidRequest},
		{"unknown mode", "POST", "?mode=xml", "application/json", good, 400, chat.CodeBadRequest},
		{"bad ascii", "POST", "?ascii=maybe", "application/json", good, 400, chat.CodeBadRequest},
		{"PUT", "PUT", "", "application/json", good, 405, chat.CodeMethodNotAllowed},
		{"bad last event id", "POST", "?last_event_id=ABC.x", "", "", 400, chat.CodeBadRequest},
		{"negative position", "POST", "?last_event_id=ABC.-1", "", "", 400, chat.CodeBadRequest},
		{"signed position", "POST", "?last_event_id=ABC.%2B1", "", "", 400, chat.CodeBadRequest},
		{"bad stream id", "GET", "?stream_id=a%20b", "", "", 400, chat.CodeBadRequest},
		{"long stream id", "GET", "?stream_id=" + strings.Repeat("A", 65), "", "", 400, chat.CodeBadRequest},
		{"last event id of the wrong type", "POST", "", "application/json", `{"last_event_id":5}`, 400, chat.CodeBadRequest},
		{"unknown stream", "GET", "?stream_id=NOSUCHSTREAM", "", "", 404, chat.CodeStreamExpired},
		{"unknown stream in the body", "POST", "", "application/json", `{"last_event_id":"NOSUCHSTREAM.3"}`, 404, chat.CodeStreamExpired},
		{"resume with a bad body", "POST", "?last_event_id=NOSUCHSTREAM.3", "application/json", `{`, 400, chat.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.query, strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			s, err := chattest.Read(resp)
			if err != nil {
				t.Fatal(err)
			}
			if s.Status != tt.status || s.Error == nil || s.Error.Code != tt.code || s.Error.Message == "" {
				t.Fatalf("status %d, error %+v; want %d %s", s.Status, s.Error, tt.status, tt.code)
			}
			if ct := s.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Fatalf("Content-Type %q", ct)
			}
			if tt.status == 405 && s.Header.Get("Allow") != "GET, POST" {
				t.Fatalf("Allow %q", s.Header.Get("Allow"))
			}
		})
	}
	if n := p.Calls(); n != 0 {
		t.Fatalf("provider called %d times for bad requests", n)
	}
	if s := post(t, srv, "", good); s.Status != 200 || s.Text != "x" {
		t.Fatalf("good request after bad ones: %d %q", s.Status, s.Text)
	}
	if s := post(t, srv, "?mode=delta", good); s.Status != 200 || s.Text != "x" {
		t.Fatalf("naming the default mode: %d %+v", s.Status, s.Error)
	}
}

func TestPrepareHook(t *testing.T) {
	p := &chattest.Provider{Tokens: []string{"ok"}}
	h := chat.NewHandler(p, chat.WithPrepare(func(r *http.Request, req *chat.Request) error {
		switch r.Header.Get("Authorization") {
		case "":
			return chat.NewError(chat.CodeUnauthenticated, "sign in first")
		case "Bearer broken":
			return errors.New("database password " + secret)
		case "Bearer empty":
			req.Messages = nil // the hook's changes are validated too
		}
		req.Messages = append([]chat.Message{{Role: chat.RoleSystem, Content: "be brief"}}, req.Messages...)
		req.Model = "chosen"
		return nil
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	do := func(auth string) *chattest.Stream {
		req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return send(t, srv.Client(), req)
	}
	if s := do(""); s.Status != 401 || s.Error.Code != chat.CodeUnauthenticated || s.Error.Message != "sign in first" {
		t.Fatalf("unauthenticated: %d %+v", s.Status, s.Error)
	}
	if s := do("Bearer broken"); s.Status != 500 || s.Error.Code != chat.CodeInternal || strings.Contains(s.Error.Message, secret) {
		t.Fatalf("hook failure: %d %+v", s.Status, s.Error)
	}
	if p.Calls() != 0 {
		t.Fatal("provider called for a rejected request")
	}
	if s := do("Bearer ok"); s.Status != 200 || s.Text != "ok" || s.Start.Model != "chosen" {
		t.Fatalf("accepted: %d %q %+v", s.Status, s.Text, s.Start)
	}
	got := p.Requests()[0]
	if len(got.Messages) != 2 || got.Messages[0].Role != chat.RoleSystem || got.Model != "chosen" {
		t.Fatalf("provider saw %+v", got)
	}
}

func TestUpstreamErrorBeforeStream(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		code   chat.Code
	}{
		{"classified", &chat.Error{Code: chat.CodeRateLimited, Err: errors.New("429 " + secret)}, 429, chat.CodeRateLimited},
		{"unclassified", errors.New("upstream said: invalid key " + secret), 502, chat.CodeUpstreamError},
		{"deadline", fmt.Errorf("dial: %w", context.DeadlineExceeded), 504, chat.CodeTimeout},
		{"truncated", &chat.Error{Code: chat.CodeTruncated}, 502, chat.CodeTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results := make(chan *chat.Result, 1)
			h := chat.NewHandler(&chattest.Provider{Tokens: []string{"never"}, Err: tt.err},
				chat.WithFinish(func(_ context.Context, res *chat.Result) { results <- res }))
			srv := httptest.NewServer(h)
			defer srv.Close()
			resp, err := srv.Client().Post(srv.URL, "application/json", strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(body), `"code":"`+string(tt.code)+`"`) {
				t.Fatalf("status %d body %s", resp.StatusCode, body)
			}
			if strings.Contains(string(body), secret) {
				t.Fatalf("secret leaked: %s", body)
			}
			res := <-results
			if res.End != chat.EndUpstreamError && res.End != chat.EndTimeout || res.Events != 0 || res.Chunks != 0 {
				t.Fatalf("result %+v", res)
			}
			if strings.Contains(res.Err.Error(), secret) {
				t.Fatalf("Error() leaks the cause: %v", res.Err)
			}
		})
	}
}

func TestUpstreamErrorMidStream(t *testing.T) {
	p := &chattest.Provider{Tokens: []string{"a", "b", "c"}, ErrAt: 2,
		Err: &chat.Error{Code: chat.CodeUpstreamUnavailable, Err: errors.New(secret)}}
	srv := httptest.NewServer(chat.NewHandler(p))
	defer srv.Close()
	for _, mode := range []string{"delta", "snapshot", "openai"} {
		t.Run(mode, func(t *testing.T) {
			resp, err := srv.Client().Post(srv.URL+"?mode="+mode, "application/json", strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(raw), secret) {
				t.Fatalf("secret leaked: %s", raw)
			}
			resp.Body = io.NopCloser(strings.NewReader(string(raw)))
			s, err := chattest.Read(resp)
			if err != nil {
				t.Fatal(err)
			}
			if s.Status != 200 || s.Text != "ab" || s.Terminals != 1 || s.Done != nil || s.Error.Code != chat.CodeUpstreamUnavailable {
				t.Fatalf("status %d text %q terminals %d done %+v error %+v", s.Status, s.Text, s.Terminals, s.Done, s.Error)
			}
			if mode != "openai" && !s.Error.Retryable {
				t.Fatal("upstream_unavailable should be retryable")
			}
			if mode == "openai" && strings.Contains(string(raw), "[DONE]") {
				t.Fatal("a failed openai stream must not end with [DONE]")
			}
		})
	}
}

func TestASCII(t *testing.T) {
	const text = "你好, wörld 👩‍💻 e\u0301"
	p := &chattest.Provider{Tokens: []string{"你好", ", wörld ", "👩‍💻 e\u0301"}}
	for _, tt := range []struct {
		name  string
		opts  []chat.Option
		query string
		ascii bool
	}{
		{"default", nil, "", false},
		{"query", nil, "?ascii=1", true},
		{"option", []chat.Option{chat.WithASCII(true)}, "", true},
		{"option wins over query", []chat.Option{chat.WithASCII(true)}, "?ascii=0", true},
		{"snapshot", nil, "?ascii=true&mode=snapshot", true},
		{"openai", nil, "?ascii=1&mode=openai", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(chat.NewHandler(p, tt.opts...))
			defer srv.Close()
			resp, err := srv.Client().Post(srv.URL+tt.query, "application/json", strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			isASCII := true
			for _, c := range raw {
				if c >= 0x80 {
					isASCII = false
				}
			}
			if isASCII != tt.ascii {
				t.Fatalf("ASCII-only = %v, want %v: %s", isASCII, tt.ascii, raw)
			}
			resp.Body = io.NopCloser(strings.NewReader(string(raw)))
			s, err := chattest.Read(resp)
			if err != nil || s.Text != text {
				t.Fatalf("text %q, %v", s.Text, err)
			}
		})
	}
}

// TestClientDisconnect closes the client's connection mid-stream and checks
// that the provider's context is cancelled and the finish hook says why.
func TestClientDisconnect(t *testing.T) {
	// Each server gets a fresh provider, so Canceled speaks of its stream.
	var p *chattest.Provider
	results := make(chan *chat.Result, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chat.NewHandler(p, chat.WithFinish(func(_ context.Context, res *chat.Result) { results <- res })).ServeHTTP(w, r)
	})
	servertest.Each(t, h, func(t *testing.T, srv *httptest.Server) {
		p = &chattest.Provider{Tokens: []string{"partial "}, Block: true}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL, strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		servertest.ReadUntil(t, resp.Body, `data: {"text":"partial "}`) // arrived while the stream is open
		cancel()
		select {
		case <-p.Canceled():
		case <-time.After(10 * time.Second):
			t.Fatal("the provider's context was not cancelled")
		}
		res := <-results
		if res.End != chat.EndClientGone || res.Text != "partial " || res.Chunks != 1 {
			t.Fatalf("result %+v", res)
		}
	})
}

// TestDeadline: a deadline on the request's context (a timeout middleware's)
// ends the stream with a timeout error event and cancels the provider.
func TestDeadline(t *testing.T) {
	p := &chattest.Provider{Tokens: []string{"thinking"}, Block: true}
	results := make(chan *chat.Result, 1)
	h := chat.NewHandler(p, chat.WithFinish(func(_ context.Context, res *chat.Result) { results <- res }))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 50*time.Millisecond)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	}))
	defer srv.Close()
	s := post(t, srv, "", chattest.UserMessage("hi"))
	if s.Text != "thinking" || s.Error == nil || s.Error.Code != chat.CodeTimeout || !s.Error.Retryable || s.Terminals != 1 {
		t.Fatalf("text %q error %+v", s.Text, s.Error)
	}
	if res := <-results; res.End != chat.EndTimeout {
		t.Fatalf("end %s", res.End)
	}
	<-p.Canceled()
}

func TestFinishHook(t *testing.T) {
	usage := &chat.Usage{InputTokens: 1, OutputTokens: 2, TotalTokens: 3}
	p := &chattest.Provider{Tokens: []string{"a", "b"}, Usage: usage, FinishReason: "length"}
	results := make(chan *chat.Result, 1)
	srv := httptest.NewServer(chat.NewHandler(p, chat.WithFinish(func(_ context.Context, res *chat.Result) { results <- res })))
	defer srv.Close()
	s := post(t, srv, "", chattest.UserMessage("hi"))
	res := <-results
	if res.End != chat.EndCompleted || res.Err != nil || res.Text != "ab" || res.FinishReason != "length" ||
		*res.Usage != *usage || res.Chunks != 3 || res.Events != 4 || res.StreamID != s.Start.ID ||
		res.Mode != chat.ModeDelta || res.Request.Messages[0].Content != "hi" || res.Duration <= 0 {
		t.Fatalf("result %+v", res)
	}
}

func TestFlushUnsupported(t *testing.T) {
	p := &chattest.Provider{Tokens: []string{"x"}}
	h := chat.NewHandler(p)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/", strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(struct{ http.ResponseWriter }{rec}, req)
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"code":"internal"`) || p.Calls() != 0 {
		t.Fatalf("code %d body %s calls %d", rec.Code, rec.Body, p.Calls())
	}
}

func TestNewHandlerPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"nil provider": func() { chat.NewHandler(nil) },
		"body limit":   func() { chat.WithMaxBodyBytes(0) },
		"mode":         func() { chat.WithMode("xml") },
		"modes":        func() { chat.WithRequestModes(chat.ModeDelta, "xml") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(fmt.Sprint(r), "chat: ") {
					t.Fatalf("recovered %v", r)
				}
			}()
			f()
		})
	}
}

// TestBodyThatNeverEnds: a client that stops sending its body before the
// end gets 408 request_timeout when the server's ReadTimeout passes, not a
// 499 as if it had left.
func TestBodyThatNeverEnds(t *testing.T) {
	srv := httptest.NewUnstartedServer(chat.NewHandler(&chattest.Provider{Tokens: []string{"a"}}))
	srv.Config.ReadTimeout = 200 * time.Millisecond
	srv.Start()
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"messages":[{"role":"user","content":"hi"}]}`
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body)+10, body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := chattest.Read(resp)
	if err != nil || s.Status != http.StatusRequestTimeout || s.Error.Code != chat.CodeRequestTimeout {
		t.Fatalf("%v: status %d, error %+v", err, s.Status, s.Error)
	}
}
