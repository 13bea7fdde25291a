package chattest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	gosse "github.com/tmaxmax/go-sse"

	"github.com/ssechat/ssechat/chat"
)

// Event is one parsed Server-Sent Event.
type Event struct {
	// ID is the event's id, or the last id seen before it.
	ID string
	// Name is the event field ("" for unnamed events).
	Name string
	Data string
}

// Decode unmarshals the event's data as JSON.
func (e Event) Decode(v any) error { return json.Unmarshal([]byte(e.Data), v) }

// ReadEvents parses a whole event stream with a spec-compliant parser.
// Comments are skipped.
func ReadEvents(r io.Reader) ([]Event, error) {
	var evs []Event
	for ev, err := range gosse.Read(r, &gosse.ReadConfig{MaxEventSize: 16 << 20}) {
		if err != nil {
			return evs, err
		}
		evs = append(evs, Event{ID: ev.LastEventID, Name: ev.Type, Data: ev.Data})
	}
	return evs, nil
}

// Stream is a response as a client sees it.
type Stream struct {
	Status int
	Header http.Header
	// Events of a stream; empty for an error answered before it started.
	Events []Event
	// Start is the start event's data (delta and snapshot modes).
	Start *chat.StartData
	// Text is what a client shows: the deltas joined, the last snapshot, or
	// the OpenAI chunks' contents joined (or, in ui mode, the AI SDK's
	// text-delta chunks: Done.FinishReason is then the SDK's, as
	// "tool-calls", and an error has only its message).
	Text string
	// Reasoning is the reasoning shown the same way (reasoning events,
	// snapshots, or reasoning_content).
	Reasoning string
	// ToolCalls are the tool calls, in the order they started: from
	// tool_call events, or put together from the OpenAI chunks' tool_calls
	// pieces. Each call's pieces (tool_call_start and tool_call_delta) must
	// agree with it, or Read fails. In a response cut short, or a resume
	// that began in the middle of a call, a call has the pieces it saw
	// (use [Join] to read a response and its resumes together).
	ToolCalls []chat.ToolCall
	// ToolResults are the tool_result events' data, in order.
	ToolResults []chat.ToolResult
	// Data are the data parts as a client keeps them: in order, a part
	// with the name and id of an earlier one replacing it.
	Data []chat.Data
	// Done is set by a done event (or, in openai mode, by [DONE], with the
	// finish reason and usage of the chunks before it).
	Done *chat.DoneData
	// Error is set by an error event, or by a JSON error answered instead of
	// a stream (then Retryable is false).
	Error *chat.ErrorData
	// Terminals counts terminal events; a well-formed stream has exactly one.
	Terminals int
	// Reconnect is set when the server rotated the response (see
	// chat.WithMaxResponse): resume with its LastEventID.
	Reconnect *chat.ReconnectData
	// LastEventID is the id of the last event with one: where to resume.
	LastEventID string
}

// Post sends body (marshalled to JSON unless it is a string or []byte) to
// url and reads the answer with [Read].
func Post(client *http.Client, url string, body any) (*Stream, error) {
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	resp, err := client.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return Read(resp)
}

// Resume asks url for the rest of a stream after lastEventID, with the
// Last-Event-ID header and no body, and reads the answer with [Read]. A
// resume after the last event answers 204 with no events.
func Resume(client *http.Client, url, lastEventID string) (*Stream, error) {
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Last-Event-ID", lastEventID)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	return Read(resp)
}

// UserMessage is a request with one user message.
func UserMessage(text string) *chat.Request {
	return &chat.Request{Messages: []chat.Message{{Role: chat.RoleUser, Content: text}}}
}

