package chat

import (
	"encoding/json"
	"strconv"
)

// ModeUI is the Vercel AI SDK's UI message stream (v5 and later), for
// front ends built on useChat / Chat with DefaultChatTransport: unnamed
// events whose data are the SDK's JSON chunks, with the header
// x-vercel-ai-ui-message-stream: v1. An answer is "start" (messageId: the
// stream id) and "start-step"; its text as "text-start", "text-delta"s
// and "text-end" (an id per block), its reasoning likewise with
// "reasoning-*"; a tool call as "tool-input-start", "tool-input-delta"s
// and "tool-input-available" (or "tool-input-error" for arguments that are
// not JSON), its result as "tool-output-available" or "tool-output-error"
// (providerExecuted for the server's own tools); a data part as
// "data-<name>" (id, data, transient); then "finish-step", "finish"
// (finishReason: stop, length, content-filter, tool-calls, error or
// other) and "data: [DONE]". A failure is "error" (errorText) and a
// stopped answer "abort", then [DONE]. The markers (text-start, ...) have
// no event id of their own. The AI SDK resumes by replaying the whole
// message (see [Handler.ChatStreamHandler]).
const ModeUI Mode = "ui"

func init() {
	registerFormat(ModeUI, formatSpec{
		new:              func(info *StreamInfo) wireFormat { return &uiFormat{id: info.ID, ai: info.AILabel} },
		followsReconnect: false, // the AI SDK reads a reconnect event as an unknown chunk
		doneEvents:       func(*StreamInfo, *Record) int { return 1 },
		header:           map[string]string{"x-vercel-ai-ui-message-stream": "v1"},
	})
}

// uiChunk is one chunk of the UI message stream; fields are omitted when
// empty, as the SDK's schema has them optional.
type uiChunk struct {
	Type             string          `json:"type"`
	ID               string          `json:"id,omitempty"`
	MessageID        string          `json:"messageId,omitempty"`
	MessageMetadata  any             `json:"messageMetadata,omitempty"`
	Delta            *string         `json:"delta,omitempty"`
	ToolCallID       string          `json:"toolCallId,omitempty"`
	ToolName         string          `json:"toolName,omitempty"`
	InputTextDelta   *string         `json:"inputTextDelta,omitempty"`
	Input            any             `json:"input,omitempty"`
	Output           json.RawMessage `json:"output,omitempty"`
	ErrorText        string          `json:"errorText,omitempty"`
	ProviderExecuted bool            `json:"providerExecuted,omitempty"`
	Data             json.RawMessage `json:"data,omitempty"`
	Transient        bool            `json:"transient,omitempty"`
	FinishReason     string          `json:"finishReason,omitempty"`
	Reason           string          `json:"reason,omitempty"`
}

// uiFormat is the ui format. A block of text or reasoning is open from
// its first piece to the next part of another kind.
type uiFormat struct {
	id    string
	ai    bool
	open  RecordKind // RecordText or RecordReasoning while a block is open
	block string     // the open block's id
	c     uiChunk
}

func (f *uiFormat) add(e *encoder, c uiChunk) {
	f.c = c
	e.add("", &f.c)
}

func (f *uiFormat) marker(e *encoder, c uiChunk) {
	f.c = c
	e.addUnnumbered(&f.c)
}

func (f *uiFormat) start(e *encoder) {
	c := uiChunk{Type: "start", MessageID: f.id}
	if f.ai {
		c.MessageMetadata = map[string]bool{"aiGenerated": true}
	}
	f.marker(e, c)
	f.add(e, uiChunk{Type: "start-step"})
}

// closeBlock ends the open text or reasoning block.
func (f *uiFormat) closeBlock(e *encoder) {
	switch f.open {
	case RecordText:
		f.marker(e, uiChunk{Type: "text-end", ID: f.block})
	case RecordReasoning:
		f.marker(e, uiChunk{Type: "reasoning-end", ID: f.block})
	}
	f.open = ""
}

