// Package frameworktest proves that a router or middleware stack streams a
// chat.Handler properly: over a real connection, events arrive one by one
// while the handler runs, keep-alive comments arrive before the first token
// and during silences, nothing is compressed, and a client that leaves
// cancels the upstream.
package frameworktest

import (
	"bufio"
	"context"
	"iter"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ssechat/ssechat/chat"
)

// Upstream is a provider the test steps through: it waits for a step before
// each of its two tokens, "one" and "two", then stays silent until its
// context is cancelled, which it reports on Canceled.
type Upstream struct {
	step     chan struct{}
	canceled chan struct{}
}

// NewUpstream returns an Upstream.
func NewUpstream() *Upstream {
	return &Upstream{step: make(chan struct{}), canceled: make(chan struct{}, 8)}
}

// Stream implements chat.Provider.
func (u *Upstream) Stream(ctx context.Context, req *chat.Request) iter.Seq2[chat.Chunk, error] {
	return func(yield func(chat.Chunk, error) bool) {
		defer func() {
			if ctx.Err() != nil {
				u.canceled <- struct{}{}
			}
		}()
		for _, tok := range []string{"one", "two"} {
			select {
			case <-ctx.Done():
				yield(chat.Chunk{}, ctx.Err())
				return
			case <-u.step:
			}
			if !yield(chat.Chunk{Text: tok}, nil) {
				return
			}
		}
		<-ctx.Done()
		yield(chat.Chunk{}, ctx.Err())
	}
}

// Check posts a chat request to srv.URL+path, which must serve a
// chat.Handler for u behind a keep-alive of a few milliseconds, and proves
// the stream's behaviour. It asks for gzip and reads the raw bytes, so a
// compressing middleware would be caught.
func Check(t *testing.T, srv *httptest.Server, path string, u *Upstream) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+path, strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := srv.Client().Transport.RoundTrip(req) // no transparent decompression
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" {
		t.Fatalf("stream sent with Content-Encoding %q", ce)
	}
	r := bufio.NewReader(resp.Body)
	next := func() string {
		t.Helper()
		s, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended: %v", err)
		}
		return strings.TrimRight(s, "\r\n")
	}
	until := func(what string) {
		t.Helper()
		for !strings.Contains(next(), what) {
		}
	}
	if got := next(); got != ":" {
		t.Fatalf("first line %q, want a keep-alive comment before the first token", got)
	}
	u.step <- struct{}{}
	until(`"text":"one"`) // arrives while the upstream still holds "two"
	u.step <- struct{}{}
	until(`"text":"two"`)
	if got := next(); got != "" {
		t.Fatalf("after the event: %q", got)
	}
	if got := next(); got != ":" { // the upstream is silent: keep-alive
		t.Fatalf("during the silence: %q, want a keep-alive comment", got)
	}
	cancel()
	<-u.canceled
}
