package sse_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssechat/ssechat/internal/servertest"
	"github.com/ssechat/ssechat/sse"
)

func TestWriterHeadersAndDelivery(t *testing.T) {
	// The handler sends one event, then waits until the client has read it:
	// that proves the event was flushed, not buffered until the end.
	read := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		sw, err := sse.NewWriter(w, nil)
		if err != nil {
			t.Error(err)
			return
		}
		if err := sw.Send(sse.Event{ID: "1", Name: "delta", Data: []byte("first")}); err != nil {
			t.Error(err)
		}
		<-read
		if err := sw.Send(sse.Event{ID: "2", Data: []byte("second")}); err != nil {
			t.Error(err)
		}
	})
	servertest.Each(t, h, func(t *testing.T, srv *httptest.Server) {
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		want := map[string]string{
			"Content-Type":      "text/event-stream; charset=utf-8",
			"Cache-Control":     "no-cache, no-transform",
			"X-Accel-Buffering": "no",
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		for _, k := range []string{"Connection", "Content-Length", "Content-Encoding"} {
			if v, ok := resp.Header[k]; ok {
				t.Errorf("unexpected header %s: %q", k, v)
			}
		}
		if resp.ContentLength != -1 {
			t.Errorf("ContentLength = %d", resp.ContentLength)
		}
		br := bufio.NewReader(resp.Body)
		first := readBlock(t, br)
		if first != "id: 1\nevent: delta\ndata: first\n" {
			t.Fatalf("first block %q", first)
		}
		read <- struct{}{}
		if second := readBlock(t, br); second != "id: 2\ndata: second\n" {
			t.Fatalf("second block %q", second)
		}
		if rest, _ := io.ReadAll(br); len(rest) != 0 {
			t.Fatalf("trailing bytes %q", rest)
		}
	})
}

// readBlock reads one blank-line-terminated block.
func readBlock(t testing.TB, br *bufio.Reader) string {
	t.Helper()
	var sb strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", sb.String(), err)
		}
		if line == "\n" {
			return sb.String()
		}
		sb.WriteString(line)
	}
}

// plainWriter hides every optional interface of the writer it holds.
type plainWriter struct{ w http.ResponseWriter }

func (p plainWriter) Header() http.Header         { return p.w.Header() }
func (p plainWriter) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p plainWriter) WriteHeader(code int)        { p.w.WriteHeader(code) }

// unwrapper hides Flush but unwraps to the writer it holds.
type unwrapper struct{ plainWriter }

func (u unwrapper) Unwrap() http.ResponseWriter { return u.w }

