package chat

import (
	"container/list"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// The most a Read of a MemoryStore returns at once.
const (
	maxReadRecords = 1024
	maxReadBytes   = 64 << 10
)

// MemoryStoreOptions configures [NewMemoryStore]. Zero fields take the
// defaults.
type MemoryStoreOptions struct {
	// TTL is how long a finished stream stays readable. Default
	// [DefaultStreamTTL].
	TTL time.Duration
	// MaxStreamBytes bounds one stream's log (text plus a small overhead per
	// record). A stream that would pass it ends with an error. Default 4 MiB.
	MaxStreamBytes int64
	// MaxBytes bounds all logs together. When it is reached, finished
	// streams are evicted oldest first; if that is not enough, new streams
	// are refused (the client gets 503) and growing ones end with an error.
	// Default [DefaultMaxBytes]: a quarter of the memory the process may
	// use.
	MaxBytes int64
}

// streamOverhead is what a stream's bookkeeping counts against MaxBytes.
const streamOverhead = 512

// memRec is one record of a memStream's log: where the text buffer ended
// after it (a text or reasoning record's text runs from the previous
// record's end to its own), and other: 0 for text, reasoningRec for
// reasoning, or, for any other record, its index in others plus one.
type memRec struct {
	end   uint32
	other uint32
}

// reasoningRec marks a reasoning record in memRec.other.
const reasoningRec = math.MaxUint32

// inArena reports whether a record's text goes in the text buffer.
func inArena(r *Record) bool { return r.Kind == RecordText || r.Kind == RecordReasoning }

// recordCost is what a record other than text counts: the whole Record.
const recordCost = int64(unsafe.Sizeof(Record{}))

// logCost is what a log takes: the capacity of its buffers, so that what
// is counted is what is held, and what the other records point to.
func logCost(text []byte, ends []memRec, others []Record, held int64) int64 {
	return int64(cap(text)) + int64(cap(ends))*int64(unsafe.Sizeof(memRec{})) + int64(cap(others))*recordCost + held
}

// heldBytes is what a record other than text points to.
func heldBytes(o *Record) int64 {
	c := int64(len(o.Text) + len(o.ID) + len(o.Name) + len(o.Value) + len(o.FinishReason) + len(o.Message))
	if o.Usage != nil {
		c += int64(unsafe.Sizeof(Usage{}))
	}
	return c
}

// record returns record i of the log. A text's string shares the buffer:
// bytes once appended are never changed, and a buffer that grows is
// copied, not changed, so the string stays valid and immutable.
func (s *memStream) record(i int) Record {
	r := s.ends[i]
	if r.other > 0 && r.other != reasoningRec {
		return s.others[r.other-1]
	}
	start := uint32(0)
	if i > 0 {
		start = s.ends[i-1].end // every record notes the text's end
	}
	rec := Record{Seq: int64(i), Kind: RecordText}
	if r.other == reasoningRec {
		rec.Kind = RecordReasoning
	}
	if r.end > start {
		rec.Text = unsafe.String(&s.text[start], int(r.end-start))
	}
	return rec
}

// joined returns the text of the log's records of kind (RecordText or
// RecordReasoning), in order.
func (s *memStream) joined(kind RecordKind) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := uint32(0) // memRec.other of the kind
	if kind == RecordReasoning {
		want = reasoningRec
	}
	var b strings.Builder
	for pass := range 2 { // the length, then the text
		start, n := uint32(0), 0
		for _, r := range s.ends {
			if r.other == want && r.end > start {
				if pass == 0 {
					n += int(r.end - start)
				} else {
					b.Write(s.text[start:r.end])
				}
			}
			start = r.end
		}
		b.Grow(n)
	}
	return b.String()
}

// grow returns b with room for n more bytes: doubling while small, then by
// a quarter, so that the capacity counted is at most a quarter more than
// the text.
func grow[T any](b []T, n int) []T {
	if len(b)+n <= cap(b) {
		return b
	}
	return regrow(b, n)
}

