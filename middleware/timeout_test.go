package middleware_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/internal/servertest"
	"github.com/ssechat/ssechat/internal/streamctx"
	"github.com/ssechat/ssechat/middleware"
	"github.com/ssechat/ssechat/sse"
)

// An upstream that stops sending tokens is cut off by the idle timeout even
// while keep-alive comments flow: the stream ends with one "timeout" error
// event and the upstream's context is cancelled with ErrStreamIdle.
func TestIdleTimeoutIgnoresKeepAlive(t *testing.T) {
	g := newGated("partial ")
	g.block = true
	h := middleware.StreamTimeout(0, 80*time.Millisecond)(middleware.KeepAlive(5 * time.Millisecond)(chat.NewHandler(g)))
	servertest.Each(t, h, func(t *testing.T, srv *httptest.Server) {
		resp := post(t, srv.Client(), srv.URL, "hi")
		g.release <- struct{}{}
		body, _ := io.ReadAll(resp.Body)
		if n := strings.Count(string(body), ":\n\n"); n < 2 {
			t.Errorf("%d keep-alive comments before the idle timeout, want several", n)
		}
		s := readRest(t, newLines(t, strings.NewReader(string(body))))
		if s.Error == nil || s.Error.Code != chat.CodeTimeout || !s.Error.Retryable || s.Terminals != 1 || s.Text != "partial " {
			t.Fatalf("error %+v, terminals %d, text %q", s.Error, s.Terminals, s.Text)
		}
		if err := <-g.ended; !errors.Is(err, middleware.ErrStreamIdle) {
			t.Fatalf("upstream ended with %v, want ErrStreamIdle", err)
		}
	})
}

// The maximum duration ends a stream that is still producing.
func TestMaxDuration(t *testing.T) {
	g := newGated()
	g.block = true
	h := middleware.StreamTimeout(50*time.Millisecond, 0)(chat.NewHandler(g))
	servertest.Each(t, h, func(t *testing.T, srv *httptest.Server) {
		go func() { g.release <- struct{}{} }()
		resp := post(t, srv.Client(), srv.URL, "hi")
		body, _ := io.ReadAll(resp.Body)
		// No chunk came: the handler had not started, so a 504 is right.
		if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), `"timeout"`) {
			t.Fatalf("status %d, body %s", resp.StatusCode, body)
		}
		if err := <-g.ended; !errors.Is(err, middleware.ErrStreamTooLong) {
			t.Fatalf("upstream ended with %v", err)
		}
	})
}

// A handler that knows nothing of chat and simply returns when its context
// ends gets its stream ended by the middleware: an error event between
// events, a 504 if it never started; nothing is added after its own ending.
func TestTimeoutEndsPlainHandlers(t *testing.T) {
	h := middleware.StreamTimeout(0, 30*time.Millisecond)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/started":
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: one\n\n")
			http.NewResponseController(w).Flush()
		case "/own-ending":
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: one\n\n")
			<-r.Context().Done()
			_, _ = io.WriteString(w, "event: bye\ndata: {}\n\n")
			return
		}
		<-r.Context().Done()
	}))
	servertest.Each(t, h, func(t *testing.T, srv *httptest.Server) {
		resp := get(t, srv.Client(), srv.URL+"/started")
		body, _ := io.ReadAll(resp.Body)
		if want := "data: one\n\nevent: error\ndata: {\"code\":\"timeout\",\"message\":\"the model took too long\",\"retryable\":true}\n\n"; string(body) != want {
			t.Errorf("started stream: %q, want %q", body, want)
		}
		resp = get(t, srv.Client(), srv.URL+"/never")
		body, _ = io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), `"code":"timeout"`) {
			t.Errorf("unstarted: status %d, body %s", resp.StatusCode, body)
		}
		resp = get(t, srv.Client(), srv.URL+"/own-ending")
		body, _ = io.ReadAll(resp.Body)
		if want := "data: one\n\nevent: bye\ndata: {}\n\n"; string(body) != want {
			t.Errorf("handler's own ending: %q, want %q", body, want)
		}
	})
}

// A chat stream that completes in time is untouched: one terminal event.
func TestTimeoutLeavesCompletedStreams(t *testing.T) {
	g := newGated("a", "b")
	h := middleware.StreamTimeout(time.Hour, time.Hour)(chat.NewHandler(g))
	servertest.Each(t, h, func(t *testing.T, srv *httptest.Server) {
		go func() { g.release <- struct{}{} }()
		s := readRest(t, newLines(t, post(t, srv.Client(), srv.URL, "hi").Body))
		if s.Done == nil || s.Terminals != 1 || s.Text != "ab" {
			t.Fatalf("done %v, terminals %d, text %q", s.Done, s.Terminals, s.Text)
		}
		<-g.ended
	})
}

// hidingWriter is a wrapper like otelhttp's: its Flush reports nothing.
type hidingWriter struct{ http.ResponseWriter }

func (h hidingWriter) Flush() { _ = http.NewResponseController(h.ResponseWriter).Flush() }

// failingWriter accepts writes but cannot flush them: a connection that is
// gone, behind a buffer. Nothing else cancels the request.
type failingWriter struct{ httptest.ResponseRecorder }

var errBroken = errors.New("broken pipe")

func (f *failingWriter) FlushError() error { return errBroken }

