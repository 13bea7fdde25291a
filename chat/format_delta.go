package chat

import "encoding/json"

// ModeDelta sends "start", then one event per part: "delta" per piece of
// text ({"text":"..."}), "reasoning" per piece of reasoning (the same
// shape), "tool_call_start", "tool_call_delta" and "tool_call" for a tool
// call's pieces, "tool_result", "data"; then one terminal "done" or
// "error" event.
const ModeDelta Mode = "delta"

// Event names of the delta and snapshot modes.
const (
	EventStart     = "start"
	EventDelta     = "delta"
	EventReasoning = "reasoning"
	// EventToolCallStart, EventToolCallDelta and EventToolCall are a tool
	// call's pieces: its start (ToolCallStartData), each piece of its
	// arguments (ToolCallDeltaData), and the call complete (ToolCallData).
	EventToolCallStart = "tool_call_start"
	EventToolCallDelta = "tool_call_delta"
	EventToolCall      = "tool_call"
	EventToolResult    = "tool_result"
	EventData          = "data"
	EventSnapshot      = "snapshot"
	EventDone          = "done"
	EventError         = "error"
)

// StartData is the data of the "start" event.
type StartData struct {
	ID    string `json:"id"`
	Model string `json:"model,omitempty"`
}

// TextData is the data of "delta" and "reasoning" events.
type TextData struct {
	Text string `json:"text"`
}

// ToolCallStartData is the data of the "tool_call_start" event.
type ToolCallStartData struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Server says the server runs the call itself: its tool_result follows.
	Server bool `json:"server,omitempty"`
}

// ToolCallDeltaData is the data of the "tool_call_delta" event: the next
// piece of the call's arguments (JSON text).
type ToolCallDeltaData struct {
	ID             string `json:"id"`
	ArgumentsDelta string `json:"arguments_delta"`
}

// ToolCallData is the data of the "tool_call" event: the call, complete.
// Arguments is JSON text as the model wrote it (it may not be valid JSON).
type ToolCallData struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
	Server    bool   `json:"server,omitempty"`
}

// ToolResultData is the data of the "tool_result" event: the tool's output
// (a JSON value), or its error.
type ToolResultData struct {
	ID     string          `json:"id"`
	Name   string          `json:"name,omitempty"`
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// DataPartData is the data of the "data" event: a part with the same name
// and a non-empty id replaces the earlier one.
type DataPartData struct {
	Name      string          `json:"name"`
	ID        string          `json:"id,omitempty"`
	Value     json.RawMessage `json:"value"`
	Transient bool            `json:"transient,omitempty"`
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

func init() {
	registerFormat(ModeDelta, formatSpec{
		new:              func(info *StreamInfo) wireFormat { return newNamed(info) },
		followsReconnect: true,
		doneEvents:       func(*StreamInfo, *Record) int { return 1 },
	})
}

// named is the delta format, and the events that the snapshot format
// shares with it. Its payloads are reused, so that encoding boxes
// pointers, not values.
type named struct {
	model, id string
	startD    StartData
	callStart ToolCallStartData
	callDelta ToolCallDeltaData
	call      ToolCallData
	result    ToolResultData
	data      DataPartData
	done      DoneData
	failD     ErrorData
}

func newNamed(info *StreamInfo) *named { return &named{model: info.Model, id: info.ID} }

func (f *named) start(e *encoder) {
	f.startD = StartData{ID: f.id, Model: f.model}
	e.add(EventStart, &f.startD)
}

func (f *named) part(e *encoder, r *Record) {
	if e.skipping() {
		e.none() // the client has it: no need to encode it
		return
	}
	switch r.Kind {
	case RecordText:
		e.addTextEvent(EventDelta, "text", r.Text)
	case RecordReasoning:
		e.addTextEvent(EventReasoning, "text", r.Text)
	default:
		f.other(e, r)
	}
}

// other adds the events of tool and data records, the same in delta and
// snapshot mode.
func (f *named) other(e *encoder, r *Record) {
	switch r.Kind {
	case RecordToolStart:
		f.callStart = ToolCallStartData{ID: r.ID, Name: r.Name, Server: r.Server}
		e.add(EventToolCallStart, &f.callStart)
	case RecordToolDelta:
		f.callDelta = ToolCallDeltaData{ID: r.ID, ArgumentsDelta: r.Text}
		e.add(EventToolCallDelta, &f.callDelta)
	case RecordToolCall:
		f.call = ToolCallData{ID: r.ID, Name: r.Name, Arguments: r.Text, Server: r.Server}
		e.add(EventToolCall, &f.call)
	case RecordToolResult:
		f.result = ToolResultData{ID: r.ID, Name: r.Name, Output: r.Value, Error: r.Message}
		e.add(EventToolResult, &f.result)
	case RecordData:
		v, ok := e.dataValue(r)
		if !ok {
			e.none()
			return
		}
		f.data = DataPartData{Name: r.Name, ID: r.ID, Value: v, Transient: r.Transient}
		e.add(EventData, &f.data)
	default:
		e.none()
	}
}

func (f *named) finish(e *encoder, r *Record) {
	f.done = DoneData{FinishReason: r.FinishReason, Usage: r.Usage}
	e.add(EventDone, &f.done)
}

func (f *named) fail(e *encoder, err *Error) {
	f.failD = ErrorData{Code: err.Code, Message: err.ClientMessage(), Retryable: err.Retryable()}
	e.add(EventError, &f.failD)
}

func (f *named) catchUp(*encoder) {}
