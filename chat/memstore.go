package chat

import (
	"container/list"
	"context"
	"fmt"
	"math"
	"sync"
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

// cost is what the log takes: the capacity of its buffers, so that what
// is counted is what is held, and what the other records point to.
func (s *memStream) cost() int64 {
	return int64(cap(s.text)) + int64(cap(s.ends))*int64(unsafe.Sizeof(memRec{})) + int64(cap(s.others))*recordCost + s.otherBytes
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

// grow returns b with room for n more bytes: doubling while small, then by
// a quarter, so that the capacity counted is at most a quarter more than
// the text.
func grow[T any](b []T, n int) []T {
	if len(b)+n <= cap(b) {
		return b
	}
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
type MemoryStore struct {
	opts MemoryStoreOptions

	mu       sync.Mutex
	streams  map[string]*memStream
	total    int64
	finished list.List // *memStream, oldest first
	chats    map[string]chatNote
}

type memStream struct {
	info StreamInfo
	// The log, compact so that its memory follows its text: the texts of
	// all text and reasoning records back to back in one buffer, and per
	// record its end in it; the other records (start, tool calls and
	// results, data, done, error) whole, in others.
	text       []byte
	ends       []memRec
	others     []Record
	otherBytes int64         // what the others point to (see heldBytes), kept as they come
	size       int64         // what the log counts against the limits: see cost
	changed    chan struct{} // made by a waiting reader, closed by the next append
	ended      bool
	finished   *list.Element
	timer      *time.Timer
	lease      time.Time
	stopped    bool
	watchers   map[*func()]struct{}
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
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.streams)
}

// Bytes reports what the store's logs count against MaxBytes.
func (m *MemoryStore) Bytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.total
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

func (m *MemoryStore) remove(s *memStream) {
	if m.streams[s.info.ID] != s {
		return
	}
	delete(m.streams, s.info.ID)
	m.total -= s.size + streamOverhead
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
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.streams[id]
	if s == nil {
		return ErrStreamNotFound
	}
	// Check the whole batch first: it goes in entirely or not at all.
	var texts, others int
	terminal := false
	for i, r := range recs {
		if s.ended || i > 0 && recs[i-1].terminal() {
			return fmt.Errorf("chat: stream %q has ended", id)
		}
		if r.Seq != int64(len(s.ends)+i) {
			return fmt.Errorf("chat: stream %q: record %d appended at %d", id, r.Seq, len(s.ends)+i)
		}
		if inArena(&r) {
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
	next := memStream{text: grow(s.text, texts), ends: grow(s.ends, len(recs)), others: grow(s.others, others), otherBytes: s.otherBytes}
	for _, r := range recs {
		if !inArena(&r) {
			next.others = append(next.others, r)
			next.otherBytes += heldBytes(&r)
		}
	}
	cost := next.cost()
	if !terminal && cost > m.opts.MaxStreamBytes {
		return ErrStreamTooLarge
	}
	if !m.makeRoom(cost-s.size) && !terminal {
		return ErrStoreFull
	}
	s.text, s.ends, s.others, s.otherBytes = next.text, next.ends, next.others, next.otherBytes
	other := len(s.others) - others // the index of the batch's first other record
	for _, r := range recs {
		if inArena(&r) {
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
		if r.terminal() {
			s.ended = true
			s.finished = m.finished.PushBack(s)
			s.timer = time.AfterFunc(m.opts.TTL, func() {
				m.mu.Lock()
				defer m.mu.Unlock()
				m.remove(s)
			})
		}
	}
	m.total += cost - s.size
	s.size = cost
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	return nil
}

// Info implements [Store].
func (m *MemoryStore) Info(ctx context.Context, id string) (*StreamInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.streams[id]
	if s == nil {
		return nil, ErrStreamNotFound
	}
	info := s.info
	return &info, nil
}

// Read implements [Store].
func (m *MemoryStore) Read(ctx context.Context, id string, after int64, wait time.Duration) ([]Record, error) {
	recs, changed, err := m.read(id, after)
	if len(recs) > 0 || err != nil || changed == nil || wait <= 0 {
		return recs, err
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, nil
	case <-changed:
	}
	recs, _, err = m.read(id, after)
	return recs, err
}

// read returns the records after after, or, when there are none and the
// stream goes on, the channel that the next append closes.
func (m *MemoryStore) read(id string, after int64) ([]Record, <-chan struct{}, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.streams[id]
	if s == nil {
		return nil, nil, ErrStreamNotFound
	}
	if after < -1 {
		after = -1
	}
	if n := int64(len(s.ends)); after+1 < n {
		// A bounded batch: a reader far behind (a resume from the start)
		// reads the log in pieces, so that what it holds and encodes at
		// once stays small.
		recs := make([]Record, 0, min(n-after-1, maxReadRecords))
		for i, size := after+1, 0; i < n && len(recs) < maxReadRecords && size < maxReadBytes; i++ {
			r := s.record(int(i))
			size += len(r.Text)
			recs = append(recs, r)
		}
		return recs, nil, nil
	}
	if s.ended {
		return nil, nil, nil
	}
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return nil, s.changed, nil
}

// has reports whether the store holds stream id.
func (m *MemoryStore) has(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.streams[id] != nil
}

// forget drops stream id at once, waking its waiting readers (who then
// find it gone).
func (m *MemoryStore) forget(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.streams[id]; s != nil {
		m.remove(s)
		if s.changed != nil {
			close(s.changed)
			s.changed = nil
		}
	}
}

// Touch implements [Store].
func (m *MemoryStore) Touch(ctx context.Context, id string, lease time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.streams[id]
	if s == nil {
		return ErrStreamNotFound
	}
	if t := time.Now().Add(lease); t.After(s.lease) {
		s.lease = t
	}
	return nil
}

// Attached implements [Store].
func (m *MemoryStore) Attached(ctx context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.streams[id]
	if s == nil {
		return false, ErrStreamNotFound
	}
	return time.Now().Before(s.lease), nil
}

// Alive implements [Store]: a memory store's producers run in its own
// process, so a known stream is alive.
func (m *MemoryStore) Alive(ctx context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.streams[id] == nil {
		return false, ErrStreamNotFound
	}
	return true, nil
}

// Stop implements [Store].
func (m *MemoryStore) Stop(ctx context.Context, id string) error {
	m.mu.Lock()
	s := m.streams[id]
	if s == nil {
		m.mu.Unlock()
		return ErrStreamNotFound
	}
	if s.ended || s.stopped {
		m.mu.Unlock()
		return nil
	}
	s.stopped = true
	var fs []func()
	for f := range s.watchers {
		fs = append(fs, *f)
	}
	clear(s.watchers)
	m.mu.Unlock()
	for _, f := range fs {
		f()
	}
	return nil
}

// WatchStop implements [Store].
func (m *MemoryStore) WatchStop(ctx context.Context, id string, f func()) (func(), error) {
	m.mu.Lock()
	s := m.streams[id]
	if s == nil {
		m.mu.Unlock()
		return nil, ErrStreamNotFound
	}
	if s.stopped {
		m.mu.Unlock()
		f()
		return func() {}, nil
	}
	if s.watchers == nil {
		s.watchers = make(map[*func()]struct{})
	}
	key := &f
	s.watchers[key] = struct{}{}
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
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
