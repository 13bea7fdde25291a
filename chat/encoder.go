package chat

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/ssechat/ssechat/sse"
)

// Mode is a wire format for the stream.
type Mode string

// The wire modes.
const (
	// ModeDelta sends "start", then one "delta" event per piece of text
	// ({"text":"..."}), then one terminal "done" or "error" event.
	ModeDelta Mode = "delta"
	// ModeSnapshot is ModeDelta with "snapshot" events that carry all the
	// text so far, for clients that replace rather than append.
	ModeSnapshot Mode = "snapshot"
	// ModeOpenAI sends unnamed events whose data are OpenAI
	// chat.completion.chunk objects, then "data: [DONE]", so that OpenAI
	// client libraries can consume the stream.
	ModeOpenAI Mode = "openai"
)

func (m Mode) valid() bool { return m == ModeDelta || m == ModeSnapshot || m == ModeOpenAI }

// followsReconnect reports whether the clients of m follow a "reconnect"
// event by resuming. OpenAI's client libraries do not: they would read it
// as a chunk and end early without an error, so openai-mode streams are
// never rotated.
func (m Mode) followsReconnect() bool { return m != ModeOpenAI }

// Event names of the delta and snapshot modes.
const (
	EventStart    = "start"
	EventDelta    = "delta"
	EventSnapshot = "snapshot"
	EventDone     = "done"
	EventError    = "error"
	// EventReconnect ends a response that [WithMaxResponse] rotates: the
	// client should resume at once with the last event id it saw (also in
	// the data). It has no id of its own.
	EventReconnect = "reconnect"
)

// ReconnectData is the data of the "reconnect" event.
type ReconnectData struct {
	LastEventID string `json:"last_event_id"`
}

// StartData is the data of the "start" event.
type StartData struct {
	ID    string `json:"id"`
	Model string `json:"model,omitempty"`
}

// TextData is the data of "delta" and "snapshot" events.
type TextData struct {
	Text string `json:"text"`
}

// DoneData is the data of the "done" event. Usage is omitted when the
// provider did not report it.
type DoneData struct {
	FinishReason string `json:"finish_reason"`
	Usage        *Usage `json:"usage,omitempty"`
}

// ErrorData is the data of the "error" event.
type ErrorData struct {
	Code      Code   `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

// OpenAI's chat.completion.chunk, the subset clients read.
type oaChunk struct {
	ID      string     `json:"id"`
	Object  string     `json:"object"`
	Created int64      `json:"created"`
	Model   string     `json:"model"`
	Choices []oaChoice `json:"choices"`
	Usage   *oaUsage   `json:"usage,omitempty"`
}

type oaChoice struct {
	Index        int     `json:"index"`
	Delta        oaDelta `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}

type oaDelta struct {
	Role    string `json:"role,omitempty"`
	Content string `json:"content,omitempty"`
}

type oaUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type oaError struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    Code   `json:"code"`
	} `json:"error"`
}

// encoder turns one stream's progress into events. It is the only part that
// knows the wire formats. Events accumulate in a batch until flush, which
// writes them in one Send; the buffers are reused, so a delta event costs one
// allocation (its id string).
type encoder struct {
	mode         Mode
	ascii        bool
	streamID     string
	model        string
	includeUsage bool

	seq  int64
	skip int64 // events with seq <= skip are not sent (a resume)
	// snap is the seq of a snapshot not made yet (-1: none). In snapshot
	// mode every piece of text gets a snapshot of the text so far until a
	// batch's snapshots pass snapshotBudget bytes; after that, the rest of
	// the batch's texts become one snapshot with the last one's id. So a
	// reader that is far behind (a resume from the start) catches up with
	// the text so far about once, not once per piece (quadratic).
	snap      int64
	snapBytes int             // snapshot text in the batch so far
	idBuf     []byte          // "<stream id>." then the sequence number
	text      strings.Builder // all text so far, in snapshot mode

	json   bytes.Buffer
	je     *json.Encoder
	arena  []byte
	ends   []int
	events []sse.Event

	// Reused payloads, so that encoding boxes pointers, not values.
	start    StartData
	str      string
	done     DoneData
	fail     ErrorData
	oa       oaChunk
	oaChoice [1]oaChoice
	oaUsage  oaUsage
	oaError  oaError
}

// newEncoder returns an encoder for the stream, sending the events after
// skip (-1: all of them).
func newEncoder(info *StreamInfo, ascii bool, skip int64) *encoder {
	e := &encoder{mode: info.Mode, ascii: ascii, streamID: info.ID, model: info.Model, includeUsage: info.IncludeUsage, skip: skip, snap: -1}
	e.idBuf = append(append(make([]byte, 0, len(info.ID)+21), info.ID...), '.')
	e.je = json.NewEncoder(&e.json)
	e.je.SetEscapeHTML(false)
	e.oa = oaChunk{ID: "chatcmpl-" + info.ID, Object: "chat.completion.chunk", Created: info.Created, Model: info.Model}
	return e
}

// addRecord adds the events of one log record. Records must come in order
// from the first, so that event numbers follow record numbers.
func (e *encoder) addRecord(r *Record) {
	switch r.Kind {
	case RecordStart:
		e.addStart()
	case RecordText:
		e.addText(r.Text)
	case RecordDone:
		e.addDone(r.FinishReason, r.Usage)
	case RecordError:
		e.addError(&Error{Code: r.Code, Message: r.Message})
	}
}

