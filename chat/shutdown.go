package chat

import (
	"context"
	"errors"
	"sync"
)

// errShutdown is the cause with which [Handler.Shutdown] cancels the
// generations still running when its drain ends.
var errShutdown = errors.New("chat: the server is shutting down")

// shutdownMessage is what clients see of a generation ended by Shutdown.
const shutdownMessage = "the server is shutting down, try again"

// producers is the set of generations a Handler runs in this process, by
// stream id: what Shutdown drains, and how a connection knows that a
// stream's producer is local (and alive).
type producers struct {
	mu      sync.Mutex
	closing bool
	m       map[string]*producer
}

// add registers p, unless the handler is shutting down.
func (ps *producers) add(p *producer) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closing {
		return false
	}
	if ps.m == nil {
		ps.m = make(map[string]*producer)
	}
	ps.m[p.info.ID] = p
	return true
}

func (ps *producers) remove(p *producer) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.m[p.info.ID] == p {
		delete(ps.m, p.info.ID)
	}
}

// get returns the producer of stream id if this process runs it.
func (ps *producers) get(id string) *producer {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.m[id]
}

// local reports whether this process runs the generation of stream id.
func (ps *producers) local(id string) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.m[id] != nil
}

func (ps *producers) isClosing() bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.closing
}

// close stops new registrations and returns the running producers.
func (ps *producers) close() []*producer {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.closing = true
	all := make([]*producer, 0, len(ps.m))
	for _, p := range ps.m {
		all = append(all, p)
	}
	return all
}

// Shutdown drains the handler, for a graceful stop of the server: from its
// call on, a request to start a stream gets 503 with code unavailable
// (retryable), while resumes and stops are still served. It waits for the
// running generations, detached ones included, to finish until ctx is done;
// then it cancels the rest, which end with a terminal error event (code
// unavailable, retryable: the client asks again, elsewhere) in the log and
// on the wire, and waits for them to be logged and for their finish hooks
// ([EndShutdown]). It returns nil when everything finished within the
// drain, ctx's error otherwise.
//
// Call it alongside http.Server.Shutdown, which waits for the handlers to
// return but does not end their streams:
//
//	go srv.Shutdown(ctx) // stop listening; wait for the connections
//	h.Shutdown(drainCtx) // end the streams
//
// A Handler that is shut down stays shut down.
func (h *Handler) Shutdown(ctx context.Context) error {
	running := h.producers.close()
	var err error
	for _, p := range running {
		if err == nil {
			select {
			case <-p.done:
				continue
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		p.cancel(errShutdown)
	}
	for _, p := range running {
		<-p.done
	}
	return err
}
