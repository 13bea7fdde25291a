package chat

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/ssechat/ssechat/sse"
)

// Mode is a wire format for the stream. Each mode is one file of this
// package (format_*.go) that implements wireFormat and registers itself;
// nothing else in the package knows a format.
type Mode string

// wireFormat turns the records of one stream's log into events, through
// the encoder's helpers. Every method but finish and fail adds exactly one
// event, or calls encoder.none when the format does not show the record:
// record n is event n.
type wireFormat interface {
	// start adds the stream's first event.
	start(e *encoder)
	// part adds the event of a record between start and the end: text,
	// reasoning, a tool call's pieces, a tool result, data.
	part(e *encoder, r *Record)
	// finish adds the events of a done record; fail those of an error.
	finish(e *encoder, r *Record)
	fail(e *encoder, err *Error)
	// catchUp adds what the format held back while a batch was read (a
	// late reader's snapshot), before any other event and before a write.
	catchUp(e *encoder)
}

// formatSpec is what the package knows of a mode.
type formatSpec struct {
	new func(info *StreamInfo) wireFormat
	// followsReconnect reports whether the clients of the mode follow a
	// "reconnect" event by resuming. OpenAI's client libraries do not:
	// they would read it as a chunk and end early without an error, so
	// openai-mode streams are never rotated.
	followsReconnect bool
	// doneEvents is how many events a done record becomes.
	doneEvents func(info *StreamInfo, r *Record) int
	// hides, if set, reports the records that the mode does not show
	// (their event numbers stay unused).
	hides func(*Record) bool
	// header holds response headers the mode's clients look for.
	header map[string]string
	// whole formats answer with one JSON body, not an event stream: their
	// finish or fail adds one event whose data is the body, and the format
	// says its status (wholeStatus). A request cannot name them.
	whole bool
}

var formats = map[Mode]formatSpec{}

// registerFormat adds a mode; each format file calls it from init.
func registerFormat(m Mode, s formatSpec) { formats[m] = s }

// modes returns the registered modes, sorted.
func modes() []Mode {
	ms := make([]Mode, 0, len(formats))
	for m, spec := range formats {
		if !spec.whole {
			ms = append(ms, m)
		}
	}
	slices.Sort(ms)
	return ms
}

func (m Mode) valid() bool { spec, ok := formats[m]; return ok && !spec.whole }

func (m Mode) followsReconnect() bool { return formats[m].followsReconnect }

// Event names shared by the modes that name their events.
const (
	// EventReconnect ends a response that [WithMaxResponse] rotates: the
	// client should resume at once with the last event id it saw (also in
	// the data). It has no id of its own.
	EventReconnect = "reconnect"
)

// ReconnectData is the data of the "reconnect" event.
type ReconnectData struct {
	LastEventID string `json:"last_event_id"`
}

// encoder turns one stream's progress into events, in the stream's wire
// format. Events accumulate in a batch until flush, which writes them in
// one Send; the buffers are reused, so a delta event costs no allocation.
type encoder struct {
	f        wireFormat
	ascii    bool
	streamID string
	// transient returns the value of a transient data record, while the
	// generation that made it runs in this process; nil elsewhere.
	transient func(seq int64) (json.RawMessage, bool)

	seq  int64
	skip int64 // events with seq <= skip are not sent (a resume)

	*batch // while a batch is pending; see batch
}

// batch holds the events of a pending batch. An encoder takes one from a
// pool when a batch starts and gives it back at flush. With thousands of
// streams, the buffers that the last event of any stream used are still
// in the CPU's cache for the next one, where each stream's own buffers
// would have left it since its last event; and a stream between batches
// (a model thinking) holds none.
type batch struct {
	json   bytes.Buffer
	je     *json.Encoder
	arena  []byte
	ends   []int
	ids    []byte // the ids of the batch's events, "<stream id>.<seq>" each
	events []sse.Event
}

var batches = sync.Pool{New: func() any {
	b := new(batch)
	b.je = json.NewEncoder(&b.json)
	b.je.SetEscapeHTML(false)
	return b
}}