//go:noinline
func regrow[T any](b []T, n int) []T {
	c := max(len(b)+n, 2*cap(b))
	if cap(b) >= 1<<12 {
		c = max(len(b)+n, cap(b)+cap(b)/4)
	}
	nb := make([]T, len(b), c)
	copy(nb, b)
	return nb
}

// MemoryStore is a [Store] in process memory: the default store of a
// [Handler]. Resume and stop work within one process; use a shared store
// (package chat/redisstore) behind a load balancer. It starts no
// goroutines; a finished stream is removed by a timer after the TTL.
//
// Each stream has its own lock, so that concurrent streams do not wait for
// each other; the store's lock is taken for a new stream, for a change in
// what a log counts against MaxBytes (its buffers grew), and for the end of
// a stream.
type MemoryStore struct {
	opts MemoryStoreOptions

	mu       sync.RWMutex // guards streams and chats; with Lock, also total and finished
	streams  map[string]*memStream
	total    int64
	finished list.List // *memStream, oldest first
	chats    map[string]chatNote
}

type memStream struct {
	// First what every append touches, together: with thousands of
	// streams, each cache line of a stream that an event touches is a
	// miss.
	mu sync.Mutex // guards what follows, up to info
	// The log, compact so that its memory follows its text: the texts of
	// all text and reasoning records back to back in one buffer, and per
	// record its end in it; the other records (start, tool calls and
	// results, data, done, error) whole, in others.
	text       []byte
	ends       []memRec
	others     []Record
	otherBytes int64 // what the others point to (see heldBytes), kept as they come
	// waiters are the readers waiting for the next append, each with its
	// own channel (capacity 1), signalled once and forgotten.
	waiters []chan struct{}
	counted int64       // what the log counts against the limits (see cost); changed under the store's lock too
	removed atomic.Bool // set under the store's lock; read without it
	ended   bool

	lease    time.Time
	stopped  bool
	watchers map[*func()]struct{}

	info StreamInfo // set by Create, never changed

	// Guarded by the store's lock.
	finished *list.Element
	timer    *time.Timer
}

// wake signals the waiting readers. The caller holds s.mu.
func (s *memStream) wake() {
	for i, c := range s.waiters {
		select {
		case c <- struct{}{}:
		default: // already signalled
		}
		s.waiters[i] = nil
	}
	s.waiters = s.waiters[:0]
}

// NewMemoryStore returns an empty MemoryStore. It panics on negative
// options.
func NewMemoryStore(opts MemoryStoreOptions) *MemoryStore {
	if opts.TTL < 0 || opts.MaxStreamBytes < 0 || opts.MaxBytes < 0 {
		panic(fmt.Sprintf("chat: NewMemoryStore(%+v): negative option", opts))
	}
	if opts.TTL == 0 {
		opts.TTL = DefaultStreamTTL
	}
	if opts.MaxStreamBytes == 0 {
		opts.MaxStreamBytes = 4 << 20
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes()
	}
	return &MemoryStore{opts: opts, streams: make(map[string]*memStream)}
}

var _ Store = (*MemoryStore)(nil)

// Len reports how many streams the store holds, running or finished.
func (m *MemoryStore) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.streams)
}

// Bytes reports what the store's logs count against MaxBytes.
func (m *MemoryStore) Bytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.total
}

// stream returns stream id, or nil.
func (m *MemoryStore) stream(id string) *memStream {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.streams[id]
}

// makeRoom evicts finished streams, oldest first, until n more bytes fit.
// It reports whether they do.
func (m *MemoryStore) makeRoom(n int64) bool {
	for m.total+n > m.opts.MaxBytes {
		e := m.finished.Front()
		if e == nil {
			return false
		}
		m.remove(e.Value.(*memStream))
	}
	return true
}

// remove drops s. The caller holds m.mu (Lock), not s.mu.
func (m *MemoryStore) remove(s *memStream) {
	if m.streams[s.info.ID] != s {
		return
	}
	delete(m.streams, s.info.ID)
	s.removed.Store(true)
	m.total -= s.counted + streamOverhead
	if s.finished != nil {
		m.finished.Remove(s.finished)
	}
	if s.timer != nil {
		s.timer.Stop()
	}
}

