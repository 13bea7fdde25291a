package chat

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/ssechat/ssechat/internal/apart"
	"github.com/ssechat/ssechat/internal/streamctx"
)

// The connection of a stream that runs on its request's goroutine holds
// events that follow its last write closely, to write them together: a
// burst from the provider leaves in a few writes, while events further
// apart (a model's pace) leave at once. The hold starts at coalesce and
// doubles, up to maxCoalesce, while the burst lasts, so that a long burst
// (a snapshot-mode answer read from a fast upstream, each event the whole
// text so far) costs few writes.
const (
	coalesce    = time.Millisecond
	maxCoalesce = 32 * time.Millisecond
)

// live is the connection that started a stream, written to by the
// stream's producer directly: each append writes to the client (deliver),
// with no goroutine between them and one wake-up per event, as a
// hand-written handler; the log is still written for resumes.
//
// When the generation cannot outlive its request (no detach grace, no
// rotation), the producer runs on the request's goroutine (startLive).
// With a detach grace it runs on its own, and writes here while the client
// is there; the request's goroutine waits, keeping the reader's lease
// (startAttached). A client that leaves then detaches the connection
// instead of cancelling the generation.
type live struct {
	mu       sync.Mutex
	f        *follower
	p        *producer
	lastSend time.Time
	window   time.Duration // the hold after a write; see coalesce
	timer    *time.Timer   // sends a held batch
	held     bool          // events wait for the timer
	done     bool          // the response is over: the terminal was sent, or the client is gone
	end      followEnd
	gone     chan struct{} // with a detach grace: closed when a write fails
}

// deliver encodes records just logged and writes them, or holds them for
// a moment when they follow the last write closely. The producer (or its
// moderation stage) calls it, one call at a time.
func (l *live) deliver(recs []Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return
	}
	terminal, answered := l.f.add(recs)
	if answered {
		l.finish(followTerminal)
		return
	}
	if !terminal && !l.f.whole && l.f.sw == nil {
		// The response's first write (its head, which net/http writes with
		// a frame of almost 3 KB) goes out at once on a goroutine of its
		// own: written from here, deep in the provider's call stack, it
		// would grow this goroutine's stack to 16 KB for as long as the
		// stream lasts.
		if !l.held {
			l.held = true
			go l.sendHeld()
		}
		return
	}
	now := time.Now()
	if !terminal && !l.f.whole && !l.f.enc.full() && now.Sub(l.lastSend) < l.window {
		if !l.held {
			l.held = true
			d := l.window - now.Sub(l.lastSend)
			if l.timer == nil {
				l.timer = time.AfterFunc(d, l.sendHeld)
			} else {
				l.timer.Reset(d)
			}
		}
		return
	}
	l.window = coalesce // a pause: the next burst starts small
	l.send(terminal)
}

// sendHeld writes a held batch, on the timer's goroutine (or, for the
// first, a goroutine of its own): a new one each time, which the write
// takes deep (see apart.Grow).
func (l *live) sendHeld() {
	apart.Grow()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done && l.held {
		if l.f.sw != nil {
			l.window = min(2*l.window, maxCoalesce) // the burst goes on
		}
		l.send(false)
	}
}

func (l *live) send(terminal bool) {
	l.held = false
	wrote := l.f.enc.pending()
	end, done := l.f.send(terminal)
	if wrote {
		// From the write's end: a burst that a slow write holds up is
		// still a burst.
		l.lastSend = time.Now()
	}
	if done {
		l.finish(end)
	}
}

// finish ends the response. A client that is gone cancels the generation,
// or with a detach grace, detaches the connection (see startAttached).
func (l *live) finish(end followEnd) {
	l.done, l.end = true, end
	if l.timer != nil {
		l.timer.Stop()
	}
	switch {
	case end != followGone:
	case l.gone != nil:
		close(l.gone) // the request's goroutine detaches
	default:
		l.p.cancel(errClientGone)
	}
}

// detach ends the connection for a client that left, or for a failure
// of the request's goroutine; the generation goes on. Nothing is written
// after it returns.
func (l *live) detach() followEnd {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.finish(followGone)
	}
	return l.end
}

// fail ends the connection because the store failed: the client is told.
func (l *live) fail(e *Error) followEnd {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.finish(l.f.fail(e))
	}
	return l.end
}