// Read reads and closes resp's body. A text/event-stream answer is parsed
// into events and interpreted in whichever mode it was sent; any other
// answer is read as a JSON error.
func Read(resp *http.Response) (*Stream, error) {
	defer resp.Body.Close()
	s := &Stream{Status: resp.StatusCode, Header: resp.Header}
	if resp.StatusCode == http.StatusNoContent {
		return s, nil
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		var body struct {
			Error *chat.ErrorData `json:"error"`
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return s, err
		}
		if err := json.Unmarshal(b, &body); err != nil || body.Error == nil {
			return s, fmt.Errorf("chattest: status %d with body %q", resp.StatusCode, b)
		}
		s.Error = body.Error
		return s, nil
	}
	evs, err := ReadEvents(resp.Body)
	s.Events = evs
	if err != nil {
		return s, err
	}
	return s, s.interpret()
}

func (s *Stream) interpret() error {
	var text, reasoning strings.Builder
	var finish string
	var usage *chat.Usage
	// Tool calls as their pieces build them: by id, and for OpenAI chunks
	// by index.
	type building struct {
		call     chat.ToolCall
		args     strings.Builder
		complete bool
		resumed  bool // it began before this response (a resume)
	}
	var calls []*building
	byID := map[string]*building{}
	nameOf := func(byID map[string]*building, id string) string {
		if b := byID[id]; b != nil {
			return b.call.Name
		}
		return ""
	}
	ui := false // the AI SDK's UI message stream (chat.ModeUI)
	for _, ev := range s.Events {
		var err error
		s.LastEventID = ev.ID
		switch ev.Name {
		case chat.EventReasoning:
			var d chat.TextData
			err = ev.Decode(&d)
			reasoning.WriteString(d.Text)
		case chat.EventRetract:
			var d chat.TextData
			err = ev.Decode(&d)
			text.Reset()
			text.WriteString(d.Text)
		case chat.EventToolCallStart:
			var d chat.ToolCallStartData
			if err = ev.Decode(&d); err == nil {
				if byID[d.ID] != nil {
					err = errors.New("a second start of the call")
					break
				}
				b := &building{call: chat.ToolCall{ID: d.ID, Name: d.Name, Server: d.Server}}
				byID[d.ID] = b
				calls = append(calls, b)
			}
		case chat.EventToolCallDelta:
			var d chat.ToolCallDeltaData
			if err = ev.Decode(&d); err == nil {
				b := byID[d.ID]
				if b == nil { // a resume in the middle of the call
					b = &building{call: chat.ToolCall{ID: d.ID}, resumed: true}
					byID[d.ID] = b
					calls = append(calls, b)
				}
				if b.complete {
					err = errors.New("a piece of a call that is complete")
					break
				}
				b.args.WriteString(d.ArgumentsDelta)
			}
		case chat.EventToolCall:
			var d chat.ToolCallData
			if err = ev.Decode(&d); err == nil {
				b := byID[d.ID]
				switch {
				case b == nil: // a resume after its pieces
					b = &building{call: chat.ToolCall{ID: d.ID, Name: d.Name}}
					byID[d.ID] = b
					calls = append(calls, b)
				case b.complete:
					err = errors.New("a call completed twice")
				case !b.resumed && (b.call.Name != d.Name || b.args.String() != d.Arguments && b.args.Len() > 0):
					err = fmt.Errorf("the complete call differs from its pieces (%q %q)", b.call.Name, b.args.String())
				}
				b.complete = true
				b.call.Name, b.call.Arguments, b.call.Server = d.Name, d.Arguments, d.Server
			}
		case chat.EventToolResult:
			var d chat.ToolResultData
			if err = ev.Decode(&d); err == nil {
				s.ToolResults = append(s.ToolResults, chat.ToolResult{ID: d.ID, Name: d.Name, Output: d.Output, Error: d.Error})
			}
		case chat.EventData:
			var d chat.DataPartData
			if err = ev.Decode(&d); err == nil {
				p := chat.Data{Name: d.Name, ID: d.ID, Value: d.Value, Transient: d.Transient}
				if i := slices.IndexFunc(s.Data, func(o chat.Data) bool { return p.ID != "" && o.Name == p.Name && o.ID == p.ID }); i >= 0 {
					s.Data[i] = p
				} else {
					s.Data = append(s.Data, p)
				}
			}
		case chat.EventReconnect:
			s.Reconnect = new(chat.ReconnectData)
			err = ev.Decode(s.Reconnect)
		case chat.EventStart:
			s.Start = new(chat.StartData)
			err = ev.Decode(s.Start)
		case chat.EventDelta:
			var d chat.TextData
			err = ev.Decode(&d)
			text.WriteString(d.Text)
		case chat.EventSnapshot:
			var d chat.SnapshotData
			err = ev.Decode(&d)
			text.Reset()
			text.WriteString(d.Text)
			reasoning.Reset()
			reasoning.WriteString(d.Reasoning)
		case chat.EventDone:
			s.Terminals++
			s.Done = new(chat.DoneData)
			err = ev.Decode(s.Done)
		case chat.EventError:
			s.Terminals++
			s.Error = new(chat.ErrorData)
			err = ev.Decode(s.Error)
		case "":
			if ev.Data == "[DONE]" {
				if !ui { // the UI stream's terminal is its finish, error or abort chunk
					s.Terminals++
					s.Done = &chat.DoneData{FinishReason: finish, Usage: usage}
				}
				continue
			}
			var u uiChunk
			if json.Unmarshal([]byte(ev.Data), &u) == nil && u.Type != "" {
				ui = true
				switch t := u.Type; {
				case t == "text-delta":
					text.WriteString(u.Delta)
				case t == "reasoning-delta":
					reasoning.WriteString(u.Delta)
				case t == "tool-input-start":
					if byID[u.ToolCallID] == nil {
						b := &building{call: chat.ToolCall{ID: u.ToolCallID, Name: u.ToolName, Server: u.ProviderExecuted}}
						byID[u.ToolCallID] = b
						calls = append(calls, b)
					}
				case t == "tool-input-delta":
					b := byID[u.ToolCallID]
					if b == nil {
						b = &building{call: chat.ToolCall{ID: u.ToolCallID}, resumed: true}
						byID[u.ToolCallID] = b
						calls = append(calls, b)
					}
					b.args.WriteString(u.InputTextDelta)
				case t == "tool-input-available" || t == "tool-input-error":
					b := byID[u.ToolCallID]
					if b == nil {
						b = &building{call: chat.ToolCall{ID: u.ToolCallID}}
						byID[u.ToolCallID] = b
						calls = append(calls, b)
					}
					b.call.Name, b.call.Server, b.complete = u.ToolName, u.ProviderExecuted, true
					b.call.Arguments = b.args.String()
					if b.resumed || b.args.Len() == 0 {
						var arg string
						if json.Unmarshal(u.Input, &arg) == nil && t == "tool-input-error" {
							b.call.Arguments = arg
						} else {
							b.call.Arguments = string(u.Input)
						}
					}
				case t == "tool-output-available":
					s.ToolResults = append(s.ToolResults, chat.ToolResult{ID: u.ToolCallID, Name: nameOf(byID, u.ToolCallID), Output: u.Output})
				case t == "tool-output-error":
					s.ToolResults = append(s.ToolResults, chat.ToolResult{ID: u.ToolCallID, Name: nameOf(byID, u.ToolCallID), Error: u.ErrorText})
				case strings.HasPrefix(t, "data-"):
					p := chat.Data{Name: strings.TrimPrefix(t, "data-"), ID: u.ID, Value: u.Data, Transient: u.Transient}
					if i := slices.IndexFunc(s.Data, func(o chat.Data) bool { return p.ID != "" && o.Name == p.Name && o.ID == p.ID }); i >= 0 {
						s.Data[i] = p
					} else {
						s.Data = append(s.Data, p)
					}
				case t == "finish":
					s.Terminals++
					s.Done = &chat.DoneData{FinishReason: u.FinishReason}
				case t == "error":
					s.Terminals++
					s.Error = &chat.ErrorData{Message: u.ErrorText}
				case t == "abort":
					s.Terminals++
					s.Error = &chat.ErrorData{Code: chat.CodeCanceled, Message: u.Reason}
				}
				continue
			}
			var c openAIChunk
			if err = ev.Decode(&c); err != nil {
				break
			}
			if c.Error != nil {
				s.Terminals++
				s.Error = &chat.ErrorData{Code: chat.Code(c.Error.Code), Message: c.Error.Message}
				continue
			}
			for _, ch := range c.Choices {
				text.WriteString(ch.Delta.Content)
				reasoning.WriteString(ch.Delta.ReasoningContent)
				for _, tc := range ch.Delta.ToolCalls {
					key := fmt.Sprintf("#%d", tc.Index)
					b := byID[key]
					if b == nil {
						// A call's first piece has its id and name; without
						// them, this is a resume in the middle of the call.
						b = &building{call: chat.ToolCall{ID: tc.ID, Name: tc.Function.Name}, complete: true, resumed: tc.ID == ""}
						byID[key] = b
						calls = append(calls, b)
					}
					b.args.WriteString(tc.Function.Arguments)
					b.call.Arguments = b.args.String()
				}
				if ch.FinishReason != nil {
					finish = *ch.FinishReason
				}
			}
			if c.Usage != nil {
				usage = &chat.Usage{InputTokens: c.Usage.PromptTokens, OutputTokens: c.Usage.CompletionTokens, TotalTokens: c.Usage.TotalTokens}
				if d := c.Usage.CompletionTokensDetails; d != nil {
					usage.ReasoningTokens = d.ReasoningTokens
				}
			}
		default:
			err = errors.New("unknown event")
		}
		if err != nil {
			return fmt.Errorf("chattest: event %q (id %q) with data %q: %w", ev.Name, ev.ID, ev.Data, err)
		}
	}
	s.Text = text.String()
	s.Reasoning = reasoning.String()
	for _, b := range calls {
		if !b.complete && s.Done != nil {
			return fmt.Errorf("chattest: tool call %q never completed", b.call.ID)
		}
		if !b.complete {
			b.call.Arguments = b.args.String() // a response cut in the middle of the call
		}
		s.ToolCalls = append(s.ToolCalls, b.call)
	}
	return nil
}

