package redisstore_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
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

	"github.com/redis/go-redis/v9"
	gosse "github.com/tmaxmax/go-sse"
	"go.uber.org/goleak"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/chat/redisstore"
	"github.com/ssechat/ssechat/chat/storetest"
	"github.com/ssechat/ssechat/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newStore(t *testing.T, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	s := redisstore.New(redistest.Client(t), opts)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, newStore(t, redisstore.Options{Prefix: "test:" + rand.Text() + ":"}))
}

// TestExpiry: a running stream's keys live RunningTTL past the last record,
// a finished one's TTL; nothing is left without an expiry.
func TestExpiry(t *testing.T) {
	rdb := redistest.Client(t)
	s := redisstore.New(rdb, redisstore.Options{Prefix: "exp:", TTL: time.Minute, RunningTTL: time.Hour})
	defer s.Close()
	ctx := context.Background()
	id := rand.Text()
	if err := s.Create(ctx, &chat.StreamInfo{ID: id}); err != nil {
		t.Fatal(err)
	}
	check := func(lo, hi time.Duration) {
		t.Helper()
		for _, k := range []string{"log", "meta"} {
			ttl, err := rdb.PTTL(ctx, "exp:{"+id+"}:"+k).Result()
			if err != nil || ttl <= lo || ttl > hi {
				t.Fatalf("%s: PTTL %v %v, want in (%v, %v]", k, ttl, err, lo, hi)
			}
		}
	}
	if err := s.Append(ctx, id, chat.Record{Seq: 0, Kind: chat.RecordStart}); err != nil {
		t.Fatal(err)
	}
	check(time.Minute, time.Hour)
	if err := s.Append(ctx, id, chat.Record{Seq: 1, Kind: chat.RecordDone}); err != nil {
		t.Fatal(err)
	}
	check(0, time.Minute)
}

// TestMaxRecords: a log longer than MaxRecords ends the stream with an
// error; the terminal record still goes in.
func TestMaxRecords(t *testing.T) {
	s := newStore(t, redisstore.Options{MaxRecords: 3})
	p := &chattest.Provider{Tokens: []string{"a", "b", "c", "d"}, Block: true}
	srv := httptest.NewServer(chat.NewHandler(p, chat.WithStore(s)))
	defer srv.Close()
	st, err := chattest.Post(srv.Client(), srv.URL, chattest.UserMessage("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Text != "ab" || st.Error == nil || st.Error.Code != chat.CodeAnswerTooLarge || st.Error.Retryable || st.Terminals != 1 {
		t.Fatalf("text %q, error %+v", st.Text, st.Error)
	}
}

// instances serves two handlers, as two instances behind a load balancer
// would run, each with its own Store over the same Redis.
func instances(t *testing.T, p chat.Provider, opts ...chat.Option) (a, b *httptest.Server) {
	t.Helper()
	prefix, url := "inst:"+rand.Text()+":", redistest.URL(t)
	for _, srv := range []**httptest.Server{&a, &b} {
		s := redisstore.New(redistest.NewClient(t, url), redisstore.Options{Prefix: prefix})
		t.Cleanup(func() { s.Close() })
		h := chat.NewHandler(p, append([]chat.Option{chat.WithStore(s)}, opts...)...)
		mux := http.NewServeMux()
		mux.Handle("/chat", h)
		mux.Handle("/chat/stop", h.StopHandler())
		*srv = httptest.NewServer(mux)
		t.Cleanup((*srv).Close)
	}
	return a, b
}

// start posts to srv and returns the id of the first delta and the open
// body.
func start(t *testing.T, srv *httptest.Server, ctx context.Context) (string, *http.Response) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/chat", strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	for ev, err := range gosse.Read(resp.Body, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == chat.EventDelta {
			return ev.LastEventID, resp
		}
	}
	t.Fatal("no delta")
	return "", nil
}

