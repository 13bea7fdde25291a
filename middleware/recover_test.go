package middleware_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/internal/servertest"
	"github.com/ssechat/ssechat/middleware"
)

// syncBuffer collects log output from server goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRecover(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	h := middleware.Recover(logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/between":
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: one\n\n")
		case "/inside":
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: one\n\ndata: half")
			http.NewResponseController(w).Flush()
		}
		panic("boom")
	}))
	servertest.Each(t, h, func(t *testing.T, srv *httptest.Server) {
		resp := get(t, srv.Client(), srv.URL+"/before")
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusInternalServerError || string(body) != `{"error":{"code":"internal","message":"internal error"}}` {
			t.Errorf("before: status %d, body %s", resp.StatusCode, body)
		}
		resp = get(t, srv.Client(), srv.URL+"/between")
		body, _ = io.ReadAll(resp.Body)
		if want := "data: one\n\nevent: error\ndata: {\"code\":\"internal\",\"message\":\"internal error\",\"retryable\":false}\n\n"; string(body) != want {
			t.Errorf("between: %q, want %q", body, want)
		}
		resp = get(t, srv.Client(), srv.URL+"/inside")
		body, err := io.ReadAll(resp.Body)
		if err == nil || strings.Contains(string(body), "error") {
			t.Errorf("inside an event: read %q, %v; want the connection aborted", body, err)
		}
	})
	out := logs.String()
	if n := strings.Count(out, `"msg":"panic serving request"`); n != 9 {
		t.Errorf("%d log records for 9 panics:\n%s", n, out)
	}
	if !strings.Contains(out, `"panic":"boom"`) || !strings.Contains(out, "recover_test.go") {
		t.Errorf("log lacks the panic value or the stack:\n%s", out)
	}
}

func TestRecoverRepanicsErrAbortHandler(t *testing.T) {
	h := middleware.Recover(slog.New(slog.DiscardHandler))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", p)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
}

// A provider that panics mid-stream: the chat client gets an error event,
// exactly one terminal.
func TestRecoverChatProviderPanic(t *testing.T) {
	p := chat.ProviderFunc(func(ctx context.Context, req *chat.Request) iter.Seq2[chat.Chunk, error] {
		return func(yield func(chat.Chunk, error) bool) {
			if yield(chat.Chunk{Text: "so far"}, nil) {
				panic(errors.New("provider bug"))
			}
		}
	})
	h := middleware.Recover(slog.New(slog.DiscardHandler))(chat.NewHandler(p))
	servertest.Each(t, h, func(t *testing.T, srv *httptest.Server) {
		s := readRest(t, newLines(t, post(t, srv.Client(), srv.URL, "hi").Body))
		if s.Error == nil || s.Error.Code != chat.CodeInternal || s.Terminals != 1 || s.Text != "so far" {
			t.Fatalf("error %+v, terminals %d, text %q", s.Error, s.Terminals, s.Text)
		}
	})
}
