package chat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMemoryReaderWaits: a reader that waits is woken by the next append,
// returns at its deadline with nothing, returns at once without wait, ends
// with its context, and is woken when the stream is forgotten. Its timer is
// set once for a deadline it waits for again and again.
func TestMemoryReaderWaits(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryStore(MemoryStoreOptions{})
	if err := m.Create(ctx, &StreamInfo{ID: "s"}); err != nil {
		t.Fatal(err)
	}
	r := m.reader("s")
	defer r.stop()
	if recs, err := r.read(ctx, -1, false, time.Time{}, nil); err != nil || len(recs) != 0 {
		t.Fatalf("without wait: %v %v", recs, err)
	}
	until := time.Now().Add(20 * time.Millisecond)
	if recs, err := r.read(ctx, -1, true, until, nil); err != nil || len(recs) != 0 || time.Now().Before(until) {
		t.Fatalf("at the deadline: %v %v", recs, err)
	}
	if recs, err := r.read(ctx, -1, true, until, nil); err != nil || len(recs) != 0 {
		t.Fatalf("a deadline passed: %v %v", recs, err)
	}

	got := make(chan []Record)
	go func() {
		recs, _ := r.read(ctx, -1, true, time.Time{}, make([]Record, 0, 4))
		got <- recs
	}()
	// The append may come before or after the reader waits: either way
	// it gets the record.
	if err := m.Append(ctx, "s", Record{Seq: 0, Kind: RecordStart}, Record{Seq: 1, Kind: RecordText, Text: "a"}); err != nil {
		t.Fatal(err)
	}
	if recs := <-got; len(recs) != 2 || recs[1].Text != "a" {
		t.Fatalf("woken with %+v", recs)
	}

	cctx, cancel := context.WithCancel(ctx)
	go func() {
		_, err := r.read(cctx, 1, true, time.Time{}, nil)
		got <- []Record{{Message: fmt.Sprint(err)}}
	}()
	cancel()
	if recs := <-got; recs[0].Message != context.Canceled.Error() {
		t.Fatalf("cancelled: %s", recs[0].Message)
	}

	go func() {
		_, err := r.read(ctx, 1, true, time.Time{}, nil)
		got <- []Record{{Message: fmt.Sprint(err)}}
	}()
	m.forget("s")
	if recs := <-got; recs[0].Message != ErrStreamNotFound.Error() {
		t.Fatalf("forgotten: %s", recs[0].Message)
	}
}

