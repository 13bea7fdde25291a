package middleware

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssechat/ssechat/internal/streamctx"
	"github.com/ssechat/ssechat/sse"
)

// ErrClientGone is the cause (see context.Cause) with which the middleware
// cancels a request's context when a write or flush to the client fails.
var ErrClientGone = errors.New("middleware: client gone")

// stream wraps the ResponseWriter of one request. All middleware of this
// package share it: the first one to see the request installs it, the others
// find it in the context. It serialises writes (so a keep-alive never lands
// inside an event), tracks whether the bytes written so far end at an event
// boundary, counts the handler's writes (activity for keep-alive and idle
// timeouts), and cancels the request's context on the first failed write.
type stream struct {
	rw     http.ResponseWriter
	rc     *http.ResponseController
	cancel context.CancelCauseFunc
	writes atomic.Int64 // Write calls from the handler that wrote bytes

	mu        sync.Mutex
	committed bool // the status line is decided
	self      bool // committed by the middleware, on the handler's behalf
	sse       bool // a 200 text/event-stream response
	pending   bool // the handler allows a commit on its behalf (Pend)
	closed    bool // ServeHTTP is returning: the middleware writes no more
	ended     bool // the handler has sent its terminal event (Ended)
	status    int
	tail      [3]byte // the last bytes written, tail[2] the last one
	tailN     int
	err       error

	// Write deadlines: the middleware's own writes (keep-alives, timeout
	// events) come at moments the handler does not know of, so each runs
	// under a fresh deadline of the handler's window: the time it gave
	// its last deadline (see SetWriteDeadline), else
	// sse.DefaultWriteTimeout. Once the middleware has set a deadline that
	// the handler does not manage (own), the handler's writes get fresh
	// ones too.
	window     time.Duration // 0: not known; negative: no deadlines
	deadlineAt time.Time     // when the deadline in force was set
	own        bool
}

type streamKey struct{}

// install returns the request's stream, making one if no middleware of this
// package is already active on this writer, with the writer and request to
// pass on. done must be called when the handler has returned (it is a no-op
// for a stream installed further out). A writer that cannot flush is not a
// stream: install returns nil and the middleware steps aside.
func install(w http.ResponseWriter, r *http.Request) (s *stream, _ http.ResponseWriter, _ *http.Request, done func()) {
	if s, ok := r.Context().Value(streamKey{}).(*stream); ok && reaches(w, s) {
		return s, w, r, func() {}
	}
	if sse.CheckFlush(w) != nil {
		return nil, w, r, func() {}
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	s = &stream{rw: w, rc: http.NewResponseController(w), cancel: cancel}
	ctx = context.WithValue(ctx, streamKey{}, s)
	ctx = streamctx.WithStarter(ctx, s)
	return s, s, r.WithContext(ctx), func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		cancel(context.Canceled)
	}
}

// reaches reports whether w is s or unwraps to it, so that a stream found in
// the context is the one this writer writes through.
func reaches(w http.ResponseWriter, s *stream) bool {
	for {
		if w == http.ResponseWriter(s) {
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
}

func (s *stream) Header() http.Header { return s.rw.Header() }

// Unwrap returns the wrapped writer, for http.ResponseController.
func (s *stream) Unwrap() http.ResponseWriter { return s.rw }

func (s *stream) WriteHeader(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.committed && s.self:
		return // the middleware started the stream already; this 200 is moot
	case s.committed:
	case code >= 200 || code == http.StatusSwitchingProtocols:
		s.commitLocked(code)
	}
	s.rw.WriteHeader(code)
}

// commitLocked records the status the handler chose.
func (s *stream) commitLocked(code int) {
	s.committed, s.pending, s.status = true, false, code
	s.sse = code == http.StatusOK && isEventStream(s.rw.Header())
}

func isEventStream(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && mt == "text/event-stream"
}

func (s *stream) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeLocked(b)
}

// WriteFlush implements streamctx.WriteFlusher: Write and FlushError
// under one lock, for sse.Writer's events.
func (s *stream) WriteFlush(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.writeLocked(b); err != nil {
		return err
	}
	return s.flushLocked()
}

