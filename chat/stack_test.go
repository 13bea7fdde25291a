package chat_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/internal/servertest"
	"github.com/ssechat/ssechat/middleware"
)

// deepStack uses about kb KB of stack.
//
//go:noinline
func deepStack(kb int) byte {
	var buf [1024]byte
	buf[kb%len(buf)] = byte(kb)
	if kb <= 1 {
		return buf[0]
	}
	return deepStack(kb-1) + buf[(kb*7)%len(buf)]
}

// TestDeepPrepareLeavesStreamStacks: a prepare hook that needs a deep
// stack (the user's code: a database driver, a JWT library) runs apart
// from the goroutine that then serves the stream, which keeps its first
// 8 KB for as long as the stream lasts. Without that, each held stream
// kept 8 KB more (BenchmarkHeldStreams measures the whole cost).
func TestDeepPrepareLeavesStreamStacks(t *testing.T) {
	if chat.RaceEnabled {
		t.Skip("the race detector changes frame sizes")
	}
	perStream := func(kb int) float64 {
		const n = 200
		h := chat.NewHandler(&chattest.Provider{Tokens: []string{"thinking…"}, Block: true},
			chat.WithPrepare(func(r *http.Request, req *chat.Request) error {
				deepStack(kb)
				return nil
			}))
		// Under middleware, as in a real server: the stream waits deeper
		// in its stack, where the GC no longer halves a grown one.
		srv := httptest.NewServer(middleware.Telemetry(nil)(middleware.StreamTimeout(15*time.Minute, 5*time.Minute)(
			middleware.KeepAlive(5 * time.Second)(h))))
		defer srv.Close()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
		defer client.CloseIdleConnections()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		resps := make([]*http.Response, 0, n)
		defer func() {
			for _, resp := range resps {
				resp.Body.Close()
			}
		}()
		for range n {
			resp, err := client.Post(srv.URL, "application/json", bytes.NewReader([]byte(`{"messages":[{"role":"user","content":"hi"}]}`)))
			if err != nil {
				t.Fatal(err)
			}
			resps = append(resps, resp)
			servertest.ReadUntil(t, resp.Body, "thinking…")
		}
		// Two collections: the GC halves a stack only while its goroutine
		// uses under a quarter of it.
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&after)
		return float64(after.StackInuse-before.StackInuse) / n
	}
	shallow, deep := perStream(1), perStream(20)
	t.Logf("stack per held stream: %.0f B with a shallow prepare hook, %.0f B with a deep one", shallow, deep)
	if deep > shallow+4<<10 {
		t.Errorf("a deep prepare hook costs each held stream %.0f B of stack more", deep-shallow)
	}
}
