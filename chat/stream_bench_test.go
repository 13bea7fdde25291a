package chat_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/internal/servertest"
	"github.com/ssechat/ssechat/middleware"
)

// handwritten is what a typical hand-rolled streaming endpoint does with the
// same provider: decode, then fmt.Fprintf and Flush per event.
func handwritten(p chat.Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req chat.Request
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		f := w.(http.Flusher)
		id := "JBSWY3DPEHPK3PXPJBSWY3DPEH"
		fmt.Fprintf(w, "id: %s.0\nevent: start\ndata: {\"id\":%q}\n\n", id, id)
		f.Flush()
		seq := 1
		for c, err := range p.Stream(r.Context(), &req) {
			if err != nil {
				return
			}
			if c.Text != "" {
				b, _ := json.Marshal(chat.TextData{Text: c.Text})
				fmt.Fprintf(w, "id: %s.%d\nevent: delta\ndata: %s\n\n", id, seq, b)
				f.Flush()
				seq++
			}
		}
		fmt.Fprintf(w, "id: %s.%d\nevent: done\ndata: {\"finish_reason\":\"stop\"}\n\n", id, seq)
		f.Flush()
	})
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStream streams a 200-chunk answer over a real loopback HTTP/1.1
// connection and reads it all, for ssechat's handler and for the
// hand-written one in the same run. cpu-ns/event is the process's CPU time
// (server and client) per delivered event.
func BenchmarkStream(b *testing.B) {
	const n = 200
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = []string{"Hello", ", ", "世界", " — ", "streaming "}[i%5]
	}
	body := []byte(`{"messages":[{"role":"user","content":"hi"}]}`)
	for _, bc := range []struct {
		name string
		h    func(chat.Provider) http.Handler
	}{
		{"ssechat", func(p chat.Provider) http.Handler { return chat.NewHandler(p) }},
		{"ssechat-nodeadline", func(p chat.Provider) http.Handler { return chat.NewHandler(p, chat.WithWriteTimeout(-1)) }},
		{"handwritten", handwritten},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := httptest.NewServer(bc.h(&chattest.Provider{Tokens: tokens}))
			defer srv.Close()
			client := srv.Client()
			b.ReportAllocs()
			cpu0 := cpuTime()
			var bytesRead int64
			for b.Loop() {
				resp, err := client.Post(srv.URL, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				nb, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				bytesRead += nb
			}
			events := float64(b.N * (n + 2))
			b.ReportMetric(float64(cpuTime()-cpu0)/events, "cpu-ns/event")
			b.ReportMetric(float64(b.Elapsed())/events, "ns/event")
			b.ReportMetric(float64(bytesRead)/float64(b.N), "bytes/stream")
		})
	}
}

func TestHandwrittenBaselineIsEquivalent(t *testing.T) {
	// The benchmark's baseline must deliver the same text, or it is not a
	// fair comparison.
	p := &chattest.Provider{Tokens: []string{"a", "b", "世界"}}
	for _, h := range []http.Handler{chat.NewHandler(p), handwritten(p)} {
		srv := httptest.NewServer(h)
		s, err := chattest.Post(srv.Client(), srv.URL, chattest.UserMessage("hi"))
		srv.Close()
		if err != nil || s.Text != "ab世界" || s.Done == nil || len(s.Events) != 5 || !strings.HasPrefix(s.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("%+v %v", s, err)
		}
	}
}

// BenchmarkPacedStreams runs many concurrent streams at a model's pace (a
// chunk every 5 ms), ssechat's handler beside the hand-written one, and
// reports the process's CPU per delivered event: the cost that dominates
// at thousands of slow streams, where a burst benchmark hides the
// per-wake-up overhead.
func BenchmarkPacedStreams(b *testing.B) {
	const streams, n = 200, 100
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = "字字字"
	}
	body := []byte(`{"messages":[{"role":"user","content":"hi"}]}`)
	for _, bc := range []struct {
		name string
		h    func(chat.Provider) http.Handler
	}{
		{"ssechat", func(p chat.Provider) http.Handler { return chat.NewHandler(p) }},
		{"handwritten", handwritten},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := httptest.NewServer(bc.h(&chattest.Provider{Tokens: tokens, Delay: 5 * time.Millisecond}))
			defer srv.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: streams}}
			cpu0 := cpuTime()
			events := 0
			for b.Loop() {
				done := make(chan int, streams)
				for range streams {
					go func() {
						resp, err := client.Post(srv.URL, "application/json", bytes.NewReader(body))
						if err != nil {
							done <- 0
							return
						}
						defer resp.Body.Close()
						evs, _ := chattest.ReadEvents(resp.Body)
						done <- len(evs)
					}()
				}
				for range streams {
					events += <-done
				}
			}
			if events < b.N*streams*n {
				b.Fatalf("%d events, want %d", events, b.N*streams*n)
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(events)/1000, "cpu-us/event")
		})
	}
}

// BenchmarkHeldStreams measures what a held, silent stream costs (a model
// that thinks before its next token): 500 streams over real loopback
// connections, each read to its first event while its provider waits,
// for ssechat with and without a detach grace and for the hand-written
// handler. The client's side is in the figures too, the same for all: the
// differences are the servers'. Run with -benchtime 1x.
func BenchmarkHeldStreams(b *testing.B) {
	const n = 500
	body := []byte(`{"messages":[{"role":"user","content":"hi"}]}`)
	for _, bc := range []struct {
		name string
		h    func(chat.Provider) http.Handler
	}{
		{"ssechat", func(p chat.Provider) http.Handler { return chat.NewHandler(p) }},
		{"ssechat-detach", func(p chat.Provider) http.Handler { return chat.NewHandler(p, chat.WithDetach(time.Hour)) }},
		// Under the middleware of the example server: the handler's
		// goroutine carries their frames as well.
		{"ssechat-middleware", func(p chat.Provider) http.Handler {
			return middleware.Telemetry(nil)(middleware.StreamTimeout(15*time.Minute, 5*time.Minute)(
				middleware.KeepAlive(5 * time.Second)(chat.NewHandler(p))))
		}},
		{"handwritten", handwritten},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				h := bc.h(&chattest.Provider{Tokens: []string{"thinking…"}, Block: true})
				srv := httptest.NewServer(h)
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				g0 := runtime.NumGoroutine()
				resps := make([]*http.Response, 0, n)
				for range n {
					resp, err := client.Post(srv.URL, "application/json", bytes.NewReader(body))
					if err != nil {
						b.Fatal(err)
					}
					resps = append(resps, resp)
					servertest.ReadUntil(b, resp.Body, "thinking…")
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/stream")
				b.ReportMetric(float64(after.StackInuse-before.StackInuse)/n, "stack-B/stream")
				b.ReportMetric(float64(runtime.NumGoroutine()-g0)/n, "goroutines/stream")
				for _, resp := range resps {
					resp.Body.Close()
				}
				if ch, ok := h.(*chat.Handler); ok {
					_ = ch.Shutdown(canceledContext()) // ends the detached generations
				}
				client.CloseIdleConnections()
				srv.Close()
			}
		})
	}
}
