package chat

import (
	"encoding/json"
	"fmt"
	"math"
)

// Role is the author of a [Message].
type Role string

// The roles a request may carry.
const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// Message is one turn of a conversation.
type Message struct {
	Role    Role   `json:"role"`
	Content string `json:"content"`
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
	Stop             []string  `json:"stop,omitempty"`
	PresencePenalty  *float64  `json:"presence_penalty,omitempty"`
	FrequencyPenalty *float64  `json:"frequency_penalty,omitempty"`
	Seed             *int64    `json:"seed,omitempty"`
	User             string    `json:"user,omitempty"`

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
	for i, m := range r.Messages {
		switch m.Role {
		case RoleSystem, RoleUser, RoleAssistant:
		default:
			return invalid(fmt.Sprintf("messages[%d].role: unknown role %q (want system, user or assistant)", i, m.Role))
		}
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
