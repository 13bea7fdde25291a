package middleware

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssechat/ssechat/chat"
)

// The causes (see context.Cause) with which [StreamTimeout] cancels a
// request's context. Both wrap context.DeadlineExceeded, so chat.Handler
// reports them with code "timeout".
var (
	ErrStreamTooLong = fmt.Errorf("middleware: stream exceeded its maximum duration: %w", context.DeadlineExceeded)
	ErrStreamIdle    = fmt.Errorf("middleware: handler wrote nothing within the idle timeout: %w", context.DeadlineExceeded)
)

type timeouts struct {
	max, idle time.Duration
	sched     scheduler
}

// StreamTimeout returns middleware that bounds a stream's total duration
// (maxDuration) and the time the handler may go without writing (idle, for
// example an upstream that stopped sending tokens). Zero disables either; it
// panics if both are zero or either is negative.
//
// When a limit is reached it cancels the request's context with
// [ErrStreamTooLong] or [ErrStreamIdle] as the cause, which stops the
// upstream call. The context is the one that the outermost middleware of
// this package made for the stream, so the middleware between it and the
// handler see the cancellation as well. A chat.Handler then ends its stream itself with an error
// event of code "timeout" in its wire mode (or answers 504 if it had not
// started). For any other handler that returns without writing anything
// more, the middleware ends the response: with 504 and a JSON error if
// nothing was sent, with an "error" event (code "timeout", chat.ErrorData)
// if an event stream was open at an event boundary. It never writes a 504
// into a response that has started, which is what http.TimeoutHandler and
// chi's Timeout do to a stream.
//
// Keep-alive comments from [KeepAlive] do not count as activity. The idle
// timeout is checked by one goroutine for all streams, every idle/4, so it
// fires between idle and 1.25×idle after the handler's last write.
func StreamTimeout(maxDuration, idle time.Duration) func(http.Handler) http.Handler {
	if maxDuration < 0 || idle < 0 || maxDuration == 0 && idle == 0 {
		panic(fmt.Sprintf("middleware: StreamTimeout(%v, %v): want non-negative limits, at least one positive", maxDuration, idle))
	}
	t := &timeouts{max: maxDuration, idle: idle}
	t.sched.period = max(idle/ticksPer, time.Millisecond)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, w, r, done := install(w, r)
			defer done()
			if s == nil {
				next.ServeHTTP(w, r)
				return
			}
			// The watch's start and end in functions of their own: what
			// stays on the stack below the chat handler is small.
			tw := t.watch(s)
			defer tw.stop(t)
			next.ServeHTTP(w, r)
			tw.ended()
		})
	}
}

// watch starts the timeouts of stream s. They cancel the context the
// stream's middleware gave the request (install's), under which the
// handler runs: no context of their own, and no copy of the request.
//
//go:noinline
func (t *timeouts) watch(s *stream) *timeoutWatch {
	tw := &timeoutWatch{s: s, cancel: s.cancel, idle: newIdleCounter()}
	if t.max > 0 {
		tw.timer = time.AfterFunc(t.max, func() { tw.fire(ErrStreamTooLong) })
	}
	if t.idle > 0 {
		t.sched.add(tw)
	}
	return tw
}

// ended is called when the handler has returned.
//
//go:noinline
func (tw *timeoutWatch) ended() {
	tw.once.Do(func() {}) // no limit fires from here on
	if n, fired := tw.firedAt(); fired && tw.s.writes.Load() == n {
		// The handler gave up without a word: end it for the client.
		tw.s.endWithError(&chat.Error{Code: chat.CodeTimeout})
	}
}

// stop releases the watch.
func (tw *timeoutWatch) stop(t *timeouts) {
	if t.idle > 0 {
		t.sched.remove(tw)
	}
	if tw.timer != nil {
		tw.timer.Stop()
	}
}

// timeoutWatch is one stream's timeouts.
type timeoutWatch struct {
	s      *stream
	cancel context.CancelCauseFunc
	timer  *time.Timer // the longest a stream may run, if set
	idle   idleCounter // the scheduler's goroutine only

	once   sync.Once
	fired  atomic.Bool
	writes atomic.Int64 // the handler's writes when a limit was reached
}

func (tw *timeoutWatch) tick() {
	if tw.idle.idle(tw.s.writes.Load()) {
		tw.fire(ErrStreamIdle)
	}
}

// fire records how much the handler had written, then cancels: so whatever
// the handler writes in reaction counts as its own ending.
func (tw *timeoutWatch) fire(cause error) {
	tw.once.Do(func() {
		tw.writes.Store(tw.s.writes.Load())
		tw.fired.Store(true)
		tw.cancel(cause)
	})
}

func (tw *timeoutWatch) firedAt() (int64, bool) {
	return tw.writes.Load(), tw.fired.Load()
}
