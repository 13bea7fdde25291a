package sse

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/ssechat/ssechat/internal/streamctx"
)

// ErrFlushUnsupported is returned by [NewWriter] when neither the
// ResponseWriter nor any writer it unwraps to can flush. Nothing has been
// written, so the caller can still answer with an ordinary error status.
var ErrFlushUnsupported = errors.New("sse: response writer cannot flush")

// DefaultWriteTimeout is the write deadline [NewWriter] uses when
// [Options].WriteTimeout is zero.
const DefaultWriteTimeout = 30 * time.Second

// maxRetainedBuffer is the largest encoding buffer that goes back to the
// pool; a larger one (after a huge event) is released.
const maxRetainedBuffer = 64 << 10

// Options configures a [Writer]. The zero value (or nil) gives the defaults.
type Options struct {
	// WriteTimeout bounds every write: before each one the connection's write
	// deadline is moved to now plus WriteTimeout (unless more than half of
	// that is still left, which saves resetting a timer per event), which
	// also lifts http.Server.WriteTimeout for the stream. So each write has
	// at least WriteTimeout/2, and a client that stops reading makes a write
	// fail within WriteTimeout. Zero means [DefaultWriteTimeout]; negative
	// leaves deadlines alone.
	WriteTimeout time.Duration

	// HeadersWithFirstWrite makes NewWriter leave the committed headers in
	// the response buffer, to go out with the first Send or Comment in one
	// write. Use it only when that call follows at once (as when the first
	// event is ready before the writer is made): it saves a write and a
	// client wake-up per stream. Default false: headers are flushed at once.
	HeadersWithFirstWrite bool
}

// Writer writes Server-Sent Events to an http.ResponseWriter.
//
// It is safe for concurrent use: a keep-alive goroutine may write comments
// while the handler sends events, and each call's bytes stay together. After
// a write fails every later call returns the same error, so that producers
// stop. A Writer must not be used after the handler has returned.
type Writer struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	// deadlineAt is when the write deadline in force was set (zero: none
	// yet). The per-event path reads the monotonic clock: no timer and no
	// flag that one sets are kept per Writer for it.
	deadlineAt time.Time
	// wf is w when it writes and flushes in one call (this module's
	// middleware): one lock and no ResponseController walk per event.
	wf  streamctx.WriteFlusher
	err error
}

// bufs holds the buffers that Send and Comment encode into, shared by all
// Writers: a stream that waits between events holds none, and with
// thousands of streams the buffer is one that is still in the CPU's cache.
var bufs = sync.Pool{New: func() any { return new([]byte) }}

// NewWriter prepares w for an event stream and commits the response headers.
//
// Before writing anything it checks that w, or a writer reached through
// Unwrap() http.ResponseWriter, can flush, and returns [ErrFlushUnsupported]
// if not. It then sets
//
//	Content-Type: text/event-stream; charset=utf-8
//	Cache-Control: no-cache, no-transform
//	X-Accel-Buffering: no
//
// removes Content-Length, writes status 200 and flushes (unless
// [Options].HeadersWithFirstWrite), so that the client and every proxy in
// between see the stream start at once. It sets no Connection header (HTTP/2
// forbids it; HTTP/1.1 keeps connections alive by default). An error from
// that first flush (the client is gone) is returned.
func NewWriter(w http.ResponseWriter, opts *Options) (*Writer, error) {
	if !canFlush(w) {
		return nil, ErrFlushUnsupported
	}
	sw := &Writer{w: w, rc: http.NewResponseController(w), timeout: DefaultWriteTimeout}
	if opts != nil && opts.WriteTimeout != 0 {
		sw.timeout = opts.WriteTimeout
	}
	sw.wf, _ = w.(streamctx.WriteFlusher)
	SetHeaders(w.Header())
	if err := sw.extendDeadline(); err != nil {
		return nil, err
	}
	w.WriteHeader(http.StatusOK)
	if opts != nil && opts.HeadersWithFirstWrite {
		return sw, nil
	}
	if err := sw.rc.Flush(); err != nil {
		return nil, err
	}
	return sw, nil
}

// canFlush reports whether w or a writer it unwraps to can flush, the way
// http.ResponseController looks for one, without flushing.
func canFlush(w http.ResponseWriter) bool {
	for {
		switch w.(type) {
		case http.Flusher, interface{ FlushError() error }:
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
}

// Send writes the events in one Write followed by one Flush. If any event is
// invalid it writes nothing and returns an error wrapping [ErrInvalidEvent];
// the Writer stays usable. Send does not retain the events.
func (w *Writer) Send(events ...Event) error {
	for i := range events {
		if err := events[i].Validate(); err != nil {
			return err
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	buf := bufs.Get().(*[]byte)
	b := (*buf)[:0]
	for i := range events {
		b = appendValid(b, &events[i])
	}
	return w.writeLocked(buf, b)
}

// Comment writes a comment block (": text" and a blank line; a bare ":" when
// text is empty) and flushes it. Clients ignore comments; proxies see traffic,
// which is what keep-alive needs. text must not contain CR or LF.
func (w *Writer) Comment(text string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	buf := bufs.Get().(*[]byte)
	b, err := AppendComment((*buf)[:0], text)
	if err != nil {
		bufs.Put(buf)
		return err
	}
	return w.writeLocked(buf, b)
}

// writeLocked writes b, encoded in the pool's buf, and gives buf back.
func (w *Writer) writeLocked(buf *[]byte, b []byte) error {
	err := w.write(b)
	if cap(b) <= maxRetainedBuffer {
		*buf = b[:0]
		bufs.Put(buf)
	}
	if err != nil {
		w.err = err
	}
	return err
}

func (w *Writer) write(b []byte) error {
	if err := w.extendDeadline(); err != nil {
		return err
	}
	if w.wf != nil {
		return w.wf.WriteFlush(b)
	}
	if _, err := w.w.Write(b); err != nil {
		return err
	}
	return w.rc.Flush()
}

// extendDeadline moves the write deadline to now+timeout if it was set more
// than timeout/2 ago. No timer runs for it: an idle or finished stream
// leaves nothing behind.
func (w *Writer) extendDeadline() error {
	if w.timeout <= 0 || !w.deadlineAt.IsZero() && time.Since(w.deadlineAt) < w.timeout/2 {
		return nil
	}
	now := time.Now()
	err := w.rc.SetWriteDeadline(now.Add(w.timeout))
	if errors.Is(err, http.ErrNotSupported) {
		w.timeout = -1 // no need to ask again
		return nil
	}
	w.deadlineAt = now
	return err
}

// SetHeaders sets the headers of an event stream in h, as [NewWriter] does:
//
//	Content-Type: text/event-stream; charset=utf-8
//	Cache-Control: no-cache, no-transform
//	X-Accel-Buffering: no
//
// and removes Content-Length.
func SetHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
}

// CheckFlush reports [ErrFlushUnsupported] if neither w nor any writer it
// unwraps to can flush. It writes nothing, so a handler can check before it
// starts expensive work and still answer with an ordinary error.
func CheckFlush(w http.ResponseWriter) error {
	if !canFlush(w) {
		return ErrFlushUnsupported
	}
	return nil
}
