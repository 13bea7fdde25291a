// Package redisstore keeps chat stream logs in Redis, so that every
// instance of a service behind a load balancer can resume a stream that
// another one started, and stop its generation.
//
// Each stream is a Redis Stream with one entry per record (entry ids
// 0-1, 0-2, ... follow the record numbers), a hash with the stream's
// details, and a key that a following connection keeps alive (the detach
// lease). The connections of the instance that runs a generation follow it
// in memory (chat.Handler mirrors it); readers on other instances wait
// together in one blocking XREAD per Store, on a connection of its own.
// Stops go over one Pub/Sub channel, which each Store subscribes to once,
// plus a flag in the hash for watches that start late. Each Store that creates streams renews a
// heartbeat key for its instance, so that readers on other instances notice
// within seconds when it died with generations running (chat.Store.Alive).
// A finished stream's keys expire after the TTL; those of a stream whose
// instance died, after RunningTTL.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
//	store := redisstore.New(rdb, redisstore.Options{})
//	defer store.Close()
//	h := chat.NewHandler(provider, chat.WithStore(store), chat.WithDetach(30*time.Second))
//
// Keys are "<prefix>{<stream id>}:log", ":meta" and ":reader"; the braces
// keep a stream's keys in one Redis Cluster slot.
//
// The store's total size is Redis's maxmemory. Every key it writes has an
// expiry, and a finished stream's is the shortest (the TTL, against
// RunningTTL for a running one), so with maxmemory-policy volatile-ttl
// Redis evicts finished streams first, as the memory store does. When
// Redis can evict nothing more its out-of-memory errors are returned as
// chat.ErrStoreFull: a new stream gets 503 unavailable, a growing one ends
// with an error event.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssechat/ssechat/chat"
)

// Options configures a [Store]. Zero fields take the defaults.
type Options struct {
	// Prefix starts every key and the stop channel. Default "ssechat:".
	Prefix string
	// TTL is how long a finished stream stays readable. Default
	// chat.DefaultStreamTTL.
	TTL time.Duration
	// RunningTTL is how long the keys of a stream that never finishes (its
	// instance died) live after its last record. Default one hour.
	RunningTTL time.Duration
	// MaxRecords bounds one stream's log; a stream that would pass it ends
	// with an error. Default 100,000.
	MaxRecords int64
	// InstanceTTL is how long this instance counts as alive after its last
	// heartbeat. Each Store that runs generations renews a key every
	// InstanceTTL/3; when it lapses (the process died without a drain),
	// readers of its streams on other instances get an error instead of
	// waiting for a log that will never end. Default three seconds.
	InstanceTTL time.Duration
	// Block is the longest one blocking read waits inside Redis: the
	// Store's shared read of all waiting streams, or, with a cluster or
	// ring client, each reader's own (go-redis does not interrupt a
	// blocking command when its context ends, so this bounds how long a
	// reader whose client left holds a connection). Default one second.
	Block time.Duration
}

// Store is a chat.Store in Redis. Create it with [New]; Close it to end its
// stop subscription.
type Store struct {
	rdb  redis.UniversalClient
	opts Options

	inst string // this Store's instance id, in the meta of the streams it creates

	mu       sync.Mutex
	sub      *redis.PubSub
	subDone  chan struct{}
	closed   bool
	watchers map[string]map[*stopWatch]struct{}
	beatStop chan struct{} // closed by Close; nil until the first Create
	beatDone chan struct{}
	follow   *follower // nil until the first read that waits
	appends  *appender // nil until the first Append
}

type stopWatch struct {
	once sync.Once
	f    func()
}

var _ chat.Store = (*Store)(nil)

// New returns a Store using rdb (a *redis.Client, a cluster or a ring
// client). It panics on negative options.
func New(rdb redis.UniversalClient, opts Options) *Store {
	if opts.TTL < 0 || opts.RunningTTL < 0 || opts.MaxRecords < 0 || opts.Block < 0 || opts.InstanceTTL < 0 {
		panic(fmt.Sprintf("redisstore: New(%+v): negative option", opts))
	}
	if opts.Prefix == "" {
		opts.Prefix = "ssechat:"
	}
	if opts.TTL == 0 {
		opts.TTL = chat.DefaultStreamTTL
	}
	if opts.RunningTTL == 0 {
		opts.RunningTTL = time.Hour
	}
	if opts.MaxRecords == 0 {
		opts.MaxRecords = 100_000
	}
	if opts.Block == 0 {
		opts.Block = time.Second
	}
	if opts.InstanceTTL == 0 {
		opts.InstanceTTL = 3 * time.Second
	}
	return &Store{rdb: rdb, opts: opts, inst: rand.Text(), watchers: make(map[string]map[*stopWatch]struct{})}
}

