package redisstore

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// errClosed is what a Store that is closed answers.
var errClosed = errors.New("redisstore: the store is closed")

// The appends of all streams of a Store go to Redis together: whoever
// appends waits while one pipeline carries its commands with those of the
// other streams that appended meanwhile (a group commit). So many
// concurrent streams cost a round trip per batch, not per chunk, and few
// connections.
const (
	appendWorkers  = 4   // pipelines in flight at once
	maxAppendBatch = 256 // appends in one pipeline at most
	appendTimeout  = 10 * time.Second
)

// appendReq is one Append waiting for its batch: queue adds its commands
// to the pipeline and returns them, and done receives the first error.
type appendReq struct {
	ctx   context.Context
	queue func(p redis.Pipeliner) []redis.Cmder
	done  chan error
}

type appender struct {
	rdb  redis.UniversalClient
	reqs chan *appendReq

	mu     sync.RWMutex // held for reading while sending on reqs
	closed bool
	wg     sync.WaitGroup
}

func newAppender(rdb redis.UniversalClient) *appender {
	a := &appender{rdb: rdb, reqs: make(chan *appendReq)}
	a.wg.Add(appendWorkers)
	for range appendWorkers {
		go a.work()
	}
	return a
}

// do runs queue's commands in the next batch and returns their first error.
func (a *appender) do(ctx context.Context, queue func(p redis.Pipeliner) []redis.Cmder) error {
	r := &appendReq{ctx: ctx, queue: queue, done: make(chan error, 1)}
	a.mu.RLock()
	if a.closed {
		a.mu.RUnlock()
		return errClosed
	}
	a.reqs <- r
	a.mu.RUnlock()
	return <-r.done // a batch ends within appendTimeout
}

// close ends the workers once the appends under way are done.
func (a *appender) close() {
	a.mu.Lock()
	a.closed = true
	close(a.reqs)
	a.mu.Unlock()
	a.wg.Wait()
}

func (a *appender) work() {
	defer a.wg.Done()
	batch := make([]*appendReq, 0, maxAppendBatch)
	cmds := make([][]redis.Cmder, 0, maxAppendBatch)
	for r := range a.reqs {
		batch = append(batch[:0], r)
	more:
		for len(batch) < maxAppendBatch {
			select {
			case r, ok := <-a.reqs:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
		cmds = cmds[:0]
		_, _ = a.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, r := range batch {
				if r.ctx.Err() != nil { // its caller gave up: nothing of it goes in
					cmds = append(cmds, nil)
					continue
				}
				cmds = append(cmds, r.queue(p))
			}
			return nil
		})
		cancel()
		for i, r := range batch {
			if cmds[i] == nil {
				r.done <- r.ctx.Err()
				continue
			}
			var err error
			for _, c := range cmds[i] {
				if err = c.Err(); err != nil {
					break
				}
			}
			r.done <- err
		}
		clear(batch)
	}
}
