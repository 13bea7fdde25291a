package middleware

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/ssechat/ssechat/sse"
)

// DefaultKeepAliveInterval is the interval [KeepAlive] uses for 0.
const DefaultKeepAliveInterval = 15 * time.Second

// KeepAliveOption configures [KeepAlive].
type KeepAliveOption interface{ apply(*keepAlive) }

type keepAliveOption func(*keepAlive)

func (f keepAliveOption) apply(k *keepAlive) { f(k) }

// WithComment sets the text of the keep-alive comment: ": text" instead of a
// bare ":". It panics if text contains CR or LF.
func WithComment(text string) KeepAliveOption {
	b, err := sse.AppendComment(nil, text)
	if err != nil {
		panic(fmt.Sprintf("middleware: WithComment(%q): %v", text, err))
	}
	return keepAliveOption(func(k *keepAlive) { k.comment = b })
}

type keepAlive struct {
	comment []byte
	sched   scheduler
}

// KeepAlive returns middleware that keeps event streams alive through
// proxies and clients with idle timeouts: whenever a text/event-stream
// response has had nothing written for interval, it writes and flushes a
// comment block (":" and a blank line; see [WithComment]), which every SSE
// client ignores. It is not chi's Heartbeat, which answers a health-check
// path.
//
// Comments are only ever inserted between events: a handler that writes one
// event in several Write calls is never interrupted mid-event. They also come
// before the first event when the handler is a chat.Handler waiting for its
// provider's first chunk (a reasoning model can be silent for minutes): the
// first comment then starts the stream with status 200, after which an
// upstream failure is reported as an error event instead of an HTTP status.
// Other handlers are kept alive from when they start their event stream.
// Keep-alive writes stop before ServeHTTP returns, and they do not count as
// activity for [StreamTimeout]'s idle timeout.
//
// All streams of one KeepAlive share one goroutine, which runs only while
// there are streams, and ticks every interval/4: an idle stream costs an
// entry in a set, not a goroutine and a timer, and gets its comment between
// interval and 1.25×interval after its last write. Like every middleware of
// this package it also cancels the request's context when a write to the
// client fails (see [AbortOnDisconnect]).
//
// interval 0 means [DefaultKeepAliveInterval] (15 s); it panics if interval
// is negative.
func KeepAlive(interval time.Duration, opts ...KeepAliveOption) func(http.Handler) http.Handler {
	if interval < 0 {
		panic(fmt.Sprintf("middleware: KeepAlive(%v): negative interval", interval))
	}
	if interval == 0 {
		interval = DefaultKeepAliveInterval
	}
	k := &keepAlive{comment: []byte(":\n\n")}
	k.sched.period = max(interval/ticksPer, time.Millisecond)
	for _, o := range opts {
		o.apply(k)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, w, r, done := install(w, r)
			if s == nil {
				next.ServeHTTP(w, r)
				return
			}
			kw := &keepAliveWatch{s: s, comment: k.comment, idle: newIdleCounter()}
			k.sched.add(kw)
			defer done()
			defer k.sched.remove(kw)
			next.ServeHTTP(w, r)
		})
	}
}

// keepAliveWatch is one stream's entry in the keep-alive scheduler.
type keepAliveWatch struct {
	s        *stream
	comment  []byte
	idle     idleCounter
	inFlight atomic.Bool
}

func (kw *keepAliveWatch) tick() {
	if !kw.idle.idle(kw.s.writes.Load()) || !kw.inFlight.CompareAndSwap(false, true) {
		return
	}
	// A write can block on a slow client: never on the scheduler's goroutine.
	go func() {
		defer kw.inFlight.Store(false)
		kw.s.send(kw.comment)
	}()
}