// Close ends the stop subscription and the heartbeat, and waits for their
// goroutines. It does not close the Redis client. Watches end; the store
// must not be used after. Streams this Store created that are still
// running count as dead for the other instances from now on: drain first
// (chat.Handler.Shutdown).
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	sub, done := s.sub, s.subDone
	s.sub = nil
	beatStop, beatDone := s.beatStop, s.beatDone
	s.beatStop = nil
	follow, appends := s.follow, s.appends
	s.follow, s.appends = nil, nil
	s.mu.Unlock()
	if follow != nil {
		follow.close()
	}
	if appends != nil {
		appends.close()
	}
	if beatStop != nil {
		close(beatStop)
		<-beatDone
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s.rdb.Del(ctx, s.instanceKey(s.inst))
		cancel()
	}
	if sub == nil {
		return nil
	}
	err := sub.Close()
	<-done
	return err
}

func (s *Store) instanceKey(inst string) string { return s.opts.Prefix + "instance:" + inst }

// beat starts the heartbeat once: the instance key set now, then renewed
// every InstanceTTL/3 by one goroutine until Close.
func (s *Store) beat(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	if s.beatStop != nil {
		return nil
	}
	key, ttl := s.instanceKey(s.inst), s.opts.InstanceTTL
	if err := s.rdb.Set(ctx, key, 1, ttl).Err(); err != nil {
		return err
	}
	s.beatStop, s.beatDone = make(chan struct{}), make(chan struct{})
	go func(stop <-chan struct{}, done chan<- struct{}) {
		defer close(done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), ttl/3)
				_ = s.rdb.Set(ctx, key, 1, ttl).Err() // a miss is retried at the next tick
				cancel()
			}
		}
	}(s.beatStop, s.beatDone)
	return nil
}

func (s *Store) key(id, kind string) string {
	return s.opts.Prefix + "{" + id + "}:" + kind
}

// Create implements chat.Store.
func (s *Store) Create(ctx context.Context, info *chat.StreamInfo) error {
	if err := s.beat(ctx); err != nil {
		return full(err)
	}
	meta := s.key(info.ID, "meta")
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, meta, "owner", info.Owner, "mode", string(info.Mode), "model", info.Model,
			"created", info.Created, "usage", info.IncludeUsage, "ai", info.AILabel, "inst", s.inst)
		p.PExpire(ctx, meta, s.opts.RunningTTL)
		return nil
	})
	return full(err)
}

// full maps Redis's out-of-memory error (maxmemory reached, nothing it may
// evict) to chat.ErrStoreFull, which clients see as a retryable
// "unavailable"; other errors pass unchanged.
func full(err error) error {
	if err != nil && strings.HasPrefix(err.Error(), "OOM ") {
		return fmt.Errorf("%w: %w", chat.ErrStoreFull, err)
	}
	return err
}

// Append implements chat.Store.
func (s *Store) Append(ctx context.Context, id string, recs ...chat.Record) error {
	if len(recs) == 0 {
		return nil
	}
	log, meta := s.key(id, "log"), s.key(id, "meta")
	// Expiries are set with the first record, renewed every
	// expiryEvery records, and shortened to the TTL by the terminal one.
	var ttl time.Duration
	for _, r := range recs {
		if r.Kind != chat.RecordDone && r.Kind != chat.RecordError && r.Seq >= s.opts.MaxRecords {
			return chat.ErrStreamTooLarge
		}
		switch {
		case r.Kind == chat.RecordDone || r.Kind == chat.RecordError:
			ttl = s.opts.TTL
		case r.Seq%expiryEvery == 0 && ttl == 0:
			ttl = s.opts.RunningTTL
		}
	}
	vals := make([][]byte, len(recs))
	for i := range recs {
		b, err := json.Marshal(&recs[i])
		if err != nil {
			return err
		}
		vals[i] = b
	}
	a := s.appender()
	if a == nil {
		return errClosed
	}
	return full(a.do(ctx, func(p redis.Pipeliner) []redis.Cmder {
		cmds := make([]redis.Cmder, 0, len(recs)+3)
		for i, r := range recs {
			cmds = append(cmds, p.XAdd(ctx, &redis.XAddArgs{Stream: log, ID: "0-" + strconv.FormatInt(r.Seq+1, 10), Values: []any{"r", vals[i]}}))
		}
		if ttl != 0 {
			cmds = append(cmds, p.PExpire(ctx, log, ttl), p.PExpire(ctx, meta, ttl))
		}
		if ttl == s.opts.TTL {
			cmds = append(cmds, p.HSet(ctx, meta, "done", 1))
		}
		return cmds
	}))
}

