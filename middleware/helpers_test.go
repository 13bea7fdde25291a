package middleware_test

import (
	"bufio"
	"context"
	"io"
	"iter"
	"net/http"
	"strings"
	"testing"

	"github.com/ssechat/ssechat/chat"
)

// lines reads a response body line by line; it fails the test when the body
// ends before what it waits for.
type lines struct {
	t  *testing.T
	br *bufio.Reader
}

func newLines(t *testing.T, r io.Reader) *lines { return &lines{t, bufio.NewReader(r)} }

func (l *lines) next() string {
	l.t.Helper()
	s, err := l.br.ReadString('\n')
	if err != nil {
		l.t.Fatalf("body ended (%v) after %q", err, s)
	}
	return strings.TrimRight(s, "\r\n")
}

// until reads lines up to and including one that starts with prefix (an
// empty line for "") and returns them all.
func (l *lines) until(prefix string) []string {
	l.t.Helper()
	var got []string
	for {
		s := l.next()
		got = append(got, s)
		if s == prefix || prefix != "" && strings.HasPrefix(s, prefix) {
			return got
		}
	}
}

// post starts a chat request and returns the response, unread.
func post(t *testing.T, client *http.Client, url, text string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(`{"messages":[{"role":"user","content":"`+text+`"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// gated is a provider that waits for a value on release (one per stream)
// before yielding tokens, so a test can hold the upstream silent, and
// reports each stream's end on ended.
type gated struct {
	release chan struct{}
	ended   chan error
	tokens  []string
	err     error // yielded after the tokens instead of finishing
	block   bool  // after the tokens, wait for the context
}

func newGated(tokens ...string) *gated {
	return &gated{release: make(chan struct{}), ended: make(chan error, 16), tokens: tokens}
}

func (g *gated) Stream(ctx context.Context, req *chat.Request) iter.Seq2[chat.Chunk, error] {
	return func(yield func(chat.Chunk, error) bool) {
		var end error
		defer func() { g.ended <- end }()
		select {
		case <-ctx.Done():
			end = context.Cause(ctx)
			yield(chat.Chunk{}, ctx.Err())
			return
		case <-g.release:
		}
		for _, tok := range g.tokens {
			if !yield(chat.Chunk{Text: tok}, nil) {
				return
			}
		}
		switch {
		case g.err != nil:
			yield(chat.Chunk{}, g.err)
		case g.block:
			<-ctx.Done()
			end = context.Cause(ctx)
			yield(chat.Chunk{}, ctx.Err())
		default:
			yield(chat.Chunk{FinishReason: "stop"}, nil)
		}
	}
}

var _ chat.Provider = (*gated)(nil)