func (s *stream) writeLocked(b []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if !s.committed {
		s.commitLocked(http.StatusOK)
	}
	if s.own && time.Since(s.deadlineAt) > s.window/2 {
		s.extendLocked()
	}
	n, err := s.rw.Write(b)
	if n > 0 {
		s.noteLocked(b[:n])
		s.writes.Add(1)
	}
	if err != nil {
		s.failLocked(err)
	}
	return n, err
}

// FlushError flushes; http.ResponseController uses it.
func (s *stream) FlushError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if !s.committed {
		s.commitLocked(http.StatusOK)
	}
	return s.flushLocked()
}

// SetWriteDeadline sets the connection's write deadline, for
// http.ResponseController, and learns from it the handler's write window.
func (s *stream) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.window, s.deadlineAt, s.own = t.Sub(now), now, false
	if t.IsZero() {
		s.window = -1
	}
	return s.rc.SetWriteDeadline(t)
}

// extendLocked moves the write deadline to now plus the handler's window,
// before a write the middleware makes, or one the handler makes under a
// deadline the middleware set. A writer that has no deadlines is left so.
func (s *stream) extendLocked() {
	if s.window == 0 {
		s.window, s.own = sse.DefaultWriteTimeout, true
	}
	if s.window < 0 {
		return
	}
	now := time.Now()
	if err := s.rc.SetWriteDeadline(now.Add(s.window)); err != nil {
		s.window = -1 // not supported: nothing to keep fresh
		return
	}
	s.deadlineAt = now
}

// Flush implements http.Flusher for handlers that assert it.
func (s *stream) Flush() { _ = s.FlushError() }

func (s *stream) flushLocked() error {
	err := s.rc.Flush()
	if err != nil {
		s.failLocked(err)
	}
	return err
}

// failLocked makes err sticky and cancels the request: the client is
// unreachable, so whatever the handler is doing for it must stop now, even
// when a wrapper further in hides the error from the handler.
func (s *stream) failLocked(err error) {
	if s.err == nil {
		s.err = err
		s.cancel(fmt.Errorf("%w: %w", ErrClientGone, err))
	}
}

// noteLocked keeps the last three bytes written.
func (s *stream) noteLocked(b []byte) {
	if len(b) >= 3 {
		copy(s.tail[:], b[len(b)-3:])
		s.tailN = 3
		return
	}
	for _, c := range b {
		s.tail[0], s.tail[1], s.tail[2] = s.tail[1], s.tail[2], c
	}
	s.tailN = min(s.tailN+len(b), 3)
}

// atBoundaryLocked reports whether the bytes written so far end with a blank
// line, or are none: only there may a comment or event be inserted. A
// trailing CR is not a boundary, as an LF may follow to complete CRLF.
func (s *stream) atBoundaryLocked() bool {
	t, n := s.tail, s.tailN
	switch {
	case n == 0:
		return true
	case t[2] != '\n':
		return false
	case n == 1 || t[1] == '\n':
		return true
	case t[1] == '\r':
		return n == 2 || t[0] == '\n' || t[0] == '\r'
	}
	return false
}

// Pend implements streamctx.Starter.
func (s *stream) Pend() {
	s.mu.Lock()
	s.pending = !s.committed
	s.mu.Unlock()
}

// Claim implements streamctx.Starter.
func (s *stream) Claim() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = false
	return s.self
}

// Ended implements streamctx.Starter.
func (s *stream) Ended() {
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
}

// send writes b (whole SSE blocks) on the middleware's own behalf: only into
// an event stream, only at an event boundary, never after ServeHTTP. If the
// handler has declared a pending stream, send starts it. It reports whether
// b was written.
func (s *stream) send(b []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.err != nil {
		return false
	}
	if !s.committed {
		if !s.pending {
			return false
		}
		sse.SetHeaders(s.rw.Header())
		s.rw.WriteHeader(http.StatusOK)
		s.commitLocked(http.StatusOK)
		s.self = true
	}
	if !s.sse || !s.atBoundaryLocked() {
		return false
	}
	s.extendLocked()
	if _, err := s.rw.Write(b); err != nil {
		s.failLocked(err)
		return false
	}
	s.noteLocked(b)
	return s.flushLocked() == nil
}

// state reports what the response is so far, for the middleware's own
// decisions after the handler has returned.
func (s *stream) state() (committed, eventStream, atBoundary bool, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.committed, s.sse, s.atBoundaryLocked(), s.status
}