// appender returns the Store's appender, started on first use; nil once
// the Store is closed.
func (s *Store) appender() *appender {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if s.appends == nil {
		s.appends = newAppender(s.rdb)
	}
	return s.appends
}

// readCount is the most records one Read returns.
const readCount = 1024

// expiryEvery is how often, in records, a running stream's expiry is
// renewed.
const expiryEvery = 256

// Info implements chat.Store.
func (s *Store) Info(ctx context.Context, id string) (*chat.StreamInfo, error) {
	m, err := s.rdb.HGetAll(ctx, s.key(id, "meta")).Result()
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, chat.ErrStreamNotFound
	}
	created, _ := strconv.ParseInt(m["created"], 10, 64)
	return &chat.StreamInfo{
		ID: id, Owner: m["owner"], Mode: chat.Mode(m["mode"]), Model: m["model"],
		Created: created, IncludeUsage: m["usage"] == "1", AILabel: m["ai"] == "1",
	}, nil
}

// Read implements chat.Store. A read that has to wait for records
// waits, with a *redis.Client, in the Store's one blocking XREAD over all
// the streams its readers wait on, holding no connection of the pool;
// with a cluster or ring client, in a blocking XREAD of its own.
func (s *Store) Read(ctx context.Context, id string, after int64, wait time.Duration) ([]chat.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if wait > 0 {
		if f := s.follower(); f != nil {
			if recs, err := s.read(ctx, id, after, -1); err != nil || len(recs) > 0 {
				return recs, err
			}
			if err := f.wait(ctx, s.key(id, "log"), after, wait); err != nil {
				return nil, err
			}
			return s.read(ctx, id, after, -1)
		}
	}
	block := time.Duration(-1) // no BLOCK
	if wait > 0 {
		block = max(min(wait, s.opts.Block), time.Millisecond) // BLOCK 0 would wait for ever
	}
	return s.read(ctx, id, after, block)
}

// follower returns the Store's follower, started on first use; nil for a
// client that cannot read many streams in one XREAD (a cluster's keys live
// in different slots).
func (s *Store) follower() *follower {
	c, ok := s.rdb.(*redis.Client)
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if s.follow == nil {
		s.follow = newFollower(c, s.opts.Block)
	}
	return s.follow
}

// read reads the records after after, blocking up to block (none when
// negative).
func (s *Store) read(ctx context.Context, id string, after int64, block time.Duration) ([]chat.Record, error) {
	res, err := s.rdb.XRead(ctx, &redis.XReadArgs{
		Streams: []string{s.key(id, "log"), "0-" + strconv.FormatInt(after+1, 10)},
		Count:   readCount, // a reader far behind reads the log in bounded pieces
		Block:   block,
	}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		n, err := s.rdb.Exists(ctx, s.key(id, "meta")).Result()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, chat.ErrStreamNotFound
		}
		return nil, nil
	case err != nil:
		return nil, err
	}
	var recs []chat.Record
	for _, st := range res {
		recs = make([]chat.Record, 0, len(st.Messages))
		for _, m := range st.Messages {
			r, err := decode(m)
			if err != nil {
				return nil, err
			}
			recs = append(recs, r)
		}
	}
	return recs, nil
}

func decode(m redis.XMessage) (chat.Record, error) {
	var r chat.Record
	_, n, ok := strings.Cut(m.ID, "-")
	seq, err := strconv.ParseInt(n, 10, 64)
	data, isStr := m.Values["r"].(string)
	if !ok || err != nil || !isStr {
		return r, fmt.Errorf("redisstore: malformed entry %q", m.ID)
	}
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		return r, fmt.Errorf("redisstore: entry %q: %w", m.ID, err)
	}
	r.Seq = seq - 1
	return r, nil
}

// Touch implements chat.Store.
func (s *Store) Touch(ctx context.Context, id string, lease time.Duration) error {
	return s.rdb.Set(ctx, s.key(id, "reader"), 1, lease).Err()
}

// Attached implements chat.Store.
func (s *Store) Attached(ctx context.Context, id string) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.key(id, "reader")).Result()
	return n > 0, err
}

