package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
)

// Role is the author of a [Message].
type Role string

// The roles a request may carry.
const (
	RoleSystem Role = "system"
	// RoleDeveloper is OpenAI's newer name for system instructions;
	// providers send it as system to vendors that do not know it.
	RoleDeveloper Role = "developer"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	// RoleTool is a tool's result, for the assistant's call ToolCallID.
	RoleTool Role = "tool"
)

// Message is one turn of a conversation. In JSON, content is a string or,
// as OpenAI allows, an array of parts ({"type":"text","text":...} and
// {"type":"image_url","image_url":{"url":...}}); an assistant message may
// carry tool_calls (OpenAI's shape) and no content, and a tool message
// names its call with tool_call_id.
type Message struct {
	Role Role `json:"role"`
	// Content is the text: the string, or the text parts joined.
	Content string `json:"content"`
	// Parts is the content when it came as an array of parts; nil for a
	// string.
	Parts []ContentPart `json:"-"`
	// ToolCalls are an assistant message's calls (whole: ID, Name,
	// Arguments).
	ToolCalls []ToolCall `json:"-"`
	// ToolCallID is the call a tool message answers.
	ToolCallID string `json:"tool_call_id,omitempty"`
	// Name is OpenAI's optional participant name.
	Name string `json:"name,omitempty"`

	// uiResults are the tool results of an AI SDK UI message's tool parts,
	// made tool messages after it (see Request.expandUI).
	uiResults []ToolResult
}

// ContentPart is one part of a message's content.
type ContentPart struct {
	// Type is "text" or "image_url".
	Type string `json:"type"`
	Text string `json:"text,omitempty"`
	// ImageURL is an image part's URL (https: or data:) and detail.
	ImageURL *ImageURL `json:"image_url,omitempty"`
}

// ImageURL is OpenAI's image_url part.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// HasImages reports whether m has an image part.
func (m *Message) HasImages() bool {
	for _, p := range m.Parts {
		if p.Type == "image_url" {
			return true
		}
	}
	return false
}

// openaiToolCall is a tool call in an assistant message, OpenAI's shape.
type openaiToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// wireMessage is a message as the wire has it, in any of OpenAI's shapes
// or as an AI SDK UI message.
type wireMessage struct {
	Role       Role             `json:"role"`
	Content    json.RawMessage  `json:"content"`
	ToolCalls  []openaiToolCall `json:"tool_calls"`
	ToolCallID string           `json:"tool_call_id"`
	Name       string           `json:"name"`
	Parts      []uiPart         `json:"parts"` // the AI SDK's UI messages
}

// UnmarshalJSON reads a message in OpenAI's shapes.
func (m *Message) UnmarshalJSON(b []byte) error {
	var raw wireMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	return m.fromWire(&raw)
}

// fromWire makes m from what the wire had.
func (m *Message) fromWire(raw *wireMessage) error {
	*m = Message{Role: raw.Role, ToolCallID: raw.ToolCallID, Name: raw.Name}
	if len(raw.Content) == 0 && raw.Parts != nil {
		m.fromUIParts(raw.Parts)
		return nil
	}
	switch c := bytes.TrimSpace(raw.Content); {
	case len(c) == 0 || string(c) == "null":
	case c[0] == '"':
		if err := json.Unmarshal(c, &m.Content); err != nil {
			return err
		}
	case c[0] == '[':
		if err := json.Unmarshal(c, &m.Parts); err != nil {
			return &json.UnmarshalTypeError{Value: "content parts", Field: "content", Type: reflect.TypeFor[[]ContentPart]()}
		}
		var text strings.Builder
		for _, p := range m.Parts {
			if p.Type == "text" {
				text.WriteString(p.Text)
			}
		}
		m.Content = text.String()
	default:
		return &json.UnmarshalTypeError{Value: "content", Field: "content", Type: reflect.TypeFor[string]()}
	}
	for _, c := range raw.ToolCalls {
		m.ToolCalls = append(m.ToolCalls, ToolCall{ID: c.ID, Name: c.Function.Name, Arguments: c.Function.Arguments})
	}
	return nil
}