// TestMemoryStoreConcurrentStreams: many streams appended and read at once,
// each by several readers, arrive whole and in order (run with -race: each
// stream has its own lock, and the store's is taken only as logs grow).
func TestMemoryStoreConcurrentStreams(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryStore(MemoryStoreOptions{})
	const streams, readers, records = 20, 3, 300
	var wg sync.WaitGroup
	errs := make(chan error, streams*(readers+1))
	for i := range streams {
		id := fmt.Sprint("s", i)
		if err := m.Create(ctx, &StreamInfo{ID: id}); err != nil {
			t.Fatal(err)
		}
		for range readers {
			wg.Go(func() {
				r := m.reader(id)
				defer r.stop()
				var text strings.Builder
				var buf []Record
				for pos := int64(-1); ; {
					recs, err := r.read(ctx, pos, true, time.Now().Add(time.Minute), buf[:0])
					if err != nil {
						errs <- err
						return
					}
					for _, rec := range recs {
						if rec.Seq != pos+1 {
							errs <- fmt.Errorf("%s: record %d after %d", id, rec.Seq, pos)
							return
						}
						pos = rec.Seq
						text.WriteString(rec.Text)
						if rec.terminal() {
							if want := strings.Repeat("ab", records/2); text.String() != want {
								errs <- fmt.Errorf("%s: text %q", id, text.String())
							}
							return
						}
					}
					buf = recs
				}
			})
		}
		wg.Go(func() {
			for seq := int64(0); seq < records; seq++ {
				if err := m.Append(ctx, id, Record{Seq: seq, Kind: RecordText, Text: "ab"[seq%2 : seq%2+1]}); err != nil {
					errs <- err
					return
				}
			}
			if err := m.Append(ctx, id, Record{Seq: records, Kind: RecordDone}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if want := int64(streams) * (streamOverhead); m.Bytes() <= want {
		t.Fatalf("the store counts %d bytes for %d streams", m.Bytes(), streams)
	}
}

// failingReads is a store whose Read always fails.
type failingReads struct {
	*MemoryStore
	reads atomic.Int64
}

func (s *failingReads) Read(ctx context.Context, id string, after int64, wait time.Duration) ([]Record, error) {
	s.reads.Add(1)
	return nil, errors.New("no reads here")
}

// TestFeedStartsConnection: the connection that starts a stream gets its
// events from the producer, not from the store: written by the producer
// itself (the default, and with a detach grace), or through the producer's
// feed (with a rotation). With a store whose Read always fails, the answer
// still arrives whole; once a client leaves mid-answer, a detached
// generation goes on to its end, and nothing more is written or queued for
// the connection.
func TestFeedStartsConnection(t *testing.T) {
	store := &failingReads{MemoryStore: NewMemoryStore(MemoryStoreOptions{})}
	release := make(chan struct{}, 1)
	p := ProviderFunc(func(ctx context.Context, req *Request) iter.Seq2[Chunk, error] {
		return func(yield func(Chunk, error) bool) {
			if !yield(Chunk{Text: "Hello, "}, nil) || !yield(Chunk{Text: "world"}, nil) {
				return
			}
			<-release
			yield(Chunk{Text: "!"}, nil)
		}
	})
	finished := make(chan *Result, 2)
	hook := WithFinish(func(_ context.Context, res *Result) { finished <- res })
	body := `{"messages":[{"role":"user","content":"hi"}]}`

	// Whole, with no read of the store.
	h := NewHandler(p, WithStore(store), hook)
	h.mirror = nil // no other way around the store
	srv := httptest.NewServer(h)
	defer srv.Close()
	release <- struct{}{}
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	all, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(all), `data: {"text":"!"}`) || !strings.Contains(string(all), "event: done") {
		t.Fatalf("answer %q", all)
	}
	<-finished

	// Detached: the client leaves mid-answer.
	for _, tc := range []struct {
		name string
		opts []Option
		feed bool // the connection follows through the feed
	}{
		{"detach", []Option{WithDetach(time.Minute)}, false},
		{"detach and rotation", []Option{WithDetach(time.Minute), WithMaxResponse(time.Hour)}, true},
	} {
		release = make(chan struct{})
		h := NewHandler(p, append(tc.opts, WithStore(store), hook)...)
		h.mirror = nil
		srv := httptest.NewServer(h)
		resp, err = http.Post(srv.URL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		buf := make([]byte, 4096)
		for !strings.Contains(got.String(), `"world"`) {
			n, err := resp.Body.Read(buf)
			got.Write(buf[:n])
			if err != nil {
				t.Fatalf("%s: %v after %q", tc.name, err, got.String())
			}
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(got.String(), "id: "), ".")
		pr := h.producers.get(id)
		if pr == nil {
			t.Fatalf("%s: no producer for %q", tc.name, id)
		}
		resp.Body.Close()
		srv.Close() // returns once the handler has: the connection stopped following
		close(release)
		if res := <-finished; res.End != EndCompleted || res.Text != "Hello, world!" {
			t.Fatalf("%s: the detached generation: %s %q", tc.name, res.End, res.Text)
		}
		if store.reads.Load() != 0 {
			t.Fatalf("%s: the starting connections read the store %d times", tc.name, store.reads.Load())
		}
		if tc.feed {
			pr.feed.mu.Lock()
			stopped, queued := pr.feed.stopped, len(pr.feed.recs)
			pr.feed.mu.Unlock()
			if !stopped || queued != 0 {
				t.Fatalf("%s: feed after the connection left: stopped %v, %d records queued", tc.name, stopped, queued)
			}
			continue
		}
		pr.live.mu.Lock()
		done, end := pr.live.done, pr.live.end
		pr.live.mu.Unlock()
		if pr.feed != nil || !done || end != followGone {
			t.Fatalf("%s: the connection after the client left: done %v, end %v, feed %v", tc.name, done, end, pr.feed != nil)
		}
	}
}
