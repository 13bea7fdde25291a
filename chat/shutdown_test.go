package chat_test

import (
	"context"
	"errors"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gosse "github.com/tmaxmax/go-sse"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
)

// TestShutdownDrains: a generation that finishes within the drain ends
// normally and Shutdown returns nil; meanwhile new streams get 503.
func TestShutdownDrains(t *testing.T) {
	// The first stream waits for step before its second token; a late one
	// (started before Shutdown began) answers at once.
	step := make(chan struct{})
	p := chat.ProviderFunc(func(ctx context.Context, req *chat.Request) iter.Seq2[chat.Chunk, error] {
		return func(yield func(chat.Chunk, error) bool) {
			if req.Messages[0].Content == "late" {
				yield(chat.Chunk{Text: "late", FinishReason: "stop"}, nil)
				return
			}
			if !yield(chat.Chunk{Text: "a"}, nil) {
				return
			}
			select {
			case <-step:
			case <-ctx.Done():
				yield(chat.Chunk{}, ctx.Err())
				return
			}
			if yield(chat.Chunk{Text: "b"}, nil) {
				yield(chat.Chunk{FinishReason: "stop"}, nil)
			}
		}
	})
	results := make(chan *chat.Result, 1)
	h := chat.NewHandler(p, chat.WithFinish(func(_ context.Context, res *chat.Result) { results <- res }))
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/json", jsonBody(`{"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	readUntilDelta(t, resp.Body) // "a": the generation runs
	shut := make(chan error, 1)
	go func() { shut <- h.Shutdown(context.Background()) }()
	// Until Shutdown has begun a new stream may still start; wait for the
	// first refusal.
	for {
		s, err := chattest.Post(srv.Client(), srv.URL, chattest.UserMessage("late"))
		if err != nil {
			t.Fatal(err)
		}
		if s.Status == http.StatusServiceUnavailable {
			if s.Error == nil || s.Error.Code != chat.CodeUnavailable {
				t.Fatalf("refusal: %+v", s.Error)
			}
			break
		}
		<-results // a late stream that started: its end
	}
	step <- struct{}{}
	s, err := chattest.Read(resp)
	if err != nil || s.Done == nil || s.Text != "b" {
		t.Fatalf("drained stream: %v, done %+v, text %q", err, s.Done, s.Text)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if res := <-results; res.End != chat.EndCompleted {
		t.Fatalf("end %s", res.End)
	}
}

// TestShutdownEndsTheRest: when the drain ends, running generations end
// with a retryable unavailable error, logged (a resume sees it), and their
// finish hooks report EndShutdown; Shutdown returns the context's error.
func TestShutdownEndsTheRest(t *testing.T) {
	p := &chattest.Provider{Tokens: []string{"partial "}, Block: true}
	results := make(chan *chat.Result, 2)
	h := chat.NewHandler(p, chat.WithDetach(time.Minute),
		chat.WithFinish(func(_ context.Context, res *chat.Result) { results <- res }))
	srv := httptest.NewServer(h)
	defer srv.Close()
	attached, err := http.Post(srv.URL, "application/json", jsonBody(`{"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	detached, err := http.Post(srv.URL, "application/json", jsonBody(`{"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	first := readUntilDelta(t, detached.Body)
	detached.Body.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	for range 2 {
		if res := <-results; res.End != chat.EndShutdown || res.Text != "partial " {
			t.Fatalf("result: end %s, text %q", res.End, res.Text)
		}
	}
	for name, s := range map[string]*chattest.Stream{"attached": mustRead(t, attached), "resumed": resumeAt(t, srv, "", first, 0)} {
		if s.Terminals != 1 || s.Error == nil || s.Error.Code != chat.CodeUnavailable || !s.Error.Retryable {
			t.Fatalf("%s: terminals %d, error %+v", name, s.Terminals, s.Error)
		}
	}
}

func jsonBody(s string) *strings.Reader { return strings.NewReader(s) }

// readUntilDelta reads events up to the first delta and returns its id.
func readUntilDelta(t *testing.T, r io.Reader) string {
	t.Helper()
	for ev, err := range gosse.Read(r, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == chat.EventDelta {
			return ev.LastEventID
		}
	}
	t.Fatal("no delta")
	return ""
}

func mustRead(t *testing.T, resp *http.Response) *chattest.Stream {
	t.Helper()
	s, err := chattest.Read(resp)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ctxStore is a MemoryStore whose appends fail once their context is
// done, as a network store's do.
type ctxStore struct{ *chat.MemoryStore }

func (s ctxStore) Append(ctx context.Context, id string, recs ...chat.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.MemoryStore.Append(ctx, id, recs...)
}

// TestCancelledAppendIsNotAStoreFailure: a provider that still yields a
// chunk after its client left (buffered upstream data) makes an append with
// a cancelled context fail; the stream ends as the client leaving, not as
// a store failure.
func TestCancelledAppendIsNotAStoreFailure(t *testing.T) {
	results := make(chan *chat.Result, 1)
	p := chat.ProviderFunc(func(ctx context.Context, _ *chat.Request) iter.Seq2[chat.Chunk, error] {
		return func(yield func(chat.Chunk, error) bool) {
			if !yield(chat.Chunk{Text: "first "}, nil) {
				return
			}
			<-ctx.Done()
			yield(chat.Chunk{Text: "buffered"}, nil)
		}
	})
	h := chat.NewHandler(p, chat.WithStore(ctxStore{chat.NewMemoryStore(chat.MemoryStoreOptions{})}),
		chat.WithFinish(func(_ context.Context, res *chat.Result) { results <- res }))
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/json", jsonBody(`{"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	readUntilDelta(t, resp.Body)
	resp.Body.Close()
	if res := <-results; res.End != chat.EndClientGone {
		t.Fatalf("end %s (%v)", res.End, res.Err)
	}
}