// Alive implements chat.Store: a stream is alive when it has ended or the
// instance that created it still sends its heartbeat.
func (s *Store) Alive(ctx context.Context, id string) (bool, error) {
	v, err := s.rdb.HMGet(ctx, s.key(id, "meta"), "mode", "done", "inst").Result()
	if err != nil {
		return false, err
	}
	switch {
	case v[0] == nil:
		return false, chat.ErrStreamNotFound
	case v[1] != nil:
		return true, nil // ended
	}
	inst, _ := v[2].(string)
	if inst == "" || inst == s.inst {
		return true, nil
	}
	n, err := s.rdb.Exists(ctx, s.instanceKey(inst)).Result()
	return n > 0, err
}

// Stop implements chat.Store.
func (s *Store) Stop(ctx context.Context, id string) error {
	meta := s.key(id, "meta")
	v, err := s.rdb.HMGet(ctx, meta, "mode", "done").Result()
	if err != nil {
		return err
	}
	if v[0] == nil { // every stream has a mode
		return chat.ErrStreamNotFound
	}
	if v[1] != nil {
		return nil // finished
	}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, meta, "stop", 1)
		p.Publish(ctx, s.opts.Prefix+"stop", id)
		return nil
	})
	return err
}

// WatchStop implements chat.Store.
func (s *Store) WatchStop(ctx context.Context, id string, f func()) (func(), error) {
	if err := s.subscribe(ctx); err != nil {
		return nil, err
	}
	w := &stopWatch{f: f}
	s.mu.Lock()
	ws := s.watchers[id]
	if ws == nil {
		ws = make(map[*stopWatch]struct{})
		s.watchers[id] = ws
	}
	ws[w] = struct{}{}
	s.mu.Unlock()
	unwatch := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(ws, w)
		if len(s.watchers[id]) == 0 {
			delete(s.watchers, id)
		}
	}
	// A stop published before the subscription is seen in the hash.
	v, err := s.rdb.HMGet(ctx, s.key(id, "meta"), "mode", "stop").Result()
	if err != nil {
		unwatch()
		return nil, err
	}
	if v[0] == nil {
		unwatch()
		return nil, chat.ErrStreamNotFound
	}
	if v[1] != nil {
		w.once.Do(w.f)
	}
	return unwatch, nil
}

// subscribe starts the stop subscription once, and waits until Redis has
// confirmed it, so that no stop published afterwards is missed.
func (s *Store) subscribe(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	if s.sub != nil {
		return nil
	}
	sub := s.rdb.Subscribe(ctx, s.opts.Prefix+"stop")
	if _, err := sub.Receive(ctx); err != nil {
		sub.Close()
		return err
	}
	s.sub, s.subDone = sub, make(chan struct{})
	ch := sub.Channel()
	go func() {
		defer close(s.subDone)
		for msg := range ch {
			s.mu.Lock()
			var fire []*stopWatch
			for w := range s.watchers[msg.Payload] {
				fire = append(fire, w)
			}
			s.mu.Unlock()
			for _, w := range fire {
				w.once.Do(w.f)
			}
		}
	}()
	return nil
}

var _ chat.ChatIndex = (*Store)(nil)

func (s *Store) chatKey(chatID string) string { return s.opts.Prefix + "chat:" + chatID }

// SetChatStream implements chat.ChatIndex.
func (s *Store) SetChatStream(ctx context.Context, chatID, streamID string, ttl time.Duration) error {
	return s.rdb.Set(ctx, s.chatKey(chatID), streamID, ttl).Err()
}

// ChatStream implements chat.ChatIndex.
func (s *Store) ChatStream(ctx context.Context, chatID string) (string, error) {
	id, err := s.rdb.Get(ctx, s.chatKey(chatID)).Result()
	if errors.Is(err, redis.Nil) {
		return "", chat.ErrStreamNotFound
	}
	return id, err
}

// endChat shortens a chat's note (or deletes it, for 0 ms) only if it
// still names the stream.
var endChat = redis.NewScript(`if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) <= 0 then return redis.call("DEL", KEYS[1]) end
return redis.call("PEXPIRE", KEYS[1], ARGV[2])`)

// EndChatStream implements chat.ChatIndex.
func (s *Store) EndChatStream(ctx context.Context, chatID, streamID string, keep time.Duration) error {
	return endChat.Run(ctx, s.rdb, []string{s.chatKey(chatID)}, streamID, keep.Milliseconds()).Err()
}