// MarshalJSON writes a message in OpenAI's shapes.
func (m Message) MarshalJSON() ([]byte, error) {
	out := struct {
		Role       Role             `json:"role"`
		Content    any              `json:"content"`
		ToolCalls  []openaiToolCall `json:"tool_calls,omitempty"`
		ToolCallID string           `json:"tool_call_id,omitempty"`
		Name       string           `json:"name,omitempty"`
	}{Role: m.Role, Content: m.Content, ToolCallID: m.ToolCallID, Name: m.Name}
	if m.Parts != nil {
		out.Content = m.Parts
	}
	for _, c := range m.ToolCalls {
		var t openaiToolCall
		t.ID, t.Type, t.Function.Name, t.Function.Arguments = c.ID, "function", c.Name, c.Arguments
		out.ToolCalls = append(out.ToolCalls, t)
	}
	return json.Marshal(out)
}

// Stop is OpenAI's stop: a string or an array of strings.
type Stop []string

// UnmarshalJSON reads a string or an array of strings.
func (s *Stop) UnmarshalJSON(b []byte) error {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '"' {
		var one string
		if err := json.Unmarshal(t, &one); err != nil {
			return err
		}
		*s = Stop{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// Request is a chat completion request, decoded from the JSON body. Its
// field names follow OpenAI's chat completions API, so OpenAI-compatible
// clients can send it as they are; unknown fields are ignored.
type Request struct {
	Messages         []Message `json:"messages"`
	Model            string    `json:"model,omitempty"`
	Temperature      *float64  `json:"temperature,omitempty"`
	TopP             *float64  `json:"top_p,omitempty"`
	MaxTokens        int       `json:"max_tokens,omitempty"`
	Stop             Stop      `json:"stop,omitempty"`
	PresencePenalty  *float64  `json:"presence_penalty,omitempty"`
	FrequencyPenalty *float64  `json:"frequency_penalty,omitempty"`
	Seed             *int64    `json:"seed,omitempty"`
	User             string    `json:"user,omitempty"`
	// MaxCompletionTokens is OpenAI's newer bound on the answer (reasoning
	// included); providers send it as it is.
	MaxCompletionTokens int `json:"max_completion_tokens,omitempty"`
	// ReasoningEffort is OpenAI's reasoning_effort (low, medium, high, ...).
	ReasoningEffort string `json:"reasoning_effort,omitempty"`
	// LogitBias is OpenAI's logit_bias.
	LogitBias map[string]int `json:"logit_bias,omitempty"`
	// Stream is OpenAI's stream. The chat handler always streams; a
	// handler with [WithOpenAIAPI] answers a request without "stream":
	// true with one chat.completion object, as OpenAI does.
	Stream *bool `json:"stream,omitempty"`

	// Fields of OpenAI's API that change the answer and that ssechat
	// cannot give: a request that sets them is refused (422), never
	// answered as if they were absent.
	N           *int            `json:"n,omitempty"`
	LogProbs    bool            `json:"logprobs,omitempty"`
	TopLogProbs *int            `json:"top_logprobs,omitempty"`
	Modalities  []string        `json:"modalities,omitempty"`
	Audio       json.RawMessage `json:"audio,omitempty"`
	Prediction  json.RawMessage `json:"prediction,omitempty"`
	Functions   json.RawMessage `json:"functions,omitempty"`
	// FunctionCall is the deprecated function_call.
	FunctionCall json.RawMessage `json:"function_call,omitempty"`

	// Tools, ToolChoice and ParallelToolCalls are OpenAI's: tools the
	// client declares (it runs them itself: the answer ends with finish
	// reason tool_calls). A request carrying them is refused (422) unless
	// the handler allows them with [WithRequestTools].
	Tools             []json.RawMessage `json:"tools,omitempty"`
	ToolChoice        json.RawMessage   `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool             `json:"parallel_tool_calls,omitempty"`
	// ResponseFormat is OpenAI's response_format (text, json_object,
	// json_schema), passed to providers that support it.
	ResponseFormat json.RawMessage `json:"response_format,omitempty"`

	// ID, Trigger and MessageID are what the AI SDK's useChat sends: the
	// chat's id (see [Handler.ChatStreamHandler]), submit-message or
	// regenerate-message, and the message to regenerate.
	ID        string `json:"id,omitempty"`
	Trigger   string `json:"trigger,omitempty"`
	MessageID string `json:"messageId,omitempty"`

	// StreamOptions is read for OpenAI clients: in openai mode a usage chunk
	// is sent only when IncludeUsage is set, as OpenAI does.
	StreamOptions *StreamOptions `json:"stream_options,omitempty"`

	// LastEventID asks to resume a stream after the event with this id
	// ("<stream id>.<n>"; a stream id alone resumes from its start), for
	// clients that cannot set the Last-Event-ID header. The header and the
	// last_event_id query parameter take precedence. On a resume the other
	// fields are not used.
	LastEventID string `json:"last_event_id,omitempty"`

	// The fields below are the server's, never read from the body.

	// Op is what the request does: start a stream, resume one or stop one.
	// The handler sets it before the prepare hook runs.
	Op Op `json:"-"`
	// StreamID is the stream a resume or a stop is for.
	StreamID string `json:"-"`
	// Owner is who the stream belongs to, as the prepare hook establishes it
	// (a user id from a session or a token). A stream can be resumed or
	// stopped only by a request whose prepare hook sets the same Owner.
	Owner string `json:"-"`
}

// Op is what a request asks of a [Handler].
type Op string

// The operations.
const (
	OpStart  Op = "start"  // a new stream: a POST with messages
	OpResume Op = "resume" // the rest of an existing stream, after LastEventID
	OpStop   Op = "stop"   // stop an existing stream (see [Handler.StopHandler])
)

// StreamOptions mirrors OpenAI's stream_options.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Usage counts tokens.
type Usage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
	TotalTokens  int `json:"total_tokens"`
	// ReasoningTokens is the part of OutputTokens that the model spent
	// reasoning, where the vendor reports it.
	ReasoningTokens int `json:"reasoning_tokens,omitempty"`
}

// Chunk is one piece of a streamed answer, as a [Provider] yields it. Any
// field may be empty: a chunk with no text (a role chunk, say) still tells
// the handler that the upstream accepted the request, so the stream starts.
// The parts of one chunk are logged and sent in the order of its fields:
// reasoning, text, tool calls, tool results, data.
type Chunk struct {
	// Reasoning is the next piece of the model's reasoning (what DeepSeek,
	// Qwen and others send as reasoning_content), shown apart from the
	// answer.
	Reasoning string
	// Text is the next piece of the answer.
	Text string
	// ToolCalls are pieces of the tool calls the model makes.
	ToolCalls []ToolCall
	// ToolResults are the outcomes of tool calls that the provider ran.
	ToolResults []ToolResult
	// Data are data parts.
	Data []Data
	// FinishReason is why the model stopped, on the last chunk: "stop",
	// "length", "tool_calls" (it called tools and waits for their
	// results), "content_filter", or the vendor's own.
	FinishReason string
	// Usage, when the upstream reports it, usually on the last chunk.
	Usage *Usage
	// Model and ID are the model that answered and the upstream's id for the
	// answer, when the upstream reports them (the first non-empty values
	// count). They appear in [Result] and in telemetry, not on the wire.
	Model, ID string
}

// Limits on request fields that are checked before anything starts.
const (
	maxModelLen = 256
	maxStops    = 16
	maxTools    = 128
)

// Validate checks the request as the handler does before anything starts,
// and returns an [*Error] with [CodeInvalidRequest] that says what is wrong.
func (r *Request) Validate() error {
	if len(r.Messages) == 0 {
		return invalid("messages: at least one message is required")
	}
	if len(r.ID) > maxModelLen || len(r.Trigger) > 64 || len(r.MessageID) > maxModelLen {
		return invalid("id: too long")
	}
	for i, m := range r.Messages {
		switch m.Role {
		case RoleSystem, RoleDeveloper, RoleUser:
			if len(m.ToolCalls) > 0 || m.ToolCallID != "" {
				return invalid(fmt.Sprintf("messages[%d]: only assistant messages carry tool_calls, only tool messages tool_call_id", i))
			}
		case RoleAssistant:
			for j, c := range m.ToolCalls {
				if c.ID == "" || c.Name == "" {
					return invalid(fmt.Sprintf("messages[%d].tool_calls[%d]: id and function.name are required", i, j))
				}
			}
		case RoleTool:
			if m.ToolCallID == "" {
				return invalid(fmt.Sprintf("messages[%d].tool_call_id: required for a tool message", i))
			}
		default:
			return invalid(fmt.Sprintf("messages[%d].role: unknown role %q (want system, developer, user, assistant or tool)", i, m.Role))
		}
		for j, p := range m.Parts {
			switch {
			case p.Type == "text":
			case p.Type == "image_url" && m.Role == RoleUser && p.ImageURL != nil && p.ImageURL.URL != "":
			case p.Type == "image_url":
				return invalid(fmt.Sprintf("messages[%d].content[%d]: an image part needs image_url.url, in a user message", i, j))
			default:
				return invalid(fmt.Sprintf("messages[%d].content[%d].type: %q is not supported (want text or image_url)", i, j, p.Type))
			}
		}
	}
	if last := &r.Messages[len(r.Messages)-1]; last.Role == RoleUser && last.Content == "" && !last.HasImages() {
		return invalid("messages: the last message has no text to answer")
	}
	if len(r.Model) > maxModelLen {
		return invalid(fmt.Sprintf("model: longer than %d bytes", maxModelLen))
	}
	if err := inRange("temperature", r.Temperature, 0, 2); err != nil {
		return err
	}
	if err := inRange("top_p", r.TopP, 0, 1); err != nil {
		return err
	}
	if err := inRange("presence_penalty", r.PresencePenalty, -2, 2); err != nil {
		return err
	}
	if err := inRange("frequency_penalty", r.FrequencyPenalty, -2, 2); err != nil {
		return err
	}
	if r.MaxTokens < 0 {
		return invalid("max_tokens: must not be negative")
	}
	if r.MaxCompletionTokens < 0 {
		return invalid("max_completion_tokens: must not be negative")
	}
	if len(r.ReasoningEffort) > 32 {
		return invalid("reasoning_effort: too long")
	}
	if len(r.LogitBias) > 1024 {
		return invalid("logit_bias: at most 1024 entries")
	}
	switch {
	case r.N != nil && *r.N != 1:
		return invalid("n: only 1 is supported (ask again for another answer)")
	case r.LogProbs || r.TopLogProbs != nil:
		return invalid("logprobs: not supported")
	case len(r.Audio) > 0 || slices.Contains(r.Modalities, "audio"):
		return invalid("audio: not supported (text only)")
	case len(r.Prediction) > 0:
		return invalid("prediction: not supported")
	case len(r.Functions) > 0 || len(r.FunctionCall) > 0:
		return invalid("functions: not supported, use tools")
	}
	if len(r.Tools) > maxTools {
		return invalid(fmt.Sprintf("tools: at most %d", maxTools))
	}
	for i, t := range r.Tools {
		if !json.Valid(t) || len(t) == 0 || t[0] != '{' {
			return invalid(fmt.Sprintf("tools[%d]: want an object", i))
		}
	}
	if len(r.Stop) > maxStops {
		return invalid(fmt.Sprintf("stop: at most %d sequences", maxStops))
	}
	return nil
}

func inRange(name string, v *float64, lo, hi float64) error {
	if v == nil {
		return nil
	}
	if math.IsNaN(*v) || *v < lo || *v > hi {
		return invalid(fmt.Sprintf("%s: must be between %g and %g", name, lo, hi))
	}
	return nil
}

func invalid(msg string) *Error { return &Error{Code: CodeInvalidRequest, Message: msg} }

// uiPart is a part of an AI SDK UI message, as useChat sends it: text,
// reasoning, file, step-start, data-*, and tool parts ("tool-<name>" or
// "dynamic-tool", with toolCallId, state, input, output or errorText).
type uiPart struct {
	Type       string          `json:"type"`
	Text       string          `json:"text"`
	ToolCallID string          `json:"toolCallId"`
	ToolName   string          `json:"toolName"` // dynamic-tool
	State      string          `json:"state"`
	Input      json.RawMessage `json:"input"`
	Output     json.RawMessage `json:"output"`
	ErrorText  string          `json:"errorText"`
	MediaType  string          `json:"mediaType"`
	URL        string          `json:"url"`
}

// fromUIParts makes m from a UI message's parts: the text parts joined are
// its content (reasoning is not sent back to the model), image files are
// image parts, and tool parts with input are calls, whose outputs become
// tool messages after m.
func (m *Message) fromUIParts(parts []uiPart) {
	var text strings.Builder
	var images bool
	for _, p := range parts {
		switch {
		case p.Type == "text":
			text.WriteString(p.Text)
			m.Parts = append(m.Parts, ContentPart{Type: "text", Text: p.Text})
		case p.Type == "file" && strings.HasPrefix(p.MediaType, "image/") && p.URL != "":
			images = true
			m.Parts = append(m.Parts, ContentPart{Type: "image_url", ImageURL: &ImageURL{URL: p.URL}})
		case (strings.HasPrefix(p.Type, "tool-") || p.Type == "dynamic-tool") && p.ToolCallID != "":
			name := strings.TrimPrefix(p.Type, "tool-")
			if p.Type == "dynamic-tool" {
				name = p.ToolName
			}
			if p.State == "input-streaming" {
				continue // never complete: nothing to give back
			}
			args := "{}"
			if len(p.Input) > 0 && string(p.Input) != "null" {
				args = string(p.Input)
			}
			m.ToolCalls = append(m.ToolCalls, ToolCall{ID: p.ToolCallID, Name: name, Arguments: args})
			switch p.State {
			case "output-available":
				m.uiResults = append(m.uiResults, ToolResult{ID: p.ToolCallID, Name: name, Output: p.Output})
			case "output-error", "output-denied":
				e := p.ErrorText
				if e == "" {
					e = "the tool was not run"
				}
				m.uiResults = append(m.uiResults, ToolResult{ID: p.ToolCallID, Name: name, Error: e})
			}
		}
	}
	m.Content = text.String()
	if !images {
		m.Parts = nil // plain text: Content says it all
	}
}

// expandUI puts the tool results of UI messages after them as tool
// messages, as OpenAI-compatible models expect.
func (r *Request) expandUI() {
	n := 0
	for i := range r.Messages {
		n += len(r.Messages[i].uiResults)
	}
	if n == 0 {
		return
	}
	out := make([]Message, 0, len(r.Messages)+n)
	for _, m := range r.Messages {
		results := m.uiResults
		m.uiResults = nil
		out = append(out, m)
		for _, res := range results {
			content := string(res.Output)
			if res.Error != "" {
				b, _ := json.Marshal(map[string]string{"error": res.Error})
				content = string(b)
			}
			if content == "" {
				content = "null"
			}
			out = append(out, Message{Role: RoleTool, ToolCallID: res.ID, Name: res.Name, Content: content})
		}
	}
	r.Messages = out
}

// UnmarshalJSON reads a request; the tool results of AI SDK UI messages
// become tool messages after the message that made the calls.
func (r *Request) UnmarshalJSON(b []byte) error {
	return r.decode(b)
}

// decode reads a request. Its messages are read in their wire shape in the
// same pass, and made Messages after it, rather than each by a
// json.Unmarshal of its own within this one: the decoder's frames, nested
// twice, would grow the stack of the request's goroutine past its first
// 8 KB, and it would stay so for the whole stream.
func (r *Request) decode(b []byte) error {
	var wire struct {
		*plainRequest
		Messages []wireMessage `json:"messages"`
	}
	wire.plainRequest = (*plainRequest)(r)
	if err := json.Unmarshal(b, &wire); err != nil {
		if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) {
			// The field as the client sent it, not through the embedding.
			te.Struct, te.Field = "Request", strings.TrimPrefix(te.Field, "plainRequest.")
		}
		return err
	}
	r.Messages = nil
	if wire.Messages != nil {
		r.Messages = make([]Message, len(wire.Messages))
	}
	for i := range wire.Messages {
		if err := r.Messages[i].fromWire(&wire.Messages[i]); err != nil {
			if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) && te.Field != "" {
				// As the decoder names a field within the list.
				te.Struct, te.Field = "Request", "messages."+te.Field
			}
			return err
		}
	}
	r.expandUI()
	return nil
}

// plainRequest is a Request without its UnmarshalJSON.
type plainRequest Request
