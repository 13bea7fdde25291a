package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/ssechat/ssechat/internal/apart"
	"github.com/ssechat/ssechat/internal/streamctx"
	"github.com/ssechat/ssechat/sse"
)

// Causes with which a producer's context is cancelled.
var (
	errStopped    = errors.New("chat: the stream was stopped")
	errClientGone = errors.New("chat: the client went away")
	errNoReader   = errors.New("chat: no client came back within the detach grace period")
	errFinished   = errors.New("chat: the stream has ended")
)

// storeTimeout bounds one store operation that has no request to follow.
const storeTimeout = 10 * time.Second

// mirrorTTL is how long a finished generation's log stays in the
// handler's mirror: for the connections here that are still catching up.
// Later ones read the store.
const mirrorTTL = 10 * time.Second

// aliveEvery is how often a reader of a generation that runs on another
// instance checks that it is still alive.
const aliveEvery = time.Second

// lostMessage is what readers of a generation whose instance died are told.
const lostMessage = "the server generating this answer stopped, try again"

// producer runs one generation: it reads the provider and appends records
// to the stream's log. Connections follow the log (see follow). The producer
// runs in its own goroutine so that, when the handler detaches, it outlives
// the request that started it.
type producer struct {
	h       *Handler
	info    *StreamInfo
	req     *Request
	res     *Result
	hookCtx context.Context // the request's values, never cancelled
	ctx     context.Context // the provider's
	cancel  context.CancelCauseFunc
	unwatch func()
	done    chan struct{}
	ended   func() // if set, called once the terminal record is logged (or failed to be)
	seq     int64
	mirror  *MemoryStore // the handler's mirror, while it holds this stream
	mem     *memStream   // the stream in the handler's store, when that is a MemoryStore: no lookup per append
	feed    *feed        // to the connection that started the stream, while it follows
	live    *live        // or that connection itself, when the producer runs on its goroutine

	panicked *providerPanic

	events int // the events the logged records make in the stream's mode
	// logText: Result.Text and Reasoning are read from the memory store's
	// log at the end (with what was not logged, kept in generation.text and
	// reasoning), rather than kept twice while the stream runs.
	logText   bool
	hides     func(*Record) bool // the mode's (formatSpec.hides), looked up once
	calls     parts              // the tool calls so far
	reasoning strings.Builder    // all reasoning so far
	// transient holds the values of transient data parts, by record seq,
	// for this process's readers while the generation runs; never logged.
	transientMu   sync.Mutex
	transient     map[int64]json.RawMessage
	transientSeqs []int64 // the keys of transient, oldest first

	mod *modStage // with WithModeration: between the provider and the log

	leaseMu    sync.Mutex
	leaseTimer *time.Timer // while the producer checks for readers
	leaseOver  bool
}

// newProducer registers the stream's stop watch. The caller then runs
// p.run in a goroutine.
func (h *Handler) newProducer(r *http.Request, req *Request, info *StreamInfo, started time.Time) (*producer, error) {
	p := &producer{
		h: h, info: info, req: req,
		res:     &Result{StreamID: info.ID, Request: req, Mode: info.Mode, Started: started},
		hookCtx: context.WithoutCancel(r.Context()),
		done:    make(chan struct{}),
	}
	p.hides = formats[info.Mode].hides
	p.ctx, p.cancel = context.WithCancelCause(p.hookCtx)
	if m, ok := h.store.(*MemoryStore); ok {
		p.mem = m.stream(info.ID)
	}
	if h.mirror != nil && h.mirror.Create(r.Context(), info) == nil {
		p.mirror = h.mirror
	}
	unwatch, err := h.store.WatchStop(r.Context(), info.ID, func() { p.cancel(errStopped) })
	if err != nil {
		p.cancel(errFinished)
		return nil, err
	}
	p.unwatch = unwatch
	return p, nil
}

func (p *producer) record(kind RecordKind) Record {
	r := Record{Seq: p.seq, Kind: kind}
	p.seq++
	return r
}

