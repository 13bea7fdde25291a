package chattest_test

import (
	"context"
	"errors"
	"io"
	"iter"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type item struct {
	chunk chat.Chunk
	err   error
}

func collect(p *chattest.Provider, ctx context.Context) []item {
	var out []item
	for c, err := range p.Stream(ctx, chattest.UserMessage("hi")) {
		out = append(out, item{c, err})
	}
	return out
}

func TestProviderScript(t *testing.T) {
	usage := &chat.Usage{TotalTokens: 3}
	got := collect(&chattest.Provider{Tokens: []string{"a", "b"}, Usage: usage}, context.Background())
	if len(got) != 3 || got[0].chunk.Text != "a" || got[1].chunk.Text != "b" ||
		got[2].chunk.FinishReason != "stop" || got[2].chunk.Usage != usage {
		t.Fatalf("%+v", got)
	}

	boom := errors.New("boom")
	got = collect(&chattest.Provider{Tokens: []string{"a", "b"}, Err: boom}, context.Background())
	if len(got) != 1 || got[0].err != boom {
		t.Fatalf("ErrAt 0: %+v", got)
	}
	got = collect(&chattest.Provider{Tokens: []string{"a", "b"}, Err: boom, ErrAt: 1}, context.Background())
	if len(got) != 2 || got[0].chunk.Text != "a" || got[1].err != boom {
		t.Fatalf("ErrAt 1: %+v", got)
	}
	got = collect(&chattest.Provider{Tokens: []string{"a"}, Err: boom, ErrAt: 5}, context.Background())
	if len(got) != 2 || got[1].err != boom {
		t.Fatalf("ErrAt past the end: %+v", got)
	}
	if got := collect(&chattest.Provider{}, context.Background()); len(got) != 1 || got[0].chunk.FinishReason != "stop" {
		t.Fatalf("zero value: %+v", got)
	}
}

func TestProviderCancellation(t *testing.T) {
	for _, p := range []*chattest.Provider{
		{Tokens: []string{"a", "b"}, Delay: time.Hour},
		{Tokens: []string{"a"}, Block: true},
		{Tokens: []string{"a"}, Step: make(chan struct{})}, // never released
	} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan []item)
		go func() { done <- collect(p, ctx) }()
		select {
		case <-p.Canceled():
			t.Fatal("Canceled closed before cancellation")
		default:
		}
		cancel()
		got := <-done
		if last := got[len(got)-1]; !errors.Is(last.err, context.Canceled) {
			t.Fatalf("last item %+v", last)
		}
		<-p.Canceled()
	}
}

func TestProviderRecordsRequests(t *testing.T) {
	p := &chattest.Provider{}
	req := chattest.UserMessage("first")
	for range p.Stream(context.Background(), req) {
	}
	req.Messages[0].Content = "changed later"
	if p.Calls() != 1 || p.Requests()[0].Messages[0].Content != "first" {
		t.Fatalf("calls %d, requests %+v", p.Calls(), p.Requests())
	}
}

func TestReadNonStreamAnswers(t *testing.T) {
	resp := &http.Response{StatusCode: 502, Header: http.Header{"Content-Type": {"text/html"}},
		Body: io.NopCloser(strings.NewReader("<h1>Bad Gateway</h1>"))}
	if _, err := chattest.Read(resp); err == nil || !strings.Contains(err.Error(), "Bad Gateway") {
		t.Fatalf("err = %v", err)
	}
	resp = &http.Response{StatusCode: 429, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"error":{"code":"rate_limited","message":"slow down"}}`))}
	s, err := chattest.Read(resp)
	if err != nil || s.Status != 429 || s.Error.Code != chat.CodeRateLimited || s.Error.Message != "slow down" {
		t.Fatalf("%+v %v", s, err)
	}
}

func TestReadEvents(t *testing.T) {
	evs, err := chattest.ReadEvents(strings.NewReader(": keep-alive\n\nid: s.0\nevent: delta\ndata: a\ndata: b\n\ndata: c\n\n"))
	if err != nil || len(evs) != 2 {
		t.Fatalf("%+v %v", evs, err)
	}
	if evs[0] != (chattest.Event{ID: "s.0", Name: "delta", Data: "a\nb"}) || evs[1] != (chattest.Event{ID: "s.0", Data: "c"}) {
		t.Fatalf("%+v", evs)
	}
}

// TestProviderStep: each token waits for a receive from Step.
func TestProviderStep(t *testing.T) {
	step := make(chan struct{})
	p := &chattest.Provider{Tokens: []string{"a", "b"}, Step: step}
	next, stop := iter.Pull2(p.Stream(context.Background(), chattest.UserMessage("hi")))
	defer stop()
	for _, want := range []string{"a", "b"} {
		released := make(chan struct{})
		go func() { step <- struct{}{}; close(released) }()
		c, err, ok := next()
		<-released // the token came after the send, not before
		if !ok || err != nil || c.Text != want {
			t.Fatalf("got %+v %v %v, want %q", c, err, ok, want)
		}
	}
	if c, _, ok := next(); !ok || c.FinishReason != "stop" {
		t.Fatalf("finish: %+v", c)
	}
}