// Create implements [Store].
func (m *MemoryStore) Create(ctx context.Context, info *StreamInfo) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.streams[info.ID]; ok {
		return fmt.Errorf("chat: stream %q exists", info.ID)
	}
	if !m.makeRoom(streamOverhead) {
		return ErrStoreFull
	}
	m.streams[info.ID] = &memStream{info: *info}
	m.total += streamOverhead
	return nil
}

// Append implements [Store].
func (m *MemoryStore) Append(ctx context.Context, id string, recs ...Record) error {
	s := m.stream(id)
	if s == nil {
		return ErrStreamNotFound
	}
	return m.appendTo(s, recs)
}

// appendTo appends to stream s, which its producer looked up once.
//
// It runs on the producer's goroutine for every event, which may be the
// request's, deep in the provider's call stack: its frame is kept small
// (no Record copied, the rare paths in functions of their own), so that the
// request's goroutine stays within its first stack (see BenchmarkHeldStreams).
func (m *MemoryStore) appendTo(s *memStream, recs []Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed.Load() {
		return ErrStreamNotFound
	}
	// Check the whole batch first: it goes in entirely or not at all.
	var texts, others int
	terminal := false
	for i := range recs {
		r := &recs[i]
		if s.ended || i > 0 && recs[i-1].terminal() {
			return s.errEnded()
		}
		if r.Seq != int64(len(s.ends)+i) {
			return s.errSeq(r.Seq, len(s.ends)+i)
		}
		if inArena(r) {
			texts += len(r.Text)
		} else {
			others++
		}
		terminal = terminal || r.terminal()
	}
	if len(s.text)+texts > math.MaxUint32 {
		return ErrStreamTooLarge
	}
	// What the log would cost with the batch; a terminal record is taken
	// even past the limits.
	text, ends, more := grow(s.text, texts), grow(s.ends, len(recs)), grow(s.others, others)
	held := s.otherBytes
	for i := range recs {
		if r := &recs[i]; !inArena(r) {
			more = append(more, *r)
			held += heldBytes(r)
		}
	}
	cost := logCost(text, ends, more, held)
	if !terminal && cost > m.opts.MaxStreamBytes {
		return ErrStreamTooLarge
	}
	if cost != s.counted || terminal {
		// The store's lock only when what the stream counts changes (its
		// buffers grew: rarely, as they grow by doubling) or it ends.
		if err := m.recount(s, cost, terminal); err != nil {
			return err
		}
	}
	s.text, s.ends, s.others, s.otherBytes = text, ends, more, held
	other := len(s.others) - others // the index of the batch's first other record
	for i := range recs {
		r := &recs[i]
		if inArena(r) {
			s.text = append(s.text, r.Text...)
			m := memRec{end: uint32(len(s.text))}
			if r.Kind == RecordReasoning {
				m.other = reasoningRec
			}
			s.ends = append(s.ends, m)
			continue
		}
		other++
		s.ends = append(s.ends, memRec{end: uint32(len(s.text)), other: uint32(other)})
		s.ended = s.ended || r.terminal()
	}
	s.wake()
	return nil
}

// recount makes what stream s counts against the store's limits cost, and
// when the stream ends, starts its TTL. The caller holds s.mu.
//
//go:noinline
func (m *MemoryStore) recount(s *memStream, cost int64, terminal bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.streams[s.info.ID] != s { // removed since the caller's check
		return ErrStreamNotFound
	}
	if !m.makeRoom(cost-s.counted) && !terminal {
		return ErrStoreFull
	}
	m.total += cost - s.counted
	s.counted = cost
	if terminal {
		s.finished = m.finished.PushBack(s)
		s.timer = time.AfterFunc(m.opts.TTL, func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.remove(s)
		})
	}
	return nil
}

//go:noinline
func (s *memStream) errEnded() error { return fmt.Errorf("chat: stream %q has ended", s.info.ID) }

//go:noinline
func (s *memStream) errSeq(seq int64, at int) error {
	return fmt.Errorf("chat: stream %q: record %d appended at %d", s.info.ID, seq, at)
}