// append logs recs in the store, and in the mirror for the connections
// of this process, then hands them to the feed of the connection that
// started the stream. A terminal record goes to the mirror and the feed
// even when the store refused it, so that their readers still end
// properly; a mirror that cannot take the stream drops it, and its readers
// go on from the store.
func (p *producer) append(ctx context.Context, recs []Record) error {
	var err error
	if p.mem != nil {
		err = p.h.store.(*MemoryStore).appendTo(p.mem, recs)
	} else {
		err = p.h.store.Append(ctx, p.info.ID, recs...)
	}
	logged := err == nil || recs[len(recs)-1].terminal()
	if m := p.mirror; m != nil && logged {
		if merr := m.Append(ctx, p.info.ID, recs...); merr != nil {
			m.forget(p.info.ID)
			p.mirror = nil
		}
	}
	if p.feed != nil && logged {
		p.feed.push(recs)
	}
	if p.live != nil && logged {
		p.live.deliver(recs)
	}
	return err
}

// count adds the events that recs are in the stream's mode to p.events.
func (p *producer) count(recs []Record) {
	for i := range recs {
		switch r := &recs[i]; {
		case r.Kind == RecordDone:
			p.events += formats[p.info.Mode].doneEvents(p.info, r) // once
		case p.hides == nil || !p.hides(r):
			p.events++
		}
	}
}

func (p *producer) run() {
	defer close(p.done)
	if p.h.moderation != nil {
		p.mod = newModStage(p, p.h.moderation) // which keeps what it released
	}
	p.logText = p.mem != nil && p.mod == nil
	defer p.h.producers.remove(p)
	defer p.unwatch()
	g := generation{recs: make([]Record, 0, 2)}
	p.generate(&g)
	p.end(&g)
}

// generation is what reading the provider leaves for the stream's end.
type generation struct {
	failure  *Error
	storeErr error
	started  bool
	text     strings.Builder
	recs     []Record // reused for each chunk's records
	// What the chunks say for the Result, which is filled in at the end:
	// the Result is in memory that no other per-event work touches, and
	// with thousands of streams each of its lines is a cache miss.
	chunks        int
	finishReason  string
	usage         *Usage
	model, respID string
}

// generate reads the provider and logs what it sends.
//
// The provider may run on the request's goroutine (see startLive) and
// each chunk is written to the client from within its call stack: the
// frames from here down to the write (generate, step, append, and the
// writers) are kept small, the rare paths in functions of their own, so
// that the goroutine stays within its first stack (BenchmarkHeldStreams).
//
//go:noinline
func (p *producer) generate(g *generation) {
	// A provider that panics must not take the process down: this may not
	// be the request's goroutine, so net/http would not recover it. The
	// stream ends with an internal error and a connection that waits for
	// the producer panics again with the value (see rethrow).
	defer func() {
		if v := recover(); v != nil {
			p.panicked = &providerPanic{value: v, stack: debug.Stack()}
			g.failure = &Error{Code: CodeInternal, Err: p.panicked}
		}
	}()
	for chunk, err := range p.h.provider.Stream(p.ctx, p.req) {
		if err != nil {
			g.failure = asError(p.ctx, err)
			break
		}
		if !p.step(g, &chunk) {
			break
		}
	}
}