func TestAbortOnDisconnectSeesHiddenFlushErrors(t *testing.T) {
	var cause error
	h := middleware.AbortOnDisconnect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w = hidingWriter{w}
		for i := 0; r.Context().Err() == nil && i < 100; i++ {
			_, _ = io.WriteString(w, "data: x\n\n")
			w.(http.Flusher).Flush() // the handler learns nothing from this
		}
		cause = context.Cause(r.Context())
	}))
	h.ServeHTTP(&failingWriter{*httptest.NewRecorder()}, httptest.NewRequest(http.MethodGet, "/", nil))
	if !errors.Is(cause, middleware.ErrClientGone) || !errors.Is(cause, errBroken) {
		t.Fatalf("context cause = %v, want ErrClientGone wrapping the flush error", cause)
	}
}

// Nested middleware of this package share one wrapper.
func TestMiddlewareShareOneWrapper(t *testing.T) {
	var depth int
	h := middleware.AbortOnDisconnect(middleware.KeepAlive(time.Hour)(middleware.Recover(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for {
			u, ok := w.(interface{ Unwrap() http.ResponseWriter })
			if !ok {
				break
			}
			depth++
			w = u.Unwrap()
		}
	}))))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if depth != 1 {
		t.Fatalf("handler's writer is %d wrappers deep, want 1", depth)
	}
}

// TestTimeoutEndsDetachedGenerations: with chat.WithDetach a client that
// leaves does not stop the generation, but a timeout does: the upstream is
// cancelled and the finish hook reports a timeout.
func TestTimeoutEndsDetachedGenerations(t *testing.T) {
	p := &chattest.Provider{Tokens: []string{"partial "}, Block: true}
	results := make(chan *chat.Result, 1)
	h := middleware.StreamTimeout(0, 80*time.Millisecond)(chat.NewHandler(p, chat.WithDetach(time.Minute),
		chat.WithFinish(func(_ context.Context, res *chat.Result) { results <- res })))
	srv := httptest.NewServer(h)
	defer srv.Close()
	s, err := chattest.Post(srv.Client(), srv.URL, chattest.UserMessage("hi"))
	if err != nil || s.Error == nil || s.Error.Code != chat.CodeTimeout || s.Terminals != 1 {
		t.Fatalf("%v: error %+v, terminals %d", err, s.Error, s.Terminals)
	}
	select {
	case <-p.Canceled():
	case <-time.After(10 * time.Second):
		t.Fatal("the detached generation went on after the timeout")
	}
	if res := <-results; res.End != chat.EndTimeout {
		t.Fatalf("end %s", res.End)
	}
}

// countingWriter counts the writes and flushes that reach it; flushErr,
// once set, fails the flushes.
type countingWriter struct {
	httptest.ResponseRecorder
	writes, flushes int
	flushErr        error
}

func (c *countingWriter) Write(b []byte) (int, error) {
	c.writes++
	return c.ResponseRecorder.Write(b)
}

func (c *countingWriter) FlushError() error {
	c.flushes++
	if c.flushErr != nil {
		return c.flushErr
	}
	c.ResponseRecorder.Flush()
	return nil
}

// TestSSEWriterThroughMiddleware: an sse.Writer on the middleware's
// wrapper writes and flushes each Send once, in one call to the wrapper
// (streamctx.WriteFlusher), and a failed flush there is the client gone:
// Send returns it, and the request's context is cancelled with it.
func TestSSEWriterThroughMiddleware(t *testing.T) {
	cw := &countingWriter{ResponseRecorder: *httptest.NewRecorder()}
	var sendErr, cause error
	var writes, flushes []int
	h := middleware.KeepAlive(time.Hour)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(streamctx.WriteFlusher); !ok {
			t.Error("the middleware's writer does not write and flush in one call")
		}
		sw, err := sse.NewWriter(w, nil)
		if err != nil {
			t.Errorf("NewWriter: %v", err)
			return
		}
		for _, data := range []string{"one", "two\nlines"} {
			if err := sw.Send(sse.Event{Name: "delta", Data: []byte(data)}); err != nil {
				t.Errorf("Send(%q): %v", data, err)
			}
			writes, flushes = append(writes, cw.writes), append(flushes, cw.flushes)
		}
		cw.flushErr = errBroken
		sendErr = sw.Send(sse.Event{Data: []byte("three")})
		<-r.Context().Done()
		cause = context.Cause(r.Context())
	}))
	h.ServeHTTP(cw, httptest.NewRequest(http.MethodGet, "/", nil))
	// NewWriter flushed the head: each Send adds one write and one flush.
	if want := []int{1, 2}; !slices.Equal(writes, want) {
		t.Errorf("writes after each Send = %v, want %v", writes, want)
	}
	if want := []int{2, 3}; !slices.Equal(flushes, want) {
		t.Errorf("flushes after each Send = %v, want %v", flushes, want)
	}
	if want := "event: delta\ndata: one\n\nevent: delta\ndata: two\ndata: lines\n\n"; !strings.HasPrefix(cw.Body.String(), want) {
		t.Errorf("body = %q, want it to start with %q", cw.Body.String(), want)
	}
	if !errors.Is(sendErr, errBroken) {
		t.Errorf("Send after a failed flush = %v, want the flush's error", sendErr)
	}
	if !errors.Is(cause, middleware.ErrClientGone) || !errors.Is(cause, errBroken) {
		t.Errorf("context cause = %v, want ErrClientGone wrapping the flush error", cause)
	}
}
