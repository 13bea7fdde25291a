package chat_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/chat/storetest"
)

func TestMemoryStoreContract(t *testing.T) {
	storetest.Run(t, chat.NewMemoryStore(chat.MemoryStoreOptions{}))
}

// TestMemoryStoreTTL: a finished stream is forgotten after the TTL, a
// running one is not.
func TestMemoryStoreTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := chat.NewMemoryStore(chat.MemoryStoreOptions{TTL: time.Minute})
		for _, id := range []string{"done", "running"} {
			if err := m.Create(ctx, &chat.StreamInfo{ID: id}); err != nil {
				t.Fatal(err)
			}
			if err := m.Append(ctx, id, chat.Record{Seq: 0, Kind: chat.RecordStart}); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.Append(ctx, "done", chat.Record{Seq: 1, Kind: chat.RecordDone}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute - time.Nanosecond) // fake time
		if _, err := m.Info(ctx, "done"); err != nil {
			t.Fatalf("before the TTL: %v", err)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if _, err := m.Info(ctx, "done"); !errors.Is(err, chat.ErrStreamNotFound) {
			t.Fatalf("after the TTL: %v", err)
		}
		if _, err := m.Info(ctx, "running"); err != nil {
			t.Fatalf("a running stream was evicted: %v", err)
		}
		if m.Len() != 1 {
			t.Fatalf("%d streams", m.Len())
		}
	})
}

// TestMemoryStoreStreamLimit: a stream whose log passes the per-stream
// bound ends with an error event and its generation is cancelled.
func TestMemoryStoreStreamLimit(t *testing.T) {
	p := &chattest.Provider{Tokens: []string{strings.Repeat("x", 100), strings.Repeat("y", 100), "z"}, Block: true}
	results := make(chan *chat.Result, 1)
	h := chat.NewHandler(p, chat.WithStore(chat.NewMemoryStore(chat.MemoryStoreOptions{MaxStreamBytes: 300})),
		chat.WithFinish(func(_ context.Context, res *chat.Result) { results <- res }))
	srv := httptest.NewServer(h)
	defer srv.Close()
	s := post(t, srv, "", chattest.UserMessage("hi"))
	// Not "unavailable" (retryable): a retry would hit the same wall.
	if s.Error == nil || s.Error.Code != chat.CodeAnswerTooLarge || s.Error.Retryable || s.Terminals != 1 || s.Text != strings.Repeat("x", 100) {
		t.Fatalf("error %+v, text %q", s.Error, s.Text)
	}
	if res := <-results; res.End != chat.EndInternal {
		t.Fatalf("end %s", res.End)
	}
}

// TestMemoryStoreTotalLimit: when the store is full, finished streams are
// evicted oldest first; when only running streams fill it, a new stream is
// refused with 503.
func TestMemoryStoreTotalLimit(t *testing.T) {
	store := chat.NewMemoryStore(chat.MemoryStoreOptions{MaxBytes: 2 * 1024})
	p := &chattest.Provider{Tokens: []string{strings.Repeat("x", 300)}}
	srv := httptest.NewServer(chat.NewHandler(p, chat.WithStore(store)))
	defer srv.Close()
	first := post(t, srv, "", chattest.UserMessage("hi"))
	firstID := checkIDs(t, first)
	for range 4 {
		if s := post(t, srv, "", chattest.UserMessage("hi")); s.Text != strings.Repeat("x", 300) {
			t.Fatalf("text %q, error %+v", s.Text, s.Error)
		}
	}
	if store.Bytes() > 2*1024 {
		t.Fatalf("store holds %d bytes", store.Bytes())
	}
	resp, err := srv.Client().Get(srv.URL + "?stream_id=" + firstID)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := chattest.Read(resp); s.Status != 404 || s.Error.Code != chat.CodeStreamExpired {
		t.Fatalf("the oldest stream was not evicted: %d", s.Status)
	}

	// Running streams cannot be evicted.
	blocked := &chattest.Provider{Tokens: []string{"a"}, Block: true}
	full := chat.NewMemoryStore(chat.MemoryStoreOptions{MaxBytes: 1400}) // two streams of one token
	srv2 := httptest.NewServer(chat.NewHandler(blocked, chat.WithStore(full)))
	defer srv2.Close()
	var open []*http.Response
	for range 2 {
		resp, err := srv2.Client().Post(srv2.URL, "application/json", strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("stream %d: status %d", len(open), resp.StatusCode)
		}
		open = append(open, resp)
	}
	s := post(t, srv2, "", chattest.UserMessage("hi"))
	if s.Status != 503 || s.Error.Code != chat.CodeUnavailable {
		t.Fatalf("a full store: %d %+v", s.Status, s.Error)
	}
}

// TestMemoryStoreBatchAtomic: a batch that does not fit goes in not at all,
// so the producer's terminal record still follows the last one logged.
func TestMemoryStoreBatchAtomic(t *testing.T) {
	ctx := context.Background()
	m := chat.NewMemoryStore(chat.MemoryStoreOptions{MaxStreamBytes: 200})
	if err := m.Create(ctx, &chat.StreamInfo{ID: "s"}); err != nil {
		t.Fatal(err)
	}
	err := m.Append(ctx, "s", chat.Record{Seq: 0, Kind: chat.RecordStart}, chat.Record{Seq: 1, Kind: chat.RecordText, Text: strings.Repeat("x", 150)})
	if !errors.Is(err, chat.ErrStreamTooLarge) {
		t.Fatalf("Append: %v", err)
	}
	if err := m.Append(ctx, "s", chat.Record{Seq: 0, Kind: chat.RecordError, Code: chat.CodeUnavailable}); err != nil {
		t.Fatalf("the terminal record after a refused batch: %v", err)
	}
	if recs, _ := m.Read(ctx, "s", -1, 0); len(recs) != 1 || recs[0].Kind != chat.RecordError {
		t.Fatalf("log %+v", recs)
	}
}

// TestMemoryStoreCountsHonestly: the per-stream limit counts what the log
// costs, text plus a few bytes a record, so a 1 MiB answer of small tokens
// fits a 2 MiB limit; and the heap the log takes is what the store counts.
func TestMemoryStoreCountsHonestly(t *testing.T) {
	ctx := context.Background()
	const answer = 1 << 20
	tok := strings.Repeat("字", 10) // 30 bytes, as a CJK model streams them
	m := chat.NewMemoryStore(chat.MemoryStoreOptions{MaxStreamBytes: 2 << 20})
	if err := m.Create(ctx, &chat.StreamInfo{ID: "s"}); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	seq := int64(0)
	for n := 0; n < answer; n += len(tok) {
		// Each token arrives as a new string, as from a provider.
		if err := m.Append(ctx, "s", chat.Record{Seq: seq, Kind: chat.RecordText, Text: strings.Clone(tok)}); err != nil {
			t.Fatalf("after %d bytes of text: %v", n, err)
		}
		seq++
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	counted := m.Bytes()
	t.Logf("%d records, %d bytes of text: counted %d, heap %d", seq, answer, counted, heap)
	if heap > counted*5/4 {
		t.Fatalf("the log takes %d bytes of heap, the store counts %d", heap, counted)
	}
	recs, err := m.Read(ctx, "s", seq-3, 0)
	if err != nil || len(recs) != 2 || recs[0].Text != tok || recs[0].Seq != seq-2 {
		t.Fatalf("read back: %v %+v", err, recs)
	}
}