// step logs one chunk of the provider's, and reports whether to go on.
//
//go:noinline
func (p *producer) step(g *generation, chunk *Chunk) bool {
	g.chunks++
	recs := g.recs[:0]
	if !g.started {
		recs = p.begin(g, recs)
	}
	recs, g.failure = p.parts(chunk, recs, &g.text)
	g.recs = recs
	if g.failure != nil {
		p.seq -= int64(len(recs)) // not logged
		g.started = g.started && (len(recs) == 0 || recs[0].Kind != RecordStart)
		return false
	}
	if chunk.FinishReason != "" {
		g.finishReason = chunk.FinishReason
	}
	if chunk.Usage != nil {
		g.usage = chunk.Usage
	}
	if g.model == "" {
		g.model = chunk.Model
	}
	if g.respID == "" {
		g.respID = chunk.ID
	}
	if len(recs) == 0 {
		return true
	}
	if p.mod != nil {
		p.mod.submit(recs, false) // logged once released
		return true
	}
	if g.storeErr = p.append(p.ctx, recs); g.storeErr == nil {
		p.count(recs)
		return true
	}
	p.seq -= int64(len(recs)) // not logged
	p.unlogged(g, recs)
	if p.ctx.Err() != nil {
		// Cancelled (the client left, a stop) before the append failed:
		// that, not the store, ends it.
		g.storeErr = nil
		return false
	}
	p.cancel(g.storeErr) // stop the upstream before the provider unwinds
	return false
}

// unlogged keeps the text of records the log refused, for Result.Text,
// when that is read from the log (see logText).
//
//go:noinline
func (p *producer) unlogged(g *generation, recs []Record) {
	if !p.logText {
		return
	}
	for i := range recs {
		switch r := &recs[i]; r.Kind {
		case RecordText:
			g.text.WriteString(r.Text)
		case RecordReasoning:
			p.reasoning.WriteString(r.Text)
		}
	}
}

// begin adds the start record to recs, on the provider's first chunk.
//
//go:noinline
func (p *producer) begin(g *generation, recs []Record) []Record {
	g.started = true
	p.res.FirstChunk = time.Since(p.res.Started)
	return append(recs, p.record(RecordStart))
}