// Info implements [Store].
func (m *MemoryStore) Info(ctx context.Context, id string) (*StreamInfo, error) {
	s := m.stream(id)
	if s == nil {
		return nil, ErrStreamNotFound
	}
	info := s.info
	return &info, nil
}

// Read implements [Store].
func (m *MemoryStore) Read(ctx context.Context, id string, after int64, wait time.Duration) ([]Record, error) {
	r := m.reader(id)
	defer r.stop()
	return r.read(ctx, after, wait > 0, time.Now().Add(wait), nil)
}

// memReader reads one stream of a MemoryStore, again and again: a
// connection's reads wait on its own channel and timer, made once, and
// fill the caller's buffer, so that a read allocates nothing.
type memReader struct {
	m     *MemoryStore
	id    string
	s     *memStream // nil until found
	wake  chan struct{}
	timer waitTimer
}

func (m *MemoryStore) reader(id string) *memReader { return &memReader{m: m, id: id} }

// read appends to buf the records with Seq > after (a bounded batch: see
// Store.Read). If there are none and wait is set, it waits for an append
// until until (zero: no limit), and returns what there is then; it returns
// ctx's error when ctx ends first.
func (r *memReader) read(ctx context.Context, after int64, wait bool, until time.Time, buf []Record) ([]Record, error) {
	if r.s == nil {
		if r.s = r.m.stream(r.id); r.s == nil {
			return buf, ErrStreamNotFound
		}
	}
	var w *memReader
	if wait {
		w = r
	}
	buf, waiting, err := r.s.read(after, buf, w)
	if !waiting || err != nil {
		return buf, err
	}
	if woken, err := r.timer.wait(ctx, until, r.wake); !woken {
		return buf, err
	}
	buf, _, err = r.s.read(after, buf, nil)
	return buf, err
}

func (r *memReader) stop() { r.timer.stop() }

// waitTimer is a reader's timer, made once and set again only when the
// deadline it waits for changes: a wait costs no timer of its own.
type waitTimer struct {
	t     *time.Timer
	armed time.Time // the deadline t is set for; zero when not running
}

// wait waits for a signal on wake until deadline (zero: no limit). It
// reports whether the signal came; the error is ctx's, if ctx ended first.
func (w *waitTimer) wait(ctx context.Context, deadline time.Time, wake <-chan struct{}) (bool, error) {
	expired, ok := w.until(deadline)
	if !ok {
		return false, nil
	}
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case <-expired:
		w.armed = time.Time{} // fired, and received
		return false, nil
	case <-wake:
		return true, nil
	}
}

// until returns the channel that fires at deadline (nil for a zero
// deadline: no limit), or false if it has passed.
func (w *waitTimer) until(deadline time.Time) (<-chan time.Time, bool) {
	if deadline.IsZero() {
		return nil, true
	}
	d := time.Until(deadline)
	if d <= 0 {
		return nil, false
	}
	if !w.armed.Equal(deadline) {
		if w.t == nil {
			w.t = time.NewTimer(d)
		} else {
			w.t.Reset(d)
		}
		w.armed = deadline
	}
	return w.t.C, true
}

func (w *waitTimer) stop() {
	if w.t != nil {
		w.t.Stop()
		w.armed = time.Time{}
	}
}

// read appends the records after after to buf; when there are none and
// the stream goes on, it registers w to be woken by the next append and
// reports waiting.
func (s *memStream) read(after int64, buf []Record, w *memReader) (_ []Record, waiting bool, _ error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed.Load() {
		return buf, false, ErrStreamNotFound
	}
	if after < -1 {
		after = -1
	}
	if n := int64(len(s.ends)); after+1 < n {
		// A bounded batch: a reader far behind (a resume from the start)
		// reads the log in pieces, so that what it holds and encodes at
		// once stays small.
		if buf == nil {
			buf = make([]Record, 0, min(n-after-1, maxReadRecords))
		}
		for i, size, got := after+1, 0, 0; i < n && got < maxReadRecords && size < maxReadBytes; i, got = i+1, got+1 {
			r := s.record(int(i))
			size += len(r.Text)
			buf = append(buf, r)
		}
		return buf, false, nil
	}
	if s.ended || w == nil {
		return buf, false, nil
	}
	if w.wake == nil {
		w.wake = make(chan struct{}, 1)
	}
	select {
	case <-w.wake: // a signal left from an earlier wait
	default:
	}
	if !slices.Contains(s.waiters, w.wake) { // still there after a wait that timed out
		s.waiters = append(s.waiters, w.wake)
	}
	return buf, true, nil
}

