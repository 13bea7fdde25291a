package chat

import (
	"context"
	"sync"
	"time"
)

// feed hands the records a producer logs straight to the connection that
// started the stream, so that it follows its generation without reading
// them back from the store: per batch one lock and one wake-up, nothing
// allocated. It serves streams that WithMaxResponse rotates; the others'
// producers write to their connection themselves (see live). The store still gets every record first (see
// producer.append), for resumes and for the connections of other
// instances; a record reaches the feed only once it is logged, so the
// event ids the connection sends are positions a resume finds.
type feed struct {
	mu      sync.Mutex
	recs    []Record // logged, not yet taken
	stopped bool     // the connection stopped following
	wake    chan struct{}
	timer   waitTimer // used by the connection only
}

func newFeed() *feed { return &feed{wake: make(chan struct{}, 1)} }

// push queues recs for the connection, unless it stopped following.
func (f *feed) push(recs []Record) {
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		return
	}
	f.recs = append(f.recs, recs...)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default: // already signalled
	}
}

// stop ends the feed: the connection reads no more of it.
func (f *feed) stop() {
	f.mu.Lock()
	f.stopped = true
	clear(f.recs)
	f.recs = nil
	f.mu.Unlock()
	f.timer.stop()
}

// read implements logSource. The records come in order from the first,
// so after is not needed.
func (f *feed) read(ctx context.Context, _ int64, wait bool, until time.Time, buf []Record) ([]Record, error) {
	for {
		f.mu.Lock()
		n := min(len(f.recs), maxReadRecords)
		buf = append(buf, f.recs[:n]...)
		rest := copy(f.recs, f.recs[n:])
		clear(f.recs[rest:]) // let go of the texts
		f.recs = f.recs[:rest]
		f.mu.Unlock()
		if n > 0 || !wait {
			return buf, nil
		}
		if woken, err := f.timer.wait(ctx, until, f.wake); !woken {
			return buf, err
		}
	}
}

// logSource is where a connection reads a stream's log: the store, the
// handler's mirror, or the producer's feed.
type logSource interface {
	// read appends the records with Seq > after to buf, as Store.Read
	// returns them. With wait, if there are none, it waits for some until
	// until (zero: no limit).
	read(ctx context.Context, after int64, wait bool, until time.Time, buf []Record) ([]Record, error)
	stop()
}

// storeSource reads any Store.
type storeSource struct {
	s  Store
	id string
}

// longestWait bounds one wait in a store's Read when the connection has no
// deadline of its own.
const longestWait = time.Minute

func (s storeSource) read(ctx context.Context, after int64, wait bool, until time.Time, buf []Record) ([]Record, error) {
	var d time.Duration
	if wait {
		d = longestWait
		if !until.IsZero() {
			d = min(d, time.Until(until))
		}
	}
	recs, err := s.s.Read(ctx, s.id, after, d)
	return append(buf, recs...), err
}

func (storeSource) stop() {}

// source returns where a connection reads stream id from store: a
// MemoryStore's reader, which waits and reads without allocating, or any
// other store's Read.
func source(store Store, id string) logSource {
	if m, ok := store.(*MemoryStore); ok {
		return m.reader(id)
	}
	return storeSource{store, id}
}
