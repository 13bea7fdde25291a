package chat

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// ToolCall is one piece of a tool call that the model makes, in a [Chunk].
// A call is streamed as pieces with the same ID: the first names the tool,
// the next ones carry the arguments as they come (JSON text, in pieces
// that need not be valid JSON on their own), and a last one, with
// Arguments set, says that the call is complete. A provider that learns a
// call whole sends one piece with ID, Name and Arguments. Calls that are
// still open when the answer finishes are completed by the handler, with
// the arguments streamed so far.
type ToolCall struct {
	// ID identifies the call within the answer. Required on every piece.
	ID string `json:"id"`
	// Name is the tool's name: required on the call's first piece, and
	// the same if repeated.
	Name string `json:"name,omitempty"`
	// ArgumentsDelta is the next piece of the arguments.
	ArgumentsDelta string `json:"arguments_delta,omitempty"`
	// Arguments, when set, are the call's whole arguments: the call is
	// complete, and its pieces end.
	Arguments string `json:"arguments,omitempty"`
	// Server, on the call's first piece, says that the provider runs the
	// call itself and streams its result (a tool of WithTools): clients
	// show it, and OpenAI-shaped answers (openai mode, the non-streaming
	// completion) leave it out, since the client must neither run it nor
	// send it back.
	Server bool `json:"server,omitempty"`
}