// has reports whether the store holds stream id.
func (m *MemoryStore) has(id string) bool { return m.stream(id) != nil }

// forget drops stream id at once, waking its waiting readers (who then
// find it gone).
func (m *MemoryStore) forget(id string) {
	m.mu.Lock()
	s := m.streams[id]
	if s != nil {
		m.remove(s)
	}
	m.mu.Unlock()
	if s != nil {
		s.mu.Lock()
		s.wake()
		s.mu.Unlock()
	}
}

// Touch implements [Store].
func (m *MemoryStore) Touch(ctx context.Context, id string, lease time.Duration) error {
	s := m.stream(id)
	if s == nil {
		return ErrStreamNotFound
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := time.Now().Add(lease); t.After(s.lease) {
		s.lease = t
	}
	return nil
}

// Attached implements [Store].
func (m *MemoryStore) Attached(ctx context.Context, id string) (bool, error) {
	s := m.stream(id)
	if s == nil {
		return false, ErrStreamNotFound
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Now().Before(s.lease), nil
}

// Alive implements [Store]: a memory store's producers run in its own
// process, so a known stream is alive.
func (m *MemoryStore) Alive(ctx context.Context, id string) (bool, error) {
	if m.stream(id) == nil {
		return false, ErrStreamNotFound
	}
	return true, nil
}

// Stop implements [Store].
func (m *MemoryStore) Stop(ctx context.Context, id string) error {
	s := m.stream(id)
	if s == nil {
		return ErrStreamNotFound
	}
	s.mu.Lock()
	if s.ended || s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	var fs []func()
	for f := range s.watchers {
		fs = append(fs, *f)
	}
	clear(s.watchers)
	s.mu.Unlock()
	for _, f := range fs {
		f()
	}
	return nil
}

// WatchStop implements [Store].
func (m *MemoryStore) WatchStop(ctx context.Context, id string, f func()) (func(), error) {
	s := m.stream(id)
	if s == nil {
		return nil, ErrStreamNotFound
	}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		f()
		return func() {}, nil
	}
	if s.watchers == nil {
		s.watchers = make(map[*func()]struct{})
	}
	key := &f
	s.watchers[key] = struct{}{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.watchers, key)
	}, nil
}

var _ ChatIndex = (*MemoryStore)(nil)

type chatNote struct {
	stream  string
	expires time.Time
}

// SetChatStream implements [ChatIndex].
func (m *MemoryStore) SetChatStream(ctx context.Context, chatID, streamID string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.chats == nil {
		m.chats = make(map[string]chatNote)
	}
	now := time.Now()
	if len(m.chats) >= 1024 && len(m.chats)%1024 == 0 { // drop expired notes now and then
		for k, n := range m.chats {
			if now.After(n.expires) {
				delete(m.chats, k)
			}
		}
	}
	m.chats[chatID] = chatNote{stream: streamID, expires: now.Add(ttl)}
	return nil
}

// ChatStream implements [ChatIndex].
func (m *MemoryStore) ChatStream(ctx context.Context, chatID string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.chats[chatID]
	if !ok || time.Now().After(n.expires) || m.streams[n.stream] == nil {
		return "", ErrStreamNotFound
	}
	return n.stream, nil
}

// EndChatStream implements [ChatIndex].
func (m *MemoryStore) EndChatStream(ctx context.Context, chatID, streamID string, keep time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := m.chats[chatID]; ok && n.stream == streamID {
		if keep <= 0 {
			delete(m.chats, chatID)
			return nil
		}
		m.chats[chatID] = chatNote{stream: streamID, expires: time.Now().Add(keep)}
	}
	return nil
}