// end logs the stream's terminal record and runs the finish hook.
//
//go:noinline
func (p *producer) end(g *generation) {
	res := p.res
	res.Chunks, res.FinishReason, res.Usage, res.ResponseModel, res.ResponseID = g.chunks, g.finishReason, g.usage, g.model, g.respID
	failure, storeErr, started, recs := g.failure, g.storeErr, g.started, g.recs
	text := &g.text
	cause := context.Cause(p.ctx)
	if failure == nil && storeErr == nil && cause != nil {
		// The provider stopped without saying why: it was cancelled.
		failure = asError(p.ctx, cause)
	}
	p.cancel(errFinished)
	p.stopLease()

	var term Record
	switch {
	case storeErr != nil:
		res.End, res.Err = EndInternal, &Error{Code: CodeInternal, Err: storeErr}
		term = p.record(RecordError)
		term.Code, term.Message = CodeInternal, "the server could not keep this answer"
		switch {
		case errors.Is(storeErr, ErrStreamTooLarge):
			term.Code, term.Message = CodeAnswerTooLarge, "" // the same answer would hit the same limit
		case errors.Is(storeErr, ErrStoreFull):
			term.Code, term.Message = CodeUnavailable, "the server is out of room for answers, try again later"
		}
	case errors.Is(cause, errShutdown):
		res.End, res.Err = EndShutdown, &Error{Code: CodeUnavailable, Message: shutdownMessage, Err: cause}
		term = p.record(RecordError)
		term.Code, term.Message = CodeUnavailable, shutdownMessage
	case errors.Is(cause, errStopped):
		res.End, res.Err = EndStopped, &Error{Code: CodeCanceled, Message: "the stream was stopped", Err: cause}
		term = p.record(RecordError)
		term.Code, term.Message = CodeCanceled, "the stream was stopped"
	case failure != nil && failure.Code == CodeCanceled:
		// Nobody sees this at once (the client left); a resume does, and
		// must not take it for its own abort or a stop.
		res.End, res.Err = EndClientGone, failure
		term = p.record(RecordError)
		term.Code = CodeClientGone
	case failure != nil:
		res.End, res.Err = EndUpstreamError, failure
		if failure.Code == CodeTimeout {
			res.End = EndTimeout
		}
		term = p.record(RecordError)
		term.Code, term.Message = failure.Code, failure.ClientMessage()
	default:
		res.End = EndCompleted
		recs = recs[:0]
		if !started { // an empty answer: still a well-formed stream
			recs = append(recs, p.record(RecordStart))
		}
		recs = append(recs, p.calls.open(p.record)...) // calls the provider left open
		p.note(recs)
		if res.FinishReason == "" {
			res.FinishReason = "stop"
		}
		term = p.record(RecordDone)
		term.FinishReason, term.Usage = res.FinishReason, res.Usage
	}
	recs = append(recs[:0:0], recs...)
	if term.Kind == RecordDone {
		recs = append(recs, term)
	} else {
		recs = []Record{term}
	}
	ctx, cancel := context.WithTimeout(p.hookCtx, storeTimeout)
	var err error
	if p.mod != nil {
		p.mod.submit(recs, true)
		mr := <-p.mod.done
		err = mr.err
		text.Reset()
		text.WriteString(mr.text) // only what was released
		p.reasoning.Reset()
		p.reasoning.WriteString(mr.reasoning)
		if mr.blocked {
			res.End, res.FinishReason = EndContentFiltered, "content_filter"
			res.Err = &Error{Code: CodeContentFiltered, Err: fmt.Errorf("%w: %s", errContentFiltered, mr.reason)}
		}
	} else {
		err = p.append(ctx, recs)
	}
	if idx, ok := p.h.store.(ChatIndex); ok && p.req.ID != "" {
		// A client cut just before the end still gets the whole answer for
		// a little while; then nothing is active in the chat.
		_ = idx.EndChatStream(ctx, p.req.ID, p.info.ID, lateResume)
	}
	cancel()
	if err != nil && res.Err == nil {
		res.End, res.Err = EndInternal, &Error{Code: CodeInternal, Err: err}
	}
	if p.ended != nil {
		p.ended()
	}

	res.Text, res.Reasoning = text.String(), p.reasoning.String()
	if p.logText {
		res.Text = p.mem.joined(RecordText) + res.Text
		res.Reasoning = p.mem.joined(RecordReasoning) + res.Reasoning
	}
	if p.mod == nil {
		p.count(recs) // the terminal records: sent, or failed to be logged
	}
	res.Events = p.events
	if !started && term.Kind == RecordError {
		res.Events = 0 // answered with a status, unless a keep-alive had started the stream
	}
	res.Duration = time.Since(res.Started)
	if p.h.finish != nil {
		apart.Do(func() { p.h.finish(p.hookCtx, res) }) // the user's code: see apart.Do
	}
}

// providerPanic is a panic of the provider, caught in the producer.
type providerPanic struct {
	value any
	stack []byte
}

func (e *providerPanic) Error() string {
	return fmt.Sprintf("chat: provider panicked: %v\n%s", e.value, e.stack)
}

// rethrow panics with a provider's panic value, on the goroutine of a
// connection that waited for the producer, so that recovery middleware
// and net/http see it as before.
func (p *producer) rethrow() {
	if p.panicked != nil {
		panic(p.panicked.value)
	}
}

// watchLease makes the producer cancel its generation when no reader has
// held a lease (see follow) for lease. Checks run on a timer, with no
// goroutine between them.
func (p *producer) watchLease(lease time.Duration) {
	p.leaseMu.Lock()
	defer p.leaseMu.Unlock()
	if p.leaseOver || p.leaseTimer != nil {
		return
	}
	every := max(lease/4, time.Millisecond)
	var check func()
	check = func() {
		ctx, cancel := context.WithTimeout(p.ctx, storeTimeout)
		attached, err := p.h.store.Attached(ctx, p.info.ID)
		cancel()
		if err == nil && !attached || errors.Is(err, ErrStreamNotFound) {
			p.cancel(errNoReader)
			return
		}
		p.leaseMu.Lock()
		defer p.leaseMu.Unlock()
		if !p.leaseOver {
			p.leaseTimer.Reset(every)
		}
	}
	p.leaseTimer = time.AfterFunc(every, check)
}