// maxPooledBatch is the largest arena (or JSON buffer) that goes back to
// the pool: the batch of a snapshot-mode burst may be much larger.
const maxPooledBatch = maxBatch + 16<<10

// open makes sure a batch is there to add events to.
func (e *encoder) open() {
	if e.batch == nil {
		e.batch = batches.Get().(*batch)
	}
}

// release gives the (empty) batch back to the pool.
func (e *encoder) release() {
	b := e.batch
	e.batch = nil
	clear(b.events) // drop references to ids and the arena
	b.events, b.ends, b.arena, b.ids = b.events[:0], b.ends[:0], b.arena[:0], b.ids[:0]
	if cap(b.arena) > maxPooledBatch || b.json.Cap() > maxPooledBatch || cap(b.events) > 1024 {
		return // a burst's: let it go
	}
	batches.Put(b)
}

// newEncoder returns an encoder for the stream, sending the events after
// skip (-1: all of them).
func newEncoder(info *StreamInfo, ascii bool, skip int64) *encoder {
	e := &encoder{ascii: ascii, streamID: info.ID, skip: skip}
	e.f = formats[info.Mode].new(info)
	return e
}

// addRecord adds the events of one log record. Records must come in order
// from the first, so that event numbers follow record numbers.
func (e *encoder) addRecord(r *Record) {
	e.open()
	switch r.Kind {
	case RecordStart:
		e.f.catchUp(e)
		e.f.start(e)
	case RecordDone:
		e.f.catchUp(e)
		e.f.finish(e, r)
	case RecordError:
		e.addError(&Error{Code: r.Code, Message: r.Message})
	default:
		seq := e.seq
		e.f.part(e, r)
		if e.seq == seq { // a format that forgot: keep numbers in step
			e.none()
		}
	}
}

// addError adds the events of a failure.
func (e *encoder) addError(err *Error) {
	e.open()
	e.f.catchUp(e)
	e.f.fail(e, err)
}

// maxBatch is the size of encoded events past which a connection writes a
// batch instead of reading on.
const maxBatch = 64 << 10

// full reports whether the batch is as large as one write should be.
func (e *encoder) full() bool { return e.batch != nil && len(e.arena) >= maxBatch }

// pending reports whether a batch is waiting for flush: events, or
// something the format holds back (see catchUp).
func (e *encoder) pending() bool {
	if e.batch != nil && len(e.events) > 0 {
		return true
	}
	h, ok := e.f.(interface{ holding() bool })
	return ok && h.holding()
}

// lastID is the id of the last event made, sent or skipped: where a client
// that saw everything so far resumes. Before the first event it is the
// stream id alone, which resumes from the start.
func (e *encoder) lastID() string {
	if e.seq == 0 {
		return e.streamID
	}
	return e.streamID + "." + strconv.FormatInt(e.seq-1, 10)
}

// skipping reports whether the next event is one the client has: a format
// may then call none instead of encoding it.
func (e *encoder) skipping() bool { return e.seq <= e.skip }

// none uses up the next event number without an event.
func (e *encoder) none() { e.seq++ }

// add encodes v as the data of the next event.
func (e *encoder) add(name string, v any) {
	e.json.Reset()
	_ = e.je.Encode(v) // payloads are plain structs of strings and numbers
	e.appendData(bytes.TrimSuffix(e.json.Bytes(), []byte{'\n'}))
	e.push(name)
}

// addTextEvent adds an event whose data is {"<field>":"..."}. It is add
// with a one-field struct without reflecting over the struct on the
// per-event path: encoding/json quotes the string, the rest is fixed.
// field must need no escaping.
func (e *encoder) addTextEvent(name, field, text string) {
	e.json.Reset()
	e.json.WriteString(`{"`)
	e.json.WriteString(field)
	e.json.WriteString(`":`)
	e.quote(text)
	e.json.WriteByte('}')
	e.appendData(e.json.Bytes())
	e.push(name)
}