// TestResumeOnAnotherInstance: a stream starts on A, its client drops, it
// resumes on B while A still generates, and the text is exact.
func TestResumeOnAnotherInstance(t *testing.T) {
	next := make(chan struct{})
	g := &chattest.Provider{Tokens: []string{"one ", "two ", "three ", "four"}, Step: next}
	a, b := instances(t, g, chat.WithDetach(time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { next <- struct{}{} }()
	last, resp := start(t, a, ctx)
	cancel()
	resp.Body.Close()
	next <- struct{}{} // made while nobody reads
	rest := make(chan *chattest.Stream, 1)
	go func() {
		s, err := chattest.Resume(b.Client(), b.URL+"/chat", last)
		if err != nil {
			t.Error(err)
		}
		rest <- s
	}()
	next <- struct{}{}
	next <- struct{}{}
	s := <-rest
	if s == nil || "one "+s.Text != "one two three four" || s.Done == nil {
		t.Fatalf("resumed on B: %+v", s)
	}
}

// TestStopOnAnotherInstance: a stop sent to B cancels the generation that
// runs on A.
func TestStopOnAnotherInstance(t *testing.T) {
	next := make(chan struct{})
	g := &chattest.Provider{Tokens: []string{"one ", "two"}, Step: next}
	a, b := instances(t, g)
	go func() { next <- struct{}{} }()
	last, resp := start(t, a, context.Background())
	defer resp.Body.Close()
	id, _, _ := strings.Cut(last, ".")
	stop, err := b.Client().Post(b.URL+"/chat/stop", "application/json", strings.NewReader(`{"stream_id":"`+id+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	stop.Body.Close()
	if stop.StatusCode != 204 {
		t.Fatalf("stop: %d", stop.StatusCode)
	}
	select {
	case <-g.Canceled():
	case <-time.After(10 * time.Second):
		t.Fatal("the generation on A was not cancelled")
	}
	s, err := chattest.Read(resp)
	if err != nil || s.Error == nil || s.Error.Code != chat.CodeCanceled {
		t.Fatalf("A's client: %v %+v", err, s.Events)
	}
}

// TestAliveAcrossInstances: a stream counts as alive on another instance
// while its own instance's heartbeat runs, and as dead once it stops
// without ending the stream; an ended stream stays alive (readable).
func TestAliveAcrossInstances(t *testing.T) {
	url := redistest.URL(t)
	prefix := "alive:" + rand.Text() + ":"
	a := redisstore.New(redistest.NewClient(t, url), redisstore.Options{Prefix: prefix, InstanceTTL: 300 * time.Millisecond})
	b := redisstore.New(redistest.NewClient(t, url), redisstore.Options{Prefix: prefix})
	defer b.Close()
	ctx := context.Background()
	running, ended := rand.Text(), rand.Text()
	for _, id := range []string{running, ended} {
		if err := a.Create(ctx, &chat.StreamInfo{ID: id, Mode: chat.ModeDelta}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Append(ctx, ended, chat.Record{Seq: 0, Kind: chat.RecordStart}, chat.Record{Seq: 1, Kind: chat.RecordDone}); err != nil {
		t.Fatal(err)
	}
	// Past several heartbeats, A is still alive.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if ok, err := b.Alive(ctx, running); err != nil || !ok {
			t.Fatalf("running on a live instance: alive %v, %v", ok, err)
		}
	}
	a.Close() // A stops without ending the running stream
	if ok, err := b.Alive(ctx, running); err != nil || ok {
		t.Fatalf("after A closed: alive %v, %v", ok, err)
	}
	if ok, err := b.Alive(ctx, ended); err != nil || !ok {
		t.Fatalf("an ended stream: alive %v, %v", ok, err)
	}
}

// TestOutOfMemoryIsStoreFull: when Redis is at its maxmemory and can evict
// nothing, the store says chat.ErrStoreFull, and a new stream gets 503
// with code unavailable (retryable), not a generic internal error.
func TestOutOfMemoryIsStoreFull(t *testing.T) {
	rdb := redistest.NewClient(t, redistest.Private(t, "--maxmemory-policy", "noeviction"))
	ctx := context.Background()
	if err := rdb.Set(ctx, "ballast", strings.Repeat("x", 4<<20), 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ConfigSet(ctx, "maxmemory", "1mb").Err(); err != nil {
		t.Fatal(err)
	}
	s := newStoreOn(t, rdb)
	if err := s.Create(ctx, &chat.StreamInfo{ID: rand.Text(), Mode: chat.ModeDelta}); !errors.Is(err, chat.ErrStoreFull) {
		t.Fatalf("Create in a full Redis: %v", err)
	}
	srv := httptest.NewServer(chat.NewHandler(&chattest.Provider{Tokens: []string{"a"}}, chat.WithStore(s)))
	defer srv.Close()
	st, err := chattest.Post(srv.Client(), srv.URL, chattest.UserMessage("hi"))
	if err != nil || st.Status != http.StatusServiceUnavailable || st.Error == nil || st.Error.Code != chat.CodeUnavailable {
		t.Fatalf("a stream in a full Redis: %v %d %+v", err, st.Status, st.Error)
	}
}

func newStoreOn(t *testing.T, rdb *redis.Client) *redisstore.Store {
	s := redisstore.New(rdb, redisstore.Options{})
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStreamsDoNotQueueBehindThePool: many more concurrent streams than
// Redis connections all finish on time. The connection that started a
// stream is fed by its own producer in process; Redis is written for the
// readers that come back, so following a stream holds no connection (a
// blocking XREAD per stream held one each, and the rest queued for the
// pool: 1,000 streams of 3 s took a median of 46 s on a pool of 20).
func TestStreamsDoNotQueueBehindThePool(t *testing.T) {
	const streams = 24
	opts, err := redis.ParseURL(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	opts.PoolSize, opts.PoolTimeout = 2, 2*time.Second
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	reads := &countReads{}
	rdb.AddHook(reads)
	s := newStoreOn(t, rdb)
	tokens := strings.Split("a few tokens, each after a pause, for a while", " ")
	p := &chattest.Provider{Tokens: tokens, Delay: 100 * time.Millisecond}
	srv := httptest.NewServer(chat.NewHandler(p, chat.WithStore(s)))
	defer srv.Close()
	errs := make(chan error, streams)
	for range streams {
		go func() {
			st, err := chattest.Post(srv.Client(), srv.URL, chattest.UserMessage("hi"))
			switch {
			case err != nil:
				errs <- err
			case st.Done == nil || st.Text != strings.Join(tokens, ""):
				errs <- fmt.Errorf("status %d, text %q, error %+v", st.Status, st.Text, st.Error)
			default:
				errs <- nil
			}
		}()
	}
	for range streams {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := reads.n.Load(); n != 0 {
		t.Fatalf("the streams' own connections sent %d XREADs", n)
	}
}

// countReads is a go-redis hook that counts XREAD commands.
type countReads struct{ n atomic.Int64 }

func (c *countReads) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *countReads) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "xread" {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (c *countReads) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestRemoteReadersShareOneBlockingRead: readers on one instance of
// generations that run on another wait in the Store's one blocking XREAD,
// on a connection of its own, not in one blocking XREAD each: with 24 such
// readers waiting, Redis has one blocked client, not 24 (each holding a
// pool connection, so that beyond the pool's size streams queued).
func TestRemoteReadersShareOneBlockingRead(t *testing.T) {
	const streams = 24
	// A Redis of the test's own: the count of blocked clients must not
	// see other packages' tests that share a server.
	url := redistest.Private(t)
	prefix := "remote:" + rand.Text() + ":"
	// Each stream's first token comes at once; the rest when the test
	// closes release.
	release := make(chan struct{})
	p := chat.ProviderFunc(func(ctx context.Context, _ *chat.Request) iter.Seq2[chat.Chunk, error] {
		return func(yield func(chat.Chunk, error) bool) {
			if !yield(chat.Chunk{Text: "held "}, nil) {
				return
			}
			select {
			case <-release:
			case <-ctx.Done():
				yield(chat.Chunk{}, ctx.Err())
				return
			}
			if yield(chat.Chunk{Text: "until released"}, nil) {
				yield(chat.Chunk{FinishReason: "stop"}, nil)
			}
		}
	})
	a := chat.NewHandler(p,
		chat.WithStore(newStoreOnWith(t, redistest.NewClient(t, url), prefix)), chat.WithDetach(time.Minute))
	srvA := httptest.NewServer(a)
	defer srvA.Close()
	defer a.Shutdown(context.Background())
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opts.PoolSize = 4 * streams
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	srvB := httptest.NewServer(chat.NewHandler(&chattest.Provider{}, chat.WithStore(newStoreOnWith(t, rdb, prefix))))
	defer srvB.Close()
	blocked := func() int { // clients blocked in Redis now
		list, err := rdb.ClientList(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range strings.Split(list, "\n") {
			for _, f := range strings.Fields(c) {
				if strings.HasPrefix(f, "flags=") && strings.Contains(f, "b") {
					n++
				}
			}
		}
		return n
	}

	var waiting sync.WaitGroup
	errs := make(chan error, streams)
	for range streams {
		waiting.Add(1)
		go func() {
			errs <- func() error {
				once := sync.OnceFunc(waiting.Done)
				defer once()
				resp, err := srvA.Client().Post(srvA.URL, "application/json", strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
				if err != nil {
					return err
				}
				var start chat.StartData
				for ev, err := range gosse.Read(resp.Body, nil) {
					if err != nil {
						return err
					}
					if err := json.Unmarshal([]byte(ev.Data), &start); err != nil {
						return err
					}
					break
				}
				resp.Body.Close() // detached: the generation goes on on A
				req, _ := http.NewRequest(http.MethodPost, srvB.URL, nil)
				req.Header.Set("Last-Event-ID", start.ID)
				resp, err = srvB.Client().Do(req)
				if err != nil {
					return err
				}
				br := bufio.NewReader(resp.Body)
				for line := ""; line != "event: delta\n"; {
					if line, err = br.ReadString('\n'); err != nil {
						return fmt.Errorf("on B before the first delta: %w", err)
					}
				}
				once() // following on B, waiting for the next token
				resp.Body = struct {
					io.Reader
					io.Closer
				}{br, resp.Body}
				st, err := chattest.Read(resp)
				switch {
				case err != nil:
					return err
				case st.Done == nil || st.Text != "until released":
					return fmt.Errorf("on B: status %d, text %q, error %+v", st.Status, st.Text, st.Error)
				}
				return nil
			}()
		}()
	}
	waiting.Wait()
	// Give the readers the moment they need to get from the start event to
	// their wait (a bounded look, not a synchronisation: only the most
	// blocked clients seen counts).
	most := 0
	for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); {
		most = max(most, blocked())
	}
	close(release)
	for range streams {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	t.Logf("%d readers waiting: at most %d blocked Redis clients", streams, most)
	if most > 1 {
		t.Fatalf("%d readers waiting held %d blocked Redis clients", streams, most)
	}
}

func newStoreOnWith(t *testing.T, rdb *redis.Client, prefix string) *redisstore.Store {
	s := redisstore.New(rdb, redisstore.Options{Prefix: prefix})
	t.Cleanup(func() { s.Close() })
	return s
}
