package chat_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/chat/redisstore"
	"github.com/ssechat/ssechat/internal/redistest"
	"github.com/ssechat/ssechat/internal/servertest"
)

// benchStores gives the memory store and a Redis store.
func benchStores(b *testing.B, fn func(b *testing.B, s chat.Store)) {
	// Limits that a long run (b.N events in one stream) does not reach.
	b.Run("memory", func(b *testing.B) {
		fn(b, chat.NewMemoryStore(chat.MemoryStoreOptions{MaxBytes: 4 << 30, MaxStreamBytes: 2 << 30}))
	})
	b.Run("redis", func(b *testing.B) {
		s := redisstore.New(redistest.Client(b), redisstore.Options{})
		b.Cleanup(func() { s.Close() })
		fn(b, s)
	})
}

// BenchmarkStoreEvent is the cost of one event through a store: the
// producer appends a text record and a follower, waiting in Read, gets it.
// With 1000 streams, 1000 producer and 1000 follower goroutines share the
// store; ns/op is per event over all of them.
func BenchmarkStoreEvent(b *testing.B) {
	for _, streams := range []int{1, 1000} {
		b.Run("streams="+strconv.Itoa(streams), func(b *testing.B) {
			benchStores(b, func(b *testing.B, s chat.Store) {
				// A producer that fails cancels, so that its follower does
				// not wait for ever.
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				per := max(b.N/streams, 1)
				text := strings.Repeat("你好", 4) // a typical token or three
				ids := make([]string, streams)
				for i := range ids {
					ids[i] = "bench" + strconv.Itoa(i) + "x" + strconv.FormatInt(time.Now().UnixNano(), 36)
					if err := s.Create(ctx, &chat.StreamInfo{ID: ids[i], Mode: chat.ModeDelta}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				b.ResetTimer()
				var wg sync.WaitGroup
				for _, id := range ids {
					wg.Go(func() { // the producer
						for seq := range per {
							rec := chat.Record{Seq: int64(seq), Kind: chat.RecordText, Text: text}
							if seq == per-1 {
								rec = chat.Record{Seq: int64(seq), Kind: chat.RecordDone, FinishReason: "stop"}
							}
							if err := s.Append(ctx, id, rec); err != nil {
								b.Error(err)
								cancel()
								return
							}
						}
					})
					wg.Go(func() { // the follower
						for after := int64(-1); after < int64(per-1); {
							recs, err := s.Read(ctx, id, after, time.Second)
							if err != nil {
								b.Error(err)
								return
							}
							if len(recs) > 0 {
								after = recs[len(recs)-1].Seq
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(per*streams), "ns/event")
			})
		})
	}
}

// cancelOnWrite cancels its request's context at the first write: the
// client leaves as soon as the stream has started. It keeps the stream id.
type cancelOnWrite struct {
	servertest.Discard
	once   sync.Once
	cancel context.CancelFunc
	id     string
}

func (w *cancelOnWrite) Write(p []byte) (int, error) {
	w.once.Do(func() {
		_, rest, _ := strings.Cut(string(p), "id: ")
		w.id, _, _ = strings.Cut(rest, ".")
		w.cancel()
	})
	return len(p), nil
}

// BenchmarkDetachedStreams measures what a detached stream holds while its
// generation goes on without a client: 1000 streams whose clients left
// after the first event, each with its producer waiting on the upstream.
// Run with -benchtime 1x.
func BenchmarkDetachedStreams(b *testing.B) {
	const n = 1000
	benchStores(b, func(b *testing.B, s chat.Store) {
		for b.Loop() {
			p := &chattest.Provider{Tokens: []string{strings.Repeat("一个词", 100)}, Block: true}
			var finished sync.WaitGroup
			finished.Add(n)
			h := chat.NewHandler(p, chat.WithStore(s), chat.WithDetach(time.Hour),
				chat.WithFinish(func(context.Context, *chat.Result) { finished.Done() }))
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			g0 := runtime.NumGoroutine()
			ids := make([]string, 0, n)
			for range n {
				ctx, cancel := context.WithCancel(context.Background())
				w := &cancelOnWrite{cancel: cancel}
				r, _ := http.NewRequestWithContext(ctx, "POST", "/", strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
				r.Header.Set("Content-Type", "application/json")
				h.ServeHTTP(w, r) // returns once detached
				ids = append(ids, w.id)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/stream")
			b.ReportMetric(float64(after.StackInuse-before.StackInuse)/n, "stack-B/stream")
			b.ReportMetric(float64(runtime.NumGoroutine()-g0)/n, "goroutines/stream")
			for _, id := range ids {
				if err := h.Stop(context.Background(), id); err != nil {
					b.Fatal(err)
				}
			}
			finished.Wait()
		}
	})
}

// BenchmarkAppendToolDeltas appends a long tool call's argument pieces one
// record at a time, as a model streams them: the cost of an append must
// not grow with the records before it.
func BenchmarkAppendToolDeltas(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				m := chat.NewMemoryStore(chat.MemoryStoreOptions{MaxStreamBytes: 1 << 30})
				id := "JBSWY3DPEHPK3PXPJBSWY3DPEH"
				_ = m.Create(ctx, &chat.StreamInfo{ID: id, Mode: chat.ModeDelta})
				for i := range n {
					if err := m.Append(ctx, id, chat.Record{Seq: int64(i), Kind: chat.RecordToolDelta, ID: "call_1", Text: `{"a":`}); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/append")
		})
	}
}
