package middleware_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/internal/servertest"
	"github.com/ssechat/ssechat/middleware"
)

func stacks() map[string]func(http.Handler) http.Handler {
	tp := sdktrace.NewTracerProvider()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	return map[string]func(http.Handler) http.Handler{
		"none":              func(h http.Handler) http.Handler { return h },
		"AbortOnDisconnect": middleware.AbortOnDisconnect,
		"KeepAlive":         middleware.KeepAlive(time.Hour),
		"StreamTimeout":     middleware.StreamTimeout(time.Hour, time.Hour),
		"Recover":           middleware.Recover(nil),
		"Telemetry":         middleware.Telemetry(&middleware.TelemetryOptions{TracerProvider: tp, MeterProvider: mp}),
	}
}

// BenchmarkEvent is the cost of one event written through each middleware:
// a handler writes b.N events in one stream.
func BenchmarkEvent(b *testing.B) {
	event := []byte("id: abc.1\nevent: delta\ndata: {\"text\":\"你好\"}\n\n")
	for name, mw := range stacks() {
		b.Run(name, func(b *testing.B) {
			h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				rc := http.NewResponseController(w)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					_, _ = w.Write(event)
					_ = rc.Flush()
				}
			}))
			h.ServeHTTP(&servertest.Discard{}, httptest.NewRequest(http.MethodGet, "/", nil))
		})
	}
}

// BenchmarkChatStream is the cost per stream of each middleware around a
// chat.Handler streaming ten tokens.
func BenchmarkChatStream(b *testing.B) {
	p := &chattest.Provider{Tokens: []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}}
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	for name, mw := range stacks() {
		b.Run(name, func(b *testing.B) {
			h := mw(chat.NewHandler(p))
			b.ReportAllocs()
			for range b.N {
				req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				h.ServeHTTP(&servertest.Discard{}, req)
			}
		})
	}
}

// BenchmarkIdleStreams holds 10,000 idle event streams open at once and
// reports the memory each costs (heap and goroutine stacks, over the same
// streams without middleware), and goroutines per stream.
func BenchmarkIdleStreams(b *testing.B) {
	const streams = 10000
	measure := func(mw func(http.Handler) http.Handler) (bytes, goroutines float64) {
		stop := make(chan struct{})
		var started, finished sync.WaitGroup
		h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, ": open\n\n")
			started.Done()
			<-stop
		}))
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		for range streams {
			started.Add(1)
			finished.Add(1)
			go func() {
				defer finished.Done()
				h.ServeHTTP(&servertest.Discard{}, httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/", nil))
			}()
		}
		started.Wait()
		runtime.GC()
		runtime.ReadMemStats(&after)
		g := runtime.NumGoroutine() - g0
		close(stop)
		finished.Wait()
		used := float64(after.HeapInuse+after.StackInuse) - float64(before.HeapInuse+before.StackInuse)
		return used / streams, float64(g) / streams
	}
	for range b.N {
		base, gBase := measure(func(h http.Handler) http.Handler { return h })
		for _, name := range []string{"none", "AbortOnDisconnect", "KeepAlive", "StreamTimeout"} {
			mw := stacks()[name]
			if name == "KeepAlive" {
				mw = middleware.KeepAlive(15 * time.Second)
			}
			if name == "StreamTimeout" {
				mw = middleware.StreamTimeout(10*time.Minute, time.Minute)
			}
			m, g := measure(mw)
			b.ReportMetric(m-base, "B/idle-stream-"+name)
			b.ReportMetric(g-gBase, "goroutines/idle-stream-"+name)
		}
		b.ReportMetric(base, "B/idle-stream-baseline")
	}
}