func (p *producer) stopLease() {
	p.leaseMu.Lock()
	defer p.leaseMu.Unlock()
	p.leaseOver = true
	if p.leaseTimer != nil {
		p.leaseTimer.Stop()
	}
}

// followEnd says why a connection stopped following a stream.
type followEnd int

const (
	followTerminal followEnd = iota // the terminal event was sent (or answered as a status)
	followGone                      // the client went away
	followRotated                   // WithMaxResponse ended the response with a reconnect event
	followFailed                    // the store failed; the client was told
)

// follow streams the log of info's stream to w, from after the event
// numbered after. p is the stream's producer when this connection started
// it, else nil. Reads end with readCtx: when it is the request's context,
// the client leaving ends the following; when it outlives the request,
// follow reads on to the terminal record once readCtx ends, so that a
// cancelled generation's last event still goes out (to a client that left,
// the write simply fails).
func (h *Handler) follow(w http.ResponseWriter, r *http.Request, info *StreamInfo, after int64, ascii bool, readCtx context.Context, p *producer) followEnd {
	if !h.addReader(info.ID) {
		_ = h.writeError(w, NewError(CodeTooManyReaders, ""))
		return followFailed
	}
	defer h.removeReader(info.ID)
	// Middleware (package middleware) may start the response before the
	// first event, to send keep-alives; after Claim, failures are events.
	st := starterFor(w, r.Context())
	if formats[info.Mode].whole {
		st = nil // one JSON body: no keep-alive may start an event stream
	}
	if st != nil {
		st.Pend()
	}
	end := h.followLog(w, r, st, info, after, ascii, readCtx, p)
	if st != nil && end != followGone {
		st.Ended() // else middleware may still end the response (a timeout)
	}
	return end
}

// addReader counts a connection following stream id, unless it has as
// many as the handler allows.
func (h *Handler) addReader(id string) bool {
	h.readersMu.Lock()
	defer h.readersMu.Unlock()
	if h.readers[id] >= h.maxReaders {
		return false
	}
	h.readers[id]++
	return true
}

func (h *Handler) removeReader(id string) {
	h.readersMu.Lock()
	defer h.readersMu.Unlock()
	if h.readers[id]--; h.readers[id] <= 0 {
		delete(h.readers, id)
	}
}

// follower writes one stream's log to one response, in the stream's mode.
// followLog drives it from reads of the log; a stream that runs on its
// request's goroutine (see live) drives it from the producer's appends.
type follower struct {
	h     *Handler
	w     http.ResponseWriter
	r     *http.Request
	st    streamctx.Starter
	info  *StreamInfo
	enc   *encoder
	sw    *sse.Writer
	after int64 // the client has the events up to this one
	whole bool
}

func (h *Handler) newFollower(w http.ResponseWriter, r *http.Request, st streamctx.Starter, info *StreamInfo, after int64, ascii bool) *follower {
	return &follower{h: h, w: w, r: r, st: st, info: info, enc: newEncoder(info, ascii, after), after: after, whole: formats[info.Mode].whole}
}

// open starts the response when the first events are ready: headers and
// events leave in one write.
func (f *follower) open() error {
	if f.st != nil {
		f.st.Claim()
	}
	for k, v := range formats[f.info.Mode].header {
		f.w.Header().Set(k, v)
	}
	if f.info.AILabel {
		f.w.Header().Set(AILabelHeader, "true")
	}
	var err error
	f.sw, err = sse.NewWriter(f.w, &sse.Options{WriteTimeout: f.h.writeTimeout, HeadersWithFirstWrite: true})
	return err
}

// fail ends the response because the store failed.
func (f *follower) fail(e *Error) followEnd {
	if f.sw == nil && (f.st == nil || !f.st.Claim()) {
		_ = f.h.writeError(f.w, e)
		return followFailed
	}
	if f.sw == nil && f.open() != nil {
		return followGone
	}
	f.enc.skip = -1
	f.enc.addError(e)
	f.enc.events[len(f.enc.events)-1].ID = "" // not a position in the log
	_ = f.enc.flush(f.sw)
	return followFailed
}

