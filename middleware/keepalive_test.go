package middleware_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/internal/servertest"
	"github.com/ssechat/ssechat/middleware"
)

// A reasoning model is silent before its first token: the keep-alive starts
// the stream with a bare comment, and the answer follows intact.
func TestKeepAliveBeforeFirstToken(t *testing.T) {
	g := newGated("你好", "，", "世界")
	h := middleware.KeepAlive(5 * time.Millisecond)(chat.NewHandler(g))
	servertest.Each(t, h, func(t *testing.T, srv *httptest.Server) {
		resp := post(t, srv.Client(), srv.URL, "hi")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		l := newLines(t, resp.Body)
		if got := l.until(""); !slices.Equal(got, []string{":", ""}) {
			t.Fatalf("first block = %q, want a bare comment", got)
		}
		g.release <- struct{}{}
		s := readRest(t, l)
		if s.Done == nil || s.Text != "你好，世界" || s.Terminals != 1 {
			t.Fatalf("done %v, text %q, terminals %d", s.Done, s.Text, s.Terminals)
		}
		if err := <-g.ended; err != nil {
			t.Fatalf("provider ended with %v", err)
		}
	})
}

// Once a keep-alive has started the stream, an upstream failure can only be
// an error event.
func TestKeepAliveThenUpstreamFailure(t *testing.T) {
	g := newGated()
	g.err = chat.NewError(chat.CodeRateLimited, "slow down")
	h := middleware.KeepAlive(5 * time.Millisecond)(chat.NewHandler(g))
	servertest.Each(t, h, func(t *testing.T, srv *httptest.Server) {
		resp := post(t, srv.Client(), srv.URL, "hi")
		l := newLines(t, resp.Body)
		l.until(":")
		g.release <- struct{}{}
		s := readRest(t, l)
		if resp.StatusCode != http.StatusOK || s.Error == nil || s.Error.Code != chat.CodeRateLimited || !s.Error.Retryable || s.Terminals != 1 {
			t.Fatalf("status %d, error %+v, terminals %d", resp.StatusCode, s.Error, s.Terminals)
		}
		<-g.ended
	})
}

// Before the first keep-alive is due, a failure still gets its HTTP status.
func TestFailureBeforeKeepAliveKeepsStatus(t *testing.T) {
	g := newGated()
	g.err = chat.NewError(chat.CodeRateLimited, "slow down")
	h := middleware.KeepAlive(time.Hour)(chat.NewHandler(g))
	servertest.Each(t, h, func(t *testing.T, srv *httptest.Server) {
		go func() { g.release <- struct{}{} }()
		resp := post(t, srv.Client(), srv.URL, "hi")
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), `"rate_limited"`) {
			t.Fatalf("status %d, body %s", resp.StatusCode, body)
		}
		<-g.ended
	})
}

// A handler that writes one event in several writes, pausing in the middle
// for longer than the interval, is never interrupted: the comment comes after
// the event. A second, idle stream on the same KeepAlive shows that comments
// were due meanwhile.
func TestKeepAliveNeverSplitsAnEvent(t *testing.T) {
	resume := make(chan struct{})
	ka := middleware.KeepAlive(5 * time.Millisecond)
	h := ka(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		flush := func(s string) {
			_, _ = io.WriteString(w, s)
			_ = http.NewResponseController(w).Flush()
		}
		if r.URL.Path == "/idle" {
			flush(": idle stream\n\n")
			<-r.Context().Done()
			return
		}
		flush("event: part\n")
		flush("data: 1\n")
		select {
		case <-resume:
		case <-r.Context().Done():
			return
		}
		flush("data: 2\n")
		flush("\n")
		<-r.Context().Done()
	}))
	servertest.Each(t, h, func(t *testing.T, srv *httptest.Server) {
		split := newLines(t, get(t, srv.Client(), srv.URL+"/split").Body)
		if got := []string{split.next(), split.next()}; !slices.Equal(got, []string{"event: part", "data: 1"}) {
			t.Fatalf("first lines %q", got)
		}
		idle := newLines(t, get(t, srv.Client(), srv.URL+"/idle").Body)
		idle.until("")
		for range 3 { // three intervals pass with the first stream mid-event
			if got := idle.until(""); !slices.Equal(got, []string{":", ""}) {
				t.Fatalf("idle stream got %q", got)
			}
		}
		resume <- struct{}{}
		if got := split.until(":"); !slices.Equal(got, []string{"data: 2", "", ":"}) {
			t.Fatalf("after the pause: %q, want the rest of the event, then a comment", got)
		}
	})
}

func get(t *testing.T, client *http.Client, url string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// readRest parses what is left of a chat stream.
func readRest(t *testing.T, l *lines) *chattest.Stream {
	t.Helper()
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(l.br)}
	s, err := chattest.Read(resp)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Idle streams under KeepAlive do not cost a goroutine each: all share one.
func TestIdleStreamsShareOneGoroutine(t *testing.T) {
	const streams = 1000
	count := func(mw func(http.Handler) http.Handler) int {
		stop := make(chan struct{})
		var started, finished sync.WaitGroup
		h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, ": open\n\n")
			started.Done()
			<-stop
		}))
		before := runtime.NumGoroutine()
		for range streams {
			started.Add(1)
			finished.Add(1)
			go func() {
				defer finished.Done()
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
			}()
		}
		started.Wait()
		n := runtime.NumGoroutine() - before
		close(stop)
		finished.Wait()
		return n
	}
	bare := count(func(h http.Handler) http.Handler { return h })
	kept := count(middleware.KeepAlive(time.Hour))
	// One more for the scheduler, plus slack: goroutines of earlier tests
	// (servers closing their connections) may still end or start while
	// these are counted, which moved the counts by up to 4 in full -race
	// runs. A goroutine per stream would be 1000 more.
	if kept > bare+10 {
		t.Fatalf("%d idle streams: %d goroutines without keep-alive, %d with; want at most the scheduler's more", streams, bare, kept)
	}
}

