package middleware

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAtBoundary(t *testing.T) {
	tests := []struct {
		writes []string
		want   bool
	}{
		{nil, true},
		{[]string{"data: x\n\n"}, true},
		{[]string{"data: x\r\n\r\n"}, true},
		{[]string{"data: x\r\r\n"}, true},
		{[]string{"data: x\n\r\n"}, true},
		{[]string{"data: x\r\n\n"}, true},
		{[]string{"\n"}, true},
		{[]string{"\r\n"}, true},
		{[]string{"data: x\n"}, false},
		{[]string{"data: x\r\n"}, false},
		{[]string{"data: x\n\r"}, false}, // an LF may still complete CRLF
		{[]string{"data: x"}, false},
		{[]string{"data: x\n", "\n"}, true},
		{[]string{"data: x\r", "\n", "\r", "\n"}, true},
		{[]string{"data: x\n", "d", "\n"}, false},
		{[]string{"data: x\n\n", "event: e\n"}, false},
		{[]string{"a", "\n", "\n"}, true},
		{[]string{"a\r", "\r"}, false},
		{[]string{"a\r", "\r", "\n"}, true},
	}
	for _, tt := range tests {
		s := &stream{}
		for _, w := range tt.writes {
			s.noteLocked([]byte(w))
		}
		if got := s.atBoundaryLocked(); got != tt.want {
			t.Errorf("after %q: at boundary = %v, want %v", tt.writes, got, tt.want)
		}
	}
}

// A middleware write lands only between events, only in an event stream,
// and never after the handler has returned.
func TestSendOnlyBetweenEvents(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	s, w, _, done := install(rec, req)
	if s == nil {
		t.Fatal("install: no stream for a flushable writer")
	}
	if s.send([]byte(":\n\n")) {
		t.Fatal("send before the response started and without Pend wrote")
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	if !s.send([]byte(":\n\n")) {
		t.Fatal("send at the start of an event stream did not write")
	}
	_, _ = w.Write([]byte("event: a\ndata: 1"))
	if s.send([]byte(":\n\n")) {
		t.Fatal("send inside an event wrote")
	}
	_, _ = w.Write([]byte("\n\n"))
	if !s.send([]byte(":\n\n")) {
		t.Fatal("send after an event did not write")
	}
	done()
	if s.send([]byte(":\n\n")) {
		t.Fatal("send after done wrote")
	}
	if got, want := rec.Body.String(), ":\n\nevent: a\ndata: 1\n\n:\n\n"; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
	if got := s.writes.Load(); got != 2 {
		t.Errorf("handler writes counted = %d, want 2 (the middleware's are not)", got)
	}
}

func TestSendNeverIntoOtherResponses(t *testing.T) {
	rec := httptest.NewRecorder()
	s, w, _, done := install(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	defer done()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("{}\n\n"))
	if s.send([]byte(":\n\n")) || strings.Contains(rec.Body.String(), ":") {
		t.Fatalf("send wrote into a JSON response: %q", rec.Body.String())
	}
}

// A stream the handler declared with Pend is started by the middleware's
// first write; the handler's own WriteHeader afterwards is absorbed, and
// Claim tells it the stream has started.
func TestPendThenClaim(t *testing.T) {
	rec := httptest.NewRecorder()
	s, w, _, done := install(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	defer done()
	s.Pend()
	if !s.send([]byte(":\n\n")) {
		t.Fatal("send did not start a pending stream")
	}
	if !s.Claim() {
		t.Fatal("Claim = false after the middleware started the stream")
	}
	w.WriteHeader(http.StatusOK) // what sse.NewWriter does; must not reach the recorder twice
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/event-stream; charset=utf-8" {
		t.Fatalf("status %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
	}

	rec2 := httptest.NewRecorder()
	s2, _, _, done2 := install(rec2, httptest.NewRequest(http.MethodPost, "/", nil))
	defer done2()
	s2.Pend()
	if s2.Claim() {
		t.Fatal("Claim = true though nothing was sent")
	}
	if s2.send([]byte(":\n\n")) {
		t.Fatal("send started a stream after Claim")
	}
}