// add encodes a batch of records. It reports whether the batch ended the
// stream, and, when it already answered (a status for a provider that
// failed before its first chunk), that nothing more is to be done.
func (f *follower) add(recs []Record) (terminal, answered bool) {
	for i := range recs {
		rec := &recs[i]
		if rec.Kind == RecordError && rec.Seq == 0 && f.after < 0 && f.sw == nil && (f.st == nil || !f.st.Claim()) {
			// The provider failed before its first chunk: a status.
			_ = f.h.writeError(f.w, &Error{Code: rec.Code, Message: rec.Message})
			return true, true
		}
		f.enc.addRecord(rec)
		terminal = terminal || rec.terminal()
	}
	return terminal, false
}

// send writes what add encoded. done reports that the response is over:
// with end, why.
func (f *follower) send(terminal bool) (end followEnd, done bool) {
	if f.whole {
		if !terminal {
			return 0, false // the body is made at the end
		}
		ws, _ := f.enc.f.(interface{ wholeStatus() int })
		if f.enc.batch != nil && len(f.enc.events) == 1 && ws != nil {
			if f.info.AILabel {
				f.w.Header().Set(AILabelHeader, "true")
			}
			_ = writeJSON(f.w, ws.wholeStatus(), f.enc.arena)
		} else {
			f.w.WriteHeader(http.StatusNoContent) // a resume after the end
		}
		return followTerminal, true
	}
	if f.enc.pending() {
		if f.sw == nil {
			if err := f.open(); err != nil {
				return followGone, true
			}
		}
		if err := f.enc.flush(f.sw); err != nil {
			return followGone, true
		}
	}
	if terminal {
		if f.sw == nil {
			// A resume after the last event: nothing more will come.
			// 204 also tells an EventSource to stop reconnecting.
			if f.st != nil && f.st.Claim() {
				return followTerminal, true // a keep-alive already answered 200
			}
			f.w.Header().Set("Cache-Control", "no-store")
			f.w.WriteHeader(http.StatusNoContent)
		}
		return followTerminal, true
	}
	return 0, false
}