type openAIChunk struct {
	Choices []struct {
		Delta struct {
			Content          string `json:"content"`
			ReasoningContent string `json:"reasoning_content"`
			ToolCalls        []struct {
				Index    int    `json:"index"`
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
		// CompletionTokensDetails reports reasoning tokens.
		CompletionTokensDetails *struct {
			ReasoningTokens int `json:"reasoning_tokens"`
		} `json:"completion_tokens_details"`
	} `json:"usage"`
	Error *struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	} `json:"error"`
}

// Join reads a response and the resumes that followed it as one stream, as
// a client that resumed shows it: their events in order, interpreted
// together. The status and header are the first one's.
func Join(streams ...*Stream) (*Stream, error) {
	if len(streams) == 0 {
		return nil, errors.New("chattest: Join of no streams")
	}
	s := &Stream{Status: streams[0].Status, Header: streams[0].Header}
	for _, p := range streams {
		s.Events = append(s.Events, p.Events...)
	}
	return s, s.interpret()
}

// uiChunk is a chunk of the AI SDK's UI message stream, the fields read.
type uiChunk struct {
	Type             string          `json:"type"`
	ID               string          `json:"id"`
	Delta            string          `json:"delta"`
	ToolCallID       string          `json:"toolCallId"`
	ToolName         string          `json:"toolName"`
	InputTextDelta   string          `json:"inputTextDelta"`
	Input            json.RawMessage `json:"input"`
	Output           json.RawMessage `json:"output"`
	ErrorText        string          `json:"errorText"`
	ProviderExecuted bool            `json:"providerExecuted"`
	Data             json.RawMessage `json:"data"`
	Transient        bool            `json:"transient"`
	FinishReason     string          `json:"finishReason"`
	Reason           string          `json:"reason"`
}