// snapshotBudget is how many bytes of snapshots one batch may repeat
// before its remaining texts become one snapshot.
const snapshotBudget = 64 << 10

// maxBatch is the size of encoded events past which a connection writes a
// batch instead of reading on.
const maxBatch = 64 << 10

// full reports whether the batch is as large as one write should be.
func (e *encoder) full() bool { return len(e.arena) >= maxBatch }

// pending reports whether a batch is waiting for flush.
func (e *encoder) pending() bool { return len(e.events) > 0 || e.snap >= 0 }

// addSnapshot makes the snapshot of the text so far that addText put off.
func (e *encoder) addSnapshot() {
	if e.snap < 0 {
		return
	}
	seq := e.seq
	e.seq, e.snap = e.snap, -1
	e.addTextEvent(EventSnapshot, e.text.String()) // no copy: the builder only appends
	e.seq = seq
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

// add encodes v as the data of the next event.
func (e *encoder) add(name string, v any) {
	e.json.Reset()
	_ = e.je.Encode(v) // payloads are plain structs of strings and numbers
	e.appendData(bytes.TrimSuffix(e.json.Bytes(), []byte{'\n'}))
	e.push(name)
}

// addTextEvent adds an event whose data is {"text":"..."}. It is add(name,
// &TextData{text}) without reflecting over the struct on the per-event path:
// encoding/json quotes the string, the braces are fixed.
func (e *encoder) addTextEvent(name, text string) {
	e.str = text
	e.json.Reset()
	e.json.WriteString(`{"text":`)
	_ = e.je.Encode(&e.str)
	e.json.Truncate(e.json.Len() - 1) // Encode's newline
	e.json.WriteByte('}')
	e.str = ""
	e.appendData(e.json.Bytes())
	e.push(name)
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

// push makes the data just added the next event. Every event but a
// snapshot must come after addSnapshot, which makes a pending one first.
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
	e.idBuf = strconv.AppendInt(e.idBuf[:len(e.streamID)+1], e.seq, 10)
	e.events = append(e.events, sse.Event{ID: string(e.idBuf), Name: name})
	e.seq++
}

// flush writes the batch in one write and resets it.
func (e *encoder) flush(w *sse.Writer) error {
	e.addSnapshot()
	if len(e.events) == 0 {
		return nil
	}
	start := 0
	for i, end := range e.ends {
		e.events[i].Data = e.arena[start:end]
		start = end
	}
	err := w.Send(e.events...)
	clear(e.events) // drop references to ids and the arena
	e.events, e.ends, e.arena, e.snapBytes = e.events[:0], e.ends[:0], e.arena[:0], 0
	return err
}

func (e *encoder) openaiChunk(delta oaDelta, finish *string) *oaChunk {
	e.oaChoice[0] = oaChoice{Delta: delta, FinishReason: finish}
	e.oa.Choices = e.oaChoice[:]
	e.oa.Usage = nil
	return &e.oa
}

func (e *encoder) addStart() {
	e.addSnapshot()
	switch e.mode {
	case ModeOpenAI:
		e.add("", e.openaiChunk(oaDelta{Role: "assistant"}, nil))
	default:
		e.start = StartData{ID: e.streamID, Model: e.model}
		e.add(EventStart, &e.start)
	}
}

func (e *encoder) addText(text string) {
	switch e.mode {
	case ModeOpenAI:
		e.add("", e.openaiChunk(oaDelta{Content: text}, nil))
	case ModeSnapshot:
		e.text.WriteString(text)
		switch {
		case e.seq <= e.skip:
			e.seq++ // skipped: no need to encode it
		case e.snap < 0 && e.snapBytes+e.text.Len() <= snapshotBudget:
			e.snapBytes += e.text.Len()
			e.addTextEvent(EventSnapshot, e.text.String()) // no copy: the builder only appends
		default:
			e.snap = e.seq // made by the next other event or flush
			e.seq++
		}
	default:
		if e.seq <= e.skip {
			e.seq++
			return
		}
		e.addTextEvent(EventDelta, text)
	}
}

func (e *encoder) addDone(finishReason string, usage *Usage) {
	e.addSnapshot()
	switch e.mode {
	case ModeOpenAI:
		e.add("", e.openaiChunk(oaDelta{}, &finishReason))
		if e.includeUsage && usage != nil {
			e.oaUsage = oaUsage{PromptTokens: usage.InputTokens, CompletionTokens: usage.OutputTokens, TotalTokens: usage.TotalTokens}
			e.oa.Choices = e.oaChoice[:0]
			e.oa.Usage = &e.oaUsage
			e.add("", &e.oa)
		}
		e.addRaw("", "[DONE]")
	default:
		e.done = DoneData{FinishReason: finishReason, Usage: usage}
		e.add(EventDone, &e.done)
	}
}

func (e *encoder) addError(err *Error) {
	e.addSnapshot()
	switch e.mode {
	case ModeOpenAI:
		// OpenAI ends a failed stream with an error object and no [DONE].
		e.oaError.Error.Message = err.ClientMessage()
		e.oaError.Error.Type = string(err.Code)
		e.oaError.Error.Code = err.Code
		e.add("", &e.oaError)
	default:
		e.fail = ErrorData{Code: err.Code, Message: err.ClientMessage(), Retryable: err.Retryable()}
		e.add(EventError, &e.fail)
	}
}