func (h *Handler) followLog(w http.ResponseWriter, r *http.Request, st streamctx.Starter, info *StreamInfo, after int64, ascii bool, readCtx context.Context, p *producer) followEnd {
	var (
		f        = h.newFollower(w, r, st, info, after, ascii)
		enc      = f.enc
		pos      = int64(-1) // the last record read
		lease    = h.lease(info.Mode)
		touchAt  time.Time
		rotateAt time.Time
		drained  bool
		behind   bool // the last read brought several records: read on
		// A generation on another instance is checked on (Store.Alive),
		// so that its readers do not wait for ever if that instance died.
		remote  = !h.producers.local(info.ID)
		aliveAt = time.Now().Add(aliveEvery)
		// A generation of this process is followed from the mirror, with
		// no store round trip per event; the connection that started it,
		// from its producer's feed.
		src logSource
	)
	switch {
	case p != nil && p.feed != nil:
		src = p.feed
	case !remote && h.mirror != nil && h.mirror.has(info.ID):
		src = source(h.mirror, info.ID)
	default:
		src = source(h.store, info.ID)
	}
	defer func() { src.stop() }()
	var recs []Record // the batch read, its buffer reused
	switch {
	case p != nil: // the connection that started the stream sees them all
		enc.transient = p.transientValue
	case !remote: // a resume here sees them while the generation runs
		enc.transient = func(seq int64) (json.RawMessage, bool) {
			if p := h.producers.get(info.ID); p != nil {
				return p.transientValue(seq)
			}
			return nil, false
		}
	}
	if h.rotates(info.Mode) {
		rotateAt = time.Now().Add(h.maxResponse)
	}
	for {
		now := time.Now()
		if lease > 0 && !now.Before(touchAt) {
			if err := h.store.Touch(r.Context(), info.ID, lease); err != nil && r.Context().Err() == nil {
				return f.fail(storeError(err))
			}
			touchAt = now.Add(lease / 4)
		}
		var until time.Time // the next deadline; zero: none
		if lease > 0 {
			until = earliest(until, touchAt)
		}
		if remote {
			if !now.Before(aliveAt) {
				alive, err := h.store.Alive(r.Context(), info.ID)
				if err == nil && !alive {
					return f.fail(NewError(CodeUnavailable, lostMessage))
				}
				aliveAt = now.Add(aliveEvery)
			}
			until = earliest(until, aliveAt)
		}
		if !rotateAt.IsZero() {
			if !now.Before(rotateAt) {
				return h.rotate(f)
			}
			until = earliest(until, rotateAt)
		}
		ctx := readCtx
		if drained {
			ctx = context.WithoutCancel(readCtx)
		}
		var err error
		recs, err = src.read(ctx, pos, !drained && !behind, until, recs[:0])
		if m, ok := src.(*memReader); ok && m.m == h.mirror && errors.Is(err, ErrStreamNotFound) {
			src.stop()
			src = source(h.store, info.ID) // the mirror dropped it: read on from the store
			continue
		}
		if err != nil {
			switch {
			case readCtx.Err() == nil || drained:
				return f.fail(storeError(err))
			case readCtx != r.Context():
				drained = true // one last read, for the terminal record
				continue
			default:
				return followGone
			}
		}
		if drained && len(recs) == 0 {
			if f.sw != nil {
				_ = enc.flush(f.sw) // what was read on
			}
			return followGone
		}
		// A reader that is behind (a resume, a slow client) reads on
		// before it writes, up to a batch: fewer, larger writes, and in
		// snapshot mode one snapshot for what it catches up.
		behind = len(recs) > 1
		if len(recs) > 0 {
			pos = recs[len(recs)-1].Seq
		}
		terminal, answered := f.add(recs)
		if answered {
			return followTerminal
		}
		if behind && !terminal && !enc.full() {
			continue
		}
		if end, done := f.send(terminal); done {
			return end
		}
	}
}

// earliest returns the earlier of deadlines a and b, where zero is none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// rotate ends a response that has run for the handler's maximum duration,
// with a reconnect event that carries the last event id.
func (h *Handler) rotate(f *follower) followEnd {
	if f.sw == nil {
		if err := f.open(); err != nil {
			return followGone
		}
	}
	if err := f.enc.flush(f.sw); err != nil { // what was read on, before it
		return followGone
	}
	data, _ := json.Marshal(&ReconnectData{LastEventID: f.enc.lastID()})
	if err := f.sw.Send(sse.Event{Name: EventReconnect, Data: data, Retry: reconnectRetry}); err != nil {
		return followGone
	}
	return followRotated
}

// reconnectRetry is the reconnection delay that a reconnect event sets for
// an EventSource.
const reconnectRetry = 100 * time.Millisecond

// lease is how long a reader's presence counts: the detach grace, or the
// rotation grace when only rotation detaches. Zero when no lease is needed.
func (h *Handler) lease(m Mode) time.Duration {
	switch {
	case h.grace > 0:
		return h.grace
	case h.rotates(m):
		return RotationGrace
	}
	return 0
}

// rotates reports whether [WithMaxResponse] rotates the responses of a
// stream in mode m: only where the clients follow a reconnect event.
func (h *Handler) rotates(m Mode) bool { return h.maxResponse > 0 && m.followsReconnect() }

// storeError is what a client sees of a store failure.
func storeError(err error) *Error {
	if errors.Is(err, ErrStreamNotFound) {
		return &Error{Code: CodeStreamExpired, Err: err}
	}
	return &Error{Code: CodeUnavailable, Err: err}
}
