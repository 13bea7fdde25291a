package chat

import (
	"context"
	"iter"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// slowWriter records each write, and takes its time over it (fake time,
// in a synctest bubble).
type slowWriter struct {
	*httptest.ResponseRecorder
	delay time.Duration
	mu    sync.Mutex // held batches are written on other goroutines
	all   []string
}

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(w.delay)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all = append(w.all, string(p))
	return w.ResponseRecorder.Write(p)
}

func (w *slowWriter) writes() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.all)
}

func (w *slowWriter) Flush() { w.ResponseRecorder.Flush() }

// TestLiveCoalesces: a stream on its request's goroutine writes its first
// event at once on another goroutine, a piece at once when it comes after
// a pause, holds pieces that follow a write
// closely and writes them together, and counts the pause from the end of
// the last write, so that a burst held up by a slow write is still one.
func TestLiveCoalesces(t *testing.T) {
	h := NewHandler(ProviderFunc(func(context.Context, *Request) iter.Seq2[Chunk, error] {
		return func(func(Chunk, error) bool) {}
	}))
	for _, delay := range []time.Duration{0, 5 * time.Millisecond} {
		synctest.Test(t, func(t *testing.T) {
			w := &slowWriter{ResponseRecorder: httptest.NewRecorder(), delay: delay}
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			info := &StreamInfo{ID: "S", Mode: ModeDelta}
			l := &live{f: h.newFollower(w, r, nil, info, -1, false), window: coalesce}
			seq := int64(0)
			text := func(s string) []Record {
				seq++
				return []Record{{Seq: seq - 1, Kind: RecordText, Text: s}}
			}
			start := time.Now()
			l.deliver([]Record{{Seq: 0, Kind: RecordStart}})
			seq = 1
			// The first write, the response's head with it, goes out at
			// once on a goroutine of its own (not this deep one).
			if len(w.writes()) != 0 {
				t.Fatalf("delay %v: the first write was made on the producer's goroutine", delay)
			}
			time.Sleep(delay + time.Nanosecond)
			synctest.Wait()
			if len(w.writes()) != 1 || time.Since(start) > delay+time.Nanosecond {
				t.Fatalf("delay %v: the first event waited: %d writes", delay, len(w.writes()))
			}
			for range 100 { // a burst: no time passes between the pieces
				l.deliver(text("x"))
			}
			if len(w.writes()) != 1 {
				t.Fatalf("delay %v: a burst right after a write: %d writes, want it held", delay, len(w.writes()))
			}
			time.Sleep(maxCoalesce)
			synctest.Wait()
			if len(w.writes()) != 2 || strings.Count(w.writes()[1], `data: {"text":"x"}`) != 100 {
				t.Fatalf("delay %v: after the hold: %d writes, the last %q", delay, len(w.writes()), w.writes()[len(w.writes())-1])
			}
			time.Sleep(time.Second) // a pause, as between a model's tokens
			l.deliver(text("y"))
			if len(w.writes()) != 3 || !strings.Contains(w.writes()[2], `"y"`) {
				t.Fatalf("delay %v: a piece after a pause was held: %d writes", delay, len(w.writes()))
			}
			l.deliver([]Record{{Seq: seq, Kind: RecordDone, FinishReason: "stop"}})
			if len(w.writes()) != 4 || !strings.Contains(w.writes()[3], "event: done") {
				t.Fatalf("delay %v: the terminal event was held: %d writes", delay, len(w.writes()))
			}
			if end := l.close(); end != followTerminal {
				t.Fatalf("delay %v: end %v", delay, end)
			}
			l.deliver(text("late"))
			if len(w.writes()) != 4 {
				t.Fatalf("delay %v: a write after the end", delay)
			}
		})
	}
}