// quote appends text as a JSON string to e.json.
func (e *encoder) quote(text string) {
	e.json.Write(appendJSONString(e.json.AvailableBuffer(), text))
}

// appendJSONString appends s to dst as a JSON string, byte for byte as
// encoding/json writes it without HTML escaping (FuzzAppendJSONString
// holds it to that): `"` and `\` escaped, control characters as \n,
// \t, ... or \u00XX, invalid UTF-8 as \ufffd, U+2028 and U+2029
// escaped. A text delta is the one event per token: through
// encoding/json's reflection it cost several times as much.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0 // s[start:i] is still to be copied
	for i := 0; i < len(s); {
		b := s[i]
		if b >= 0x20 && b != '"' && b != '\\' && b < utf8.RuneSelf {
			i++
			continue
		}
		if b < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(append(dst, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(append(dst, s[start:i]...), '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(dst, s[start:]...), '"')
}

func (e *encoder) appendData(b []byte) {
	if e.ascii {
		e.arena = sse.AppendASCIIJSON(e.arena, b)
	} else {
		e.arena = append(e.arena, b...)
	}
}

func (e *encoder) addRaw(name, data string) {
	e.arena = append(e.arena, data...)
	e.push(name)
}

// push makes the data just added the next event.
func (e *encoder) push(name string) {
	if e.seq <= e.skip { // the client has it: drop what add just encoded
		if n := len(e.ends); n > 0 {
			e.arena = e.arena[:e.ends[n-1]]
		} else {
			e.arena = e.arena[:0]
		}
		e.seq++
		return
	}
	e.ends = append(e.ends, len(e.arena))
	// The id in the batch's id buffer: bytes once appended are not changed
	// until flush (a buffer that grows is copied, not changed), and neither
	// the events nor sse.Writer.Send keep the string past it.
	start := len(e.ids)
	e.ids = append(append(e.ids, e.streamID...), '.')
	e.ids = strconv.AppendInt(e.ids, e.seq, 10)
	e.events = append(e.events, sse.Event{ID: unsafe.String(&e.ids[start], len(e.ids)-start), Name: name})
	e.seq++
}

// addUnnumbered adds an event with no id before the next numbered one, as
// part of it: a format's marker (the AI SDK's text-start, say). It is
// dropped with it when the client has it.
func (e *encoder) addUnnumbered(v any) {
	if e.seq <= e.skip {
		return
	}
	e.json.Reset()
	_ = e.je.Encode(v)
	e.appendData(bytes.TrimSuffix(e.json.Bytes(), []byte{'\n'}))
	e.ends = append(e.ends, len(e.arena))
	e.events = append(e.events, sse.Event{})
}

// addRawUnnumbered is addUnnumbered with data as it is.
func (e *encoder) addRawUnnumbered(data string) {
	if e.seq <= e.skip {
		return
	}
	e.arena = append(e.arena, data...)
	e.ends = append(e.ends, len(e.arena))
	e.events = append(e.events, sse.Event{})
}

// dataValue returns the value of a data record: its own, or a transient
// one's from the generation that runs here. False: the value is gone.
func (e *encoder) dataValue(r *Record) (json.RawMessage, bool) {
	if !r.Transient {
		return r.Value, true
	}
	if e.transient == nil {
		return nil, false
	}
	return e.transient(r.Seq)
}

// flush writes the batch in one write and resets it.
func (e *encoder) flush(w *sse.Writer) error {
	if !e.pending() {
		if e.batch != nil {
			e.release()
		}
		return nil
	}
	e.open() // for what the format held back
	e.f.catchUp(e)
	if len(e.events) == 0 {
		e.release()
		return nil
	}
	start := 0
	for i, end := range e.ends {
		e.events[i].Data = e.arena[start:end]
		start = end
	}
	err := w.Send(e.events...)
	e.release()
	if r, ok := e.f.(interface{ flushed() }); ok {
		r.flushed()
	}
	return err
}