func (f *uiFormat) part(e *encoder, r *Record) {
	if r.Kind == RecordText || r.Kind == RecordReasoning {
		if f.open != r.Kind {
			f.closeBlock(e)
			f.open, f.block = r.Kind, "r"+strconv.FormatInt(r.Seq, 10)
			if r.Kind == RecordText {
				f.block = "t" + strconv.FormatInt(r.Seq, 10)
				f.marker(e, uiChunk{Type: "text-start", ID: f.block})
			} else {
				f.marker(e, uiChunk{Type: "reasoning-start", ID: f.block})
			}
		}
		if e.skipping() {
			e.none()
			return
		}
		delta := r.Text
		if r.Kind == RecordText {
			f.add(e, uiChunk{Type: "text-delta", ID: f.block, Delta: &delta})
		} else {
			f.add(e, uiChunk{Type: "reasoning-delta", ID: f.block, Delta: &delta})
		}
		return
	}
	f.closeBlock(e)
	if e.skipping() {
		e.none()
		return
	}
	switch r.Kind {
	case RecordToolStart:
		f.add(e, uiChunk{Type: "tool-input-start", ToolCallID: r.ID, ToolName: r.Name, ProviderExecuted: r.Server})
	case RecordToolDelta:
		delta := r.Text
		f.add(e, uiChunk{Type: "tool-input-delta", ToolCallID: r.ID, InputTextDelta: &delta})
	case RecordToolCall:
		args := r.Text
		if args == "" {
			args = "{}"
		}
		if !json.Valid([]byte(args)) {
			f.add(e, uiChunk{Type: "tool-input-error", ToolCallID: r.ID, ToolName: r.Name, Input: r.Text,
				ErrorText: "the arguments are not valid JSON", ProviderExecuted: r.Server})
			return
		}
		f.add(e, uiChunk{Type: "tool-input-available", ToolCallID: r.ID, ToolName: r.Name, Input: json.RawMessage(args), ProviderExecuted: r.Server})
	case RecordToolResult:
		if r.Message != "" {
			f.add(e, uiChunk{Type: "tool-output-error", ToolCallID: r.ID, ErrorText: r.Message, ProviderExecuted: r.Server})
			return
		}
		f.add(e, uiChunk{Type: "tool-output-available", ToolCallID: r.ID, Output: r.Value, ProviderExecuted: r.Server})
	case RecordData:
		v, ok := e.dataValue(r)
		if !ok {
			e.none()
			return
		}
		f.add(e, uiChunk{Type: "data-" + r.Name, ID: r.ID, Data: v, Transient: r.Transient})
	case RecordRetract:
		b, _ := json.Marshal(map[string]string{"text": r.Text})
		f.add(e, uiChunk{Type: "data-retract", Data: b})
	default:
		e.none()
	}
}

// uiFinishReason maps a finish reason to the SDK's.
func uiFinishReason(r string) string {
	switch r {
	case "stop", "length", "error", "other":
		return r
	case "content_filter":
		return "content-filter"
	case "tool_calls":
		return "tool-calls"
	}
	return "other"
}

func (f *uiFormat) finish(e *encoder, r *Record) {
	f.closeBlock(e)
	f.marker(e, uiChunk{Type: "finish-step"})
	f.add(e, uiChunk{Type: "finish", FinishReason: uiFinishReason(r.FinishReason)})
	f.doneMarker(e)
}

func (f *uiFormat) fail(e *encoder, err *Error) {
	f.closeBlock(e)
	if err.Code == CodeCanceled {
		f.add(e, uiChunk{Type: "abort", Reason: err.ClientMessage()})
	} else {
		f.add(e, uiChunk{Type: "error", ErrorText: err.ClientMessage()})
	}
	f.doneMarker(e)
}

// doneMarker ends the stream as the SDK's servers do, after the terminal
// chunk (so with its number: dropped with it when the client has it).
func (f *uiFormat) doneMarker(e *encoder) {
	e.seq--
	e.addRawUnnumbered("[DONE]")
	e.seq++
}

func (f *uiFormat) catchUp(*encoder) {}