// ToolResult is the outcome of a tool call, in a [Chunk]: Output, a JSON
// value, or Error, a message for the model (and the user) when the tool
// failed.
type ToolResult struct {
	// ID is the call's [ToolCall].ID.
	ID string `json:"id"`
	// Name is the tool's name.
	Name   string          `json:"name,omitempty"`
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// Data is a data part of an answer, in a [Chunk]: a named JSON value that
// the client shows as it likes (sources, a chart, a status line). A later
// part with the same Name and a non-empty ID replaces the earlier one. A
// transient part is sent to the clients that follow the stream as it
// happens and is never logged: a resume does not replay it (nor does a
// reader on another instance see it), and the finish hook's [Result] does
// not hold it.
type Data struct {
	Name      string          `json:"name"`
	ID        string          `json:"id,omitempty"`
	Value     json.RawMessage `json:"value"`
	Transient bool            `json:"transient,omitempty"`
}

// Limits on parts, checked as the provider yields them.
const (
	maxPartName = 256 // tool and data names, ids
)

// callState is what the producer knows of one tool call.
type callState struct {
	name     string
	args     []byte
	complete bool
	server   bool
}

// parts turns the parts of chunks into records, checking them: the
// producer's bookkeeping of tool calls, so that every call is started
// once, completed once, and completed at the end if the provider did not.
type parts struct {
	calls map[string]*callState
	order []string // call ids, in the order they started
}

// toolCall returns the records of one tool-call piece, or an error that
// says what the provider did wrong.
func (ps *parts) toolCall(c *ToolCall, rec func(RecordKind) Record) ([]Record, error) {
	if c.ID == "" || len(c.ID) > maxPartName {
		return nil, fmt.Errorf("chat: a tool call has an empty or over-long id %q", c.ID)
	}
	if len(c.Name) > maxPartName {
		return nil, fmt.Errorf("chat: tool call %q has an over-long name", c.ID)
	}
	if ps.calls == nil {
		ps.calls = make(map[string]*callState)
	}
	st := ps.calls[c.ID]
	var out []Record
	switch {
	case st == nil:
		if c.Name == "" {
			return nil, fmt.Errorf("chat: tool call %q starts without a name", c.ID)
		}
		st = &callState{name: c.Name, server: c.Server}
		ps.calls[c.ID] = st
		ps.order = append(ps.order, c.ID)
		r := rec(RecordToolStart)
		r.ID, r.Name, r.Server = c.ID, c.Name, c.Server
		out = append(out, r)
	case st.complete:
		return nil, fmt.Errorf("chat: tool call %q goes on after it was complete", c.ID)
	case c.Name != "" && c.Name != st.name:
		return nil, fmt.Errorf("chat: tool call %q changes its name from %q to %q", c.ID, st.name, c.Name)
	}
	if c.ArgumentsDelta != "" && c.Arguments == "" {
		st.args = append(st.args, c.ArgumentsDelta...)
		r := rec(RecordToolDelta)
		r.ID, r.Text, r.Server = c.ID, c.ArgumentsDelta, st.server
		out = append(out, r)
	}
	if c.Arguments != "" {
		out = append(out, ps.complete(c.ID, c.Arguments, rec))
	}
	return out, nil
}

// complete marks call id complete with args and returns its record.
func (ps *parts) complete(id, args string, rec func(RecordKind) Record) Record {
	st := ps.calls[id]
	st.complete = true
	st.args = nil
	r := rec(RecordToolCall)
	r.ID, r.Name, r.Text, r.Server = id, st.name, args, st.server
	return r
}

// open completes the calls still open, with the arguments streamed so far.
func (ps *parts) open(rec func(RecordKind) Record) []Record {
	var out []Record
	for _, id := range ps.order {
		if st := ps.calls[id]; !st.complete {
			out = append(out, ps.complete(id, string(st.args), rec))
		}
	}
	return out
}

// toolResult returns the records of a tool result: the call's completion
// first, if it was still open.
func (ps *parts) toolResult(t *ToolResult, rec func(RecordKind) Record) ([]Record, error) {
	if t.ID == "" || len(t.ID) > maxPartName || len(t.Name) > maxPartName {
		return nil, fmt.Errorf("chat: a tool result has an empty or over-long id %q or name", t.ID)
	}
	if len(t.Output) > 0 && !json.Valid(t.Output) {
		return nil, fmt.Errorf("chat: the output of tool call %q is not valid JSON", t.ID)
	}
	var out []Record
	name := t.Name
	if st := ps.calls[t.ID]; st != nil {
		if !st.complete {
			out = append(out, ps.complete(t.ID, string(st.args), rec))
		}
		if name == "" {
			name = st.name
		}
	}
	r := rec(RecordToolResult)
	r.ID, r.Name, r.Value, r.Message = t.ID, name, t.Output, t.Error
	if st := ps.calls[t.ID]; st != nil {
		r.Server = st.server
	}
	if len(r.Value) == 0 && r.Message == "" {
		r.Value = json.RawMessage("null")
	}
	return append(out, r), nil
}

// data checks a data part.
func checkData(d *Data) error {
	if d.Name == "" || len(d.Name) > maxPartName || len(d.ID) > maxPartName {
		return fmt.Errorf("chat: a data part has an empty or over-long name %q or id", d.Name)
	}
	if !json.Valid(d.Value) {
		return fmt.Errorf("chat: data part %q is not valid JSON", d.Name)
	}
	return nil
}

// parts appends the records of chunk's parts to recs, in the order of
// Chunk's fields, and notes them in the Result. A malformed part is the
// provider's bug: the stream ends with an internal error.
func (p *producer) parts(c *Chunk, recs []Record, text *strings.Builder) ([]Record, *Error) {
	from := len(recs)
	if c.Reasoning != "" {
		if !p.logText {
			p.reasoning.WriteString(c.Reasoning)
		}
		r := p.record(RecordReasoning)
		r.Text = c.Reasoning
		recs = append(recs, r)
	}
	if c.Text != "" {
		if !p.logText {
			text.WriteString(c.Text)
		}
		r := p.record(RecordText)
		r.Text = c.Text
		recs = append(recs, r)
	}
	bad := func(err error) ([]Record, *Error) {
		return recs, &Error{Code: CodeInternal, Err: err}
	}
	for i := range c.ToolCalls {
		rs, err := p.calls.toolCall(&c.ToolCalls[i], p.record)
		recs = append(recs, rs...)
		if err != nil {
			return bad(err)
		}
	}
	for i := range c.ToolResults {
		rs, err := p.calls.toolResult(&c.ToolResults[i], p.record)
		recs = append(recs, rs...)
		if err != nil {
			return bad(err)
		}
	}
	for i := range c.Data {
		d := &c.Data[i]
		if err := checkData(d); err != nil {
			return bad(err)
		}
		r := p.record(RecordData)
		r.Name, r.ID, r.Transient = d.Name, d.ID, d.Transient
		if d.Transient {
			p.keepTransient(r.Seq, d.Value)
		} else {
			r.Value = d.Value
		}
		recs = append(recs, r)
	}
	p.note(recs[from:])
	return recs, nil
}

// note adds what recs complete to the Result: tool calls, tool results,
// data parts (a part with the same name and id replaces the earlier one).
func (p *producer) note(recs []Record) {
	res := p.res
	for i := range recs {
		r := &recs[i]
		switch r.Kind {
		case RecordToolCall:
			res.ToolCalls = append(res.ToolCalls, ToolCall{ID: r.ID, Name: r.Name, Arguments: r.Text, Server: r.Server})
		case RecordToolResult:
			res.ToolResults = append(res.ToolResults, ToolResult{ID: r.ID, Name: r.Name, Output: r.Value, Error: r.Message})
		case RecordData:
			if r.Transient {
				continue
			}
			d := Data{Name: r.Name, ID: r.ID, Value: r.Value}
			if d.ID != "" {
				if j := slices.IndexFunc(res.Data, func(o Data) bool { return o.Name == d.Name && o.ID == d.ID }); j >= 0 {
					res.Data[j] = d
					continue
				}
			}
			res.Data = append(res.Data, d)
		}
	}
}

// maxTransient is how many transient values a producer keeps for its
// readers; older ones are dropped (a reader that far behind skips them).
const maxTransient = 256

func (p *producer) keepTransient(seq int64, v json.RawMessage) {
	p.transientMu.Lock()
	defer p.transientMu.Unlock()
	if p.transient == nil {
		p.transient = make(map[int64]json.RawMessage)
	}
	p.transient[seq] = v
	p.transientSeqs = append(p.transientSeqs, seq)
	if len(p.transientSeqs) > maxTransient {
		delete(p.transient, p.transientSeqs[0])
		p.transientSeqs = append(p.transientSeqs[:0], p.transientSeqs[1:]...)
	}
}

// transientValue returns the value of the transient data record seq, if
// the producer still holds it.
func (p *producer) transientValue(seq int64) (json.RawMessage, bool) {
	p.transientMu.Lock()
	defer p.transientMu.Unlock()
	v, ok := p.transient[seq]
	return v, ok
}