// startAttached runs p in a goroutine of its own, which may outlive the
// request (a detach grace), and writes to w from it while the client is
// there (see live). This goroutine waits: for the producer's end, or the
// client leaving, and keeps the reader's lease meanwhile.
//
//go:noinline
func (h *Handler) startAttached(w http.ResponseWriter, r *http.Request, p *producer, ascii bool) {
	info := p.info
	l, st := h.newLive(w, r, p, info, ascii)
	l.gone = make(chan struct{})
	if !h.addReader(info.ID) { // only with a limit below one
		// Refused, as a follower of the log would be: the generation
		// goes on, detached.
		_ = h.writeError(w, NewError(CodeTooManyReaders, ""))
		l.done, l.end = true, followFailed
		p.watchLease(h.grace)
		go p.run()
		h.reportFollowed(r, p)
		return
	}
	defer h.removeReader(info.ID)
	lease := h.lease(info.Mode) // the grace: positive
	touch := func() error {
		if err := h.store.Touch(r.Context(), info.ID, lease); err != nil && r.Context().Err() == nil {
			return err
		}
		return nil
	}
	terr := touch() // before the producer's first check
	p.watchLease(h.grace)
	go p.run()
	every := time.NewTimer(lease / 4)
	defer every.Stop()
	var end followEnd
wait:
	for {
		if terr != nil {
			// As a follower of the log: the client is told, the
			// generation goes on for a resume.
			end = l.fail(storeError(terr))
			break
		}
		select {
		case <-p.done:
			end = l.close()
			break wait
		case <-l.gone:
			end = l.detach()
			break wait
		case <-r.Context().Done():
			end = l.detach()
			break wait
		case <-every.C:
			terr = touch()
			every.Reset(lease / 4)
		}
	}
	if cause := context.Cause(r.Context()); end != followTerminal && errors.Is(cause, context.DeadlineExceeded) {
		// A timeout (middleware.StreamTimeout, a deadline) ends the
		// generation under every policy: only a client that left is
		// waited for.
		p.cancel(cause)
		<-p.done
	}
	if st != nil && end != followGone {
		st.Ended()
	}
	h.reportFollowed(r, p)
}

// close ends the connection once the producer has: nothing is written
// after it returns.
func (l *live) close() followEnd {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		// The producer ended without a terminal record reaching here
		// (it always logs one; this is a safeguard): send what is held.
		l.send(false)
		l.finish(followGone)
	}
	return l.end
}

// startLive runs p on this goroutine, the request's, writing to w as it
// appends. See live.
func (h *Handler) startLive(w http.ResponseWriter, r *http.Request, p *producer, info *StreamInfo, ascii bool) {
	l, st := h.newLive(w, r, p, info, ascii)
	if h.addReader(info.ID) {
		defer h.removeReader(info.ID)
	} else { // only with a limit below one
		l.refuse(h, w)
	}
	// The client leaving, or a timeout, cancels the generation with the
	// request's cause. Unregistered on return: net/http cancels the
	// request's context after ServeHTTP, and AfterFunc would then start a
	// goroutine per stream for nothing.
	defer context.AfterFunc(r.Context(), func() { p.cancel(context.Cause(r.Context())) })()
	p.run()
	l.wrapUp(r, st)
}

// newLive makes p's connection. Out of startLive, as generate explains.
//
//go:noinline
func (h *Handler) newLive(w http.ResponseWriter, r *http.Request, p *producer, info *StreamInfo, ascii bool) (*live, streamctx.Starter) {
	st := starterFor(w, r.Context())
	if formats[info.Mode].whole {
		st = nil // one JSON body: no keep-alive may start an event stream
	}
	if st != nil {
		st.Pend()
	}
	l := &live{f: h.newFollower(w, r, st, info, -1, ascii), p: p, window: coalesce}
	l.f.enc.transient = p.transientValue
	p.live = l
	return l, st
}

// refuse answers that the stream has too many readers, and cancels it.
//
//go:noinline
func (l *live) refuse(h *Handler, w http.ResponseWriter) {
	_ = h.writeError(w, NewError(CodeTooManyReaders, ""))
	l.done, l.end = true, followFailed
	l.p.cancel(errClientGone)
}

// wrapUp closes the connection once the producer has returned, and
// reports the stream to the middleware.
//
//go:noinline
func (l *live) wrapUp(r *http.Request, st streamctx.Starter) {
	if end := l.close(); st != nil && end != followGone {
		st.Ended()
	}
	if o := streamctx.ObserverFrom(r.Context()); o != nil {
		o.Finished(report(l.p.res))
	}
	l.p.rethrow()
}