// A silent stream lives on as long as keep-alives go out, however much
// longer than the write timeout the silence lasts: each keep-alive is
// written under a fresh deadline, not the one the last event left behind.
// Both for chat.Handler (whose sse.Writer sets the deadlines) and for a
// plain handler that sets its own through http.ResponseController.
func TestKeepAliveRefreshesWriteDeadline(t *testing.T) {
	const (
		timeout = time.Second
		silence = 3 * timeout
	)
	plainRelease := make(chan struct{})
	plain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		send := func(s string) bool {
			if err := rc.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
				t.Errorf("SetWriteDeadline: %v", err)
				return false
			}
			if _, err := io.WriteString(w, s); err != nil {
				return false
			}
			return rc.Flush() == nil
		}
		w.Header().Set("Content-Type", "text/event-stream")
		if !send("event: delta\ndata: {\"text\":\"a\"}\n\n") {
			return
		}
		select {
		case <-plainRelease:
		case <-r.Context().Done():
			return
		}
		send("event: delta\ndata: {\"text\":\"b\"}\n\nevent: done\ndata: {\"finish_reason\":\"stop\"}\n\n")
	})
	chatStep := make(chan struct{})
	chatHandler := chat.NewHandler(&chattest.Provider{Tokens: []string{"a", "b"}, Step: chatStep}, chat.WithWriteTimeout(timeout))
	for _, tc := range []struct {
		name    string
		h       http.Handler
		release chan struct{}
		first   bool // the release before the first token
	}{
		{"chat.Handler", chatHandler, chatStep, true},
		{"plain handler", plain, plainRelease, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := middleware.KeepAlive(timeout / 4)(tc.h)
			servertest.Each(t, h, func(t *testing.T, srv *httptest.Server) {
				if tc.first {
					go func() { tc.release <- struct{}{} }()
				}
				resp := post(t, srv.Client(), srv.URL, "hi")
				l := newLines(t, resp.Body)
				l.until(`data: {"text":"a"}`)
				quiet := time.Now()
				comments := 0
				for time.Since(quiet) < silence { // the silence under test
					if l.next() == ":" {
						comments++
					}
				}
				tc.release <- struct{}{}
				s := readRest(t, l)
				if s.Done == nil || s.Text != "b" || s.Terminals != 1 {
					t.Fatalf("after %v of silence (%d keep-alives): done %v, text %q, terminals %d", silence, comments, s.Done, s.Text, s.Terminals)
				}
				if comments < 4 {
					t.Fatalf("%d keep-alives in %v", comments, silence)
				}
			})
		})
	}
}

// TestKeepAliveLongReasoning: a reasoning model that thinks in pieces
// with silences longer than the write timeout between them (minutes, in
// production) reaches the client whole: keep-alives hold the stream, and
// every piece of reasoning, then the answer, arrive exactly.
func TestKeepAliveLongReasoning(t *testing.T) {
	const timeout = 400 * time.Millisecond
	pieces := []string{"Let me think. ", "想一想：", "the user greets me 👋🏽, ", "so I greet back."}
	var script []chat.Chunk
	for _, p := range pieces {
		script = append(script, chat.Chunk{Reasoning: p})
	}
	script = append(script, chat.Chunk{Text: "Hello!"})
	step := make(chan struct{})
	h := middleware.KeepAlive(timeout / 4)(chat.NewHandler(&chattest.Provider{Chunks: script, Step: step}, chat.WithWriteTimeout(timeout)))
	srv := httptest.NewServer(h)
	defer srv.Close()
	go func() { step <- struct{}{} }()
	resp := post(t, srv.Client(), srv.URL, "hi")
	l := newLines(t, resp.Body)
	var raw strings.Builder
	comments := 0
	for range script[1:] {
		// A silence of 6 keep-alives (1.5 write timeouts) after each piece,
		// then the next.
		for seen := 0; seen < 6; {
			s := l.next()
			if strings.HasPrefix(s, ":") {
				seen++
				comments++
				continue
			}
			raw.WriteString(s + "\n")
		}
		step <- struct{}{}
	}
	rest := readRest(t, l)
	head, err := chattest.ReadEvents(strings.NewReader(raw.String() + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := chattest.Join(&chattest.Stream{Events: head}, rest)
	if err != nil {
		t.Fatal(err)
	}
	if s.Reasoning != strings.Join(pieces, "") || s.Text != "Hello!" || s.Done == nil || s.Terminals != 1 {
		t.Fatalf("after %d keep-alives: reasoning %q text %q done %+v", comments, s.Reasoning, s.Text, s.Done)
	}
}