func TestNewWriterFlushSupport(t *testing.T) {
	t.Run("unsupported", func(t *testing.T) {
		rec := httptest.NewRecorder()
		_, err := sse.NewWriter(plainWriter{rec}, nil)
		if !errors.Is(err, sse.ErrFlushUnsupported) {
			t.Fatalf("err = %v", err)
		}
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 || len(rec.Header()) != 0 || rec.Flushed {
			t.Fatalf("something was written: code %d, body %q, header %v", rec.Code, rec.Body, rec.Header())
		}
	})
	t.Run("through Unwrap", func(t *testing.T) {
		rec := httptest.NewRecorder()
		sw, err := sse.NewWriter(unwrapper{plainWriter{rec}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !rec.Flushed {
			t.Fatal("headers not flushed")
		}
		rec.Flushed = false
		if err := sw.Send(sse.Event{Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if !rec.Flushed || rec.Body.String() != "data: x\n\n" {
			t.Fatalf("flushed %v, body %q", rec.Flushed, rec.Body)
		}
	})
}

// countingWriter records each Write and Flush, and can fail writes.
type countingWriter struct {
	header  http.Header
	writes  []string
	flushes int
	failAt  int // fail the write with this index (1-based); 0 never
}

func (c *countingWriter) Header() http.Header {
	if c.header == nil {
		c.header = http.Header{}
	}
	return c.header
}
func (c *countingWriter) WriteHeader(int) {}
func (c *countingWriter) Write(b []byte) (int, error) {
	if c.failAt == len(c.writes)+1 {
		return 0, errBroken
	}
	c.writes = append(c.writes, string(b))
	return len(b), nil
}
func (c *countingWriter) Flush() { c.flushes++ }

var errBroken = errors.New("broken pipe")

func TestSendOneWritePerCall(t *testing.T) {
	cw := &countingWriter{}
	sw, err := sse.NewWriter(cw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Send(sse.Event{ID: "a", Name: "n", Retry: time.Second, Data: []byte("l1\nl2")}); err != nil {
		t.Fatal(err)
	}
	if err := sw.Send(sse.Event{Data: []byte("b1")}, sse.Event{Data: []byte("b2")}); err != nil {
		t.Fatal(err)
	}
	if err := sw.Comment("ka"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"id: a\nevent: n\nretry: 1000\ndata: l1\ndata: l2\n\n",
		"data: b1\n\ndata: b2\n\n",
		": ka\n\n",
	}
	if strings.Join(cw.writes, "|") != strings.Join(want, "|") {
		t.Fatalf("writes %q, want %q", cw.writes, want)
	}
	if cw.flushes != 4 { // headers + three calls
		t.Fatalf("flushes = %d, want 4", cw.flushes)
	}
}

func TestSendInvalidWritesNothing(t *testing.T) {
	cw := &countingWriter{}
	sw, _ := sse.NewWriter(cw, nil)
	err := sw.Send(sse.Event{Data: []byte("ok")}, sse.Event{ID: "x\ny"})
	if !errors.Is(err, sse.ErrInvalidEvent) {
		t.Fatalf("err = %v", err)
	}
	if err := sw.Comment("a\nb"); !errors.Is(err, sse.ErrInvalidEvent) {
		t.Fatalf("comment err = %v", err)
	}
	if len(cw.writes) != 0 {
		t.Fatalf("writes %q", cw.writes)
	}
	if err := sw.Send(sse.Event{Data: []byte("still usable")}); err != nil {
		t.Fatal(err)
	}
}

func TestWriteErrorIsSticky(t *testing.T) {
	cw := &countingWriter{failAt: 2}
	sw, _ := sse.NewWriter(cw, nil)
	if err := sw.Send(sse.Event{Data: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	if err := sw.Send(sse.Event{Data: []byte("2")}); !errors.Is(err, errBroken) {
		t.Fatalf("err = %v, want the write's error", err)
	}
	if err := sw.Comment(""); !errors.Is(err, errBroken) {
		t.Fatalf("later err = %v", err)
	}
	if len(cw.writes) != 1 {
		t.Fatalf("writes after failure: %q", cw.writes)
	}
}

// TestConcurrentSendAndComment has a keep-alive goroutine and a producer
// share a Writer; every block the client reads must be whole.
func TestConcurrentSendAndComment(t *testing.T) {
	const n = 300
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw, err := sse.NewWriter(w, nil)
		if err != nil {
			t.Error(err)
			return
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			for range n {
				_ = sw.Comment("keep-alive")
			}
		})
		data := []byte(strings.Repeat("x", 1000) + "\n" + strings.Repeat("y", 1000))
		for range n {
			_ = sw.Send(sse.Event{ID: "id", Name: "delta", Data: data})
		}
		wg.Wait()
	})
	servertest.Each(t, h, func(t *testing.T, srv *httptest.Server) {
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		event := "id: id\nevent: delta\ndata: " + strings.Repeat("x", 1000) + "\ndata: " + strings.Repeat("y", 1000)
		blocks := strings.Split(strings.TrimSuffix(string(body), "\n\n"), "\n\n")
		var events, comments int
		for _, b := range blocks {
			switch b {
			case event:
				events++
			case ": keep-alive":
				comments++
			default:
				t.Fatalf("torn block %.80q", b)
			}
		}
		if events != n || comments != n {
			t.Fatalf("%d events, %d comments", events, comments)
		}
	})
}

// TestWriteDeadlineOutlivesServerWriteTimeout pauses a stream for longer than
// http.Server.WriteTimeout. With the per-write deadline the stream goes on;
// with deadlines left alone the server's timeout cuts it, which shows the test
// can tell the two apart.
func TestWriteDeadlineOutlivesServerWriteTimeout(t *testing.T) {
	const serverTimeout = 100 * time.Millisecond
	for _, tt := range []struct {
		name     string
		timeout  time.Duration
		survives bool
	}{
		{"per-write deadline", 0, true},
		{"short deadline refreshed after a pause", serverTimeout, true},
		{"deadlines left alone", -1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sw, err := sse.NewWriter(w, &sse.Options{WriteTimeout: tt.timeout})
				if err != nil {
					t.Error(err)
					return
				}
				_ = sw.Send(sse.Event{Data: []byte("before")})
				<-time.After(3 * serverTimeout) // the scenario: a silent upstream
				_ = sw.Send(sse.Event{Data: []byte("after")})
			})
			srv := httptest.NewUnstartedServer(h)
			srv.Config.WriteTimeout = serverTimeout
			srv.Start()
			defer srv.Close()
			resp, err := srv.Client().Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			got := bytes.Contains(body, []byte("data: after\n\n"))
			if got != tt.survives {
				t.Fatalf("second event arrived = %v, want %v (body %q)", got, tt.survives, body)
			}
		})
	}
}

// TestStuckClientFailsWrite: a client that stops reading makes a write fail
// once the deadline passes, so the handler stops instead of hanging.
func TestStuckClientFailsWrite(t *testing.T) {
	errc := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw, err := sse.NewWriter(w, &sse.Options{WriteTimeout: 200 * time.Millisecond})
		if err != nil {
			errc <- err
			return
		}
		big := bytes.Repeat([]byte("x"), 64<<10)
		for {
			if err := sw.Send(sse.Event{Data: big}); err != nil {
				errc <- err
				return
			}
		}
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() // never read until the handler gave up
	if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
}

func BenchmarkWriterSend(b *testing.B) {
	cw := &servertest.Discard{}
	sw, _ := sse.NewWriter(cw, nil)
	ev := sse.Event{ID: "JBSWY3DPEHPK3PXPJBSWY3DPEH.42", Name: "delta", Data: []byte(`{"text":"Hello"}`)}
	b.ReportAllocs()
	for b.Loop() {
		if err := sw.Send(ev); err != nil {
			b.Fatal(err)
		}
	}
}
