package redisstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// linger is how long a stream stays in the follower's blocking read after
// its last reader stopped waiting: readers of a live stream wait again at
// once, and the read is not restarted for each.
const linger = 5 * time.Second

// follower runs one blocking XREAD over every stream that readers of this
// Store wait on, on a connection of its own: however many readers wait,
// they hold no pool connection while they do (each reads, without
// blocking, only when woken). A new stream joins the read at once: the
// read is interrupted with CLIENT UNBLOCK and started again with it.
type follower struct {
	rdb   *redis.Client
	block time.Duration

	mu         sync.Mutex
	keys       map[string]*followed // by log key
	blocked    bool                 // an XREAD is under way
	unblocking bool                 // and a CLIENT UNBLOCK is on its way
	clientID   int64
	kick       chan struct{}
	stop       chan struct{}
	done       chan struct{}
}

type followed struct {
	seq     int64 // the last entry seen, as a record number
	waiters map[chan struct{}]struct{}
	idle    time.Time // since when no reader waits
}

func newFollower(rdb *redis.Client, block time.Duration) *follower {
	f := &follower{rdb: rdb, block: block, keys: make(map[string]*followed),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go f.run()
	return f
}

// wait returns when the log at key may have records after after, when ctx
// ends (with its error), or after d.
func (f *follower) wait(ctx context.Context, key string, after int64, d time.Duration) error {
	ch := make(chan struct{})
	f.mu.Lock()
	k := f.keys[key]
	joined := k == nil
	if joined {
		k = &followed{seq: after, waiters: make(map[chan struct{}]struct{})}
		f.keys[key] = k
	}
	if k.seq > after { // seen already: read it
		f.mu.Unlock()
		return nil
	}
	k.waiters[ch] = struct{}{}
	interrupt := joined && f.blocked && !f.unblocking
	if interrupt {
		f.unblocking = true
	}
	id := f.clientID
	f.mu.Unlock()
	switch {
	case interrupt:
		_ = f.rdb.ClientUnblock(ctx, id).Err() // the read restarts with key
	case joined:
		select {
		case f.kick <- struct{}{}:
		default:
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	var err error
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
		err = ctx.Err()
	}
	f.mu.Lock()
	if _, ok := k.waiters[ch]; ok {
		delete(k.waiters, ch)
		if len(k.waiters) == 0 {
			k.idle = time.Now()
		}
	}
	f.mu.Unlock()
	return err
}

func (f *follower) close() {
	close(f.stop)
	f.mu.Lock()
	blocked, id := f.blocked, f.clientID
	f.mu.Unlock()
	if blocked {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = f.rdb.ClientUnblock(ctx, id).Err()
		cancel()
	}
	<-f.done
}

func (f *follower) run() {
	defer close(f.done)
	ctx := context.Background()
	var conn *redis.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		select {
		case <-f.stop:
			return
		default:
		}
		if conn == nil {
			conn = f.rdb.Conn()
			id, err := conn.ClientID(ctx).Result()
			if err != nil {
				conn.Close()
				conn = nil
				if !f.pause(time.Second) {
					return
				}
				continue
			}
			f.mu.Lock()
			f.clientID = id
			f.mu.Unlock()
		}
		streams := f.streams()
		if len(streams) == 0 {
			select {
			case <-f.kick:
				continue
			case <-f.stop:
				return
			}
		}
		res, err := conn.XRead(ctx, &redis.XReadArgs{Streams: streams, Count: readCount, Block: f.block}).Result()
		f.mu.Lock()
		f.blocked, f.unblocking = false, false
		for _, st := range res {
			k := f.keys[st.Stream]
			if k == nil || len(st.Messages) == 0 {
				continue
			}
			if _, n, ok := strings.Cut(st.Messages[len(st.Messages)-1].ID, "-"); ok {
				if seq, err := strconv.ParseInt(n, 10, 64); err == nil {
					k.seq = max(k.seq, seq-1)
				}
			}
			for ch := range k.waiters {
				close(ch)
				delete(k.waiters, ch)
			}
			k.idle = time.Now()
		}
		f.mu.Unlock()
		if err != nil && !errors.Is(err, redis.Nil) {
			conn.Close() // a fresh connection, after a pause
			conn = nil
			if !f.pause(100 * time.Millisecond) {
				return
			}
		}
	}
}

// streams returns the XREAD arguments for the streams readers wait on or
// waited on lately, dropping the others, and marks the read under way.
func (f *follower) streams() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	keys := make([]string, 0, 2*len(f.keys))
	for key, k := range f.keys {
		if len(k.waiters) == 0 && now.Sub(k.idle) > linger {
			delete(f.keys, key)
			continue
		}
		keys = append(keys, key)
	}
	n := len(keys)
	for _, key := range keys[:n] {
		keys = append(keys, "0-"+strconv.FormatInt(f.keys[key].seq+1, 10))
	}
	f.blocked = n > 0
	return keys
}

// pause waits d, or reports false when the follower is stopped.
func (f *follower) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-f.stop:
		return false
	}
}
