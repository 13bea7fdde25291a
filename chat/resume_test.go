package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	gosse "github.com/tmaxmax/go-sse"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/chat/redisstore"
	"github.com/ssechat/ssechat/internal/redistest"
)

// eachStore runs fn with the memory store and with the Redis store.
func eachStore(t *testing.T, fn func(t *testing.T, newStore func() chat.Store)) {
	t.Run("memory", func(t *testing.T) {
		fn(t, func() chat.Store { return chat.NewMemoryStore(chat.MemoryStoreOptions{}) })
	})
	t.Run("redis", func(t *testing.T) {
		url := redistest.URL(t)
		fn(t, func() chat.Store {
			s := redisstore.New(redistest.NewClient(t, url), redisstore.Options{})
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
}

var resumeTokens = []string{"Hel", "lo, ", "wor", "ld. ", "你好", "👍🏽", "!"}

const resumeText = "Hello, world. 你好👍🏽!"

// stepped returns a provider of resumeTokens that yields each token only
// when the test sends on next, so a test knows exactly how far the
// generation is.
func stepped() (*chattest.Provider, chan<- struct{}) {
	next := make(chan struct{})
	return &chattest.Provider{Tokens: resumeTokens, Step: next, Usage: &chat.Usage{InputTokens: 1, OutputTokens: 7, TotalTokens: 8}}, next
}

// seqOf returns n of an event id "<stream>.<n>".
func seqOf(t *testing.T, id string) int {
	t.Helper()
	_, n, ok := strings.Cut(id, ".")
	i, err := strconv.Atoi(n)
	if !ok || err != nil {
		t.Fatalf("event id %q", id)
	}
	return i
}

// resumeAt asks for the rest after lastID, using each of the three ways a
// client can name it, by turn.
func resumeAt(t *testing.T, srv *httptest.Server, query, lastID string, way int) *chattest.Stream {
	t.Helper()
	return send(t, srv.Client(), resumeRequest(srv, query, lastID, way))
}

// resumeLater sends the resume in a goroutine, for a test that must go on
// producing tokens while it waits; nil on failure (reported).
func resumeLater(t *testing.T, srv *httptest.Server, query, lastID string, way int) <-chan *chattest.Stream {
	c := make(chan *chattest.Stream, 1)
	req := resumeRequest(srv, query, lastID, way)
	go func() {
		resp, err := srv.Client().Do(req)
		if err == nil {
			var s *chattest.Stream
			if s, err = chattest.Read(resp); err == nil {
				c <- s
				return
			}
		}
		t.Error(err)
		c <- nil
	}()
	return c
}

func resumeRequest(srv *httptest.Server, query, lastID string, way int) *http.Request {
	var req *http.Request
	switch way % 3 {
	case 0:
		req, _ = http.NewRequest("POST", srv.URL+query, nil)
		req.Header.Set("Last-Event-ID", lastID)
	case 1:
		sep := "?"
		if query != "" {
			sep = "&"
		}
		req, _ = http.NewRequest("POST", srv.URL+query+sep+"last_event_id="+lastID, nil)
	default: // the body field, next to the original request, as the mini program client sends it
		body := `{"messages":[{"role":"user","content":"hi"}],"last_event_id":"` + lastID + `"}`
		req, _ = http.NewRequest("POST", srv.URL+query, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

var resumeModes = []struct {
	mode  chat.Mode
	query string
	body  string
}{
	{chat.ModeDelta, "", `{"messages":[{"role":"user","content":"hi"}]}`},
	{chat.ModeSnapshot, "?mode=snapshot", `{"messages":[{"role":"user","content":"hi"}]}`},
	{chat.ModeOpenAI, "?mode=openai", `{"messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}`},
}

// textOf is what a client shows after the events evs (one response or
// several joined).
func textOf(t *testing.T, mode chat.Mode, evs []chattest.Event) string {
	t.Helper()
	var b strings.Builder
	for _, ev := range evs {
		switch {
		case ev.Name == chat.EventDelta:
			var d chat.TextData
			_ = ev.Decode(&d)
			b.WriteString(d.Text)
		case ev.Name == chat.EventSnapshot:
			var d chat.TextData
			_ = ev.Decode(&d)
			b.Reset()
			b.WriteString(d.Text)
		case ev.Name == "" && mode == chat.ModeOpenAI && ev.Data != "[DONE]":
			var c struct {
				Choices []struct {
					Delta struct{ Content string } `json:"delta"`
				} `json:"choices"`
			}
			if err := ev.Decode(&c); err != nil {
				t.Fatalf("chunk %q: %v", ev.Data, err)
			}
			for _, ch := range c.Choices {
				b.WriteString(ch.Delta.Content)
			}
		}
	}
	return b.String()
}

// TestResumeEveryPosition resumes a finished stream after each of its
// events, and before the first: the answer is exactly the events after it,
// byte for byte, and so exactly the rest of the text; after the last event
// it is 204 with nothing.
func TestResumeEveryPosition(t *testing.T) { eachStore(t, testResumeEveryPosition) }

func testResumeEveryPosition(t *testing.T, newStore func() chat.Store) {
	p := &chattest.Provider{Tokens: resumeTokens, Usage: &chat.Usage{InputTokens: 1, OutputTokens: 7, TotalTokens: 8}}
	srv := httptest.NewServer(chat.NewHandler(p, chat.WithStore(newStore())))
	defer srv.Close()
	for _, m := range resumeModes {
		t.Run(string(m.mode), func(t *testing.T) {
			full := post(t, srv, m.query, m.body)
			stream := checkIDs(t, full)
			if full.Text != resumeText || full.Terminals != 1 {
				t.Fatalf("full stream: text %q, %d terminals", full.Text, full.Terminals)
			}
			for k := -1; k < len(full.Events); k++ {
				last := stream
				if k >= 0 {
					last = full.Events[k].ID
				}
				s := resumeAt(t, srv, m.query, last, k+1)
				rest := full.Events[k+1:]
				if k == len(full.Events)-1 {
					if s.Status != http.StatusNoContent || len(s.Events) != 0 {
						t.Fatalf("after the last event: status %d, %d events", s.Status, len(s.Events))
					}
					continue
				}
				if s.Status != 200 || len(s.Events) != len(rest) {
					t.Fatalf("after %q: status %d, %d events, want %d", last, s.Status, len(s.Events), len(rest))
				}
				for i := range rest {
					if s.Events[i] != rest[i] {
						t.Fatalf("after %q: event %d is %+v, want %+v", last, i, s.Events[i], rest[i])
					}
				}
				if m.mode != chat.ModeSnapshot {
					if got := textOf(t, m.mode, full.Events[:k+1]) + s.Text; got != resumeText {
						t.Fatalf("after %q: text %q", last, got)
					}
				} else if k < len(full.Events)-3 && s.Text != resumeText {
					t.Fatalf("after %q: last snapshot %q", last, s.Text)
				}
			}
		})
	}
}

// TestResumeWhileRunning: a client reads up to event k and leaves; the
// generation goes on (detached); a second request resumes after k, gets
// what was made meanwhile, then the live events, then the terminal event.
// Every position of the running stream, in every mode.
func TestResumeWhileRunning(t *testing.T) { eachStore(t, testResumeWhileRunning) }

func testResumeWhileRunning(t *testing.T, newStore func() chat.Store) {
	for _, m := range resumeModes {
		for k := 0; k <= len(resumeTokens); k++ { // event k: start, then the tokens
			t.Run(fmt.Sprintf("%s/after-%d", m.mode, k), func(t *testing.T) {
				g, next := stepped()
				srv := httptest.NewServer(chat.NewHandler(g, chat.WithDetach(time.Minute), chat.WithStore(newStore())))
				defer srv.Close()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+m.query, strings.NewReader(m.body))
				req.Header.Set("Content-Type", "application/json")
				go func() { next <- struct{}{} }() // the first token: events 0 (start) and 1, with the headers
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				released := 1
				var seen []chattest.Event
				nextEvent, stopEvents := iter.Pull2(gosse.Read(resp.Body, nil))
				for len(seen) <= k {
					ev, err, ok := nextEvent()
					if !ok || err != nil {
						t.Fatalf("stream ended after %d events: %v", len(seen), err)
					}
					seen = append(seen, chattest.Event{ID: ev.LastEventID, Name: ev.Type, Data: ev.Data})
					if len(seen) <= k && seqOf(t, ev.LastEventID) == released {
						next <- struct{}{}
						released++
					}
				}
				stopEvents()
				cancel() // the client leaves after event k
				resp.Body.Close()
				if released < len(resumeTokens) {
					next <- struct{}{} // made while nobody reads
					released++
				}
				rest := resumeLater(t, srv, m.query, seen[k].ID, k)
				for ; released < len(resumeTokens); released++ {
					next <- struct{}{} // live, while the resumed request follows
				}
				s := <-rest
				if s == nil {
					t.FailNow()
				}
				if s.Status != 200 || s.Terminals != 1 || s.Done == nil {
					t.Fatalf("resumed: status %d, %d terminals, error %+v", s.Status, s.Terminals, s.Error)
				}
				for i, ev := range s.Events {
					if seqOf(t, ev.ID) != k+1+i {
						t.Fatalf("resumed event %d has id %q, want .%d", i, ev.ID, k+1+i)
					}
				}
				if m.mode == chat.ModeSnapshot {
					if k < len(resumeTokens) && s.Text != resumeText { // after the last snapshot only done is left
						t.Fatalf("last snapshot %q", s.Text)
					}
				} else if got := textOf(t, m.mode, seen) + s.Text; got != resumeText {
					t.Fatalf("text %q", got)
				}
			})
		}
	}
}

// TestDetachGrace: with WithDetach the generation survives its client; when
// nobody comes back within the grace it is cancelled. Under the default
// policy the client leaving cancels it at once. Either way, a resume then
// gets a terminal error that names the cause (code client_gone), not a
// bare "canceled" that a client could take for its own abort or a stop.
func TestDetachGrace(t *testing.T) {
	for _, policy := range []struct {
		name string
		opt  chat.Option
	}{
		{"cancel at once", chat.WithDetach(0)},
		{"detach 100ms", chat.WithDetach(100 * time.Millisecond)},
	} {
		t.Run(policy.name, func(t *testing.T) {
			p := &chattest.Provider{Tokens: []string{"partial "}, Block: true}
			results := make(chan *chat.Result, 1)
			srv := httptest.NewServer(chat.NewHandler(p, policy.opt,
				chat.WithFinish(func(_ context.Context, res *chat.Result) { results <- res })))
			defer srv.Close()
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL, strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
			req.Header.Set("Content-Type", "application/json")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var lastID string
			for ev, err := range gosse.Read(resp.Body, nil) {
				if err != nil {
					t.Fatal(err)
				}
				if lastID = ev.LastEventID; ev.Type == chat.EventDelta {
					break
				}
			}
			cancel()
			resp.Body.Close()
			select {
			case <-p.Canceled():
			case <-time.After(10 * time.Second):
				t.Fatal("the generation was not cancelled")
			}
			res := <-results
			if res.End != chat.EndClientGone || res.Text != "partial " {
				t.Fatalf("result: end %s, text %q", res.End, res.Text)
			}
			// The log keeps what was made and how it ended.
			s := resumeAt(t, srv, "", lastID, 0)
			if s.Error == nil || s.Error.Code != chat.CodeClientGone || s.Error.Retryable || s.Terminals != 1 || s.Text != "" ||
				!strings.Contains(s.Error.Message, "disconnected") {
				t.Fatalf("resume after the cancel: %+v, text %q", s.Error, s.Text)
			}
		})
	}
}

// TestResumeKeepsDetachedGeneration: the client that started the stream
// leaves at once; a resume within the grace follows it to the end.
func TestResumeKeepsDetachedGeneration(t *testing.T) {
	g, next := stepped()
	srv := httptest.NewServer(chat.NewHandler(g, chat.WithDetach(time.Minute)))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL, strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	go func() { next <- struct{}{} }()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var start chat.StartData
	for ev, err := range gosse.Read(resp.Body, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(ev.Data), &start); err != nil || ev.Type != chat.EventStart {
			t.Fatalf("first event %q %q", ev.Type, ev.Data)
		}
		break
	}
	cancel()
	resp.Body.Close()
	rest := resumeLater(t, srv, "", start.ID+".0", 0)
	for range len(resumeTokens) - 1 {
		next <- struct{}{}
	}
	if s := <-rest; s == nil || s.Text != resumeText || s.Done == nil {
		t.Fatalf("resumed text %q, done %+v, error %+v", s.Text, s.Done, s.Error)
	}
}

// TestSnapshotResumeIsLinear: a snapshot-mode resume from the start of a
// long answer catches up with one snapshot of the text so far per batch,
// not one per piece (which repeats the text so far each time: quadratic, a
// 60 KB answer made 600 MB). Ids only increase, and the text is exact.
func TestSnapshotResumeIsLinear(t *testing.T) {
	const pieces = 20_000 // 3 bytes each: a 60 KB answer
	tokens := make([]string, pieces)
	for i := range tokens {
		tokens[i] = "文"
	}
	srv := httptest.NewServer(chat.NewHandler(&chattest.Provider{Tokens: tokens}))
	defer srv.Close()
	first := post(t, srv, "?mode=snapshot", chattest.UserMessage("hi"))
	want := strings.Repeat("文", pieces)
	if first.Done == nil || first.Text != want {
		t.Fatalf("first read: done %+v, %d bytes of text", first.Done, len(first.Text))
	}
	resp, err := srv.Client().Do(resumeRequest(srv, "", first.Start.ID, 0))
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingReader{r: resp.Body}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{counted, resp.Body}
	s, err := chattest.Read(resp)
	if err != nil || s.Done == nil || s.Text != want || s.Terminals != 1 {
		t.Fatalf("resume: %v, done %+v, %d bytes of text", err, s.Done, len(s.Text))
	}
	last := -1
	for _, ev := range s.Events {
		if n := seqOf(t, ev.ID); n <= last {
			t.Fatalf("id %s after %d", ev.ID, last)
		} else {
			last = n
		}
	}
	t.Logf("a resume of a %d-byte answer from the start: %d bytes on the wire, %d events", len(want), counted.n, len(s.Events))
	if counted.n > 20*int64(len(want)) {
		t.Fatalf("a resume of a %d-byte answer sent %d bytes", len(want), counted.n)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestReadersPerStreamBounded: a stream takes at most WithMaxReaders
// connections at once (the one that started it included); the next gets
// 429 too_many_readers, and once a reader leaves there is room again.
func TestReadersPerStreamBounded(t *testing.T) {
	p := &chattest.Provider{Tokens: []string{"partial "}, Block: true}
	h := chat.NewHandler(p, chat.WithDetach(time.Minute), chat.WithMaxReaders(3))
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(canceledContext()) // ends the detached generation
	resp, err := srv.Client().Post(srv.URL, "application/json", strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first, _, _ := strings.Cut(readUntilDelta(t, resp.Body), ".") // resumes from the start see the delta
	var open []*http.Response
	for range 2 {
		r, err := srv.Client().Do(resumeRequest(srv, "", first, 0))
		if err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("resume within the limit: %v %v", err, r.StatusCode)
		}
		readUntilDelta(t, r.Body) // it is following
		open = append(open, r)
	}
	for range 10 {
		s := resumeAt(t, srv, "", first, 0)
		if s.Status != http.StatusTooManyRequests || s.Error == nil || s.Error.Code != chat.CodeTooManyReaders {
			t.Fatalf("a resume past the limit: %d %+v", s.Status, s.Error)
		}
	}
	open[0].Body.Close()
	// The server notices the reader leave when it next reads or writes;
	// until then a new resume may still be refused.
	for {
		r, err := srv.Client().Do(resumeRequest(srv, "", first, 0))
		if err != nil {
			t.Fatal(err)
		}
		if r.StatusCode == http.StatusOK {
			readUntilDelta(t, r.Body)
			r.Body.Close()
			break
		}
		r.Body.Close()
	}
	open[1].Body.Close()
}

func canceledContext() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
